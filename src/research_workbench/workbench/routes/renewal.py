"""The annual renewal: confirm the profile, report publications, retake the training and sign the Code of Conduct
again. The renewal page lists each renewable module as the access evaluator sees it (status, expiry, estimated
time) with the button that renews it.

Every page here is open to every signed-in user (``Access.SIGNED_IN``): expired access blocks tier data only,
never the profile or the renewal itself.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ...accounts.access import Status
from ...accounts.audit import AuditAction
from ...accounts.module_records import complete
from ...accounts.modules import MODULES, Module
from ...cdr.problems import Problem
from ...state.models import User
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other
from .account import _profile_page, profile_values, save_profile

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]

PUBLICATIONS_MAX = 5000
REPORTS = {"none": "I have nothing to report", "reported": "I report these publications"}
DRAFT = "rw.publications"  # the publications form as last sent, kept when it was refused
ACTIONS = {Module.PROFILE_CONFIRMATION: "Confirm your profile", Module.PUBLICATIONS: "Report publications",
           Module.RT_TRAINING: "Retake the Registered Tier training",
           Module.CT_TRAINING: "Retake the Controlled Tier training", Module.DUCC: "Sign the Code of Conduct again"}


def renewal_modules(access) -> list[Module]:
    """The modules this user renews, in the order they are done: the Controlled Tier training only for a user whose
    institution allows the tier or who ever completed (or was excused from) that training."""
    ct = access.modules[Module.CT_TRAINING]
    wanted = [Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS, Module.RT_TRAINING]
    if access.modules[Module.INSTITUTION_CT].satisfied or ct.completed_at is not None or ct.bypass_until is not None:
        wanted.append(Module.CT_TRAINING)
    wanted.append(Module.DUCC)
    return wanted


@router.get("/renewal", response_class=HTMLResponse, dependencies=SIGNED_IN)
def renewal(request: Request):
    services = request.app.state.services
    access = request.state.viewer.access
    soon = access.at + services.evaluator.policy.expiring_within
    rows = []
    for module in renewal_modules(access):
        state = access.modules[module]
        due = not state.satisfied or (state.expires_at is not None and state.expires_at <= soon)
        rows.append({"module": module, "state": state, "info": MODULES[module], "due": due,
                     "action": ACTIONS[module] if state.completed_at or state.status is Status.EXPIRED
                     else MODULES[module].action})
    expired = [r for r in rows if r["state"].status is Status.EXPIRED]
    due = [r for r in rows if r["due"]]
    return page(request, "renewal.html", rows=rows, expired=expired, due=due,
                minutes=sum(r["info"].minutes for r in due), validity_days=services.evaluator.policy.validity.days)


@router.get("/renewal/profile", response_class=HTMLResponse, dependencies=SIGNED_IN)
def renewal_profile(request: Request):
    return _profile_page(request, renewal=True)


@router.post("/renewal/profile", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def renewal_profile_post(request: Request):
    request.app.state.services.limits.hit("forms", request.state.viewer.ip)
    form = await read_form(request)
    values = profile_values(form)
    problems = save_profile(request, values, confirm=True)
    if problems:
        return _profile_page(request, errors=FieldErrors.of_problems(problems), values=values, status=422,
                             renewal=True)
    request.state.viewer.flash("Your profile is confirmed for another year.")
    return see_other("/renewal")


def _publications_page(request: Request, *, values: dict | None = None, errors: FieldErrors | None = None,
                       status: int = 200) -> HTMLResponse:
    viewer = request.state.viewer
    row = next((r for r in viewer.user.modules if r.module == Module.PUBLICATIONS.value), None)
    last = row.details if row is not None and row.completed_at is not None else None
    values = values or viewer.data.get(DRAFT) or {"report": "", "publications": ""}
    return page(request, "renewal_publications.html", status=status, values=values, errors=errors or FieldErrors(),
                reports=list(REPORTS.items()), maxlength=PUBLICATIONS_MAX, last=last,
                last_at=row.completed_at if last is not None else None,
                state=viewer.access.modules[Module.PUBLICATIONS])


@router.get("/renewal/publications", response_class=HTMLResponse, dependencies=SIGNED_IN)
def publications(request: Request):
    return _publications_page(request)


def _text(value: str) -> str:
    """The list as typed: line ends as ``\\n``, trailing blanks and blank lines at both ends removed."""
    lines = [line.rstrip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


@router.post("/renewal/publications", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def publications_post(request: Request):
    """Report publications (or that there are none): completes the publications module with the report."""
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    report = form.get("report")[:20]
    text = _text(form.get("publications"))
    values = {"report": report, "publications": text[:PUBLICATIONS_MAX + 1000]}
    problems = []
    if report not in REPORTS:
        problems.append(Problem("choose “I have nothing to report” or “I report these publications”", "report"))
    if len(text) > PUBLICATIONS_MAX:
        problems.append(Problem(f"the list is {len(text)} characters; at most {PUBLICATIONS_MAX}", "publications"))
    elif report == "reported" and not text.strip():
        problems.append(Problem("list the publications: one citation or DOI a line", "publications"))
    elif report == "none" and text.strip():
        problems.append(Problem("you chose “I have nothing to report”: clear this list, or choose “I report these "
                                "publications”", "publications"))
    if problems:
        viewer.data[DRAFT] = values
        return _publications_page(request, values=values, errors=FieldErrors.of_problems(problems), status=422)
    now = services.now()
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        complete(session, user, Module.PUBLICATIONS, now=now, details={"report": report, "publications": text})
        details = {"module": Module.PUBLICATIONS.value, "report": report, "characters": len(text)}
        services.audit.append(session, AuditAction.RENEWAL_CONFIRMED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details=details)
        services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                              ip=viewer.ip, details={"module": Module.PUBLICATIONS.value})
    viewer.data.pop(DRAFT, None)
    viewer.flash("Your publications report is recorded. Thank you." if report == "reported"
                 else "Recorded: nothing to report this year.")
    return see_other("/renewal")
