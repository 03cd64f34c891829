"""Pages anyone may see: the home page, the institutions directory ("what tier does my institution allow?"), the
form to request a new institution, and the Terms of Service and privacy policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from ...accounts import institutions as inst
from ...accounts.audit import AuditAction
from ...accounts.documents import load_document
from ...accounts.modules import Tier
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
PUBLIC = [requires(Access.PUBLIC)]


@router.get("/", response_class=HTMLResponse, dependencies=PUBLIC)
def home(request: Request):
    return page(request, "home.html")


def _directory(request: Request):
    services = request.app.state.services
    with services.db.reading() as session:
        rows = inst.all_institutions(session)
        today = services.now().date()
        return [{
            "short_name": i.short_name, "display_name": i.display_name, "kind": inst.KIND_LABELS.get(i.kind, i.kind),
            "agreement_current": i.agreement_expires_on is None or i.agreement_expires_on >= today,
            "agreement_expires_on": i.agreement_expires_on,
            "rules": {r.tier: inst.describe_rule(r) for r in i.rules},
        } for i in rows]


@router.get("/institutions", response_class=HTMLResponse, dependencies=PUBLIC)
def institutions(request: Request, institution: Annotated[str, Query(max_length=40)] = "",
                 email: Annotated[str, Query(max_length=254)] = ""):
    """The directory, and the answer for one institution and email when both are given."""
    answer = None
    services = request.app.state.services
    if institution and email:
        with services.db.reading() as session:
            found = inst.by_short_name(session, institution)
            if found is not None:
                tiers = inst.allowed_tiers(found, email, services.now().date()) if inst.is_email(email) else None
                answer = {"institution": found.display_name, "email": email,
                          "tiers": None if tiers is None else [t for t in Tier if t in tiers]}
    return page(request, "institutions.html", institutions=_directory(request), chosen=institution, email=email,
                answer=answer)


@router.get("/institutions/request", response_class=HTMLResponse, dependencies=PUBLIC)
def request_form(request: Request):
    return page(request, "institution_request.html", form={}, errors=FieldErrors())


@router.post("/institutions/request", response_class=HTMLResponse, dependencies=PUBLIC)
async def request_post(request: Request):
    services = request.app.state.services
    services.limits.hit("forms", request.state.viewer.ip)
    form = await read_form(request)
    values = {k: form.get(k) for k in ("name", "website", "contact_name", "contact_email", "message")}
    try:
        with services.db.session() as session:
            req = inst.request_institution(session, **values, now=services.now())
            services.audit.append(session, AuditAction.INSTITUTION_REQUESTED, ip=request.state.viewer.ip,
                                  details={"request_id": req.id, "name": req.name})
    except inst.InstitutionError as err:
        return page(request, "institution_request.html", status=422, form=values,
                    errors=FieldErrors.of_problems(err.problems))
    request.state.viewer.flash(f"Thank you: your request to add {values['name'].strip()} was sent to the program.")
    return see_other("/institutions")


@router.get("/documents/{kind}", response_class=HTMLResponse, dependencies=PUBLIC)
def document(request: Request, kind: str):
    if kind not in ("terms", "privacy"):
        raise HTTPException(404)
    return page(request, "document.html", doc=load_document(kind))
