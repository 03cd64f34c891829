"""Signing in through an institution's OpenID Connect provider (``config.signin_providers``).

The sign-in page's button posts to ``/signin/oidc/{provider}``, which sends the person to the provider; the
provider sends them back to ``/signin/oidc/{provider}/callback``. The account is the one already linked to the
provider's subject, else the existing account whose address is the provider's *verified* email claim (the link is
made then, and audited). Accounts are never created here: a person without one is told to sign up first. The
account's own address must already be verified before a provider can be linked to it by email (else someone who
signed up with another person's address could have that person's provider sign-ins land in their account).

The second step: when the provider is ``trusted_mfa`` and its ``amr`` claim shows a second factor, that counts as
this session's second step (and completes the two-step module if it was not); else a user with TOTP is sent to
the usual second step; else they are signed in without one (and data access asks for one).
"""

from __future__ import annotations


from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...accounts.institutions import normalise_email
from ...accounts.module_records import complete
from ...accounts.modules import Module
from ...state.models import OidcLink, User
from ...web import SecureRouter
from .. import oidc
from ..forms import read_form
from ..guards import Access, requires
from ..rendering import page, see_other
from .signin import safe_next

router = SecureRouter(include_in_schema=False)
PUBLIC = [requires(Access.PUBLIC)]

NEXT = "rw.oidc.next"  # session data: where to go after signing in
OUTCOME = "rw.oidc.outcome"  # session data: why the last attempt did not sign in


def _provider(request: Request, name: str) -> oidc.Provider:
    config = request.app.state.services.config
    if not any(p.name == name for p in config.signin_providers):
        raise HTTPException(404, "There is no such sign-in provider.")
    found = oidc.try_clients(request.app)
    if found is None or name not in found.signin:
        raise HTTPException(503, "Signing in through this provider is not available right now. "
                                 f"Sign in with your password, or write to {config.support_email}.")
    return found.signin[name]


@router.post("/signin/oidc/{provider}", response_class=HTMLResponse, dependencies=PUBLIC)
async def oidc_signin_start(request: Request, provider: str):
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    services.limits.hit("signin", viewer.ip)
    p = _provider(request, provider)
    target = safe_next(form.get("next", "/access"))
    if viewer.signed_in:
        return see_other(target)
    viewer.data[NEXT] = target
    viewer.data.pop(OUTCOME, None)
    try:
        callback = oidc.redirect_uri(services.config, f"/signin/oidc/{provider}/callback")
        url = await p.authorization_url(request, callback)
    except oidc.OidcFailure as failure:
        return _refused(request, p, failure.code, failure.message + " You can also sign in with your password.")
    return RedirectResponse(url, status_code=303)


