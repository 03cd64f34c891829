"""Signing in and out: a local password (argon2id), then the second step when two-step verification is on (a
TOTP code, never the same one twice, or a single-use recovery code). Sign-in and the second step are rate-limited
per client address and per account, and an account locks for a while after repeated failures."""

from __future__ import annotations

from datetime import timedelta

from anyio import to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ...accounts import totp
from ...accounts.audit import AuditAction
from ...accounts.institutions import normalise_email
from ...state.models import User
from ...web import SecureRouter
from ..forms import read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
WRONG = "The email address or the password is not right."
ENDED_REASONS = ("idle", "absolute", "access changed", "disabled")  # why a session ended, told on the sign-in page
LOCKED = "This account is locked after too many failed attempts. Try again in {minutes} minutes."


def safe_next(value: str) -> str:
    """Where to go after signing in: a path of this site only (no scheme, no host, no //)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) <= 500:
        return value
    return "/access"


@router.get("/signin", response_class=HTMLResponse, dependencies=[requires(Access.PUBLIC)])
def signin_page(request: Request, next: str = "/access", ended: str = ""):
    viewer = request.state.viewer
    if viewer.signed_in:
        return see_other(safe_next(next))
    providers = request.app.state.services.config.signin_providers
    return page(request, "signin.html", next=safe_next(next), email="", problem=None, providers=providers,
                ended=viewer.ended or (ended if ended in ENDED_REASONS else None))


@router.post("/signin", response_class=HTMLResponse, dependencies=[requires(Access.PUBLIC)])
async def signin_post(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    email = normalise_email(form.get("email"))[:254]
    password = form.get("password")[:1024]
    target = safe_next(form.get("next", "/access"))
    providers = services.config.signin_providers

    def again(problem: str, status: int) -> HTMLResponse:
        return page(request, "signin.html", status=status, next=target, email=email, problem=problem,
                    providers=providers, ended=None)

    services.limits.hit("signin", viewer.ip)
    if email:
        services.limits.hit("signin", "account:" + email)
    now = services.now()
    with services.db.session() as session:
        user = session.scalar(select(User).where(User.email == email)) if email else None
        stored = user.password_hash if user else None
        locked = user is not None and user.locked_until is not None and user.locked_until > now
    if locked:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        return again(LOCKED.format(minutes=minutes), 429)
    ok = await to_thread.run_sync(services.passwords.verify, stored, password)
    with services.db.session() as session:
        user = session.scalar(select(User).where(User.email == email)) if email else None
        if user is None or not ok:
            if user is not None:
                user.failed_signins += 1
                details = {"failures": user.failed_signins}
                if user.failed_signins >= services.config.limits.lockout_failures:
                    user.locked_until = now + timedelta(minutes=services.config.limits.lockout_minutes)
                    user.failed_signins = 0
                    services.audit.append(session, AuditAction.LOCKED_OUT, target_user_id=user.id, ip=viewer.ip,
                                          details={"until": user.locked_until.isoformat()})
                services.audit.append(session, AuditAction.SIGNIN_FAILED, target_user_id=user.id, ip=viewer.ip,
                                      details=details)
            else:
                services.audit.append(session, AuditAction.SIGNIN_FAILED, ip=viewer.ip,
                                      details={"email": email, "reason": "no such account"})
            failed = True
        elif user.disabled_at is not None:
            services.audit.append(session, AuditAction.SIGNIN_FAILED, target_user_id=user.id, ip=viewer.ip,
                                  details={"reason": "account disabled"})
            return again("This account is disabled. Contact " + services.config.support_email + ".", 403)
        else:
            failed = False
            user.failed_signins = 0
            if services.passwords.needs_rehash(user.password_hash):
                user.password_hash = services.passwords.hash(password)
            two_step = user.totp_enabled_at is not None
            services.audit.append(session, AuditAction.SIGNIN, actor_id=user.id, target_user_id=user.id, ip=viewer.ip,
                                  details={"method": "password", "second_step": "totp" if two_step else None})
            viewer.sign_in(user, mfa_pending=two_step, mfa=None)
    if failed:
        return again(WRONG, 401)
    if viewer.new_session and viewer.new_session["mfa_pending"]:
        viewer.data["rw.next"] = target
        return see_other("/signin/second-step")
    return see_other(target)


@router.get("/signin/second-step", response_class=HTMLResponse, dependencies=[requires(Access.SECOND_STEP)])
def second_step_page(request: Request):
    return page(request, "second_step.html", problem=None)


@router.post("/signin/second-step", response_class=HTMLResponse, dependencies=[requires(Access.SECOND_STEP)])
async def second_step_post(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    services.limits.hit("totp", viewer.ip, f"account:{viewer.user.id}")
    code, recovery = form.get("code")[:20], form.get("recovery_code")[:40]
    now = services.now()
    method = None
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            return page(request, "second_step.html", status=429, problem=LOCKED.format(minutes=minutes))
        if code and user.totp_secret:
            step = totp.accepted_step(services.totp.open(user.totp_secret), code, last_step=user.totp_last_step, now=now)
            if step is not None:
                user.totp_last_step = step
                method = "totp"
        elif recovery:
            left = totp.use_recovery_code(session, user.id, recovery, services.keys.tokens, now)
            if left is not None:
                method = "recovery"
                services.audit.append(session, AuditAction.RECOVERY_CODE_USED, actor_id=user.id,
                                      target_user_id=user.id, ip=viewer.ip, details={"left": left})
        if method is None:
            user.failed_totp += 1
            if user.failed_totp >= services.config.limits.lockout_failures:
                user.locked_until = now + timedelta(minutes=services.config.limits.lockout_minutes)
                user.failed_totp = 0
                services.audit.append(session, AuditAction.LOCKED_OUT, target_user_id=user.id, ip=viewer.ip,
                                      details={"until": user.locked_until.isoformat(), "step": "second"})
            services.audit.append(session, AuditAction.MFA_FAILED, target_user_id=user.id, ip=viewer.ip,
                                  details={"kind": "recovery" if recovery and not code else "totp"})
        else:
            user.failed_totp = 0
    if method is None:
        return page(request, "second_step.html", status=401,
                    problem="That code is not right, or it was already used. Enter the newest code from your app.")
    target = safe_next(viewer.data.pop("rw.next", "/access"))
    viewer.complete_mfa(method)
    if method == "recovery":
        viewer.flash("You used a recovery code. Make new ones on the two-step verification page if few are left.")
    return see_other(target)


@router.post("/signout", response_class=HTMLResponse, dependencies=[requires(Access.PUBLIC)])
async def signout(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    await read_form(request)
    if viewer.user is not None:
        with services.db.session() as session:
            services.audit.append(session, AuditAction.SIGNOUT, actor_id=viewer.user.id, target_user_id=viewer.user.id,
                                  ip=viewer.ip)
    viewer.sign_out()
    return see_other("/")
