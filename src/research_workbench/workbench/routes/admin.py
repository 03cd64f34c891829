"""Administration: users (their modules as the one evaluator sees them, bypasses, manual identity verification,
forced re-verification, disabling, the administrator role), institutions and their agreements' rules, requests
for new institutions, and the audit log (browse, verify the chain, download a checkpoint).

Every route is for administrators signed in with a second factor this session (``Access.ADMIN``). Every change
is written with its audit event in one transaction (actor: the administrator; target: the user), and every
change to a user needs a reason of 5 to 500 characters, which the audit event keeps. A user's own pages and
sessions follow from the database: a user who loses a tier (a bypass removed, an institution's rule changed) is
signed out on their next request by ``ServerSessions``; disabling and forcing re-verification sign them out at
once.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException

from ...accounts import institutions as inst
from ...accounts.access import AccessState, Status
from ...accounts import egress
from ...accounts.audit import AuditAction, AuditError, parse_checkpoint
from ...accounts.module_records import bypass, complete, reset
from ...accounts.modules import MODULES, REQUIRED, Module, Tier
from ...cdr.problems import Problem, iso_date
from ...state.models import Institution, InstitutionRequest, User
from ...web import QueryInt, SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import fragment_or_page, page, see_other

router = SecureRouter(include_in_schema=False)
ADMIN = [requires(Access.ADMIN)]

PAGE_SIZE = 50  # users per page, audit events per "Load more"
REASON_MIN, REASON_MAX = 5, 500
MAX_BYPASS = timedelta(days=365)  # a bypass ends at most a year ahead
BYPASSABLE = tuple(m for m in Module if MODULES[m].bypassable)
REVERIFIABLE = (Module.IDENTITY, Module.RT_TRAINING, Module.CT_TRAINING, Module.DUCC)
MODULE_ORDER = REQUIRED[Tier.CONTROLLED]  # every module, in the order a user does them
REQUESTS_SHOWN = 200
_ID = re.compile(r"[0-9]{1,12}")

UserId = Annotated[QueryInt, Path(ge=1, le=2**31 - 1)]
RequestId = Annotated[QueryInt, Path(alias="id", ge=1, le=2**31 - 1)]  # "/{id}": the matrix test's sample

LAST_VERIFY = "admin_last_verify"  # app.state: the last verification this process ran (shown on the overview)


# -- reading forms ----------------------------------------------------------------------------------------------

def reason_of(text: str, problems: list[Problem], where: str = "reason") -> str:
    """The reason, stripped; a problem unless it is 5 to 500 characters."""
    reason = text.strip()
    if not reason:
        problems.append(Problem(f"give a reason ({REASON_MIN} to {REASON_MAX} characters): it is kept in the audit log",
                                where))
    elif len(reason) < REASON_MIN:
        problems.append(Problem(f"too short: give a reason of at least {REASON_MIN} characters", where))
    elif len(reason) > REASON_MAX:
        problems.append(Problem(f"too long: at most {REASON_MAX} characters ({len(reason)} given)", where))
    return reason


def module_of(value: str, allowed: tuple[Module, ...], problems: list[Problem], where: str = "module") -> Module | None:
    try:
        module = Module(value)
    except ValueError:
        module = None
    if module not in allowed:
        problems.append(Problem("choose one of: " + ", ".join(MODULES[m].title for m in allowed), where))
        return None
    return module


def date_of(value: str, where: str, problems: list[Problem], *, required: bool = False) -> date | None:
    return iso_date(value, where, problems, required=required)


def _refused(problems: list[Problem]) -> FieldErrors:
    return FieldErrors.of_problems(problems)


# -- loading ----------------------------------------------------------------------------------------------------

def _services(request: Request):
    return request.app.state.services


def load_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id, options=[selectinload(User.modules),
                                               selectinload(User.institution).selectinload(Institution.rules)])
    if user is None:
        raise HTTPException(404)
    return user


def _tiers(state: AccessState) -> list[str]:
    return [t.value for t in Tier if t in state.granted]


def _tier_change(before: AccessState, after: AccessState) -> dict[str, list[str]]:
    return {"tiers_before": _tiers(before), "tiers_after": _tiers(after)}


def _audit_change(services, session: Session, action: AuditAction, viewer, user: User, before: AccessState,
                  now: datetime, details: dict) -> None:
    """Audit an admin action on ``user``, with the tiers they held before it and hold after it."""
    after = services.evaluator.state(user, now)
    services.audit.append(session, action, actor_id=viewer.user.id, target_user_id=user.id, ip=viewer.ip,
                          details={**details, **_tier_change(before, after)})


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def live_session_count(services, session: Session, user_id: int, now: datetime) -> int:
    """Sessions not revoked and within their idle and absolute timeouts."""
    count = 0
    for row in services.sessions.live_sessions(session, user_id):
        limits = services.sessions.settings.for_tiers({Tier(t) for t in row.tiers})
        if (now - row.last_seen_at <= timedelta(minutes=limits.idle_minutes)
                and now - row.created_at <= timedelta(hours=limits.absolute_hours)):
            count += 1
    return count


def _people(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Email addresses of the users named in audit events (an id with no account left shows as the id)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all())


# -- the overview -----------------------------------------------------------------------------------------------

@router.get("/admin", response_class=HTMLResponse, dependencies=ADMIN)
def overview(request: Request):
    services = _services(request)
    now = services.now()
    counts = {"users": 0, "verified": 0, "disabled": 0, "admins": 0, Tier.REGISTERED: 0, Tier.CONTROLLED: 0}
    with services.db.session() as session:
        users = session.scalars(select(User).options(
            selectinload(User.modules), selectinload(User.institution).selectinload(Institution.rules)))
        for user in users:
            counts["users"] += 1
            counts["verified"] += user.email_verified_at is not None
            counts["disabled"] += user.disabled_at is not None
            counts["admins"] += bool(user.is_admin)
            for tier in services.evaluator.state(user, now).granted:
                counts[tier] += 1
        pending = session.scalar(select(func.count()).select_from(InstitutionRequest)
                                 .where(InstitutionRequest.handled_at.is_(None)))
        institutions = session.scalar(select(func.count()).select_from(Institution))
        head = services.audit.checkpoint(session)
    return page(request, "admin_home.html", counts=counts, pending=pending, institutions=institutions, head=head,
                last_verify=getattr(request.app.state, LAST_VERIFY, None))


# -- users ------------------------------------------------------------------------------------------------------

@router.get("/admin/users", response_class=HTMLResponse, dependencies=ADMIN)
def users(request: Request, q: Annotated[str, Query(max_length=200)] = "",
          page_number: Annotated[QueryInt, Query(alias="page", ge=1, le=100_000)] = 1):
    """Users whose email or name contains ``q`` (or whose id is ``q``), 50 a page, newest first."""
    services = _services(request)
    now = services.now()
    query = select(User)
    words = q.strip()
    if words:
        pattern = "%" + words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        match = [func.lower(User.email).like(pattern, escape="\\"),
                 func.lower(User.given_name + " " + User.family_name).like(pattern, escape="\\")]
        if _ID.fullmatch(words):
            match.append(User.id == int(words))
        query = query.where(or_(*match))
    with services.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        found = list(session.scalars(query.options(selectinload(User.modules),
                                                   selectinload(User.institution).selectinload(Institution.rules))
                                     .order_by(User.id.desc()).limit(PAGE_SIZE)
                                     .offset((page_number - 1) * PAGE_SIZE)))
        rows = [{"user": u, "tiers": [t for t in Tier if t in services.evaluator.state(u, now).granted],
                 "institution": u.institution.display_name if u.institution else None} for u in found]
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, "admin_users.html", rows=rows, q=words, total=total, page_number=page_number, pages=pages)


def _user_page(request: Request, user_id: int, *, failed: str | None = None, errors: FieldErrors | None = None,
               values: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    """A user's page; after a refused form, that form (``failed``) shows its problems and what was typed."""
    services = _services(request)
    now = services.now()
    with services.db.session() as session:
        user = load_user(session, user_id)
        state = services.evaluator.state(user, now)
        rows = {r.module: r for r in user.modules}
        live = live_session_count(services, session, user.id, now)
        events = services.audit.events(session, target_user_id=user.id, limit=20)
        people = _people(session, {e.actor_id for e in events} | {r.bypassed_by for r in user.modules})
        people[user.id] = user.email
        institution = user.institution.display_name if user.institution else None
        downloads = egress.downloads_today(session, user.id, now)
        allowances = [(a.downloads, a.valid_until, a.reason) for a in egress.allowances(session, user.id, now)]
    today = now.date()
    return page(request, "admin_user.html", status=status, user=user, state=state, order=MODULE_ORDER, rows=rows,
                live_sessions=live, events=events, people=people, institution=institution,
                bypassable=[(m.value, MODULES[m].title) for m in BYPASSABLE],
                bypassed=[(m.value, MODULES[m].title) for m in BYPASSABLE
                          if rows.get(m.value) is not None and rows[m.value].bypass_until is not None],
                reverifiable=[(m.value, MODULES[m].title) for m in REVERIFIABLE],
                bypass_min=(today + timedelta(days=1)).isoformat(), bypass_max=(today + MAX_BYPASS).isoformat(),
                is_self=user.id == request.state.viewer.user.id, failed=failed, errors=errors or FieldErrors(),
                values=values or {}, reason_max=REASON_MAX,
                identity_done=state.modules[Module.IDENTITY].status is Status.COMPLETE,
                downloads_today=downloads, download_limit=services.config.egress_downloads_per_day,
                allowances=allowances, egress_max=(today + timedelta(days=egress.MAX_ALLOWANCE_DAYS)).isoformat())


