"""``workbench serve``, ``workbench admin …`` and ``workbench audit …``: the Researcher Workbench from the command line.

Every command reads the Workbench's settings from ``--config FILE`` (or ``$RW_WORKBENCH_CONFIG``; without either,
the built-in defaults) and its master secret from the environment or the secret file the config names, never from
the repository (``accounts.config``). Commands that write check first that the database schema is this version's
(``workbench admin migrate`` brings it there), and audit what they change with ``actor_id`` none (the operator at
the command line) and ``details.via`` saying where it came from.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer

from .output import JSON_OPTION, command_group, emit_json, err_console, fail, user_errors

if TYPE_CHECKING:
    from ..accounts.audit import AuditLog
    from ..accounts.config import Keys, WorkbenchConfig
    from ..state import Database

CONFIG_ENV = "RW_WORKBENCH_CONFIG"  # the config file, when --config is not given (and for serve's workers)
HOSTS_ENV = "RW_WORKBENCH_ALLOWED_HOSTS"  # a JSON list, set by `workbench serve` for its workers
MAIL_ENV = "RW_WORKBENCH_MAIL_JOBS"  # "1" or "0", set by `workbench serve` for its workers

admin_app = command_group("Set up the Researcher Workbench without its web pages: the database schema, the secret, "
                          "the first administrator, institutions, the demo.")
institution_app = command_group("Institutions and their agreements: which of their people may reach each tier.")
admin_app.add_typer(institution_app, name="institution")
audit_app = command_group("The Workbench's audit log: verify its hash chain, export checkpoints to keep elsewhere.")

CONFIG_OPTION = typer.Option(
    None, "--config", envvar=CONFIG_ENV, dir_okay=False,
    help="The Workbench's settings (TOML; default: $RW_WORKBENCH_CONFIG, else the built-in defaults).")

DEMO_INSTITUTION = "demo-u"
DEMO_DOMAIN = "demo.edu"
DEMO_ADMIN = "admin@demo.edu"
DEMO_RESEARCHER = "researcher@demo.edu"
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# -- shared ------------------------------------------------------------------------------------------------------

def _database_message(err: Exception) -> str:
    """A database error in one line (SQLAlchemy's own message ends with a link and the statement)."""
    orig = getattr(err, "orig", None)
    return f"the database refused: {orig}" if orig is not None else str(err)


def _open(config_path: Path | None, json_output: bool, *, secret: bool = True,
          current: bool = True) -> tuple[WorkbenchConfig, Keys | None, Database]:
    """The config, the keys (when ``secret``) and the database, refusing a schema this version does not know
    (when ``current``). Every refusal is reported the CLI's one way and exits 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..accounts.config import Keys, load_workbench_config
    from ..state import Database, DatabaseError

    with user_errors(json_output):
        config = load_workbench_config(config_path)
        keys = Keys(config.secret()) if secret else None
    try:
        db = Database(config.resolved_database_url)
        if current:
            db.check_current()
    except (DatabaseError, SQLAlchemyError) as err:
        fail(_database_message(err), json_output)
    return config, keys, db


@contextmanager
def _writing(db: Database, json_output: bool) -> Iterator[Any]:
    """One transaction; a refusal of the database (a constraint, a lock) is reported like any other."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with user_errors(json_output), db.session() as session:
            yield session
    except SQLAlchemyError as err:
        fail(_database_message(err), json_output)


def _audit_log(keys: Keys) -> AuditLog:
    from ..accounts.audit import AuditLog

    return AuditLog(keys.audit)


def _redacted(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)


# -- serve -------------------------------------------------------------------------------------------------------

def serve(
    config_path: Optional[Path] = CONFIG_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8001, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes."),
    allowed_hosts: list[str] = typer.Option(
        [], "--allowed-host",
        help="A host name the server answers for besides the config's allowed_hosts and the --host value "
             "(repeatable; *.example.org for sub-domains). Requests with any other Host header get 400."),
    no_mail: bool = typer.Option(
        False, "--no-mail", help="Do not send the outbox or queue renewal reminders (mail stays queued)."),
    migrate: bool = typer.Option(False, "--migrate", help="Bring the database schema up to date before serving."),
) -> None:
    """Serve the Researcher Workbench (pages and JSON API) over HTTP.

    The secret comes from $RW_WORKBENCH_SECRET, $RW_WORKBENCH_SECRET_FILE or the config's secret_file. A database
    whose schema is behind this version is refused (run `workbench admin migrate`, or pass --migrate). Unless
    --no-mail, each server process sends queued mail over the config's SMTP server and queues renewal reminders.
    """
    import json
    import logging
    import os

    import uvicorn

    from ..web.hosts import parse_allowed_hosts

    logging.basicConfig(format="%(levelname)s: %(message)s")
    config, _, db = _open(config_path, False, current=not migrate)
    if migrate:
        _upgrade(db, False)
    db.dispose()
    with user_errors(False):
        names = parse_allowed_hosts([*config.allowed_hosts, host, *allowed_hosts])
    if config.notebook_host and workers > 1:
        # A notebook server, its one-time tickets and the notebook host's sessions live in the process that started
        # them: a second process would not know them.
        err_console.print(f"Error: notebooks (notebook_host = {config.notebook_host!r}) need one server process: "
                          "run with --workers 1, or leave notebook_host out of the config to serve without "
                          "notebooks", highlight=False, markup=False)
        raise typer.Exit(2)
    os.environ[CONFIG_ENV] = str(config_path.absolute()) if config_path is not None else ""
    os.environ[HOSTS_ENV] = json.dumps(list(names))
    os.environ[MAIL_ENV] = "0" if no_mail else "1"
    if no_mail:
        mail = "mail off"
    elif config.mail.deliver == "log":
        mail = "mail printed here"
    else:
        mail = f"mail via {config.mail.smtp_host}:{config.mail.smtp_port}"
    err_console.print(f"Serving the Researcher Workbench at http://{host}:{port} (its links say {config.base_url}; "
                      f"{mail})", highlight=False, markup=False)
    if config.notebook_host:
        err_console.print(f"Notebooks (JupyterLab) on the separate host name http://{config.notebook_host}:{port}",
                          highlight=False, markup=False)
    uvicorn.run("research_workbench.cli.workbench_app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", access_log=False)


def app_from_env():
    """The app for the config named by RW_WORKBENCH_CONFIG (uvicorn workers import it by name)."""
    import json
    import os

    from ..accounts.config import load_workbench_config
    from ..workbench.app import create_app

    overrides = {}
    if os.environ.get(HOSTS_ENV):
        overrides["allowed_hosts"] = json.loads(os.environ[HOSTS_ENV])
    config = load_workbench_config(os.environ.get(CONFIG_ENV) or None, **overrides)
    return create_app(config, mail_jobs=os.environ.get(MAIL_ENV, "1") == "1")


# -- admin: schema and secret ------------------------------------------------------------------------------------

def _upgrade(db: Database, json_output: bool) -> tuple[str | None, str | None]:
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        before = db.current_revision()
        db.upgrade()
        return before, db.current_revision()
    except (CommandError, SQLAlchemyError) as err:
        fail(f"cannot migrate {_redacted(db)}: {_database_message(err)}", json_output)
        raise  # not reached: fail exits


@admin_app.command("migrate")
def migrate(config_path: Optional[Path] = CONFIG_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Bring the database schema to this version's newest migration (a new database gets every table)."""
    _, _, db = _open(config_path, json_output, secret=False, current=False)
    before, after = _upgrade(db, json_output)
    if json_output:
        emit_json({"database": _redacted(db), "from": before, "to": after, "changed": before != after})
    elif before == after:
        err_console.print(f"Database schema already at {after} (the newest): {_redacted(db)}", highlight=False,
                          markup=False)
    else:
        err_console.print(f"Database schema migrated from {before or 'nothing'} to {after}: {_redacted(db)}",
                          highlight=False, markup=False)


@admin_app.command("init-secret")
def init_secret(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="The secret file to write (mode 0600)."),
    replace: bool = typer.Option(
        False, "--replace",
        help="Overwrite an existing secret file. Every key is derived from the secret: a new one makes the audit "
             "log unverifiable, stored authenticator secrets unreadable, and signs everyone out."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a new random master secret (64 characters) to a file only its owner may read.

    Point the config's secret_file (or $RW_WORKBENCH_SECRET_FILE) at it. The secret itself is never printed.
    """
    import os
    import secrets
    import tempfile

    if out.exists() and not replace:
        fail(f"{out}: a secret file exists (replacing it invalidates everything derived from it: pass --replace)",
             json_output)
    with user_errors(json_output):
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, out)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    if json_output:
        emit_json({"secret_file": str(out), "mode": "0600", "replaced": replace})
    else:
        err_console.print(f"Secret written to {out} (mode 0600). Name it in the config (secret_file = ...) or in "
                          "$RW_WORKBENCH_SECRET_FILE; keep it out of the repository and back it up.",
                          highlight=False, markup=False)


# -- admin: the first administrator -------------------------------------------------------------------------------

def _read_password(password_file: Path | None, json_output: bool) -> str:
    if password_file is not None:
        with user_errors(json_output):
            text = password_file.read_text(encoding="utf-8")
        return text.splitlines()[0] if text.splitlines() else ""
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


@admin_app.command("create-admin")
def create_admin(
    email: str = typer.Option(..., "--email", help="The administrator's email address (their sign-in)."),
    given_name: str = typer.Option(..., "--given-name"),
    family_name: str = typer.Option(..., "--family-name"),
    institution: str = typer.Option(..., "--institution", help="The short name of their institution."),
    password_file: Optional[Path] = typer.Option(
        None, "--password-file", dir_okay=False,
        help="Read the password from the file's first line (default: ask twice, without echo)."),
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an administrator account, its email address taken as verified, with the sign-up's password rules.

    They sign in on the web pages and turn on two-step verification there: the admin pages need it.
    """
    from sqlalchemy import select

    from ..accounts.audit import AuditAction
    from ..accounts.clock import utcnow
    from ..accounts.institutions import by_short_name, is_email, normalise_email
    from ..accounts.passwords import Passwords
    from ..accounts.registration import NAME_MAX, SignupError
    from ..cdr.problems import Problem
    from ..state.models import User

    config, keys, db = _open(config_path, json_output)
    email = normalise_email(email)
    problems = []
    if not is_email(email) or len(email) > 254:
        problems.append(Problem("not an email address", "--email"))
    for option, value in (("--given-name", given_name), ("--family-name", family_name)):
        if not value.strip() or len(value.strip()) > NAME_MAX:
            problems.append(Problem(f"1 to {NAME_MAX} characters", option))
    with db.session() as session:
        if by_short_name(session, institution.strip().lower()) is None:
            problems.append(Problem(f"no institution {institution!r}: add it with `workbench admin institution add`",
                                    "--institution"))
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            problems.append(Problem("an account with this email exists", "--email"))
    with user_errors(json_output):
        if problems:
            raise SignupError(problems)
    password = _read_password(password_file, json_output)
    passwords = Passwords(config.passwords)
    with user_errors(json_output):
        weak = passwords.problems(password, email=email, names=(given_name.strip(), family_name.strip()))
        if weak:
            raise SignupError([Problem(message, "password") for message in weak])
    password_hash = passwords.hash(password)
    now = utcnow()
    with _writing(db, json_output) as session:
        inst = by_short_name(session, institution.strip().lower())
        user = User(email=email, email_verified_at=now, institution=inst, given_name=given_name.strip(),
                    family_name=family_name.strip(), degrees=[], address={}, research_background="",
                    password_hash=password_hash, is_admin=True, created_at=now)
        session.add(user)
        session.flush()
        _audit_log(keys).append(session, AuditAction.ADMIN_GRANTED, actor_id=None, target_user_id=user.id,
                                details={"via": "cli"})
        user_id = user.id
    if json_output:
        emit_json({"id": user_id, "email": email, "institution": inst.short_name, "admin": True})
    else:
        err_console.print(f"Administrator {email} created (user {user_id}). Sign in at "
                          f"{config.base_url.rstrip('/')}/signin and turn on two-step verification: the admin pages "
                          "need it.", highlight=False, markup=False)


# -- admin: institutions -----------------------------------------------------------------------------------------

def _parse_date(value: str | None, option: str, problems: list) -> Any:
    from ..cdr.problems import iso_date

    return iso_date(value, option, problems)


def _rule(tier_name: str, domains: str | None, addresses: str | None, problems: list):
    from ..accounts.institutions import RuleSpec, parse_entries
    from ..cdr.problems import Problem

    if domains is not None and addresses is not None:
        problems.append(Problem("give domains or addresses, not both",
                                f"--{tier_name}-domains/--{tier_name}-addresses"))
    if domains is not None:
        return RuleSpec("domains", parse_entries(domains))
    if addresses is not None:
        return RuleSpec("addresses", parse_entries(addresses))
    return RuleSpec("none")


def _as_options(problems: list, rules: dict) -> list:
    """The agreement's problems located by this command's options (``--kind``), not by the web form's fields."""
    from ..cdr.problems import Problem

    fixed = {"short_name": "SHORT_NAME", "display_name": "--name", "kind": "--kind",
             "agreement_signed_on": "--signed", "agreement_expires_on": "--expires"}
    out = []
    for problem in problems:
        where = fixed.get(problem.where, problem.where)
        for tier, spec in rules.items():
            if problem.where in (f"{tier.value}_rule", f"{tier.value}_entries"):
                where = (f"--{tier.value}-{spec.kind}" if spec.kind != "none"
                         else f"--{tier.value}-domains/--{tier.value}-addresses")
        out.append(Problem(problem.message, where))
    return out


def _institution_document(inst) -> dict[str, Any]:
    from ..accounts.institutions import describe_rule

    rules = {r.tier: r for r in inst.rules}
    return {"short_name": inst.short_name, "name": inst.display_name, "kind": inst.kind,
            "signed_on": inst.agreement_signed_on.isoformat() if inst.agreement_signed_on else None,
            "expires_on": inst.agreement_expires_on.isoformat() if inst.agreement_expires_on else None,
            **{tier: {"kind": rules[tier].kind if tier in rules else "none",
                      "entries": list(rules[tier].entries) if tier in rules else [],
                      "description": describe_rule(rules.get(tier))} for tier in ("registered", "controlled")}}


@institution_app.command("add")
def institution_add(
    short_name: str = typer.Argument(..., help="The institution's short name (lower-case letters, digits, hyphens)."),
    name: str = typer.Option(..., "--name", help="Its full name, as researchers choose it at sign-up."),
    kind: str = typer.Option("academic", "--kind",
                             help="academic, nonprofit, health_center, government, industry or other."),
    signed: str = typer.Option(..., "--signed", help="The day its agreement was signed (YYYY-MM-DD)."),
    expires: Optional[str] = typer.Option(None, "--expires", help="The day its agreement ends (default: never)."),
    registered_domains: Optional[str] = typer.Option(
        None, "--registered-domains", help="Email domains whose people may reach the Registered Tier (a,b)."),
    registered_addresses: Optional[str] = typer.Option(
        None, "--registered-addresses", help="Or the email addresses that may (a,b); neither: nobody."),
    controlled_domains: Optional[str] = typer.Option(
        None, "--controlled-domains", help="Email domains whose people may reach the Controlled Tier."),
    controlled_addresses: Optional[str] = typer.Option(
        None, "--controlled-addresses", help="Or the email addresses that may; neither: nobody."),
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add an institution whose Data Use and Registration Agreement says, per tier, which of its people may reach
    it: email domains (a subdomain counts), listed addresses, or nobody."""
    from ..accounts.audit import AuditAction
    from ..accounts.clock import utcnow
    from ..accounts.institutions import InstitutionError, save_institution, validate_institution
    from ..accounts.modules import Tier

    _, keys, db = _open(config_path, json_output)
    problems: list = []
    signed_on = _parse_date(signed, "--signed", problems)
    expires_on = _parse_date(expires, "--expires", problems)
    rules = {Tier.REGISTERED: _rule("registered", registered_domains, registered_addresses, problems),
             Tier.CONTROLLED: _rule("controlled", controlled_domains, controlled_addresses, problems)}
    with user_errors(json_output):
        if problems:  # name every problem at once, the agreement's own too
            raise InstitutionError(problems + _as_options(validate_institution(
                short_name=short_name.strip().lower(), display_name=name.strip(), kind=kind, signed_on=signed_on,
                expires_on=expires_on, rules=rules), rules))
    with _writing(db, json_output) as session:
        try:
            inst = save_institution(session, short_name=short_name, display_name=name, kind=kind,
                                    signed_on=signed_on, expires_on=expires_on, rules=rules, now=utcnow())
        except InstitutionError as err:
            raise InstitutionError(_as_options(err.problems, rules)) from None
        _audit_log(keys).append(session, AuditAction.INSTITUTION_CREATED, actor_id=None,
                                details={"via": "cli", "institution": inst.short_name})
        document = _institution_document(inst)
    if json_output:
        emit_json(document)
    else:
        err_console.print(f"Institution {document['short_name']} ({document['name']}) added. Registered Tier: "
                          f"{document['registered']['description']}; Controlled Tier: "
                          f"{document['controlled']['description']}.", highlight=False, markup=False)


@institution_app.command("list")
def institution_list(config_path: Optional[Path] = CONFIG_OPTION, json_output: bool = JSON_OPTION) -> None:
    """The institutions, their agreements and who of their people may reach each tier."""
    from ..accounts.institutions import all_institutions

    _, _, db = _open(config_path, json_output, secret=False)
    with db.session() as session:
        documents = [_institution_document(inst) for inst in all_institutions(session)]
    if json_output:
        emit_json({"institutions": documents})
        return
    if not documents:
        print("No institutions yet: add one with `workbench admin institution add`.")
    for d in documents:
        print(f"{d['short_name']}  {d['name']}  ({d['kind']}; agreement signed {d['signed_on'] or 'on no known day'}, "
              f"{'ends ' + d['expires_on'] if d['expires_on'] else 'no end'})")
        print(f"  Registered Tier: {d['registered']['description']}")
        print(f"  Controlled Tier: {d['controlled']['description']}")


# -- admin: the demo ---------------------------------------------------------------------------------------------

def _demo_password() -> str:
    import secrets

    return "-".join("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4))


_DEMO_USERS = (
    {"email": DEMO_ADMIN, "given_name": "Demo", "family_name": "Admin", "role": "administrator", "degrees": [],
     "admin": True,
     "research_background": "Administers the demo Researcher Workbench: institutions, accounts, access and audit."},
    {"email": DEMO_RESEARCHER, "given_name": "Demo", "family_name": "Researcher", "role": "faculty",
     "degrees": ["phd"], "admin": False,
     "research_background": "Studies the treatment of type 2 diabetes, and how kidney disease changes it, in the "
                            "demo program's synthetic participants."},
)
_DEMO_ADDRESS = {"street1": "1 Demo Way", "street2": "", "city": "Springfield", "state": "IL", "postal_code": "62701",
                 "country": "United States"}


def _seed_demo(session, *, config: WorkbenchConfig, keys: Keys, hashes: dict[str, str], now,
               cohort: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bring the demo institution and its two accounts to the demo's state, and with ``cohort`` (a checked
    definition) the researcher's demo workspace; audit every change (``via: demo``)."""
    from sqlalchemy import select

    from ..accounts import totp
    from ..accounts.access import AccessPolicy
    from ..accounts.audit import AuditAction
    from ..accounts.documents import check_ducc_signature, current_version, load_document
    from ..accounts.facts import Evaluator
    from ..accounts.institutions import RuleSpec, by_short_name, save_institution
    from ..accounts.module_records import complete
    from ..accounts.modules import Module, Tier
    from ..accounts.training import current_course
    from ..state.models import DuccSignature, QuizAttempt, User

    audit = _audit_log(keys)
    secrets_box = totp.TotpSecrets(keys.fernet)
    demo = {"via": "demo"}

    def log(action: AuditAction, user_id: int | None, **details: Any) -> None:
        audit.append(session, action, actor_id=None, target_user_id=user_id, details={**details, **demo})

    inst = by_short_name(session, DEMO_INSTITUTION)
    institution_created = inst is None
    if inst is None:
        inst = save_institution(session, short_name=DEMO_INSTITUTION, display_name="Demo University", kind="academic",
                                signed_on=now.date(), expires_on=None,
                                rules={Tier.REGISTERED: RuleSpec("domains", (DEMO_DOMAIN,)),
                                       Tier.CONTROLLED: RuleSpec("domains", (DEMO_DOMAIN,))}, now=now)
        log(AuditAction.INSTITUTION_CREATED, None, institution=DEMO_INSTITUTION)
    terms, privacy = current_version("terms"), current_version("privacy")
    evaluator = Evaluator(AccessPolicy(validity=config.access.validity), terms_version=terms, privacy_version=privacy)
    users, accounts = [], {}
    for spec in _DEMO_USERS:
        user = session.scalar(select(User).where(User.email == spec["email"]))
        created = user is None
        if user is None:  # the profile is written once: later runs keep what was edited on the web pages
            user = User(email=spec["email"], institution=inst, role=spec["role"], given_name=spec["given_name"],
                        family_name=spec["family_name"], degrees=spec["degrees"], address=dict(_DEMO_ADDRESS),
                        research_background=spec["research_background"], is_admin=False, created_at=now)
            session.add(user)
            session.flush()
            log(AuditAction.SIGNUP, user.id, institution=DEMO_INSTITUTION)
        if user.institution_id != inst.id:
            user.institution = inst
        if user.email_verified_at is None:
            user.email_verified_at = now
            log(AuditAction.EMAIL_VERIFIED, user.id, email=user.email)
        if (user.terms_version, user.privacy_version) != (terms, privacy):
            user.terms_version, user.privacy_version, user.terms_accepted_at = terms, privacy, now
            log(AuditAction.TERMS_ACCEPTED, user.id, terms_version=terms, privacy_version=privacy)
        if user.disabled_at is not None:
            user.disabled_at = user.disabled_reason = None
            log(AuditAction.USER_ENABLED, user.id)
        if spec["admin"] and not user.is_admin:
            user.is_admin = True
            log(AuditAction.ADMIN_GRANTED, user.id)
        # A new password each run (only its hash is stored), and no lockout left over from the last demo.
        user.password_hash, user.failed_signins, user.failed_totp, user.locked_until = hashes[user.email], 0, 0, None
        log(AuditAction.PASSWORD_RESET, user.id)
        # The authenticator secret stays across runs (an app that has it keeps working); a new one if unreadable.
        secret = None
        if user.totp_secret and user.totp_enabled_at is not None:
            try:
                secret = secrets_box.open(user.totp_secret)
            except ValueError:
                secret = None
        if secret is None:
            secret = secrets_box.new_secret()
            user.totp_secret, user.totp_enabled_at, user.totp_last_step = secrets_box.seal(secret), now, None
            log(AuditAction.MFA_ENABLED, user.id, method="totp")
        codes = totp.replace_recovery_codes(session, user.id, keys.tokens)
        log(AuditAction.RECOVERY_CODES_REGENERATED, user.id)
        session.flush()

        # What the demo completes: two-step verification for both (the admin pages and tier data need a second
        # factor every session), and for the researcher every other Registered Tier module.
        modules = [Module.TWO_FACTOR]
        if not spec["admin"]:
            modules += [Module.IDENTITY, Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION,
                        Module.PUBLICATIONS]
        state = evaluator.state(user, now)
        for module in modules:
            if state.modules[module].satisfied:
                continue
            details: dict[str, Any] = {}
            version = None
            if module is Module.TWO_FACTOR:
                details = {"via": "totp"}
            elif module is Module.IDENTITY:
                details = dict(demo)
                log(AuditAction.IDENTITY_VERIFIED, user.id)
            elif module is Module.RT_TRAINING:
                course = current_course(Tier.REGISTERED)
                n = len(course.quiz)
                session.add(QuizAttempt(user_id=user.id, course=Tier.REGISTERED.value, version=course.version,
                                        score=n, out_of=n, passed=True, at=now))
                version, details = course.version, {"score": n, "out_of": n, **demo}
            elif module is Module.DUCC:
                doc = load_document("ducc")
                initials = [user.given_name[:1] + user.family_name[:1]] * len(doc.statements)
                check_ducc_signature(doc, full_name=user.full_name, initials=initials,
                                     account_full_name=user.full_name)
                session.add(DuccSignature(user_id=user.id, version=doc.version, full_name=user.full_name,
                                          initials=initials, signed_at=now))
                version, details = doc.version, dict(demo)
                log(AuditAction.DUCC_SIGNED, user.id, version=doc.version)
            else:
                details = dict(demo)
            complete(session, user, module, now=now, version=version, details=details)
            log(AuditAction.MODULE_COMPLETED, user.id, module=module.value)
        session.flush()
        state = evaluator.state(user, now)
        uri = totp.provisioning_uri(secret, account=user.email, issuer=config.program_name)
        users.append({"email": user.email, "admin": user.is_admin, "created": created,
                      "tiers": sorted(t.value for t in state.granted),
                      "next_step": state.next_step.value if state.next_step else None,
                      "totp_secret": secret, "otpauth_uri": uri, "recovery_codes": codes})
        accounts[user.email] = user
    result = {"institution": {"short_name": inst.short_name, "name": inst.display_name, "created": institution_created},
              "users": users}
    if cohort is not None:
        result["workspace"] = _seed_demo_workspace(session, config=config, audit=audit, evaluator=evaluator,
                                                   researcher=accounts[DEMO_RESEARCHER], cohort=cohort, now=now)
    return result


DEMO_WORKSPACE = "Type 2 diabetes and metformin"
DEMO_COHORT = "Type 2 diabetes on metformin, without CKD"
_DEMO_COHORT_DESCRIPTION = ("Participants with type 2 diabetes (any of its descendant conditions) who were prescribed "
                            "metformin, leaving out anyone with chronic kidney disease: the demo's cohort, saved from "
                            "{source}.")
_DEMO_PURPOSE = {
    "disease_focused_research": True,
    "disease_of_focus": "Type 2 diabetes",
    "intended_study": (
        "How do HbA1c and weight change over the first two years of metformin treatment in adults with type 2 "
        "diabetes and no chronic kidney disease, and what predicts who will need a second glucose-lowering drug? "
        "Metformin is the first treatment for most people with type 2 diabetes: knowing early who will need more "
        "helps clinicians intensify treatment sooner."),
    "scientific_approach": (
        "A retrospective cohort from the Registered Tier's electronic health records (the demo program's synthetic "
        "participants): type 2 diabetes with its descendant conditions and a metformin prescription, excluding "
        "chronic kidney disease, which changes how metformin may be used. HbA1c and weight are followed from the "
        "first metformin exposure, and the time to a second drug is modelled with survival analysis adjusted for "
        "age, sex and baseline HbA1c."),
    "anticipated_findings": (
        "Most participants should stay on metformin alone for the first year, with a higher baseline HbA1c and "
        "weight gain predicting an earlier second drug. The findings can help clinicians and patients plan "
        "treatment; they will be shared in a peer-reviewed journal and at a scientific conference."),
    "dissemination": ["PUBLICATION_PEER_REVIEWED_JOURNALS", "PRESENTATION_SCIENTIFIC_CONFERENCES"],
    "research_outcomes": ["IMPROVED_RISK_ASSESMENT", "DECREASE_ILLNESS_BURDEN"],
    "aian_research_type": "NO_AI_AN_ANALYSIS",
}


class _DemoAudit:
    """The audit log as the demo writes through the workspace services: the operator at the command line acts
    (``actor_id`` none) for the researcher the change is made for (the target), and every event says ``via: demo``."""

    def __init__(self, log: AuditLog, on_behalf_of: int):
        self.log, self.on_behalf_of = log, on_behalf_of

    def append(self, session, action, *, actor_id: int | None = None, target_user_id: int | None = None,
               ip: str | None = None, details: dict[str, Any] | None = None, **extra: Any):
        return self.log.append(session, action, actor_id=None,
                               target_user_id=self.on_behalf_of if target_user_id is None else target_user_id,
                               ip=ip, details={**(details or {}), "via": "demo"}, **extra)


def _demo_workspace_of(session, researcher) -> Any:
    """The demo workspace an earlier run made: the researcher's oldest live workspace whose namespace (fixed at
    creation, so a rename keeps it) is the demo workspace's name as a slug, or that slug numbered."""
    from sqlalchemy import or_, select
    from sqlalchemy.orm import selectinload

    from ..state.models import Workspace
    from ..workspaces.service import slugify

    stem = slugify(DEMO_WORKSPACE)
    found = session.scalars(
        select(Workspace).options(selectinload(Workspace.data_version))
        .where(Workspace.created_by == researcher.id, Workspace.deleted_at.is_(None),
               or_(Workspace.namespace == stem, Workspace.namespace.like(stem + "-%")))
        .order_by(Workspace.id))
    return next((w for w in found if w.namespace == stem or w.namespace[len(stem) + 1:].isdigit()), None)


def _seed_demo_workspace(session, *, config: WorkbenchConfig, audit: AuditLog, evaluator, researcher,
                         cohort: dict[str, Any], now) -> dict[str, Any]:
    """The researcher's demo workspace, made once: on the Registered Tier's default data version, the researcher
    its OWNER, with a complete research purpose and the cohort saved in it. A later run keeps it as it is (as
    edited on the web pages); one deleted on the web pages is made again. No data version: none, and why."""
    from sqlalchemy import select

    from ..accounts.audit import AuditAction
    from ..accounts.modules import Tier
    from ..state.models import Resource
    from ..workspaces import resources as res
    from ..workspaces import service as ws
    from ..workspaces.roles import Membership, Role

    base = config.base_url.rstrip("/")
    workspace = _demo_workspace_of(session, researcher)
    status = "kept"
    if workspace is None:
        version = ws.default_version(session, Tier.REGISTERED)
        if version is None:
            return {"status": "not_made", "reason": (
                "no Registered Tier data version is published yet: publish a release with `workbench release "
                "publish RELEASE_DIR --name NAME`, then run `workbench admin demo --cohort FILE` again")}
        ctx = ws.Context(audit=_DemoAudit(audit, researcher.id), access_of=lambda user: evaluator.state(user, now),
                         now=now)
        workspace = ws.create(session, ctx, researcher, name=DEMO_WORKSPACE, tier=Tier.REGISTERED.value,
                              data_version=version.id, purpose=_DEMO_PURPOSE)
        resource = res.create(session, Membership(workspace, Role.OWNER), "cohort", DEMO_COHORT,
                              _DEMO_COHORT_DESCRIPTION.format(source=cohort["source"]), cohort["definition"],
                              researcher, now)
        audit.append(session, AuditAction.RESOURCE_CREATED, actor_id=None, target_user_id=researcher.id, details={
            "workspace": workspace.namespace, "resource_id": resource.id, "kind": resource.kind,
            "name": resource.name, "version": resource.version, "via": "demo"})
        status = "created"
    saved = session.scalar(select(Resource).where(Resource.workspace_id == workspace.id, Resource.kind == "cohort",
                                                  Resource.name == DEMO_COHORT, Resource.deleted_at.is_(None)))
    url = f"{base}/workspaces/{workspace.namespace}"
    return {"status": status, "namespace": workspace.namespace, "name": workspace.name, "url": url,
            "tier": workspace.tier, "data_version": workspace.data_version.name, "owner": researcher.email,
            "locked": workspace.locked_at is not None,
            "cohort": None if saved is None else {"id": saved.id, "name": saved.name, "version": saved.version,
                                                   "url": f"{url}/resources/{saved.id}"}}


@admin_app.command("demo")
def demo(
    config_path: Optional[Path] = CONFIG_OPTION,
    qr: bool = typer.Option(False, "--qr", help="Also print each authenticator link as a QR code to scan."),
    cohort_file: Optional[Path] = typer.Option(
        None, "--cohort", dir_okay=False,
        help="A cohort definition (JSON): also give the researcher a workspace, \"Type 2 diabetes and metformin\", "
             "on the Registered Tier's default data version, with this cohort saved in it (once: a later run keeps "
             "it as it is)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Set up (or reset) the demo: institution Demo University (demo-u, both tiers for demo.edu addresses), an
    administrator admin@demo.edu and a researcher researcher@demo.edu with the Registered Tier. With --cohort, the
    researcher also owns a workspace with that cohort saved in it, once a Registered Tier data version is published
    (`workbench release publish`); without one, it says so and makes none.

    Safe to run again: it creates what is missing and prints the sign-in details. Each run gives both accounts a
    new random password and new recovery codes (only hashes are stored, so the old ones cannot be shown again) and
    keeps their authenticator secrets, so an authenticator app set up once keeps working. Two-step verification is
    on for both: signing in asks for a code from an authenticator app given the printed secret, or for one of the
    printed single-use recovery codes.
    """
    from ..accounts.clock import utcnow
    from ..accounts.passwords import Passwords

    config, keys, db = _open(config_path, json_output)
    cohort = None
    if cohort_file is not None:  # checked before anything is written
        from ..cohorts.builder.model import parse_definition, read_json_file

        with user_errors(json_output, source=cohort_file, heading="invalid cohort definition"):
            document = read_json_file(cohort_file)
            parse_definition(document)
        cohort = {"source": cohort_file.name, "definition": document}
    passwords = Passwords(config.passwords)
    plain = {spec["email"]: _demo_password() for spec in _DEMO_USERS}
    hashes = {email: passwords.hash(password) for email, password in plain.items()}  # before the write lock
    with _writing(db, json_output) as session:
        result = _seed_demo(session, config=config, keys=keys, hashes=hashes, now=utcnow(), cohort=cohort)
    for user in result["users"]:
        user["password"] = plain[user["email"]]
    base = config.base_url.rstrip("/")
    document = {"workbench": base, "signin": f"{base}/signin", **result}
    if json_output:
        emit_json(document)
        return
    inst = result["institution"]
    print(f"Researcher Workbench demo: sign in at {base}/signin")
    print(f"Institution: {inst['name']} ({inst['short_name']}): both tiers for addresses at {DEMO_DOMAIN}")
    for user in result["users"]:
        what = "administrator" if user["admin"] else (
            ", ".join(t.title() + " Tier" for t in user["tiers"]) or "no tier yet") + " researcher"
        print()
        print(f"{user['email']} ({what})")
        print(f"  password        {user['password']}  (new each time `workbench admin demo` runs)")
        print(f"  TOTP secret     {user['totp_secret']}  (type it into an authenticator app, or open the link)")
        print(f"  authenticator   {user['otpauth_uri']}")
        print(f"  recovery codes  {' '.join(user['recovery_codes'][:5])}")
        print(f"                  {' '.join(user['recovery_codes'][5:])}  (each works once, instead of a code)")
        if qr:
            import segno

            segno.make(user["otpauth_uri"], error="m").terminal(compact=True)
    workspace = result.get("workspace")
    if workspace is not None:
        print()
        if workspace["status"] == "not_made":
            print(f"No demo workspace: {workspace['reason']}.")
            return
        made = "made now" if workspace["status"] == "created" else "kept from an earlier run"
        print(f"Workspace “{workspace['name']}” ({made}): {workspace['url']}")
        print(f"  owner           {workspace['owner']} (Registered Tier, data version {workspace['data_version']})"
              + ("  LOCKED by an administrator" if workspace["locked"] else ""))
        saved = workspace["cohort"]
        print(f"  cohort          {saved['name']}: {saved['url']}" if saved
              else f"  cohort          (no live cohort named “{DEMO_COHORT}” in it now)")


# -- audit -------------------------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify(
    config_path: Optional[Path] = CONFIG_OPTION,
    checkpoints: list[Path] = typer.Option(
        [], "--checkpoint", dir_okay=False,
        help="A checkpoint exported earlier (repeatable): the row it names must still have its hash, and exist."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Walk the whole audit log, recomputing every row's HMAC, and name the first tampered row.

    Exit status 0: intact; 1: tampered (or refused input). A chain alone cannot show rows cut from its end, nor a
    rewrite by someone holding the secret: a checkpoint kept off the server can.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from ..accounts.audit import load_checkpoint

    _, keys, db = _open(config_path, json_output)
    with user_errors(json_output):
        points = [load_checkpoint(path) for path in checkpoints]
    try:
        report = _audit_log(keys).verify(db, checkpoints=points)
    except SQLAlchemyError as err:
        fail(_database_message(err), json_output)
    if json_output:
        emit_json({**report.as_dict(), "checkpoints": [str(p) for p in checkpoints]})
    elif report.ok:
        print(f"ok: {report.rows} rows, head seq {report.head_seq} hash {report.head_hash}")
    else:
        print(f"tampered: row {report.first_bad_seq}: {report.reason}")
        print(f"  before it: {report.rows} intact rows, up to seq {report.head_seq} hash {report.head_hash}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="The checkpoint file to write (JSON)."),
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Export the head of the audit log ({"seq", "hash", "at", "rows"}) to keep somewhere the server cannot write;
    `workbench audit verify --checkpoint FILE` then catches rows cut from the end and re-chained rewrites.

    The export itself is logged (a checkpoint_exported event after the row the checkpoint names)."""
    from sqlalchemy.exc import SQLAlchemyError

    _, keys, db = _open(config_path, json_output)
    try:
        with user_errors(json_output):
            point = _audit_log(keys).export_checkpoint(db, out)
    except SQLAlchemyError as err:
        fail(_database_message(err), json_output)
    if json_output:
        emit_json({**point, "path": str(out)})
    else:
        err_console.print(f"Checkpoint written to {out}: seq {point['seq']}, hash {point['hash']} ({point['rows']} rows). "
                          "Keep a copy off this server.", highlight=False, markup=False)
