"""Steps 3 (and the Controlled Tier's own step): the training courses. Each tier's course is a set of versioned pages
to read and a quiz with a pass mark (``accounts.training``); passing completes the tier's training module for the
course version taken.

Training is open to every signed-in user, whatever their access (the Controlled Tier training may be taken before
the institution allows the tier, and an expired training must be retaken from here). Which pages were read and the
answers chosen at the last try are a server-side draft in the session (``viewer.data``), so a reload or a page
read on another visit keeps them; the quiz never reveals the right answers.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse

from ...accounts.audit import AuditAction
from ...accounts.module_records import complete
from ...accounts.modules import MODULES, Module, Tier
from ...accounts.training import Course, QuizAnswerError, QuizResult, current_course, grade
from ...cdr.problems import Problem
from ...state.models import QuizAttempt, User
from ...web import SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
SIGNED_IN = [requires(Access.SIGNED_IN)]

COURSE_MODULES = {Tier.REGISTERED: Module.RT_TRAINING, Tier.CONTROLLED: Module.CT_TRAINING}
DRAFT = "rw.training"  # viewer.data[DRAFT][tier] = {"version": ..., "read": [slugs], "answers": {question id: "n"}}
MAX_ANSWER = 10  # characters of one posted answer kept (an option index is one digit)


def _tier(value: str) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        raise HTTPException(404) from None


def _draft(request: Request, course: Course) -> dict:
    """This session's progress through ``course`` (started afresh when the course version changed)."""
    drafts = request.state.viewer.data.setdefault(DRAFT, {})
    draft = drafts.get(course.tier.value)
    if not isinstance(draft, dict) or draft.get("version") != course.version:
        draft = drafts[course.tier.value] = {"version": course.version, "read": [], "answers": {}}
    return draft


def _progress(course: Course, draft: dict) -> dict:
    slugs = [p.slug for p in course.pages]
    read = [s for s in slugs if s in draft["read"]]
    unread = [s for s in slugs if s not in draft["read"]]
    return {"read": read, "count": len(read), "total": len(slugs), "next": unread[0] if unread else None,
            "started": bool(read) or bool(draft["answers"])}


def _context(request: Request, tier: Tier, course: Course, draft: dict) -> dict:
    module = COURSE_MODULES[tier]
    return {"tier": tier, "course": course, "module": module, "info": MODULES[module],
            "state": request.state.viewer.access.modules[module], "progress": _progress(course, draft)}


@router.get("/training/{tier}", response_class=HTMLResponse, dependencies=SIGNED_IN)
def overview(request: Request, tier: str):
    t = _tier(tier)
    course = current_course(t)
    draft = _draft(request, course)
    return page(request, "training_overview.html", **_context(request, t, course, draft))


def _quiz_page(request: Request, tier: Tier, course: Course, draft: dict, *, result: QuizResult | None = None,
               errors: FieldErrors | None = None, status: int = 200) -> HTMLResponse:
    return page(request, "training_quiz.html", status=status, result=result, errors=errors or FieldErrors(),
                answers=draft["answers"], numbers={q.id: n for n, q in enumerate(course.quiz, start=1)},
                **_context(request, tier, course, draft))


# Declared before the page route, so that ``quiz`` is never taken for a page's slug.
@router.get("/training/{tier}/quiz", response_class=HTMLResponse, dependencies=SIGNED_IN)
def quiz(request: Request, tier: str):
    t = _tier(tier)
    course = current_course(t)
    return _quiz_page(request, t, course, _draft(request, course))


@router.post("/training/{tier}/quiz", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def quiz_post(request: Request, tier: str):
    """Grade the quiz: a pass completes the tier's training module (this course version, with the score); a fail
    says which questions were wrong, keeping the answers chosen; an unusable answer is refused (422) by field."""
    t = _tier(tier)
    services = request.app.state.services
    viewer = request.state.viewer
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    course = current_course(t)
    draft = _draft(request, course)
    answers = {key[2:]: form.get(key)[:MAX_ANSWER] for key in form.data.keys() if key.startswith("q_")}
    draft["answers"] = {q.id: answers[q.id] for q in course.quiz if q.id in answers}
    version = form.get("version")
    if version and version != course.version:
        problems = [Problem(f"the course changed to version {course.version} while you took it (you had "
                            f"{version[:40]}): read the changes and answer again", "version")]
        return _quiz_page(request, t, course, draft, errors=FieldErrors.of_problems(problems), status=422)
    try:
        result = grade(course, answers)
    except QuizAnswerError as err:
        return _quiz_page(request, t, course, draft, errors=FieldErrors.of_problems(err.problems), status=422)
    module = COURSE_MODULES[t]
    now = services.now()
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        session.add(QuizAttempt(user_id=user.id, course=t.value, version=course.version, score=result.score,
                                out_of=result.out_of, passed=result.passed, at=now))
        details = {"course": t.value, "version": course.version, "score": result.score, "out_of": result.out_of}
        if result.passed:
            complete(session, user, module, now=now, version=course.version,
                     details={"score": result.score, "out_of": result.out_of})
            services.audit.append(session, AuditAction.MODULE_COMPLETED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={"module": module.value, **details})
        else:
            services.audit.append(session, AuditAction.QUIZ_FAILED, actor_id=user.id, target_user_id=user.id,
                                  ip=viewer.ip, details={**details, "wrong": list(result.wrong)})
    if result.passed:
        viewer.data[DRAFT].pop(t.value, None)
        viewer.flash(f"You passed the {course.label} with {result.score} of {result.out_of} right. "
                     f"{MODULES[module].title} is complete.")
        return see_other(f"/training/{t.value}")
    return _quiz_page(request, t, course, draft, result=result)


@router.get("/training/{tier}/{slug}", response_class=HTMLResponse, dependencies=SIGNED_IN)
def course_page(request: Request, tier: str, slug: str):
    t = _tier(tier)
    course = current_course(t)
    try:
        current = course.page(slug)
    except KeyError:
        raise HTTPException(404) from None
    draft = _draft(request, course)
    if slug not in draft["read"]:
        draft["read"].append(slug)
    index = course.pages.index(current)
    previous = course.pages[index - 1] if index > 0 else None
    following = course.pages[index + 1] if index + 1 < len(course.pages) else None
    return page(request, "training_page.html", current=current, number=index + 1, previous=previous,
                following=following, **_context(request, t, course, draft))