@router.get("/admin/users/{user_id}", response_class=HTMLResponse, dependencies=ADMIN)
def user_page(request: Request, user_id: UserId):
    return _user_page(request, user_id)


async def _user_form(request: Request, *fields: str) -> dict[str, str]:
    _services(request).limits.hit("forms", request.state.viewer.ip)
    form = await read_form(request)
    return {name: form.get(name) for name in fields}


def _done(request: Request, user_id: int, message: str) -> Response:
    request.state.viewer.flash(message)
    return see_other(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/bypass", response_class=HTMLResponse, dependencies=ADMIN)
async def bypass_set(request: Request, user_id: UserId):
    """Bypass a module until a date (after today, at most a year ahead), with a reason. The bypass ends at 00:00
    UTC on that date."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "module", "until", "reason")
    now = services.now()
    problems: list[Problem] = []
    module = module_of(values["module"], BYPASSABLE, problems)
    until = date_of(values["until"], "until", problems, required=True)
    if until is not None:
        if until <= now.date():
            problems.append(Problem("the end date must be after today", "until"))
        elif until > now.date() + MAX_BYPASS:
            problems.append(Problem(f"a bypass lasts at most a year: end it on "
                                    f"{(now.date() + MAX_BYPASS).isoformat()} or sooner", "until"))
    reason = reason_of(values["reason"], problems)
    if problems:
        return _user_page(request, user_id, failed="bypass", errors=_refused(problems), values=values, status=422)
    ends = datetime.combine(until, time(0, tzinfo=timezone.utc))
    with services.db.session() as session:
        user = load_user(session, user_id)
        admin = session.get(User, viewer.user.id)
        before = services.evaluator.state(user, now)
        bypass(session, user, module, until=ends, reason=reason, by=admin)
        _audit_change(services, session, AuditAction.BYPASS_SET, viewer, user, before, now,
                      {"module": module.value, "until": ends.isoformat(), "reason": reason})
    return _done(request, user_id, f"{MODULES[module].title}: bypassed until {until.isoformat()}.")


@router.post("/admin/users/{user_id}/egress", response_class=HTMLResponse, dependencies=ADMIN)
async def egress_allow(request: Request, user_id: UserId):
    """Allow a user more downloads of participant-level data than the daily limit (1 to 10,000 more, until a date
    at most a month ahead), with a reason. Audited."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "downloads", "until", "reason")
    now = services.now()
    problems: list[Problem] = []
    text = (values["downloads"] or "").strip()
    downloads = int(text) if text.isdigit() and 1 <= int(text) <= 10_000 else None
    if downloads is None:
        problems.append(Problem("a whole number from 1 to 10,000", "downloads"))
    until = date_of(values["until"], "until", problems, required=True)
    if until is not None and not now.date() < until <= now.date() + timedelta(days=egress.MAX_ALLOWANCE_DAYS):
        problems.append(Problem(f"a date after today and at most {egress.MAX_ALLOWANCE_DAYS} days ahead", "until"))
    reason = reason_of(values["reason"], problems)
    if problems:
        return _user_page(request, user_id, failed="egress", errors=_refused(problems), values=values, status=422)
    ends = datetime.combine(until, time(0, tzinfo=timezone.utc))
    with services.db.session() as session:
        user = load_user(session, user_id)
        egress.allow(session, user_id=user.id, downloads=downloads, until=ends, reason=reason, by=viewer.user.id,
                     now=now)
        services.audit.append(session, AuditAction.EGRESS_ALLOWED, actor_id=viewer.user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"downloads": downloads, "until": ends.isoformat(),
                                                     "reason": reason})
    return _done(request, user_id, f"{downloads:,} more downloads allowed until {until.isoformat()}.")


