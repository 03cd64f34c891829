"""Comparing two of a workspace's saved cohorts (``cohorts.compare``): the overlap, the demographics side by side,
and per domain the concepts whose prevalence differs most.

``GET /workspaces/{namespace}/compare?a={cohort id}&b={cohort id}`` (READER). Only the workspace's own live
cohorts can be chosen: an id is looked up among them, so a deleted cohort, or one of another workspace, is "no such
cohort here" whatever its id. A cohort is either shape a workspace saves (a Cohort Builder definition or an OHDSI
Circe expression): ``cohorts.members`` gives its participants either way. The page shows aggregate counts only, so
it records no participant-level access.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from ...cdr.problems import Problem, ProblemsError
from ...cdr.store import CdrFileError
from ...cohorts.compare import CohortComparison, compare_cohorts
from ...cohorts.members import is_circe, members
from ...web import SecureRouter
from ...workspaces import resources as res
from ...workspaces.roles import Role
from ..engines import EngineUnavailable
from ..forms import FieldErrors
from ..guards import Access, requires
from ..rendering import page
from .resources import member

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
SIDES = {"a": "Cohort A", "b": "Cohort B"}
LABEL_MAX = 42  # characters of a category's label inside a chart (the full label is its title and in the table)


@dataclass(frozen=True)
class SavedCohort:
    id: int
    name: str
    content: dict
    circe: bool  # saved as an OHDSI Circe expression (run by the Circe executor over the CDR)


def _saved_cohorts(session, workspace) -> dict[int, SavedCohort]:
    """The workspace's live cohorts by id, with their current content."""
    out = {}
    for resource in res.live(session, workspace, "cohort"):
        content = res.version_of(session, resource).content
        out[resource.id] = SavedCohort(resource.id, resource.name, content, is_circe(content))
    return out


def _chosen(side: str, text: str, cohorts: dict[int, SavedCohort], problems: list[Problem]) -> SavedCohort | None:
    """The cohort a query parameter names, or None with a problem saying why not."""
    text = text.strip()
    if not text:
        problems.append(Problem(f"choose {SIDES[side]}", side))
        return None
    if not text.isdigit() or len(text) > 18:
        problems.append(Problem(f"{text[:40]!r} is not a cohort id (a whole number)", side))
        return None
    cohort = cohorts.get(int(text))
    if cohort is None:
        problems.append(Problem(f"this workspace has no cohort {int(text)} (it was deleted, or is not one of this "
                                "workspace's cohorts)", side))
        return None
    return cohort


def signed(d: float) -> str:
    """A standardised difference as shown: sign always, two decimals, ∞ for no spread on either side."""
    if math.isinf(d):
        return "+∞" if d > 0 else "−∞"
    text = f"{abs(d):.2f}"
    if text == "0.00":
        return "0.00"
    return ("+" if d > 0 else "−") + text


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[:LABEL_MAX - 1] + "…"


@router.get("/workspaces/{namespace}/compare", response_class=HTMLResponse, dependencies=REGISTERED)
def compare_page(request: Request, namespace: str, a: str = Query(""), b: str = Query("")):
    """Two saved cohorts side by side; with neither chosen, the page to choose them."""
    services = request.app.state.services
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        workspace = membership.workspace
        version = workspace.data_version
        cohorts = _saved_cohorts(session, workspace)
    problems: list[Problem] = []
    status = 200
    comparison: CohortComparison | None = None
    first = second = None
    if a or b:
        first, second = _chosen("a", a, cohorts, problems), _chosen("b", b, cohorts, problems)
        if first is not None and second is not None and first.id == second.id:
            problems.append(Problem("choose two different cohorts: a cohort compared with itself differs nowhere", "b"))
        unknown = any(p.message.startswith("this workspace has no cohort") for p in problems)
        status = 404 if unknown else 422 if problems else 200
    unavailable = None
    if first is not None and second is not None and not problems:
        try:
            engine = services.engines.engine(version)
            comparison = compare_cohorts(engine, members(engine, first.content), members(engine, second.content))
        except (EngineUnavailable, CdrFileError) as err:
            unavailable, status = str(err), 503
        except ProblemsError as err:  # a definition the engine refuses (saved before a rule it now applies)
            problems.append(Problem(f"cannot be compared: {err}", "form"))
            status = 422
    return page(request, "cohort_compare.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                cohorts=list(cohorts.values()),
                values={"a": a.strip(), "b": b.strip()}, errors=FieldErrors.of_problems(problems), first=first,
                second=second, comparison=comparison, unavailable=unavailable, signed=signed, percent=percent,
                short=short)
