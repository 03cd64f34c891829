"""The signed-in user's own pages: the profile (with what expires when), two-step verification (TOTP setup,
recovery codes) and personal API tokens."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import delete

from ...accounts import api_tokens, totp
from ...accounts.audit import AuditAction
from ...accounts.module_records import complete, reset
from ...accounts.modules import Module
from ...accounts.registration import (
    ADDRESS_FIELDS, BACKGROUND_MAX, DEGREES, ROLES, SignupForm, details_problems,
)
from ...cdr.problems import Problem
from ...state.models import RecoveryCode, User
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]
SETUP = "rw.totp_setup"


def _profile_page(request: Request, *, errors: FieldErrors | None = None, values: dict | None = None,
                  status: int = 200, renewal: bool = False) -> HTMLResponse:
    viewer = request.state.viewer
    user = viewer.user
    values = values or {"given_name": user.given_name, "family_name": user.family_name, "role": user.role,
                        "role_other": user.role_other or "", "degrees": user.degrees, "address": user.address,
                        "research_background": user.research_background,
                        "professional_url": user.professional_url or ""}
    return page(request, "profile.html", status=status, user=user, values=values, errors=errors or FieldErrors(),
                roles=list(ROLES.items()), degrees=list(DEGREES.items()), address_fields=ADDRESS_FIELDS,
                background_max=BACKGROUND_MAX, expiring=viewer.access.expiring(request.app.state.services.evaluator.policy.validity),
                renewal=renewal)


@router.get("/profile", response_class=HTMLResponse, dependencies=SIGNED_IN)
def profile(request: Request):
    return _profile_page(request)


def profile_values(form) -> dict:
    return {"given_name": form.get("given_name"), "family_name": form.get("family_name"), "role": form.get("role"),
            "role_other": form.get("role_other"), "degrees": form.list("degrees"),
            "address": {k: form.get(f"address.{k}") for k in ADDRESS_FIELDS},
            "research_background": form.get("research_background"),
            "professional_url": form.get("professional_url")}


def save_profile(request: Request, values: dict, *, confirm: bool) -> list[Problem]:
    """Check and save the profile; with ``confirm``, it also completes the yearly profile confirmation."""
    services = request.app.state.services
    viewer = request.state.viewer
    candidate = SignupForm(email=viewer.user.email, **values)
    problems = details_problems(candidate, services.passwords, check_password=False)
    if values["role"] not in ROLES:
        problems.append(Problem("choose your role", "role"))
    if problems:
        return problems
    now = services.now()
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        user.given_name, user.family_name = values["given_name"].strip(), values["family_name"].strip()
        user.role = values["role"]
        user.role_other = values["role_other"].strip() or None if values["role"] == "other" else None
        user.degrees = sorted(set(values["degrees"]))
        user.address = {k: values["address"].get(k, "").strip() for k in ADDRESS_FIELDS}
        user.research_background = values["research_background"].strip()
        user.professional_url = values["professional_url"].strip() or None
        services.audit.append(session, AuditAction.PROFILE_UPDATED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"confirmed": confirm})
        if confirm:
            complete(session, user, Module.PROFILE_CONFIRMATION, now=now)
            services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"module": Module.PROFILE_CONFIRMATION.value})
    return []


@router.post("/profile", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def profile_post(request: Request):
    form = await read_form(request)
    values = profile_values(form)
    problems = save_profile(request, values, confirm=False)
    if problems:
        return _profile_page(request, errors=FieldErrors.of_problems(problems), values=values, status=422)
    request.state.viewer.flash("Your profile is saved.")
    return see_other("/profile")


# -- two-step verification ----------------------------------------------------------------------------------------

def _two_factor_page(request: Request, *, problem: str | None = None, codes: list[str] | None = None,
                     status: int = 200) -> HTMLResponse:
    services = request.app.state.services
    viewer = request.state.viewer
    user = viewer.user
    context = {"enabled": user.totp_enabled_at is not None, "problem": problem, "codes": codes}
    if user.totp_enabled_at is None:
        sealed = viewer.data.get(SETUP)
        if sealed is None:
            sealed = viewer.data[SETUP] = services.totp.seal(services.totp.new_secret())
        secret = services.totp.open(sealed)
        uri = totp.provisioning_uri(secret, account=user.email, issuer=services.config.program_name)
        context.update(secret=secret, qr=totp.qr_svg(uri))
    else:
        with services.db.reading() as session:
            context["codes_left"] = totp.recovery_codes_left(session, user.id)
    return page(request, "two_factor.html", status=status, **context)


@router.get("/account/two-factor", response_class=HTMLResponse, dependencies=SIGNED_IN)
def two_factor(request: Request):
    return _two_factor_page(request)


@router.post("/account/two-factor", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def two_factor_post(request: Request):
    """Turn TOTP on (the code from the app proves it is set up), make new recovery codes, or turn it off."""
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    action = form.get("action")
    now = services.now()
    services.limits.hit("totp", viewer.ip, f"account:{viewer.user.id}")
    if action == "enable":
        sealed = viewer.data.get(SETUP)
        if sealed is None or viewer.user.totp_enabled_at is not None:
            return see_other("/account/two-factor")
        step = totp.accepted_step(services.totp.open(sealed), form.get("code")[:20], last_step=None, now=now)
        if step is None:
            return _two_factor_page(request, status=422,
                                    problem="That code is not right. Enter the 6-digit code your app shows now.")
        with services.db.session() as session:
            user = session.get(User, viewer.user.id)
            user.totp_secret, user.totp_enabled_at, user.totp_last_step = sealed, now, step
            codes = totp.replace_recovery_codes(session, user.id, services.keys.tokens)
            complete(session, user, Module.TWO_FACTOR, now=now, details={"via": "totp"})
            services.audit.append(session, AuditAction.MFA_ENABLED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"method": "totp"})
            services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"module": Module.TWO_FACTOR.value})
            viewer.user = user
        viewer.data.pop(SETUP, None)
        viewer.complete_mfa("totp")  # this session has just proved the second factor
        return page(request, "recovery_codes.html", codes=codes)
    if action in ("codes", "disable"):
        if viewer.user.totp_enabled_at is None or not viewer.strong:
            return _two_factor_page(request, status=403, problem="Sign in with your second step first.")
        with services.db.session() as session:
            user = session.get(User, viewer.user.id)
            if action == "codes":
                codes = totp.replace_recovery_codes(session, user.id, services.keys.tokens)
                services.audit.append(session, AuditAction.RECOVERY_CODES_REGENERATED, actor_id=user.id,
                                      target_user_id=user.id, ip=viewer.ip)
                return page(request, "recovery_codes.html", codes=codes)
            user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
            session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            reset(session, user, Module.TWO_FACTOR)
            services.audit.append(session, AuditAction.MFA_DISABLED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip)
        viewer.flash("Two-step verification is off. Your data access needs it: turn it on again to keep access.")
        return see_other("/account/two-factor")
    return see_other("/account/two-factor")


# -- personal API tokens ----------------------------------------------------------------------------------------

def _tokens_page(request: Request, *, created: str | None = None, errors: FieldErrors | None = None,
                 values: dict | None = None, status: int = 200) -> HTMLResponse:
    services = request.app.state.services
    viewer = request.state.viewer
    with services.db.reading() as session:
        tokens = api_tokens.user_tokens(session, viewer.user)
    return page(request, "tokens.html", status=status, tokens=tokens, created=created, errors=errors or FieldErrors(),
                values=values or {"name": "", "scopes": ["profile:read"], "days": "90"}, scopes=api_tokens.SCOPES,
                now=services.now(), max_days=api_tokens.MAX_DAYS)


@router.get("/account/tokens", response_class=HTMLResponse, dependencies=SIGNED_IN)
def tokens(request: Request):
    return _tokens_page(request)


@router.post("/account/tokens", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def tokens_post(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    now = services.now()
    if form.get("action") == "revoke":
        token_id = form.get("token_id")
        with services.db.session() as session:
            row = api_tokens.revoke_token(session, viewer.user, int(token_id) if token_id.isdigit() else -1, now=now)
            if row is not None:
                services.audit.append(session, AuditAction.TOKEN_REVOKED, actor_id=viewer.user.id,
                                      target_user_id=viewer.user.id, ip=viewer.ip, details={"token": row.prefix})
        viewer.flash("The token is revoked." if row is not None else "No such token.")
        return see_other("/account/tokens")
    values = {"name": form.get("name"), "scopes": form.list("scopes"), "days": form.get("days")}
    if not viewer.strong:
        return _tokens_page(request, status=403, values=values, errors=FieldErrors.of_problems(
            [Problem("turn on two-step verification and sign in with it to create tokens", "name")]))
    days = int(values["days"]) if values["days"].isdigit() and len(values["days"]) < 6 else 0
    try:
        with services.db.session() as session:
            user = session.get(User, viewer.user.id)
            plain, row = api_tokens.create_token(session, user, name=values["name"], scopes=values["scopes"], days=days,
                                                 now=now, pepper=services.keys.tokens)
            services.audit.append(session, AuditAction.TOKEN_CREATED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"token": row.prefix, "scopes": row.scopes, "days": days})
    except api_tokens.TokenError as err:
        return _tokens_page(request, status=422, values=values, errors=FieldErrors.of_problems(err.problems))
    return _tokens_page(request, created=plain)