@router.post("/admin/users/{user_id}/bypass/remove", response_class=HTMLResponse, dependencies=ADMIN)
async def bypass_remove(request: Request, user_id: UserId):
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "module", "reason")
    now = services.now()
    problems: list[Problem] = []
    module = module_of(values["module"], BYPASSABLE, problems)
    reason = reason_of(values["reason"], problems)
    with services.db.session() as session:
        user = load_user(session, user_id)
        row = next((r for r in user.modules if module is not None and r.module == module.value), None)
        if module is not None and (row is None or row.bypass_until is None):
            problems.append(Problem(f"{MODULES[module].title} has no bypass to remove", "module"))
        if not problems:
            before = services.evaluator.state(user, now)
            was = {"until": _iso(row.bypass_until), "reason": row.bypass_reason}
            bypass(session, user, module, until=None, reason=None, by=session.get(User, viewer.user.id))
            _audit_change(services, session, AuditAction.BYPASS_REMOVED, viewer, user, before, now,
                          {"module": module.value, "reason": reason, "was": was})
    if problems:
        return _user_page(request, user_id, failed="unbypass", errors=_refused(problems), values=values, status=422)
    return _done(request, user_id, f"{MODULES[module].title}: the bypass is removed.")


@router.post("/admin/users/{user_id}/verify-identity", response_class=HTMLResponse, dependencies=ADMIN)
async def verify_identity(request: Request, user_id: UserId):
    """Verify a user's identity by hand (for people who cannot use Login.gov or ID.me), with the reason."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "reason")
    now = services.now()
    problems: list[Problem] = []
    reason = reason_of(values["reason"], problems)
    status = 422
    with services.db.session() as session:
        user = load_user(session, user_id)
        before = services.evaluator.state(user, now)
        if before.modules[Module.IDENTITY].status is Status.COMPLETE:
            problems.append(Problem("this identity is already verified (force re-verification first to redo it)",
                                    "form"))
            status = 409
        if not problems:
            complete(session, user, Module.IDENTITY, now=now,
                     details={"via": "admin", "reason": reason, "by": viewer.user.id})
            _audit_change(services, session, AuditAction.IDENTITY_VERIFIED, viewer, user, before, now,
                          {"method": "manual", "reason": reason})
    if problems:
        return _user_page(request, user_id, failed="identity", errors=_refused(problems), values=values,
                          status=status)
    return _done(request, user_id, "Identity verified by hand.")


@router.post("/admin/users/{user_id}/reverify", response_class=HTMLResponse, dependencies=ADMIN)
async def reverify(request: Request, user_id: UserId):
    """Force a user to do a module again: its completion and any bypass are cleared, and they are signed out."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "module", "reason")
    now = services.now()
    problems: list[Problem] = []
    module = module_of(values["module"], REVERIFIABLE, problems)
    reason = reason_of(values["reason"], problems)
    status = 422
    with services.db.session() as session:
        user = load_user(session, user_id)
        row = next((r for r in user.modules if module is not None and r.module == module.value), None)
        if module is not None and not problems and (
                row is None or (row.completed_at is None and row.bypass_until is None)):
            problems.append(Problem(f"{MODULES[module].title} is not done and not bypassed: nothing to redo",
                                    "module"))
            status = 409
        if not problems:
            before = services.evaluator.state(user, now)
            was = {"completed_at": _iso(row.completed_at), "version": row.version,
                   "bypass_until": _iso(row.bypass_until)}
            reset(session, user, module)
            if row.bypass_until is not None:
                bypass(session, user, module, until=None, reason=None, by=session.get(User, viewer.user.id))
            revoked = services.sessions.revoke_all(session, user.id, now=now, reason="re-verification forced")
            _audit_change(services, session, AuditAction.REVERIFY_FORCED, viewer, user, before, now,
                          {"module": module.value, "reason": reason, "was": was, "sessions_revoked": revoked})
    if problems:
        return _user_page(request, user_id, failed="reverify", errors=_refused(problems), values=values,
                          status=status)
    return _done(request, user_id, f"{MODULES[module].title} must be done again; the user is signed out.")


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse, dependencies=ADMIN)
async def disable(request: Request, user_id: UserId):
    """Disable an account: no sign-in, no API token, every session ended now."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "reason")
    now = services.now()
    problems: list[Problem] = []
    reason = reason_of(values["reason"], problems)
    status = 422
    with services.db.session() as session:
        user = load_user(session, user_id)
        if user.id == viewer.user.id:
            problems, status = [Problem("you cannot disable your own account", "form")], 403
        elif user.disabled_at is not None:
            problems, status = [Problem("this account is already disabled", "form")], 409
        if not problems:
            before = services.evaluator.state(user, now)
            user.disabled_at, user.disabled_reason = now, reason
            revoked = services.sessions.revoke_all(session, user.id, now=now, reason="account disabled")
            _audit_change(services, session, AuditAction.USER_DISABLED, viewer, user, before, now,
                          {"reason": reason, "sessions_revoked": revoked})
    if problems:
        return _user_page(request, user_id, failed="disable", errors=_refused(problems), values=values,
                          status=status)
    return _done(request, user_id, "The account is disabled and signed out everywhere.")


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse, dependencies=ADMIN)
async def enable(request: Request, user_id: UserId):
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "reason")
    now = services.now()
    problems: list[Problem] = []
    reason = reason_of(values["reason"], problems)
    status = 422
    with services.db.session() as session:
        user = load_user(session, user_id)
        if not problems and user.disabled_at is None:
            problems, status = [Problem("this account is not disabled", "form")], 409
        if not problems:
            before = services.evaluator.state(user, now)
            was = {"disabled_at": _iso(user.disabled_at), "reason": user.disabled_reason}
            user.disabled_at = user.disabled_reason = None
            _audit_change(services, session, AuditAction.USER_ENABLED, viewer, user, before, now,
                          {"reason": reason, "was": was})
    if problems:
        return _user_page(request, user_id, failed="enable", errors=_refused(problems), values=values,
                          status=status)
    return _done(request, user_id, "The account is enabled again.")


@router.post("/admin/users/{user_id}/admin", response_class=HTMLResponse, dependencies=ADMIN)
async def admin_role(request: Request, user_id: UserId):
    """Grant (``action=grant``) or revoke (``action=revoke``) the administrator role; never one's own."""
    services, viewer = _services(request), request.state.viewer
    values = await _user_form(request, "action", "reason")
    problems: list[Problem] = []
    if values["action"] not in ("grant", "revoke"):
        problems.append(Problem("choose grant or revoke", "action"))
    reason = reason_of(values["reason"], problems)
    status = 422
    grant = values["action"] == "grant"
    with services.db.session() as session:
        user = load_user(session, user_id)
        if user.id == viewer.user.id:
            problems, status = [Problem("you cannot change your own administrator role", "form")], 403
        elif not problems and bool(user.is_admin) == grant:
            problems, status = [Problem("already an administrator" if grant else "not an administrator",
                                        "form")], 409
        if not problems:
            user.is_admin = grant
            services.audit.append(session, AuditAction.ADMIN_GRANTED if grant else AuditAction.ADMIN_REVOKED,
                                  actor_id=viewer.user.id, target_user_id=user.id, ip=viewer.ip,
                                  details={"reason": reason})
    if problems:
        return _user_page(request, user_id, failed="admin", errors=_refused(problems), values=values, status=status)
    return _done(request, user_id, "Administrator role granted." if grant else "Administrator role revoked.")


