"""``workbench serve``, ``workbench admin …`` and ``workbench audit …``: each command's result and its refusals."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from research_workbench.cli import app
from ..helpers import free_port

runner = CliRunner()
SECRET = "cli-test-secret-" + "s" * 40
PASSWORD = "correct horse battery staple"
WB = ("RW_WORKBENCH_CONFIG", "RW_WORKBENCH_SECRET_FILE", "RW_WORKBENCH_ALLOWED_HOSTS", "RW_WORKBENCH_MAIL_JOBS")


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """A config file over a fresh SQLite database (cheap argon2), the secret in RW_WORKBENCH_SECRET."""
    for name in WB:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RW_WORKBENCH_SECRET", SECRET)
    path = tmp_path / "wb.toml"
    path.write_text('base_url = "http://127.0.0.1:8001"\ndatabase_url = "sqlite:///state/wb.sqlite"\n'
                    "[passwords]\ntime_cost = 1\nmemory_kib = 64\nparallelism = 1\n")
    return path


@pytest.fixture
def migrated(config) -> Path:
    result = runner.invoke(app, ["admin", "migrate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return config


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def database(config: Path):
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database

    return Database(load_workbench_config(config).resolved_database_url)


def audit_rows(config: Path) -> list[tuple]:
    from research_workbench.state.models import AuditEvent

    db = database(config)
    with db.session() as s:
        rows = [(e.seq, e.action, e.actor_id, e.target_user_id, e.details)
                for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    db.dispose()
    return rows


def add_state_u(config: Path, *extra: str):
    return run("admin", "institution", "add", "state-u", "--name", "State University", "--signed", "2025-01-01",
               "--expires", "2030-12-31", "--registered-domains", "state.edu", "--controlled-addresses",
               "pi@state.edu,dean@state.edu", "--config", str(config), *extra)


def drop_update_trigger(config: Path) -> None:
    """What someone with database administrator rights does first."""
    db = database(config)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
    db.dispose()


# -- the secret and the schema ------------------------------------------------------------------------------------

def test_init_secret_writes_64_random_characters_only_the_owner_may_read_and_never_prints_them(tmp_path):
    out = tmp_path / "keys" / "secret"
    result = run("admin", "init-secret", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"secret_file": str(out), "mode": "0600", "replaced": False}
    secret = out.read_text().strip()
    assert len(secret) == 64 and secret not in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in out.parent.iterdir()] == ["secret"]  # no temporary file left


def test_init_secret_refuses_to_overwrite_without_replace(tmp_path):
    out = tmp_path / "secret"
    run("admin", "init-secret", "--out", str(out))
    first = out.read_text()
    refused = run("admin", "init-secret", "--out", str(out))
    assert refused.exit_code == 1
    assert f"{out}: a secret file exists (replacing it invalidates everything derived from it: pass --replace)" \
        in refused.stderr
    assert out.read_text() == first
    replaced = run("admin", "init-secret", "--out", str(out), "--replace")
    assert replaced.exit_code == 0 and out.read_text() != first
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_secret_file_named_by_the_config_is_used(config, tmp_path, monkeypatch):
    monkeypatch.delenv("RW_WORKBENCH_SECRET")
    run("admin", "init-secret", "--out", str(tmp_path / "secret"))
    config.write_text(config.read_text().replace("[passwords]", 'secret_file = "secret"\n[passwords]'))
    run("admin", "migrate", "--config", str(config))
    assert add_state_u(config).exit_code == 0
    assert run("audit", "verify", "--config", str(config)).stdout.startswith("ok: 1 rows, head seq 1 hash ")


def test_migrate_prints_the_revision_it_went_from_and_to(config, tmp_path):
    first = run("admin", "migrate", "--config", str(config))
    assert first.exit_code == 0, first.output
    url = f"sqlite:///{tmp_path / 'state' / 'wb.sqlite'}"
    assert first.stderr == f"Database schema migrated from nothing to 0006: {url}\n"
    again = run("admin", "migrate", "--config", str(config), "--json")
    assert json.loads(again.stdout) == {"database": url, "from": "0006", "to": "0006", "changed": False}


def test_the_config_can_come_from_rw_workbench_config(config, monkeypatch):
    monkeypatch.setenv("RW_WORKBENCH_CONFIG", str(config))
    assert run("admin", "migrate").exit_code == 0
    assert (config.parent / "state" / "wb.sqlite").is_file()


def test_commands_refuse_a_database_whose_schema_is_behind_naming_the_migration(config):
    result = run("admin", "institution", "list", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.endswith(" the database schema is at nothing, this version needs 0006: "
                                  "run `workbench admin migrate`\n") and result.stderr.count("\n") == 1


def test_a_missing_secret_is_refused_naming_where_it_may_come_from(migrated, monkeypatch):
    monkeypatch.delenv("RW_WORKBENCH_SECRET")
    result = add_state_u(migrated)
    assert result.exit_code == 1
    assert result.stderr == ("Refused (invalid Workbench config): nothing was started.\n"
                             "  secret_file: no secret: set RW_WORKBENCH_SECRET, RW_WORKBENCH_SECRET_FILE or "
                             "secret_file in the config\n")
    as_json = add_state_u(migrated, "--json")
    assert json.loads(as_json.stdout) == {"error": "invalid Workbench config", "problems": [
        {"where": "secret_file", "message": "no secret: set RW_WORKBENCH_SECRET, RW_WORKBENCH_SECRET_FILE or "
                                            "secret_file in the config"}]}


def test_a_short_secret_and_a_bad_config_key_are_refused(migrated, monkeypatch):
    monkeypatch.setenv("RW_WORKBENCH_SECRET", "short")
    assert "RW_WORKBENCH_SECRET: the secret must be at least 32 characters" in add_state_u(migrated).stderr
    migrated.write_text(migrated.read_text() + "colour = 'blue'\n")
    result = run("admin", "migrate", "--config", str(migrated))
    assert result.exit_code == 1
    assert f"  {migrated}: passwords.colour: Extra inputs are not permitted" in result.stderr


# -- institutions -------------------------------------------------------------------------------------------------

def test_institution_add_saves_the_agreement_and_audits_it_as_done_from_the_cli(migrated):
    result = add_state_u(migrated, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "short_name": "state-u", "name": "State University", "kind": "academic", "signed_on": "2025-01-01",
        "expires_on": "2030-12-31",
        "registered": {"kind": "domains", "entries": ["state.edu"], "description": "addresses at state.edu"},
        "controlled": {"kind": "addresses", "entries": ["pi@state.edu", "dean@state.edu"],
                       "description": "2 listed addresses"}}
    assert audit_rows(migrated) == [(1, "institution_created", None, None, {"via": "cli", "institution": "state-u"})]


def test_institution_list_prints_each_agreement_and_its_rules(migrated):
    add_state_u(migrated)
    run("admin", "institution", "add", "city-lab", "--name", "City Health Lab", "--kind", "nonprofit",
        "--signed", "2024-06-30", "--config", str(migrated))
    result = run("admin", "institution", "list", "--config", str(migrated))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "city-lab  City Health Lab  (nonprofit; agreement signed 2024-06-30, no end)\n"
        "  Registered Tier: not available\n"
        "  Controlled Tier: not available\n"
        "state-u  State University  (academic; agreement signed 2025-01-01, ends 2030-12-31)\n"
        "  Registered Tier: addresses at state.edu\n"
        "  Controlled Tier: 2 listed addresses\n")
    listed = json.loads(run("admin", "institution", "list", "--config", str(migrated), "--json").stdout)
    assert [i["short_name"] for i in listed["institutions"]] == ["city-lab", "state-u"]


def test_institution_list_of_none_says_how_to_add_one(migrated):
    result = run("admin", "institution", "list", "--config", str(migrated))
    assert result.stdout == "No institutions yet: add one with `workbench admin institution add`.\n"


def test_institution_add_names_every_bad_option_at_once_and_writes_nothing(migrated):
    result = run("admin", "institution", "add", "Bad Name", "--name", "X", "--kind", "university",
                 "--signed", "2025-13-01", "--expires", "31/12/2030", "--registered-domains", "state.edu",
                 "--registered-addresses", "a@state.edu", "--controlled-domains", "not_a_domain",
                 "--config", str(migrated))
    assert result.exit_code == 1
    assert result.stderr == (
        "Refused (invalid institution): nothing was written.\n"
        "  --signed: '2025-13-01' is not a date like 2026-01-31 (YYYY-MM-DD)\n"
        "  --expires: '31/12/2030' is not a date like 2026-01-31 (YYYY-MM-DD)\n"
        "  --registered-domains/--registered-addresses: give domains or addresses, not both\n"
        "  SHORT_NAME: 2–40 lower-case letters, digits and hyphens, starting with a letter or digit\n"
        "  --name: 2 to 200 characters\n"
        "  --kind: choose one of academic, nonprofit, health_center, government, industry, other\n"
        "  --controlled-domains: 'not_a_domain' is not a domain\n")
    assert audit_rows(migrated) == []
    assert json.loads(run("admin", "institution", "list", "--config", str(migrated), "--json").stdout) == {
        "institutions": []}


def test_institution_add_refuses_a_controlled_rule_without_a_registered_one_and_a_taken_name(migrated):
    add_state_u(migrated)
    result = run("admin", "institution", "add", "state-two", "--name", "State Two", "--signed", "2025-01-01",
                 "--controlled-domains", "state.edu", "--config", str(migrated), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        {"where": "--registered-domains/--registered-addresses",
         "message": "the Controlled Tier needs the Registered Tier: give the Registered Tier a rule too"}]
    taken = run("admin", "institution", "add", "state-u", "--name", "State University", "--signed", "2025-01-01",
                "--config", str(migrated), "--json")
    assert json.loads(taken.stdout)["problems"] == [
        {"where": "SHORT_NAME", "message": "another institution has this name"},
        {"where": "--name", "message": "another institution has this name"}]
    assert len(audit_rows(migrated)) == 1


# -- the first administrator --------------------------------------------------------------------------------------

def test_create_admin_makes_a_verified_admin_with_an_argon2id_hash_and_audits_it(migrated, tmp_path):
    from research_workbench.accounts.passwords import Passwords
    from research_workbench.state.models import User

    add_state_u(migrated)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    result = run("admin", "create-admin", "--email", "Root@State.edu", "--given-name", "Grace", "--family-name",
                 "Hopper", "--institution", "state-u", "--password-file", str(tmp_path / "pw"),
                 "--config", str(migrated), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"id": 1, "email": "root@state.edu", "institution": "state-u", "admin": True}
    db = database(migrated)
    with db.session() as s:
        user = s.scalar(select(User))
        assert (user.email, user.is_admin, user.full_name, user.institution.short_name) == (
            "root@state.edu", True, "Grace Hopper", "state-u")
        assert user.email_verified_at is not None and user.totp_enabled_at is None
        assert user.password_hash.startswith("$argon2id$") and Passwords().verify(user.password_hash, PASSWORD)
    db.dispose()
    assert audit_rows(migrated)[-1] == (2, "admin_granted", None, 1, {"via": "cli"})


def test_create_admin_asks_for_the_password_twice_without_echoing_it(migrated):
    add_state_u(migrated)
    result = run("admin", "create-admin", "--email", "root@state.edu", "--given-name", "Grace", "--family-name",
                 "Hopper", "--institution", "state-u", "--config", str(migrated),
                 input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert result.stderr.startswith("Password:Repeat for confirmation:")  # prompts on stderr: stdout stays data
    assert result.stderr.endswith("Administrator root@state.edu created (user 1). Sign in at "
                                  "http://127.0.0.1:8001/signin and turn on two-step verification: the admin pages "
                                  "need it.\n")


@pytest.mark.parametrize("password, problems", [
    ("short", ["password: use at least 12 characters"]),
    ("aaaaaaaaaaaaaaaa", ["password: use more than three different characters"]),
    ("root@state.edu", ["password: must not be your email address"]),
])
def test_create_admin_refuses_a_weak_password_with_the_sign_up_rules(migrated, tmp_path, password, problems):
    add_state_u(migrated)
    (tmp_path / "pw").write_text(password)
    result = run("admin", "create-admin", "--email", "root@state.edu", "--given-name", "Grace", "--family-name",
                 "Hopper", "--institution", "state-u", "--password-file", str(tmp_path / "pw"),
                 "--config", str(migrated))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["Refused (cannot create the account): nothing was written.",
                                          *(f"  {p}" for p in problems)]
    assert len(audit_rows(migrated)) == 1  # only the institution


def test_create_admin_refuses_a_bad_email_an_unknown_institution_and_an_existing_account(migrated, tmp_path):
    add_state_u(migrated)
    (tmp_path / "pw").write_text(PASSWORD)
    args = ["--given-name", "Grace", "--family-name", " ", "--password-file", str(tmp_path / "pw"),
            "--config", str(migrated), "--json"]
    result = run("admin", "create-admin", "--email", "not-an-email", "--institution", "nowhere", *args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        {"where": "--email", "message": "not an email address"},
        {"where": "--family-name", "message": "1 to 80 characters"},
        {"where": "--institution", "message": "no institution 'nowhere': add it with `workbench admin institution add`"}]
    args[3] = "Hopper"
    assert run("admin", "create-admin", "--email", "root@state.edu", "--institution", "state-u", *args).exit_code == 0
    again = run("admin", "create-admin", "--email", "ROOT@state.edu", "--institution", "state-u", *args)
    assert json.loads(again.stdout)["problems"] == [{"where": "--email", "message": "an account with this email exists"}]


# -- the demo -----------------------------------------------------------------------------------------------------

def demo(config: Path) -> dict:
    result = run("admin", "demo", "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_sets_up_an_institution_an_admin_and_a_registered_researcher_with_two_step_verification(migrated):
    document = demo(migrated)
    assert {k: document[k] for k in ("workbench", "signin", "institution")} == {
        "workbench": "http://127.0.0.1:8001", "signin": "http://127.0.0.1:8001/signin",
        "institution": {"short_name": "demo-u", "name": "Demo University", "created": True}}
    admin, researcher = document["users"]
    assert (admin["email"], admin["admin"], admin["tiers"]) == ("admin@demo.edu", True, [])
    assert (researcher["email"], researcher["admin"], researcher["tiers"], researcher["next_step"]) == (
        "researcher@demo.edu", False, ["registered"], "ct_training")
    for user in document["users"]:
        assert re.fullmatch(r"[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}", user["password"])
        assert re.fullmatch(r"[A-Z2-7]{32}", user["totp_secret"])
        assert user["otpauth_uri"] == (f"otpauth://totp/Research%20Workbench:{user['email'].replace('@', '%40')}"
                                       f"?secret={user['totp_secret']}&issuer=Research%20Workbench")
        assert len(user["recovery_codes"]) == 10
    actions = [row[1] for row in audit_rows(migrated)]
    assert actions.count("module_completed") == 7  # two-step for both; five more for the researcher
    assert actions.count("ducc_signed") == actions.count("identity_verified") == 1
    assert all(row[2] is None and row[4]["via"] == "demo" for row in audit_rows(migrated))


def test_demo_run_twice_keeps_one_institution_two_users_and_the_authenticator_secrets(migrated):
    from research_workbench.state.models import DuccSignature, Institution, QuizAttempt, RecoveryCode, User

    first, second = demo(migrated), demo(migrated)
    assert second["institution"]["created"] is False
    assert [u["created"] for u in second["users"]] == [False, False]
    assert [u["totp_secret"] for u in first["users"]] == [u["totp_secret"] for u in second["users"]]
    assert all(a["password"] != b["password"] for a, b in zip(first["users"], second["users"]))
    assert second["users"][1]["tiers"] == ["registered"]
    db = database(migrated)
    with db.session() as s:
        counts = [s.scalar(select(func.count()).select_from(m))
                  for m in (Institution, User, DuccSignature, QuizAttempt, RecoveryCode)]
    db.dispose()
    assert counts == [1, 2, 1, 1, 20]
    assert run("audit", "verify", "--config", str(migrated)).exit_code == 0


def test_demo_prints_the_sign_in_details(migrated):
    result = run("admin", "demo", "--config", str(migrated))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == ["Researcher Workbench demo: sign in at http://127.0.0.1:8001/signin",
                         "Institution: Demo University (demo-u): both tiers for addresses at demo.edu", "",
                         "admin@demo.edu (administrator)"]
    assert "researcher@demo.edu (Registered Tier researcher)" in lines
    assert re.fullmatch(r"  password        \S{23}  \(new each time `workbench admin demo` runs\)", lines[4])
    assert re.fullmatch(r"  TOTP secret     [A-Z2-7]{32}  \(type it into an authenticator app, or open the link\)",
                        lines[5])
    assert lines[6].startswith("  authenticator   otpauth://totp/")


def test_the_demo_researcher_reaches_registered_tier_data_with_the_password_and_a_code_from_the_secret(migrated):
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.workbench.app import create_app

    researcher = demo(migrated)["users"][1]
    client = TestClient(create_app(load_workbench_config(migrated)), base_url="http://127.0.0.1:8001",
                        follow_redirects=False)

    def form(path: str, data: dict):
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(path).text).group(1)
        return client.post(path, data={"csrftoken": token, **data})

    r = form("/signin", {"email": researcher["email"], "password": researcher["password"], "next": "/data/registered"})
    assert (r.status_code, r.headers["location"]) == (303, "/signin/second-step")
    r = form("/signin/second-step", {"code": pyotp.TOTP(researcher["totp_secret"]).now()})
    assert (r.status_code, r.headers["location"]) == (303, "/data/registered")
    assert client.get("/data/registered").status_code == 200


DEMO_COHORT = {  # scripts/demo.sh's cohort
    "includes": [
        {"id": "diabetes", "items": [{"id": "t2dm", "type": "CONDITION", "searchParameters": [
            {"parameterId": "t2dm", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201826, "group": True}]}]},
        {"id": "metformin", "items": [{"id": "metformin", "type": "DRUG", "searchParameters": [
            {"parameterId": "metformin", "domain": "DRUG", "type": "RXNORM", "conceptId": 1503297}]}]}],
    "excludes": [
        {"id": "ckd", "items": [{"id": "ckd", "type": "CONDITION", "searchParameters": [
            {"parameterId": "ckd", "domain": "CONDITION", "type": "SNOMED", "conceptId": 46271022,
             "group": True}]}]}]}


@pytest.fixture
def cohort_file(tmp_path) -> Path:
    path = tmp_path / "t2dm-metformin.json"
    path.write_text(json.dumps(DEMO_COHORT))
    return path


def add_data_version(config: Path, name: str, tier: str, number: int, *, default: bool = True) -> int:
    """A published data version, as `workbench release publish` leaves it (its files are not read here)."""
    from datetime import datetime, timezone

    from research_workbench.state.models import DataVersion

    db = database(config)
    with db.session() as s:
        version = DataVersion(name=name, tier=tier, release_number=number, cdr_path=f"/releases/{name}/{tier}",
                              index_path=f"/releases/{name}/{tier}.index", aggregates_path="/releases/browser.sqlite",
                              manifest_sha256="0" * 64, participant_count=500, data_types=["CONDITION", "DRUG"],
                              is_default=default, created_at=datetime.now(timezone.utc), archived_at=None)
        s.add(version)
        s.flush()
        vid = version.id
    db.dispose()
    return vid


def demo_with_cohort(config: Path, cohort: Path) -> dict:
    result = run("admin", "demo", "--config", str(config), "--cohort", str(cohort), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def workspace_rows(config: Path) -> list[tuple]:
    from research_workbench.state.models import Resource, ResourceVersion, User, Workspace, WorkspaceMember

    db = database(config)
    with db.session() as s:
        emails = {u.id: u.email for u in s.scalars(select(User))}
        rows = [(w.namespace, w.name, w.tier, w.data_version.name, emails[w.created_by],
                 sorted((emails[m.user_id], m.role) for m in s.scalars(
                     select(WorkspaceMember).where(WorkspaceMember.workspace_id == w.id))),
                 [(r.kind, r.name, r.version, [v.content for v in s.scalars(
                     select(ResourceVersion).where(ResourceVersion.resource_id == r.id))])
                  for r in s.scalars(select(Resource).where(Resource.workspace_id == w.id))])
                for w in s.scalars(select(Workspace).order_by(Workspace.id))]
    db.dispose()
    return rows


def test_demo_with_a_cohort_gives_the_researcher_one_workspace_with_the_cohort_saved_on_the_default_version(
        migrated, cohort_file):
    from research_workbench.cohorts.builder.model import parse_definition
    from research_workbench.state.models import Workspace
    from research_workbench.workspaces.purpose import ResearchPurpose

    add_data_version(migrated, "DEMO-0", "registered", 1, default=False)
    add_data_version(migrated, "DEMO-1", "registered", 2)
    add_data_version(migrated, "DEMO-1", "controlled", 2)
    document = demo_with_cohort(migrated, cohort_file)
    url = "http://127.0.0.1:8001/workspaces/type-2-diabetes-and-metformin"
    cohort_id = document["workspace"]["cohort"]["id"]
    assert document["workspace"] == {
        "status": "created", "namespace": "type-2-diabetes-and-metformin", "name": "Type 2 diabetes and metformin",
        "url": url, "tier": "registered", "data_version": "DEMO-1", "owner": "researcher@demo.edu", "locked": False,
        "cohort": {"id": cohort_id, "name": "Type 2 diabetes on metformin, without CKD", "version": 1,
                   "url": f"{url}/resources/{cohort_id}"}}
    stored = parse_definition(DEMO_COHORT).model_dump(mode="json", exclude_none=True)
    assert workspace_rows(migrated) == [(
        "type-2-diabetes-and-metformin", "Type 2 diabetes and metformin", "registered", "DEMO-1",
        "researcher@demo.edu", [("researcher@demo.edu", "OWNER")],
        [("cohort", "Type 2 diabetes on metformin, without CKD", 1, [stored])])]
    db = database(migrated)
    with db.session() as s:
        purpose = ResearchPurpose.model_validate(s.scalar(select(Workspace.purpose)))
    db.dispose()
    assert (purpose.purposes, purpose.disease_of_focus) == (["Disease-focused research"], "Type 2 diabetes")
    assert all(len(answer) > 100 for answer in (purpose.intended_study, purpose.scientific_approach,
                                                purpose.anticipated_findings))
    researcher = document["users"][1]
    made = [row for row in audit_rows(migrated) if row[1] in ("workspace_created", "resource_created")]
    assert [(a, actor, target) for _, a, actor, target, _ in made] == [
        ("workspace_created", None, 2), ("resource_created", None, 2)]
    assert made[0][4] == {"workspace_id": 1, "namespace": "type-2-diabetes-and-metformin",
                          "name": "Type 2 diabetes and metformin", "tier": "registered", "data_version": "DEMO-1",
                          "via": "demo"}
    assert made[1][4] == {"workspace": "type-2-diabetes-and-metformin", "resource_id": cohort_id, "kind": "cohort",
                          "name": "Type 2 diabetes on metformin, without CKD", "version": 1, "via": "demo"}
    assert all(row[2] is None and row[4]["via"] == "demo" for row in audit_rows(migrated))
    assert researcher["email"] == "researcher@demo.edu"
    assert run("audit", "verify", "--config", str(migrated)).exit_code == 0


def test_demo_with_a_cohort_run_twice_keeps_one_workspace_with_one_cohort(migrated, cohort_file):
    add_data_version(migrated, "DEMO-1", "registered", 1)
    first = demo_with_cohort(migrated, cohort_file)
    second = demo_with_cohort(migrated, cohort_file)
    assert first["workspace"]["status"] == "created"
    assert second["workspace"] == {**first["workspace"], "status": "kept"}
    rows = workspace_rows(migrated)
    assert [(ns, [(kind, name, version) for kind, name, version, _ in resources])
            for ns, _, _, _, _, _, resources in rows] == [
        ("type-2-diabetes-and-metformin", [("cohort", "Type 2 diabetes on metformin, without CKD", 1)])]
    actions = [row[1] for row in audit_rows(migrated)]
    assert (actions.count("workspace_created"), actions.count("resource_created")) == (1, 1)


def test_demo_with_a_cohort_makes_the_workspace_again_once_it_was_deleted(migrated, cohort_file):
    from datetime import datetime, timezone

    from research_workbench.state.models import Workspace

    add_data_version(migrated, "DEMO-1", "registered", 1)
    demo_with_cohort(migrated, cohort_file)
    db = database(migrated)
    with db.session() as s:
        s.execute(update(Workspace).values(deleted_at=datetime.now(timezone.utc)))
    db.dispose()
    again = demo_with_cohort(migrated, cohort_file)
    assert (again["workspace"]["status"], again["workspace"]["namespace"]) == (
        "created", "type-2-diabetes-and-metformin-2")
    assert demo_with_cohort(migrated, cohort_file)["workspace"]["status"] == "kept"
    assert [row[0] for row in workspace_rows(migrated)] == [
        "type-2-diabetes-and-metformin", "type-2-diabetes-and-metformin-2"]


def test_demo_with_a_cohort_but_no_registered_data_version_says_why_it_made_no_workspace(migrated, cohort_file):
    add_data_version(migrated, "DEMO-1", "controlled", 1)  # another tier's version is not one
    document = demo_with_cohort(migrated, cohort_file)
    assert document["workspace"] == {"status": "not_made", "reason": (
        "no Registered Tier data version is published yet: publish a release with `workbench release publish "
        "RELEASE_DIR --name NAME`, then run `workbench admin demo --cohort FILE` again")}
    assert document["users"][1]["tiers"] == ["registered"]  # the rest of the demo is set up all the same
    assert workspace_rows(migrated) == []
    result = run("admin", "demo", "--config", str(migrated), "--cohort", str(cohort_file))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "No demo workspace: no Registered Tier data version is published yet: publish a release with `workbench "
        "release publish RELEASE_DIR --name NAME`, then run `workbench admin demo --cohort FILE` again.")


def test_demo_prints_the_workspace_and_its_cohort(migrated, cohort_file):
    add_data_version(migrated, "DEMO-1", "registered", 1)
    result = run("admin", "demo", "--config", str(migrated), "--cohort", str(cohort_file))
    assert result.exit_code == 0, result.output
    url = "http://127.0.0.1:8001/workspaces/type-2-diabetes-and-metformin"
    assert result.stdout.splitlines()[-4:] == [
        "", f"Workspace “Type 2 diabetes and metformin” (made now): {url}",
        "  owner           researcher@demo.edu (Registered Tier, data version DEMO-1)",
        f"  cohort          Type 2 diabetes on metformin, without CKD: {url}/resources/1"]


def test_demo_refuses_a_cohort_file_that_is_not_a_definition_and_writes_nothing(migrated, tmp_path):
    from research_workbench.state.models import User

    add_data_version(migrated, "DEMO-1", "registered", 1)
    bad = tmp_path / "bad.json"
    bad.write_text('{"includes": [{"items": [{"type": "CONDITION"}]}], "includes": []}')
    result = run("admin", "demo", "--config", str(migrated), "--cohort", str(bad), "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"].startswith(f"{bad}: invalid cohort definition")
    db = database(migrated)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
    db.dispose()
    assert workspace_rows(migrated) == []


def test_the_demo_workspace_is_the_researchers_on_the_web_pages(migrated, cohort_file):
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.workbench.app import create_app

    add_data_version(migrated, "DEMO-1", "registered", 1)
    document = demo_with_cohort(migrated, cohort_file)
    researcher = document["users"][1]
    client = TestClient(create_app(load_workbench_config(migrated)), base_url="http://127.0.0.1:8001",
                        follow_redirects=False)

    def form(path: str, data: dict):
        token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(path).text).group(1)
        return client.post(path, data={"csrftoken": token, **data})

    form("/signin", {"email": researcher["email"], "password": researcher["password"], "next": "/workspaces"})
    r = form("/signin/second-step", {"code": pyotp.TOTP(researcher["totp_secret"]).now()})
    assert (r.status_code, r.headers["location"]) == (303, "/workspaces")
    page = client.get("/workspaces/type-2-diabetes-and-metformin/data")
    assert page.status_code == 200
    assert "Type 2 diabetes on metformin, without CKD" in page.text


# -- the audit log ------------------------------------------------------------------------------------------------

def test_audit_verify_of_an_intact_log_prints_the_head(migrated):
    add_state_u(migrated)
    result = run("audit", "verify", "--config", str(migrated))
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"ok: 1 rows, head seq 1 hash [0-9a-f]{64}\n", result.stdout)


def test_audit_verify_names_the_first_tampered_row_and_exits_1(migrated):
    from research_workbench.state.models import AuditEvent

    demo(migrated)
    head = run("audit", "verify", "--config", str(migrated), "--json")
    rows = json.loads(head.stdout)["rows"]
    first_hash = audit_hash(migrated, 1)
    drop_update_trigger(migrated)
    db = database(migrated)
    with db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(details={"via": "someone else"}))
    db.dispose()

    result = run("audit", "verify", "--config", str(migrated))
    assert result.exit_code == 1
    assert result.stdout == (
        "tampered: row 2: hash mismatch: row 2's hash does not match its content (the row was changed, or its hash "
        "made without the key)\n"
        f"  before it: 1 intact rows, up to seq 1 hash {first_hash}\n")
    as_json = run("audit", "verify", "--config", str(migrated), "--json")
    assert as_json.exit_code == 1
    assert {k: v for k, v in json.loads(as_json.stdout).items() if k != "reason"} == {
        "ok": False, "rows": 1, "first_bad_seq": 2, "head_seq": 1, "head_hash": first_hash, "checkpoints": []}
    assert rows > 2


def audit_hash(config: Path, seq: int) -> str:
    db = database(config)
    with db.engine.connect() as conn:
        value = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq}).scalar_one()
    db.dispose()
    return value


def test_a_checkpoint_round_trips_and_catches_rows_cut_from_the_end(migrated, tmp_path):
    add_state_u(migrated)
    run("admin", "institution", "add", "city-lab", "--name", "City Health Lab", "--signed", "2024-06-30",
        "--config", str(migrated))
    out = tmp_path / "offsite" / "checkpoint.json"
    out.parent.mkdir()
    result = run("audit", "checkpoint", "--out", str(out), "--config", str(migrated), "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written == {k: v for k, v in json.loads(result.stdout).items() if k != "path"}
    assert (written["seq"], written["rows"], written["hash"]) == (2, 2, audit_hash(migrated, 2))
    assert audit_rows(migrated)[-1] == (3, "checkpoint_exported", None, None,
                                        {"seq": 2, "hash": written["hash"], "path": str(out)})
    ok = run("audit", "verify", "--checkpoint", str(out), "--config", str(migrated), "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["checkpoints"] == [str(out)]

    drop_update_trigger(migrated)
    db = database(migrated)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq >= 2")
    db.dispose()
    assert run("audit", "verify", "--config", str(migrated)).exit_code == 0  # a shorter chain is still a chain
    cut = run("audit", "verify", "--checkpoint", str(out), "--config", str(migrated))
    assert cut.exit_code == 1
    assert cut.stdout.splitlines()[0] == ("tampered: row 2: truncated: the log ends at row 1 but a checkpoint has "
                                          "row 2 (row 2 removed from the end)")


def test_a_checkpoint_that_is_not_one_is_refused(migrated, tmp_path):
    bad = tmp_path / "cp.json"
    bad.write_text('{"seq": -1, "hash": "xyz"}')
    result = run("audit", "verify", "--checkpoint", str(bad), "--config", str(migrated))
    assert result.exit_code == 1
    assert result.stderr == (f"Refused (refused by the audit log): nothing was written to the audit log.\n"
                             f"  {bad}: seq: seq must be an integer ≥ 0\n"
                             f"  {bad}: hash: hash must be 64 lower-case hex digits\n")


# -- serving ------------------------------------------------------------------------------------------------------

def test_serve_refuses_a_database_whose_schema_is_behind(config, monkeypatch):
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server must not start"))
    result = run("serve", "--config", str(config))
    assert result.exit_code == 1
    assert "the database schema is at nothing, this version needs 0006: run `workbench admin migrate`" in result.stderr


def test_serve_refuses_several_processes_when_it_serves_notebooks(migrated, monkeypatch):
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server must not start"))
    migrated.write_text(migrated.read_text().replace('base_url = ', 'notebook_host = "localhost"\nbase_url = ', 1))
    result = run("serve", "--config", str(migrated), "--workers", "2", "--no-mail")
    assert result.exit_code == 2
    assert ("notebooks (notebook_host = 'localhost') need one server process: run with --workers 1, or leave "
            "notebook_host out of the config to serve without notebooks") in " ".join(result.stderr.split())


def test_serve_with_migrate_brings_the_schema_up_and_hands_uvicorn_the_factory(config, monkeypatch):
    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda target, **kwargs: seen.update(kwargs, target=target))
    result = run("serve", "--config", str(config), "--migrate", "--port", "8123", "--workers", "3",
                 "--allowed-host", "workbench.example.org", "--no-mail")
    assert result.exit_code == 0, result.output
    assert seen == {"target": "research_workbench.cli.workbench_app:app_from_env", "factory": True,
                    "host": "127.0.0.1", "port": 8123, "workers": 3, "log_level": "warning", "access_log": False}
    assert os.environ["RW_WORKBENCH_CONFIG"] == str(config.absolute())
    assert json.loads(os.environ["RW_WORKBENCH_ALLOWED_HOSTS"]) == ["127.0.0.1", "localhost", "workbench.example.org"]
    assert os.environ["RW_WORKBENCH_MAIL_JOBS"] == "0"

    from research_workbench.cli.workbench_app import app_from_env

    served = app_from_env()
    assert served.state.mail_jobs is None
    client = TestClient(served, base_url="http://workbench.example.org")
    assert client.get("/institutions").status_code == 200
    assert TestClient(served, base_url="http://elsewhere.example.org").get("/institutions").status_code == 400


def test_workbench_serve_answers_over_http_with_the_security_headers(migrated):
    import httpx

    port = free_port()
    env = {**os.environ, "RW_WORKBENCH_SECRET": SECRET}
    server = subprocess.Popen(
        [sys.executable, "-c", "from research_workbench.cli import main; main()", "serve", "--config", str(migrated),
         "--port", str(port), "--no-mail"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/institutions", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert f"Serving the Researcher Workbench at http://127.0.0.1:{port}" in server.stderr.read().decode()
