"""Step 4: the Data User Code of Conduct. The current version is shown in full, then the attestation with the
user's name, one initials box per statement and the full name; a good signature is stored (version, full name,
the initials per statement, when) and completes the DUCC module for that version. The signed copy stays viewable
(``/access/ducc/signed``): the text of the version signed, with the initials given.

Open to every signed-in user: signing again each year is part of the renewal, and must work after access expired.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ...accounts.audit import AuditAction
from ...accounts.documents import (
    Document, DuccSignatureError, UnknownVersionError, check_ducc_signature, fold, load_document,
)
from ...accounts.module_records import complete
from ...accounts.modules import Module
from ...cdr.problems import Problem
from ...state.models import DuccSignature, User
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]

MAX_INITIALS = 20  # characters of one box kept (valid initials are at most 6 letters and their periods)
MAX_NAME = 170  # DuccSignature.full_name


def _latest(session, user_id: int) -> DuccSignature | None:
    return session.scalars(select(DuccSignature).where(DuccSignature.user_id == user_id)
                           .order_by(DuccSignature.signed_at.desc(), DuccSignature.id.desc()).limit(1)).first()


def _sign_page(request: Request, doc: Document, *, values: dict | None = None, errors: FieldErrors | None = None,
               status: int = 200) -> HTMLResponse:
    services = request.app.state.services
    viewer = request.state.viewer
    with services.db.session() as session:
        latest = _latest(session, viewer.user.id)
    values = values or {"full_name": "", "initials": {s.id: "" for s in doc.statements}}
    return page(request, "ducc.html", status=status, doc=doc, values=values, errors=errors or FieldErrors(),
                attestation=doc.attestation_for(viewer.user.full_name), user=viewer.user, today=services.now(),
                latest=latest, state=viewer.access.modules[Module.DUCC])


@router.get("/access/ducc", response_class=HTMLResponse, dependencies=SIGNED_IN)
def ducc(request: Request):
    return _sign_page(request, load_document("ducc"))


@router.post("/access/ducc", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def ducc_post(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    doc = load_document("ducc")
    initials = [form.get(s.field)[:MAX_INITIALS] for s in doc.statements]
    full_name = form.get("full_name")[:MAX_NAME]
    values = {"full_name": full_name, "initials": {s.id: box for s, box in zip(doc.statements, initials)}}
    version = form.get("version")
    if version and version != doc.version:
        problems = [Problem(f"the Code of Conduct changed to version {doc.version} since you opened it: read this "
                            "version and sign it", "version")]
        return _sign_page(request, doc, values=values, errors=FieldErrors.of_problems(problems), status=422)
    try:
        check_ducc_signature(doc, full_name=full_name, initials=initials, account_full_name=viewer.user.full_name)
    except DuccSignatureError as err:
        return _sign_page(request, doc, values=values, errors=FieldErrors.of_problems(err.problems), status=422)
    now = services.now()
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        signature = DuccSignature(user_id=user.id, version=doc.version, full_name=fold(full_name),
                                  initials=[box.strip() for box in initials], signed_at=now)
        session.add(signature)
        session.flush()
        complete(session, user, Module.DUCC, now=now, version=doc.version, details={"signature": signature.id})
        services.audit.append(session, AuditAction.DUCC_SIGNED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"version": doc.version, "signature": signature.id})
        services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"module": Module.DUCC.value, "version": doc.version})
    viewer.flash(f"You signed the {doc.label}. This is your signed copy.")
    return see_other("/access/ducc/signed")


@router.get("/access/ducc/signed", response_class=HTMLResponse, dependencies=SIGNED_IN)
def signed(request: Request):
    """The user's latest signed copy: the text of the version signed, the initials per statement, name and date."""
    services = request.app.state.services
    viewer = request.state.viewer
    with services.db.session() as session:
        signature = _latest(session, viewer.user.id)
    if signature is None:
        return page(request, "ducc_not_signed.html", status=404)
    try:
        doc = load_document("ducc", signature.version)
    except UnknownVersionError:
        doc = None
    statements = []
    if doc is not None:
        statements = [(s, signature.initials[i] if i < len(signature.initials) else "")
                      for i, s in enumerate(doc.statements)]
    return page(request, "ducc_signed.html", signature=signature, doc=doc, statements=statements,
                attestation=doc.attestation_for(signature.full_name) if doc is not None else "",
                user=viewer.user, state=viewer.access.modules[Module.DUCC])