# -- institutions -----------------------------------------------------------------------------------------------

INSTITUTION_FIELDS = ("short_name", "display_name", "kind", "agreement_signed_on", "agreement_expires_on",
                      "registered_rule", "registered_entries", "controlled_rule", "controlled_entries")
RESERVED_SHORT_NAMES = ("new",)


def institution_snapshot(i: Institution) -> dict[str, Any]:
    """What the audit log records of an institution (and compares to name what an edit changed)."""
    rules = {r.tier: r for r in i.rules}
    out: dict[str, Any] = {"short_name": i.short_name, "display_name": i.display_name, "kind": i.kind,
                           "agreement_signed_on": _iso(i.agreement_signed_on),
                           "agreement_expires_on": _iso(i.agreement_expires_on)}
    for tier in Tier:
        rule = rules.get(tier.value)
        out[f"{tier.value}_rule"] = {"kind": rule.kind if rule else "none",
                                     "entries": list(rule.entries) if rule else []}
    return out


def _institution_values(i: Institution | None) -> dict[str, str]:
    if i is None:
        return {"short_name": "", "display_name": "", "kind": "", "agreement_signed_on": "",
                "agreement_expires_on": "", "registered_rule": "domains", "registered_entries": "",
                "controlled_rule": "none", "controlled_entries": ""}
    snap = institution_snapshot(i)
    values = {k: snap[k] or "" for k in ("short_name", "display_name", "kind", "agreement_signed_on",
                                         "agreement_expires_on")}
    for tier in Tier:
        rule = snap[f"{tier.value}_rule"]
        values[f"{tier.value}_rule"] = rule["kind"]
        values[f"{tier.value}_entries"] = "\n".join(rule["entries"])
    return values


