"""Step 1, the sign-up wizard: Terms → institution and email → account details → demographic survey → done.

The draft lives in the server-side session (never the password: its argon2id hash), so Previous and Next keep
every answer and a reload loses nothing. Each step is checked when it is posted and all of them again when the
account is created. The last step sends the verification link; the address counts once the link is used.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from ...accounts import institutions as inst
from ...accounts.audit import AuditAction
from ...accounts.documents import load_document
from ...accounts.email_links import LinkError, issue_link, use_link
from ...accounts.registration import (
    ADDRESS_FIELDS, BACKGROUND_MAX, BACKGROUND_SHORT, DEGREES, DEMOGRAPHICS, ROLES, SignupError, SignupForm,
    create_account, demographics_problems, details_problems, institution_problems, terms_problems,
)
from ...cdr.problems import Problem
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..mailing import send_verification
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
PUBLIC = [requires(Access.PUBLIC)]
DRAFT = "rw.signup"
STEPS = ("terms", "institution", "details", "demographics")
VERIFY = "verify_email"


def _draft(request: Request) -> dict[str, Any]:
    return request.state.viewer.data.setdefault(DRAFT, {})


def _form(draft: dict[str, Any]) -> SignupForm:
    return SignupForm(**{k: v for k, v in draft.items() if k in SignupForm.__dataclass_fields__})


def _versions(request: Request) -> tuple[str, str]:
    e = request.app.state.services.evaluator
    return e.terms_version, e.privacy_version


def _step_page(request: Request, step: str, errors: FieldErrors | None = None, status: int = 200) -> HTMLResponse:
    draft = _draft(request)
    services = request.app.state.services
    context: dict[str, Any] = {"step": step, "steps": STEPS, "draft": draft, "errors": errors or FieldErrors()}
    if step == "terms":
        context.update(terms=load_document("terms"), privacy=load_document("privacy"))
    elif step == "institution":
        with services.db.reading() as session:
            context["institutions"] = [(i.short_name, i.display_name) for i in inst.all_institutions(session)]
        context["roles"] = list(ROLES.items())
    elif step == "details":
        context.update(degrees=list(DEGREES.items()), address_fields=ADDRESS_FIELDS, background_max=BACKGROUND_MAX,
                       background_short=BACKGROUND_SHORT, min_password=services.config.passwords.min_length)
    elif step == "demographics":
        context["questions"] = DEMOGRAPHICS
    return page(request, f"signup/{step}.html", status=status, **context)


def _reached(draft: dict[str, Any], step: str) -> str | None:
    """The first earlier step not yet done (the wizard goes in order), or None."""
    done = draft.get("done", [])
    for earlier in STEPS[:STEPS.index(step)]:
        if earlier not in done:
            return earlier
    return None


def _mark(draft: dict[str, Any], step: str) -> None:
    draft["done"] = sorted(set(draft.get("done", [])) | {step}, key=STEPS.index)


@router.get("/signup", response_class=HTMLResponse, dependencies=PUBLIC)
def signup(request: Request):
    if request.state.viewer.signed_in:
        return see_other("/access")
    return see_other("/signup/terms")


@router.get("/signup/{step}", response_class=HTMLResponse, dependencies=PUBLIC)
def signup_step(request: Request, step: str):
    if step == "sent":
        return page(request, "signup/sent.html", email=request.state.viewer.data.get("rw.signup_sent", ""))
    if step not in STEPS:
        raise HTTPException(404)
    missing = _reached(_draft(request), step)
    if missing is not None:
        return see_other(f"/signup/{missing}")
    return _step_page(request, step)


@router.post("/signup/{step}", response_class=HTMLResponse, dependencies=PUBLIC)
async def signup_post(request: Request, step: str):
    if step not in STEPS:
        raise HTTPException(404)
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    draft = _draft(request)
    if form.get("action") == "previous" and step != STEPS[0]:
        _keep(draft, step, form)
        return see_other(f"/signup/{STEPS[STEPS.index(step) - 1]}")
    missing = _reached(draft, step)
    if missing is not None:
        return see_other(f"/signup/{missing}")
    terms_version, privacy_version = _versions(request)
    problems: list[Problem] = []
    if step == "terms":
        draft["terms_version"] = form.get("terms_version") if form.checked("accept_terms") else ""
        draft["privacy_version"] = form.get("privacy_version") if form.checked("accept_privacy") else ""
        problems = terms_problems(_form(draft), terms_version, privacy_version)
    elif step == "institution":
        _keep(draft, step, form)
        with services.db.session() as session:
            problems, _ = institution_problems(session, _form(draft), services.now().date())
    elif step == "details":
        _keep(draft, step, form)
        candidate = _form(draft)
        candidate.password, candidate.password_confirm = form.get("password"), form.get("password_confirm")
        problems = details_problems(candidate, services.passwords)
        if not problems:
            draft["password_hash"] = await to_thread.run_sync(services.passwords.hash, candidate.password)
        elif "password_hash" in draft and not form.get("password"):
            problems = [p for p in problems if p.where not in ("password", "password_confirm")]
    elif step == "demographics":
        draft["demographics"] = _demographics(form) if not form.checked("skip") else None
        problems = demographics_problems(draft["demographics"])
        if not problems:
            return _create(request, draft)
    if problems:
        return _step_page(request, step, FieldErrors.of_problems(problems), status=422)
    _mark(draft, step)
    return see_other(f"/signup/{STEPS[STEPS.index(step) + 1]}")


def _keep(draft: dict[str, Any], step: str, form) -> None:
    if step == "institution":
        for key in ("institution", "email", "role", "role_other"):
            draft[key] = form.get(key).strip()
    elif step == "details":
        for key in ("given_name", "family_name", "research_background", "professional_url"):
            draft[key] = form.get(key)
        draft["degrees"] = form.list("degrees")
        draft["address"] = {k: form.get(f"address.{k}") for k in ADDRESS_FIELDS}


def _demographics(form) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for key, (_, several, _) in DEMOGRAPHICS.items():
        values = form.list(f"demographics.{key}")
        if values:
            answers[key] = values if several or len(values) > 1 else values[0]  # two for one question: refused
    return answers


def _create(request: Request, draft: dict[str, Any]) -> HTMLResponse:
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("signup", viewer.ip)
    terms_version, privacy_version = _versions(request)
    form = _form(draft)
    if "password_hash" not in draft:
        return see_other("/signup/details")
    now = services.now()
    try:
        with services.db.session() as session:
            user = create_account(session, form, passwords=services.passwords, terms_version=terms_version,
                                  privacy_version=privacy_version, now=now, password_hash=draft["password_hash"])
            services.audit.append(session, AuditAction.SIGNUP, actor_id=user.id, target_user_id=user.id, ip=viewer.ip,
                                  details={"institution": form.institution, "terms_version": terms_version,
                                           "privacy_version": privacy_version})
            token = issue_link(session, user, purpose=VERIFY, now=now, hours=services.config.access.email_link_hours,
                               pepper=services.keys.tokens)
            send_verification(request, session, user, token)
    except SignupError as err:
        errors = FieldErrors.of_problems(err.problems)
        first = next((s for s in STEPS if any(_step_of(w) == s for w in errors.by_field)), "institution")
        draft["done"] = [s for s in draft.get("done", []) if STEPS.index(s) < STEPS.index(first)]
        return _step_page(request, first, errors, status=422)
    viewer.data.pop(DRAFT, None)
    viewer.data["rw.signup_sent"] = user.email
    return see_other("/signup/sent")


def _step_of(where: str) -> str:
    if where in ("terms_version", "privacy_version"):
        return "terms"
    if where in ("institution", "email", "role", "role_other"):
        return "institution"
    if where.startswith("demographics"):
        return "demographics"
    return "details"


@router.get("/verify-email", response_class=HTMLResponse, dependencies=PUBLIC)
def verify_page(request: Request, token: str = ""):
    return page(request, "verify_email.html", token=token[:100])


@router.post("/verify-email", response_class=HTMLResponse, dependencies=PUBLIC)
async def verify_post(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    now = services.now()
    try:
        with services.db.session() as session:
            user = use_link(session, form.get("token"), purpose=VERIFY, now=now, pepper=services.keys.tokens)
            first = user.email_verified_at is None
            if first:
                user.email_verified_at = now
                services.audit.append(session, AuditAction.EMAIL_VERIFIED, actor_id=user.id, target_user_id=user.id,
                                      ip=viewer.ip, details={"email": user.email})
    except LinkError as err:
        return page(request, "verify_email.html", status=400, token="", problem=str(err))
    viewer.flash("Your email address is verified." + ("" if viewer.signed_in else " Sign in to continue."))
    return see_other("/access" if viewer.signed_in else "/signin")


@router.post("/verify-email/resend", response_class=HTMLResponse, dependencies=[requires(Access.SIGNED_IN)])
async def resend(request: Request):
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("signup", viewer.ip)
    await read_form(request)
    now = services.now()
    with services.db.session() as session:
        from ...state.models import User

        user = session.get(User, viewer.user.id)
        if user is not None and user.email_verified_at is None:
            token = issue_link(session, user, purpose=VERIFY, now=now, hours=services.config.access.email_link_hours,
                               pepper=services.keys.tokens)
            send_verification(request, session, user, token)
    viewer.flash("We sent a new verification link to your email address.")
    return see_other("/access")
