"""Step 2, identity verification: a linked OpenID Connect flow to the configured identity provider (Login.gov,
ID.me or another), which must come back with an IAL2 assurance claim.

``GET /access/identity`` explains the step; its button posts to ``/access/identity/start``, which sends the
person to the provider; the provider sends them back to ``/access/identity/callback``, which checks the answer,
links the provider's subject to the account (``OidcLink(purpose="identity")``), completes the module and writes
the audit log, then redirects to ``/access/identity/result`` (so reloading the result page never replays the
callback). A refusal states its reason and offers to try again. People who can use neither provider ask an
administrator, who can verify them manually with a recorded reason.
"""

from __future__ import annotations


from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from ...accounts.access import Status
from ...accounts.audit import AuditAction
from ...accounts.module_records import complete
from ...accounts.modules import Module
from ...state.models import OidcLink, User
from ...web import SecureRouter
from .. import oidc
from ..forms import read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]

PAGE = "/access/identity"
CALLBACK = "/access/identity/callback"
RESULT = "/access/identity/result"
OUTCOME = "rw.identity.outcome"  # session data: the last attempt's outcome, shown by RESULT


def _provider(request: Request) -> oidc.Provider | None:
    if request.app.state.services.config.identity is None:
        return None
    found = oidc.try_clients(request.app)
    return found.identity if found else None


@router.get(PAGE, response_class=HTMLResponse, dependencies=SIGNED_IN)
def identity_page(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    configured = services.config.identity is not None
    provider = _provider(request)
    with services.db.session() as session:
        link = session.scalar(select(OidcLink).where(OidcLink.user_id == viewer.user.id, OidcLink.purpose == "identity")
                              .order_by(OidcLink.linked_at.desc(), OidcLink.id.desc()).limit(1))
        if link is not None:
            session.expunge(link)
    response = page(request, "identity.html", provider=provider, configured=configured,
                    module=viewer.access.modules[Module.IDENTITY], link=link, support=services.config.support_email)
    return oidc.allow_provider_forms(request, response)


@router.post(PAGE + "/start", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def identity_start(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    await read_form(request)
    services.limits.hit("forms", viewer.ip)
    provider = _provider(request)
    if provider is None:
        viewer.flash("Identity verification through an outside provider is not available here.")
        return see_other(PAGE)
    viewer.data.pop(OUTCOME, None)
    try:
        url = await provider.authorization_url(request, oidc.redirect_uri(services.config, CALLBACK))
    except oidc.OidcFailure as failure:
        return _failed(request, provider, failure.code, failure.message)
    return RedirectResponse(url, status_code=303)


@router.get(CALLBACK, response_class=HTMLResponse, dependencies=SIGNED_IN)
async def identity_callback(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    provider = _provider(request)
    if provider is None:
        return see_other(PAGE)
    label = provider.label
    try:
        claims = await provider.finish(request)
    except oidc.OidcFailure as failure:
        # A callback replayed after success (the back button): recorded, and the step's page says it is done.
        done = failure.code == "state mismatch" and viewer.access.modules[Module.IDENTITY].status is Status.COMPLETE
        return _failed(request, provider, failure.code, failure.message, show=not done)
    acr = oidc.acr_of(claims)
    if not oidc.is_ial2(claims, provider.accepted_acr):
        return _failed(request, provider, "not IAL2", (
            f"{label} did not confirm your identity at the level this program needs (IAL2): it reported "
            + (f"“{acr}”." if acr else "no assurance level.")
            + f" If you have not finished verifying your identity with {label}, finish it there and try again."),
            acr=acr)
    subject = str(claims["sub"])
    now = services.now()
    preset = services.config.identity.preset
    via = oidc.identity_via(claims, preset)
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        link = session.scalar(select(OidcLink).where(OidcLink.provider == provider.key, OidcLink.subject == subject))
        if link is not None and link.user_id != user.id:
            services.audit.append(session, AuditAction.IDENTITY_FAILED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"provider": provider.key, "acr": acr,
                                                         "reason": "linked to another account",
                                                         "other_user_id": link.user_id})
            failed = True
        else:
            failed = False
            if link is None:
                link = OidcLink(user_id=user.id, provider=provider.key, subject=subject, purpose="identity",
                                claims={}, linked_at=now)
                session.add(link)
            link.claims, link.linked_at = oidc.kept_claims(claims), now
            complete(session, user, Module.IDENTITY, now=now, details={"provider": provider.key, "acr": acr})
            details = {"provider": provider.key, "acr": acr, "subject": subject}
            if via:
                details["via"] = via
            services.audit.append(session, AuditAction.IDENTITY_VERIFIED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details=details)
            services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"module": Module.IDENTITY.value})
    if failed:
        viewer.data[OUTCOME] = {"ok": False, "label": label, "reason": (
            f"This {label} identity is already linked to another account here. One person verifies one account: "
            f"sign in with that account, or write to {services.config.support_email}.")}
        return see_other(RESULT)
    viewer.data[OUTCOME] = {"ok": True, "label": label}
    return see_other(RESULT)


@router.get(RESULT, response_class=HTMLResponse, dependencies=SIGNED_IN)
def identity_result(request: Request):
    viewer = request.state.viewer
    outcome = viewer.data.get(OUTCOME)
    if not isinstance(outcome, dict):
        return see_other(PAGE)
    response = page(request, "identity_result.html", kind="identity", ok=bool(outcome.get("ok")),
                    label=outcome.get("label", ""), reason=outcome.get("reason"),
                    support=request.app.state.services.config.support_email,
                    next_step=viewer.access.next_step if viewer.access else None)
    return oidc.allow_provider_forms(request, response)


def _failed(request: Request, provider: oidc.Provider, code: str, message: str, acr: str | None = None,
            show: bool = True):
    """Record a refusal (audit log, the outcome in the session) and show it."""
    services = request.app.state.services
    viewer = request.state.viewer
    details = {"provider": provider.key, "reason": code}
    if acr is not None:
        details["acr"] = acr
    with services.db.session() as session:
        services.audit.append(session, AuditAction.IDENTITY_FAILED, actor_id=viewer.user.id,
                              target_user_id=viewer.user.id, ip=viewer.ip, details=details)
    if not show:
        return see_other(PAGE)
    viewer.data[OUTCOME] = {"ok": False, "label": provider.label, "reason": message}
    return see_other(RESULT)
