"""The training courses (Registered Tier, Controlled Tier): versioned pages to read and a quiz with a pass mark, and
the grading of a submitted quiz.

Each version of a course is one TOML file, ``content/training/<tier>-<version>.toml`` beside this module, never
edited once published (a completion records the course version). A file holds::

    tier = "registered"            # registered | controlled; must match the file name
    version = "2026.1"             # must match the file name; ordered as in documents.py (dotted integers)
    title = "..."
    pass_percent = 80              # 1-100: passed when score / out_of >= pass_percent / 100

    [[pages]]                      # read in file order
    slug = "what-the-data-is"      # lower-case letters, digits and hyphens; unique
    title = "..."
    paragraphs = ["...", "..."]

    [[quiz]]
    id = "small-counts"            # unique; the form field is q_<id>
    prompt = "..."
    options = ["...", "...", "..."]   # 2 to 6 distinct options
    answer = 1                     # the right option's index, counting from 0

The form posts each answer as the chosen option's index as text (``q_small-counts=1``), counting from 0 like
``answer``. A file that cannot be used is refused with a ``ContentError`` naming the file and the TOML key path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..cdr.problems import Problem, ProblemsError
from .documents import (
    ContentError,
    ContentModel,
    LocatedError,
    UnknownVersionError,
    check_names,
    check_paragraphs,
    check_version,
    content_dir,
    nonblank,
    not_empty,
    parse_content,
    read_content_file,
    shipped_versions,
)
from .modules import Tier

__all__ = ["ContentError", "Course", "Page", "Question", "QuizAnswerError", "QuizResult", "UnknownVersionError",
           "course_versions", "current_course", "current_course_version", "grade", "load_course",
           "load_course_file"]

_SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class QuizAnswerError(ProblemsError):
    """A quiz submission refused: one problem per bad form field (``q_<question id>``); nothing was graded."""

    heading = "the quiz could not be graded"
    outcome = "nothing was recorded."


class Page(ContentModel):
    slug: str = Field(pattern=_SLUG_PATTERN, max_length=60)
    title: str
    paragraphs: tuple[str, ...]

    _title = field_validator("title")(nonblank)
    _paras = field_validator("paragraphs")(check_paragraphs)


class Question(ContentModel):
    id: str = Field(pattern=_SLUG_PATTERN, max_length=60)
    prompt: str
    options: tuple[str, ...] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0, description="the right option's index, counting from 0")

    _prompt = field_validator("prompt")(nonblank)

    @field_validator("options")
    @classmethod
    def _options(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(nonblank(o) for o in value)
        if len(set(out)) != len(out):
            raise ValueError("options must be distinct")
        return out

    @model_validator(mode="after")
    def _answer(self) -> Question:
        if self.answer >= len(self.options):
            raise LocatedError("answer", f"{self.answer} is not an option index (0 to {len(self.options) - 1})")
        return self

    @property
    def field(self) -> str:
        return f"q_{self.id}"


class Course(ContentModel):
    tier: Tier
    version: str
    title: str
    pass_percent: int = Field(80, ge=1, le=100)
    pages: tuple[Page, ...]
    quiz: tuple[Question, ...]

    _version = field_validator("version")(check_version)
    _title = field_validator("title")(nonblank)
    _lists = field_validator("pages", "quiz")(not_empty)

    @model_validator(mode="after")
    def _unique(self) -> Course:
        for items, key, attr in ((self.pages, "pages", "slug"), (self.quiz, "quiz", "id")):
            seen: set[str] = set()
            for number, item in enumerate(items, start=1):
                value = getattr(item, attr)
                if value in seen:
                    raise LocatedError(f"{key}[{number}].{attr}", f"duplicate {attr} {value!r}")
                seen.add(value)
        return self

    @property
    def label(self) -> str:
        """``Registered Tier training, version 2026.1``."""
        return f"{self.tier.label} training, version {self.version}"

    def page(self, slug: str) -> Page:
        for page in self.pages:
            if page.slug == slug:
                return page
        raise KeyError(slug)

    def question(self, question_id: str) -> Question:
        for question in self.quiz:
            if question.id == question_id:
                return question
        raise KeyError(question_id)


@dataclass(frozen=True)
class QuizResult:
    score: int
    out_of: int
    passed: bool
    wrong: tuple[str, ...]  # ids of the questions answered wrongly, in quiz order

    @property
    def percent(self) -> float:
        return 100 * self.score / self.out_of


def load_course_file(path: str | Path) -> Course:
    """The course in the TOML file at ``path`` (any name, any folder); a ``ContentError`` naming the file and key."""
    return read_content_file(Course, path)


def _tier(tier: Tier | str) -> Tier:
    try:
        return Tier(tier)
    except ValueError:
        raise UnknownVersionError([Problem(f"unknown tier {tier!r} (one of {', '.join(t.value for t in Tier)})",
                                           "tier")]) from None


def course_versions(tier: Tier | str) -> list[str]:
    """The shipped versions of a tier's course, oldest first."""
    return shipped_versions("training", _tier(tier).value)