@router.get("/signin/oidc/{provider}/callback", response_class=HTMLResponse, dependencies=PUBLIC)
async def oidc_signin_callback(request: Request, provider: str):
    services = request.app.state.services
    viewer = request.state.viewer
    p = _provider(request, provider)
    settings = p.settings
    label, method = p.label, f"oidc:{provider}"
    try:
        claims = await p.finish(request)
    except oidc.OidcFailure as failure:
        return _refused(request, p, failure.code, failure.message)
    subject = str(claims["sub"])
    email = normalise_email(str(claims.get("email") or ""))[:254]
    now = services.now()
    refusal: tuple[str, str, int | None] | None = None  # (code, message, user id)
    no_account = linked = False
    second = None
    with services.db.session() as session:
        link = session.scalar(select(OidcLink).where(OidcLink.provider == provider, OidcLink.subject == subject,
                                                     OidcLink.purpose == "signin"))
        user = session.get(User, link.user_id) if link is not None else None
        if user is None:
            domain = email.rsplit("@", 1)[-1] if "@" in email else ""
            if not domain:
                refusal = ("no email", f"{label} did not share your email address, so your account could not be "
                                       "found. Sign in with your password instead.", None)
            elif not oidc.email_verified(claims, settings.trust_email):
                refusal = ("email not verified", f"{label} did not confirm that {email} is verified, so it cannot be "
                                                 "used to find your account. Sign in with your password instead.", None)
            elif settings.email_domains and domain not in settings.email_domains:
                refusal = ("email domain not served", f"{label} signs in addresses at "
                           + ", ".join(settings.email_domains) + f" only, not {email}.", None)
            else:
                user = session.scalar(select(User).where(User.email == email))
                if user is None or user.institution_id is None:
                    no_account, user = True, None
                elif user.email_verified_at is None:
                    refusal = ("account email not verified", f"Your account here ({email}) is not verified yet: "
                               "open the link we sent to that address, then sign in again.", user.id)
                    user = None
                else:
                    linked = True
        if user is not None and user.disabled_at is not None:
            refusal = ("account disabled", f"This account is disabled. Contact {services.config.support_email}.",
                       user.id)
        elif user is not None and user.locked_until is not None and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            refusal = ("account locked", "This account is locked after too many failed attempts. "
                                         f"Try again in {minutes} minutes.", user.id)
        elif linked:
            session.add(OidcLink(user_id=user.id, provider=provider, subject=subject, purpose="signin",
                                 claims=oidc.kept_claims(claims), linked_at=now))
            services.audit.append(session, AuditAction.OIDC_LINKED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"provider": provider, "subject": subject, "email": email,
                                                         "purpose": "signin"})
        if refusal is not None or no_account:
            reason = "no account" if no_account else refusal[0]
            details = {"method": method, "reason": reason}
            if no_account or user is None:
                details["email"] = email
            services.audit.append(session, AuditAction.SIGNIN_FAILED, target_user_id=refusal[2] if refusal else None,
                                  ip=viewer.ip, details=details)
        else:
            if settings.trusted_mfa and oidc.shows_mfa(claims):
                second = "provider"
                if not any(m.module == Module.TWO_FACTOR.value and m.completed_at is not None for m in user.modules):
                    complete(session, user, Module.TWO_FACTOR, now=now, details={"via": provider})
                    services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id,
                                          target_user_id=user.id, ip=viewer.ip,
                                          details={"module": Module.TWO_FACTOR.value, "via": provider})
            elif user.totp_enabled_at is not None:
                second = "totp"
            user.failed_signins = 0
            details = {"method": method, "second_step": second}
            if linked and refusal is None:
                details["linked"] = True
            services.audit.append(session, AuditAction.SIGNIN, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details=details)
            viewer.sign_in(user, mfa_pending=second == "totp", mfa="provider" if second == "provider" else None)
    if no_account:
        viewer.data[OUTCOME] = {"no_account": True, "email": email, "label": label, "provider": provider}
        return see_other(f"/signin/oidc/{provider}/result")
    if refusal is not None:
        return _refused(request, p, refusal[0], refusal[1], audited=True)
    target = safe_next(viewer.data.pop(NEXT, "/access"))
    viewer.data.pop(OUTCOME, None)
    if second == "totp":
        viewer.data["rw.next"] = target
        return see_other("/signin/second-step")
    return see_other(target)


@router.get("/signin/oidc/{provider}/result", response_class=HTMLResponse, dependencies=PUBLIC)
def oidc_signin_result(request: Request, provider: str):
    viewer = request.state.viewer
    outcome = viewer.data.get(OUTCOME)
    if viewer.signed_in or not isinstance(outcome, dict) or outcome.get("provider") not in (None, provider):
        return see_other("/signin")
    p = _provider(request, provider)
    response = page(request, "identity_result.html", kind="signin", ok=False, label=p.label, provider=provider,
                    reason=outcome.get("reason"), no_account=bool(outcome.get("no_account")),
                    email=outcome.get("email", ""), next=viewer.data.get(NEXT, "/access"),
                    support=request.app.state.services.config.support_email)
    return oidc.allow_provider_forms(request, response)


def _refused(request: Request, p: oidc.Provider, code: str, message: str, audited: bool = False):
    services = request.app.state.services
    viewer = request.state.viewer
    if not audited:
        with services.db.session() as session:
            services.audit.append(session, AuditAction.SIGNIN_FAILED, ip=viewer.ip,
                                  details={"method": f"oidc:{p.key}", "reason": code})
    viewer.data[OUTCOME] = {"reason": message, "label": p.label, "provider": p.key}
    return see_other(f"/signin/oidc/{p.key}/result")
