"""The data access requirements page (every tier's modules, the one next step, what expires when), finishing the
account (verify the email, accept new Terms), and the tier landing pages, which only the tier's holders reach."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ...accounts.audit import AuditAction
from ...accounts.documents import load_document
from ...accounts.modules import REQUIRED, Tier
from ...state.models import User
from ...web import SecureRouter
from ..forms import read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]

TIER_CONTENTS = {
    Tier.REGISTERED: ["Individual-level data with direct identifiers removed and dates shifted",
                      "Electronic health records, surveys, physical measurements and wearables",
                      "Demographics generalised so that no small group stands out"],
    Tier.CONTROLLED: ["Everything in the Registered Tier",
                      "Genomic data: variants, genotypes and ancestry",
                      "Unshifted dates and more demographic detail"],
}


@router.get("/access", response_class=HTMLResponse, dependencies=SIGNED_IN)
def access_page(request: Request):
    viewer = request.state.viewer
    return page(request, "access.html", state=viewer.access, required=REQUIRED, contents=TIER_CONTENTS,
                institution=viewer.user.institution,
                soon=viewer.access.expiring(request.app.state.services.evaluator.policy.expiring_within))


@router.get("/account/finish", response_class=HTMLResponse, dependencies=SIGNED_IN)
def finish(request: Request):
    services = request.app.state.services
    e = services.evaluator
    user = request.state.viewer.user
    return page(request, "finish.html", user=user, terms=load_document("terms"), privacy=load_document("privacy"),
                terms_current=user.terms_version == e.terms_version and user.privacy_version == e.privacy_version)


@router.post("/account/finish", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def finish_post(request: Request):
    """Accept the current Terms of Service and privacy policy (after they change)."""
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    e = services.evaluator
    if not (form.checked("accept_terms") and form.get("terms_version") == e.terms_version
            and form.checked("accept_privacy") and form.get("privacy_version") == e.privacy_version):
        viewer.flash("Read both documents to the end and tick both boxes to accept them.")
        return see_other("/account/finish")
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        user.terms_version, user.privacy_version, user.terms_accepted_at = e.terms_version, e.privacy_version, services.now()
        services.audit.append(session, AuditAction.TERMS_ACCEPTED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"terms": e.terms_version, "privacy": e.privacy_version})
    return see_other("/access")


@router.get("/data/registered", response_class=HTMLResponse, dependencies=[requires(Access.REGISTERED)])
def registered_data(request: Request):
    return page(request, "tier_data.html", tier=Tier.REGISTERED, contents=TIER_CONTENTS[Tier.REGISTERED])


@router.get("/data/controlled", response_class=HTMLResponse, dependencies=[requires(Access.CONTROLLED)])
def controlled_data(request: Request):
    return page(request, "tier_data.html", tier=Tier.CONTROLLED, contents=TIER_CONTENTS[Tier.CONTROLLED])