def current_course_version(tier: Tier | str) -> str:
    found = course_versions(tier)
    if not found:
        raise UnknownVersionError([Problem(f"no {_tier(tier).value} course is shipped", "tier")])
    return found[-1]


def load_course(tier: Tier | str, version: str | None = None) -> Course:
    """A shipped course: ``version`` of the tier's course, or the current (highest) one when ``version`` is None."""
    tier = _tier(tier)
    return _load_shipped(tier.value, current_course_version(tier) if version is None else version)


def current_course(tier: Tier | str) -> Course:
    return load_course(tier)


@lru_cache(maxsize=None)
def _load_shipped(tier: str, version: str) -> Course:
    if version not in course_versions(tier):
        raise UnknownVersionError([Problem(f"no version {version!r} of the {tier} course "
                                           f"(shipped: {', '.join(course_versions(tier)) or 'none'})", "version")])
    name = f"{tier}-{version}.toml"
    course = parse_content(Course, content_dir("training").joinpath(name).read_text(encoding="utf-8"), name)
    check_names(name, [("tier", course.tier.value, tier), ("version", course.version, version)])
    return course


def _choice(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def grade(course: Course, answers: dict[str, str]) -> QuizResult:
    """Grade a submitted quiz. ``answers`` maps each question id to the chosen option's index as text, counting
    from 0 (as the form posts it). Every question must be answered with an option's index, and no other key may be
    given; otherwise a ``QuizAnswerError`` names each bad form field (``q_<id>``).

    Passed when ``score * 100 >= pass_percent * out_of`` (exact integer arithmetic: 7 of 8 is 87.5% and passes
    at 80; 6 of 8 is 75% and fails)."""
    problems: list[Problem] = []
    known = {q.id for q in course.quiz}
    for key in answers:
        if key not in known:
            problems.append(Problem("no such question in this quiz", f"q_{key}"))
    wrong: list[str] = []
    for question in course.quiz:
        raw = answers.get(question.id)
        if raw is None or not str(raw).strip():
            problems.append(Problem("choose an answer", question.field))
            continue
        choice = _choice(str(raw))
        if choice is None:
            problems.append(Problem(f"{str(raw).strip()!r} is not an option number", question.field))
        elif choice >= len(question.options):
            problems.append(Problem(f"option {choice} does not exist (0 to {len(question.options) - 1})",
                                    question.field))
        elif choice != question.answer:
            wrong.append(question.id)
    if problems:
        raise QuizAnswerError(problems)
    out_of = len(course.quiz)
    score = out_of - len(wrong)
    return QuizResult(score=score, out_of=out_of, passed=score * 100 >= course.pass_percent * out_of,
                      wrong=tuple(wrong))