def _institution_form_page(request: Request, *, values: dict[str, str], existing: str | None,
                           errors: FieldErrors | None = None, status: int = 200, members: int | None = None):
    return page(request, "admin_institution_form.html", status=status, values=values, existing=existing,
                errors=errors or FieldErrors(), members=members,
                kinds=[(k, inst.KIND_LABELS[k]) for k in inst.KINDS],
                rule_kinds=[("domains", "People with an address at these domains (and their subdomains)"),
                            ("addresses", "Only these addresses"), ("none", "Nobody")],
                tiers=list(Tier))


def _institution_input(values: dict[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """The arguments of ``save_institution`` from the form, and problems with what it does not check (dates)."""
    problems: list[Problem] = []
    signed = date_of(values["agreement_signed_on"], "agreement_signed_on", problems)
    expires = date_of(values["agreement_expires_on"], "agreement_expires_on", problems)
    rules = {tier: inst.RuleSpec(values[f"{tier.value}_rule"].strip(),
                                 inst.parse_entries(values[f"{tier.value}_entries"])) for tier in Tier}
    args = {"short_name": values["short_name"], "display_name": values["display_name"], "kind": values["kind"],
            "signed_on": signed, "expires_on": expires, "rules": rules}
    if values["short_name"].strip().lower() in RESERVED_SHORT_NAMES:
        problems.append(Problem(f"{values['short_name'].strip()!r} is reserved: choose another", "short_name"))
    return args, problems


def _other_problems(session: Session, args: dict[str, Any], existing: Institution | None) -> list[Problem]:
    """The institution's other problems, found when a date could not be read (so all are named at once): what
    ``save_institution`` checks, names taken by another institution included."""
    short_name, display_name = args["short_name"].strip().lower(), args["display_name"].strip()
    problems = inst.validate_institution(short_name=short_name, display_name=display_name, kind=args["kind"],
                                         signed_on=None, expires_on=None, rules=args["rules"])
    for field, column, value in (("short_name", Institution.short_name, short_name),
                                 ("display_name", Institution.display_name, display_name)):
        clash = session.scalar(select(Institution).where(column == value))
        if clash is not None and clash is not existing:
            problems.append(Problem("another institution has this name", field))
    return problems


def _access_by_user(services, session: Session, institution_id: int, now: datetime) -> dict[int, frozenset[Tier]]:
    users = session.scalars(select(User).where(User.institution_id == institution_id)
                            .options(selectinload(User.modules), selectinload(User.institution)
                                     .selectinload(Institution.rules)))
    return {u.id: services.evaluator.state(u, now).granted for u in users}


@router.get("/admin/institutions", response_class=HTMLResponse, dependencies=ADMIN)
def institutions(request: Request):
    services = _services(request)
    with services.db.session() as session:
        found = inst.all_institutions(session)
        members = dict(session.execute(select(User.institution_id, func.count()).group_by(User.institution_id)).all())
        rows = [{"i": i, "kind": inst.KIND_LABELS.get(i.kind, i.kind), "members": members.get(i.id, 0),
                 "rules": {r.tier: inst.describe_rule(r) for r in i.rules}} for i in found]
    return page(request, "admin_institutions.html", rows=rows, today=services.now().date())


@router.get("/admin/institutions/new", response_class=HTMLResponse, dependencies=ADMIN)
def institution_new(request: Request):
    return _institution_form_page(request, values=_institution_values(None), existing=None)


@router.post("/admin/institutions/new", response_class=HTMLResponse, dependencies=ADMIN)
async def institution_create(request: Request):
    services, viewer = _services(request), request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    values = {name: form.get(name) for name in INSTITUTION_FIELDS}
    args, problems = _institution_input(values)
    try:
        with services.db.session() as session:
            if problems:
                raise inst.InstitutionError(problems + _other_problems(session, args, None))
            created = inst.save_institution(session, **args, now=services.now())
            services.audit.append(session, AuditAction.INSTITUTION_CREATED, actor_id=viewer.user.id, ip=viewer.ip,
                                  details={"institution_id": created.id, **institution_snapshot(created)})
            short_name = created.short_name
    except inst.InstitutionError as err:
        return _institution_form_page(request, values=values, existing=None, status=422,
                                      errors=FieldErrors.of_problems(err.problems))
    viewer.flash(f"{args['display_name'].strip()} is added.")
    return see_other(f"/admin/institutions/{short_name}")


@router.get("/admin/institutions/{short_name}", response_class=HTMLResponse, dependencies=ADMIN)
def institution_edit(request: Request, short_name: Annotated[str, Path(max_length=40)]):
    services = _services(request)
    with services.db.session() as session:
        found = inst.by_short_name(session, short_name)
        if found is None:
            raise HTTPException(404)
        members = session.scalar(select(func.count()).select_from(User).where(User.institution_id == found.id))
        values = _institution_values(found)
    return _institution_form_page(request, values=values, existing=short_name, members=members)


@router.post("/admin/institutions/{short_name}", response_class=HTMLResponse, dependencies=ADMIN)
async def institution_update(request: Request, short_name: Annotated[str, Path(max_length=40)]):
    """Save an institution's changes. Users whose tier it takes away are signed out on their next request (their
    session's tiers no longer hold); the audit event counts them."""
    services, viewer = _services(request), request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    values = {name: form.get(name) for name in INSTITUTION_FIELDS}
    args, problems = _institution_input(values)
    now = services.now()
    changed: dict[str, Any] = {}
    try:
        with services.db.session() as session:
            found = inst.by_short_name(session, short_name)
            if found is None:
                raise HTTPException(404)
            if problems:
                raise inst.InstitutionError(problems + _other_problems(session, args, found))
            before, access_before = institution_snapshot(found), _access_by_user(services, session, found.id, now)
            inst.save_institution(session, **args, now=now, existing=found)
            session.expire_all()  # users' institutions re-read with the new rules
            found = inst.by_short_name(session, args["short_name"].strip().lower())
            after, access_after = institution_snapshot(found), _access_by_user(services, session, found.id, now)
            changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
            if changed:
                lost = sorted(u for u, had in access_before.items() if not had <= access_after.get(u, frozenset()))
                gained = sorted(u for u, has in access_after.items() if not has <= access_before.get(u, frozenset()))
                services.audit.append(session, AuditAction.INSTITUTION_UPDATED, actor_id=viewer.user.id,
                                      ip=viewer.ip, details={"institution_id": found.id,
                                                             "short_name": found.short_name, "changed": changed,
                                                             "users_losing_a_tier": _ids(lost),
                                                             "users_gaining_a_tier": _ids(gained)})
            new_name = found.short_name
    except inst.InstitutionError as err:
        return _institution_form_page(request, values=values, existing=short_name, status=422,
                                      errors=FieldErrors.of_problems(err.problems))
    viewer.flash(f"Saved: {', '.join(k.replace('_', ' ') for k in changed)} changed." if changed
                 else "Nothing changed.")
    return see_other(f"/admin/institutions/{new_name}")


def _ids(ids: list[int], listed: int = 100) -> dict[str, Any]:
    return {"count": len(ids), "ids": ids[:listed]}


@router.get("/admin/institution-requests", response_class=HTMLResponse, dependencies=ADMIN)
def institution_requests(request: Request):
    services = _services(request)
    with services.db.session() as session:
        found = list(session.scalars(select(InstitutionRequest)
                                     .order_by(InstitutionRequest.handled_at.is_not(None),
                                               InstitutionRequest.created_at.desc())
                                     .limit(REQUESTS_SHOWN)))
    return page(request, "admin_institution_requests.html", requests=found, errors=FieldErrors(), failed=None,
                values={}, reason_max=REASON_MAX)


@router.post("/admin/institution-requests/{id}/handled", response_class=HTMLResponse, dependencies=ADMIN)
async def institution_request_handled(request: Request, request_id: RequestId):
    services, viewer = _services(request), request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    values = {"reason": form.get("reason")}
    problems: list[Problem] = []
    reason = reason_of(values["reason"], problems)
    status = 422
    with services.db.session() as session:
        req = session.get(InstitutionRequest, request_id)
        if req is None:
            raise HTTPException(404)
        if req.handled_at is not None:
            problems, status = [Problem("this request is already handled", "form")], 409
        if not problems:
            req.handled_at = services.now()
            services.audit.append(session, AuditAction.INSTITUTION_REQUEST_HANDLED, actor_id=viewer.user.id,
                                  ip=viewer.ip, details={"request_id": req.id, "name": req.name, "reason": reason})
            name = req.name
    if problems:
        with services.db.session() as session:
            found = list(session.scalars(select(InstitutionRequest)
                                         .order_by(InstitutionRequest.handled_at.is_not(None),
                                                   InstitutionRequest.created_at.desc()).limit(REQUESTS_SHOWN)))
        return page(request, "admin_institution_requests.html", status=status, requests=found,
                    errors=FieldErrors.of_problems(problems), failed=request_id, values=values, reason_max=REASON_MAX)
    viewer.flash(f"The request for {name} is marked handled.")
    return see_other("/admin/institution-requests")


# -- the audit log ----------------------------------------------------------------------------------------------

def _audit_filters(action: str, actor_id: str, target_user_id: str, before_seq: str
                   ) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    filters: dict[str, Any] = {"action": None, "actor_id": None, "target_user_id": None, "before_seq": None}
    if action.strip():
        try:
            filters["action"] = AuditAction(action.strip())
        except ValueError:
            problems.append(Problem(f"no such action {action[:60]!r}", "action"))
    for name, value in (("actor_id", actor_id), ("target_user_id", target_user_id), ("before_seq", before_seq)):
        if value.strip():
            if _ID.fullmatch(value.strip()):
                filters[name] = int(value.strip())
            else:
                problems.append(Problem(f"a user id or row number in digits, not {value[:40]!r}", name))
    return filters, problems


def _query_string(filters: dict[str, Any], **more: Any) -> str:
    items = {k: v.value if isinstance(v, AuditAction) else v for k, v in {**filters, **more}.items() if v is not None}
    return urlencode(items)


@router.get("/admin/audit", response_class=HTMLResponse, dependencies=ADMIN)
def audit(request: Request, action: Annotated[str, Query(max_length=60)] = "",
          actor_id: Annotated[str, Query(max_length=20)] = "",
          target_user_id: Annotated[str, Query(max_length=20)] = "",
          before_seq: Annotated[str, Query(max_length=20)] = ""):
    """The audit log, newest first, 50 events at a time; ``before_seq`` pages on (htmx appends the next rows)."""
    services = _services(request)
    filters, problems = _audit_filters(action, actor_id, target_user_id, before_seq)
    events, more, people = [], None, {}
    if not problems:
        with services.db.session() as session:
            events = services.audit.events(session, **filters, limit=PAGE_SIZE + 1)
            people = _people(session, {e.actor_id for e in events} | {e.target_user_id for e in events})
        if len(events) > PAGE_SIZE:
            events = events[:PAGE_SIZE]
            more = "/admin/audit?" + _query_string(filters, before_seq=events[-1].seq)
    values = {"action": action.strip(), "actor_id": actor_id.strip(), "target_user_id": target_user_id.strip()}
    context = {"events": events, "more": more, "people": people, "values": values,
               "errors": FieldErrors.of_problems(problems), "actions": [a.value for a in AuditAction],
               "paged": filters["before_seq"] is not None,
               "first_page": "/admin/audit?" + _query_string({**filters, "before_seq": None})}
    if problems:
        return page(request, "admin_audit.html", status=422, **context)
    return fragment_or_page(request, "admin_audit.html", "admin_audit_rows.html", **context)


def _verify_page(request: Request, *, report=None, errors: FieldErrors | None = None, checkpoint: str = "",
                 status: int = 200) -> HTMLResponse:
    return page(request, "admin_audit_verify.html", status=status, report=report, errors=errors or FieldErrors(),
                checkpoint=checkpoint, last_verify=getattr(request.app.state, LAST_VERIFY, None))


@router.get("/admin/audit/verify", response_class=HTMLResponse, dependencies=ADMIN)
def audit_verify_page(request: Request):
    return _verify_page(request)


@router.post("/admin/audit/verify", response_class=HTMLResponse, dependencies=ADMIN)
async def audit_verify(request: Request):
    """Recompute the whole chain (against a pasted checkpoint, if given) and show what was found."""
    services, viewer = _services(request), request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    text = form.get("checkpoint").strip()
    checkpoints = []
    if text:
        try:
            checkpoints = [parse_checkpoint(json.loads(text), "checkpoint")]
        except AuditError as err:  # a ValueError too: first
            return _verify_page(request, checkpoint=text, status=422, errors=FieldErrors.of_problems(
                [Problem(p.message, "checkpoint") for p in err.problems]))
        except ValueError as err:
            return _verify_page(request, checkpoint=text, status=422, errors=FieldErrors.of_problems(
                [Problem(f"not JSON: {err}", "checkpoint")]))
    report = await to_thread.run_sync(lambda: services.audit.verify(services.db, checkpoints=checkpoints))
    setattr(request.app.state, LAST_VERIFY, {"at": services.now(), "by": viewer.user.email, "report": report,
                                             "checkpoint": bool(checkpoints)})
    return _verify_page(request, report=report, checkpoint=text)


@router.get("/admin/audit/checkpoint", dependencies=ADMIN)
def audit_checkpoint(request: Request):
    """The head of the chain as a JSON file to keep off the server; the export is itself logged."""
    services, viewer = _services(request), request.state.viewer
    with services.db.session() as session:
        point = services.audit.checkpoint(session)
        services.audit.append(session, AuditAction.CHECKPOINT_EXPORTED, actor_id=viewer.user.id, ip=viewer.ip,
                              details={"seq": point["seq"], "hash": point["hash"], "path": "download"})
    body = json.dumps(point, indent=2, ensure_ascii=False) + "\n"
    return Response(body, media_type="application/json", headers={
        "content-disposition": f'attachment; filename="audit-checkpoint-{point["seq"]}.json"',
        "cache-control": "no-store"})
