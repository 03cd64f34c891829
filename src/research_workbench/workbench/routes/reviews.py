"""Cohort Review pages: draw a review set from a saved cohort, the review sets, the participant table, a participant's
page with a tab per domain, statuses and annotations, and the export of what the reviewers recorded.

URLs (every route ``requires(Access.REGISTERED)``, then the workspace role: READER reads and exports, WRITER draws
review sets, sets statuses, defines fields and records values):

- ``GET  /workspaces/{ns}/reviews``: the review sets; ``GET /workspaces/{ns}/reviews/new?cohort={id}``: the form
  to draw one (the Cohort Builder's "Create review set" links here), ``POST /workspaces/{ns}/reviews`` draws it.
- ``GET  /workspaces/{ns}/reviews/{id}``: the set (snapshot, "changed since", progress, export, annotation fields)
  and its participant table (filters and pages; htmx asks for the table alone).
- ``GET  /workspaces/{ns}/reviews/{id}/participants/{person}``: one participant (``tab``, ``concepts`` =
  standard|source, ``date_from``, ``date_to``, ``age_min``, ``age_max``, ``page``); ``POST …/status`` and
  ``POST …/annotations`` record the review.
- ``POST /workspaces/{ns}/reviews/{id}/fields`` (add), ``…/fields/{field_id}/delete``, ``…/fields/copy``.
- ``GET  /workspaces/{ns}/reviews/{id}/export.csv`` and ``export.parquet``.

Every view of participant-level data — a page of the participant table, a participant's page, an export — and
every status or value recorded is written to the audit log (``participant_access``, purposes ``cohort_review_*``)
before the page is sent. Participant data is read outside any application-database transaction (DuckDB on the data
version's CDR and index), and the audit event is then written in a short transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...cdr.problems import Problem, ProblemsError
from ...cdr.store import CdrFileError
from ...cohorts.members import members
from ...cohorts.participant import TABS, WEARABLES, Filters, ParticipantNotFound, ParticipantReader, Person
from ...web import SecureRouter
from ...workspaces import resources as res
from ...workspaces import reviews as rv
from ...workspaces.roles import Membership, Role
from .. import downloads
from ..engines import EngineUnavailable
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other
from .resources import member

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
EVENTS_PAGE = 50  # rows of one tab per page
PURPOSE_TABLE, PURPOSE_PARTICIPANT = "cohort_review_table", "cohort_review_participant"
PURPOSE_EXPORT, PURPOSE_STATUS, PURPOSE_ANNOTATION = "cohort_review_export", "cohort_review_status", "cohort_review_annotation"


@dataclass(frozen=True)
class Place:
    """What a page needs of the workspace once its read transaction has closed."""

    namespace: str
    tier: str
    data_version_name: str


def _place(membership: Membership) -> Place:
    w = membership.workspace
    return Place(w.namespace, w.tier, w.data_version.name)


def _base(namespace: str, review_id: int) -> str:
    return f"/workspaces/{namespace}/reviews/{review_id}"


def _review(session, membership: Membership, resource_id: int):
    try:
        return rv.review_of(session, membership, resource_id)
    except rv.NotAReview:
        raise HTTPException(404) from None


def _reader(request: Request, version, content: dict | None = None) -> ParticipantReader:
    """A reader on the data version; for a review set's participant (``content``), through the set's extract once it
    is built (and its build started if it is not)."""
    services = request.app.state.services
    engine = services.engines.engine(version)
    extract = None
    if content is not None and services.extracts is not None:
        try:
            extract = services.extracts.ready(version, rv.participants(content))
        except (OSError, CdrFileError):  # no extract store or no manifest: read the CDR (which reports the latter)
            extract = None
    return ParticipantReader(engine.con, Path(version.cdr_path), extract)


# The participant table's demographics, per data version and list of participants: a set of 10,000 is read from
# the index once (a few hundred ms), not on every page and filter of its table. A data version never changes; the key
# holds the participants themselves (not a review's id and version, which another database may reuse).
_KEPT_TABLES = 4
_tables: OrderedDict[tuple, dict[int, Person]] = OrderedDict()
_tables_lock = threading.Lock()


def _demographics(request: Request, version, content: dict) -> dict[int, Person]:
    key = (version.index_path, version.cdr_path, tuple(rv.participants(content)))
    with _tables_lock:
        if key in _tables:
            _tables.move_to_end(key)
            return _tables[key]
    persons = _reader(request, version).persons(rv.participants(content))
    with _tables_lock:
        _tables[key] = persons
        while len(_tables) > _KEPT_TABLES:
            _tables.popitem(last=False)
    return persons


def _audit(request: Request, place: Place, purpose: str, person_ids: list[int], cohort) -> None:
    """One ``participant_access`` event, in a transaction of its own (no other is open: SQLite would wait)."""
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.session() as session:
        services.audit.record_participant_access(
            session, actor_id=viewer.user.id, tier=place.tier, workspace_id=place.namespace, purpose=purpose,
            person_ids=person_ids, cohort=cohort if isinstance(cohort, (int, str)) else None,
            cdr_version=place.data_version_name, ip=viewer.ip)


def _unavailable(request: Request, membership: Membership, message: str) -> HTMLResponse:
    return page(request, "review_unavailable.html", status=503, workspace=membership.workspace, role=membership.role,
                Role=Role, message=message)


# -- the review sets and drawing one ---------------------------------------------------------------------------------

@router.get("/workspaces/{namespace}/reviews", response_class=HTMLResponse, dependencies=REGISTERED)
def review_list(request: Request, namespace: str):
    """The workspace's review sets: cohort, size, progress, and whether the cohort or data changed since."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        workspace = membership.workspace
        sets = []
        for resource in res.live(session, workspace, "review_set"):
            content = res.version_of(session, resource).content
            cohort = res.find_reference(session, workspace, "cohort", content.get("cohort"))
            sets.append({"resource": resource, "cohort": cohort, "size": len(rv.participants(content)),
                         "progress": rv.progress(session, resource, content),
                         "changes": rv.changes(session, workspace, content)})
        cohorts = res.live(session, workspace, "cohort")
        return page(request, "review_list.html", workspace=workspace, role=membership.role, Role=Role, sets=sets,
                    cohorts=cohorts, labels=rv.STATUS_LABELS)


def _new_page(request: Request, session, membership: Membership, values: dict, *, status: int = 200,
              errors: FieldErrors | None = None) -> HTMLResponse:
    workspace = membership.workspace
    cohorts = [(str(c.id), c.name) for c in res.live(session, workspace, "cohort")]
    return page(request, "review_new.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                cohorts=cohorts, values=values, errors=errors or FieldErrors(), methods=list(rv.METHODS.items()),
                strata=[(k, v[0]) for k, v in rv.STRATIFY_BY.items()],
                max_size=request.app.state.services.config.review_max_size, name_max=res.NAME_MAX,
                description_max=res.DESCRIPTION_MAX)


@router.get("/workspaces/{namespace}/reviews/new", response_class=HTMLResponse, dependencies=REGISTERED)
def new_review(request: Request, namespace: str, cohort: str = ""):
    """The form to draw a review set (``cohort``: the cohort chosen beforehand, as the Cohort Builder links)."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        values = {"cohort": cohort.strip(), "name": "", "description": "", "size": "100", "method": "random",
                  "stratify_by": "", "seed": ""}
        return _new_page(request, session, membership, values)


def _whole(text: str, field: str, problems: list[Problem], *, limit: int = 10**18) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > limit:
        problems.append(Problem(f"{text[:40]!r} is not a whole number from 0 to {limit:,}", field))
        return None
    return int(text)


@router.post("/workspaces/{namespace}/reviews", response_class=HTMLResponse, dependencies=REGISTERED)
async def create_review(request: Request, namespace: str):
    services, viewer = request.app.state.services, request.state.viewer
    form = await read_form(request)
    values = {k: form.get(k) for k in ("cohort", "name", "description", "size", "method", "stratify_by", "seed")}
    problems: list[Problem] = []
    cohort_id = _whole(values["cohort"], "cohort", problems)
    if cohort_id is None and not problems:
        problems.append(Problem("choose the cohort to draw from", "cohort"))
    size = _whole(values["size"], "size", problems)
    if size is None and not any(p.where == "size" for p in problems):
        problems.append(Problem("how many participants to review", "size"))
    seed = _whole(values["seed"], "seed", problems, limit=rv.SEED_MAX)
    draw = rv.DrawRequest(cohort_id=cohort_id or 0, name=values["name"], description=values["description"],
                          size=size if size is not None else 0, method=values["method"],
                          stratify_by=values["stratify_by"] or None, seed=seed)
    problems += [p for p in rv.check_request(draw, services.config.review_max_size)
                 if not any(q.where == p.where for q in problems)]
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        version = membership.workspace.data_version
        content = None
        if not problems:
            try:
                _cohort, content = rv.cohort_content(session, membership.workspace, draw.cohort_id)
            except rv.ReviewError as err:
                problems += err.problems
        if problems:
            return _new_page(request, session, membership, values, status=422, errors=FieldErrors.of_problems(problems))
    try:
        engine = services.engines.engine(version)
        population = members(engine, content)
        strata_of = None
        if draw.method == "stratified":
            strata_of = ParticipantReader(engine.con, Path(version.cdr_path)).strata(population, draw.stratify_by)
    except (EngineUnavailable, CdrFileError) as err:
        return _unavailable(request, membership, str(err))
    except ProblemsError as err:  # a definition the engine refuses (saved before a rule it now applies)
        with services.db.reading() as session:
            membership = member(session, request, namespace, Role.WRITER)
            return _new_page(request, session, membership, values, status=422, errors=FieldErrors.of_problems(
                [Problem(f"this cohort cannot be run: {err}", "cohort")]))
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            resource = rv.create_review(session, membership, draw, population=population, strata_of=strata_of,
                                        user=viewer.user, now=services.now(), max_size=services.config.review_max_size)
            stored = res.version_of(session, resource).content
            if services.extracts is not None:  # the participant pages' fast copy, built while the reviewer starts
                services.extracts.prepare(version, stored["participants"])
            services.audit.append(session, AuditAction.RESOURCE_CREATED, actor_id=viewer.user.id, ip=viewer.ip, details={
                "workspace": namespace, "resource_id": resource.id, "kind": resource.kind, "name": resource.name,
                "version": resource.version, "cohort": stored["cohort"], "participants": len(stored["participants"]),
                "sample": {k: v for k, v in stored["sample"].items() if k != "strata"}})
            viewer.flash(f"Review set “{resource.name}” drawn: {len(stored['participants']):,} participants "
                         f"(seed {stored['sample']['seed']}).")
            return see_other(_base(namespace, resource.id))
    except (rv.ReviewError, res.ResourceError) as err:
        with services.db.reading() as session:
            membership = member(session, request, namespace, Role.WRITER)
            return _new_page(request, session, membership, values, status=422,
                             errors=FieldErrors.of_problems(err.problems))


# -- one review set and its participant table -----------------------------------------------------------------------

TABLE_FILTERS = ("person_id", "birth_year", "age_band", "deceased", "sex_at_birth", "gender", "race", "ethnicity", "status")


def _table_filters(request: Request) -> rv.TableFilters:
    q = request.query_params
    return rv.TableFilters(**{k: q.get(k, "").strip()[:80] for k in TABLE_FILTERS})


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 7 else 1


@router.get("/workspaces/{namespace}/reviews/{resource_id}", response_class=HTMLResponse, dependencies=REGISTERED)
def review_page(request: Request, namespace: str, resource_id: int):
    """The review set with a page of its participant table (htmx: the table alone). Each page shown is audited."""
    services = request.app.state.services
    filters = _table_filters(request)
    number = _page_number(request.query_params.get("page"))
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        workspace = membership.workspace
        review, content = _review(session, membership, resource_id)
        place, version = _place(membership), workspace.data_version
        cohort = res.find_reference(session, workspace, "cohort", content.get("cohort"))
        changes = rv.changes(session, workspace, content)
        progress = rv.progress(session, review, content)
        fields = rv.fields_of(session, review)
        others = [r for r in res.live(session, workspace, "review_set") if r.id != review.id]
    try:
        persons = _demographics(request, version, content)
    except (EngineUnavailable, CdrFileError) as err:
        return _unavailable(request, membership, str(err))
    status, errors = 200, FieldErrors()
    with services.db.reading() as session:
        try:
            table = rv.table_page(session, review, content, persons, filters, number)
        except rv.ReviewError as err:
            status, errors = 422, FieldErrors.of_problems(err.problems)
            table = rv.table_page(session, review, content, persons, rv.TableFilters(), 1)
            table = rv.TablePage([], 0, 1, 1, table.choices)
    if table.rows:
        _audit(request, place, PURPOSE_TABLE, [r.person_id for r in table.rows], content.get("cohort"))
    context = dict(workspace=workspace, role=membership.role, Role=Role, review=review, content=content, cohort=cohort,
                   changes=changes, progress=progress, fields=fields, others=others, table=table, filters=filters,
                   errors=errors, labels=rv.STATUS_LABELS, kinds=rv.FIELD_KINDS, strata_labels=rv.STRATIFY_BY,
                   methods=rv.METHODS, base=_base(namespace, review.id), query=_query(filters.active()),
                   field_errors=FieldErrors(), field_values={"field_name": "", "field_kind": "text", "field_options": ""})
    if request.headers.get("hx-request") == "true":
        return page(request, "review_table.html", status=status, **context)
    return page(request, "review_set.html", status=status, **context)


def _query(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


# -- one participant ------------------------------------------------------------------------------------------------

def _date(text: str, field: str, problems: list[Problem]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(Problem(f"{text[:20]!r} is not a date (YYYY-MM-DD)", field))
        return None


def _age(text: str, field: str, problems: list[Problem]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 150:
        problems.append(Problem(f"{text[:20]!r} is not an age from 0 to 150", field))
        return None
    return int(text)


@dataclass(frozen=True)
class View:
    """The participant page's own query: tab, concepts shown, filters, page."""

    tab: str
    standard: bool
    filters: Filters
    page: int
    raw: dict[str, str]

    def link(self, **changes) -> str:
        params = {**self.raw, **{k: str(v) for k, v in changes.items()}}
        return _query(params)


def _view(request: Request) -> tuple[View, list[Problem]]:
    q = request.query_params
    raw = {k: q.get(k, "").strip()[:40] for k in ("tab", "concepts", "date_from", "date_to", "age_min", "age_max")}
    problems: list[Problem] = []
    tab = raw["tab"] or "summary"
    if tab not in {"summary", WEARABLES.slug, *(t.slug for t in TABS)}:
        problems.append(Problem(f"{tab!r} is not a tab", "tab"))
        tab = "summary"
    if raw["concepts"] not in ("", "standard", "source"):
        problems.append(Problem("standard or source", "concepts"))
    filters = Filters(_date(raw["date_from"], "date_from", problems), _date(raw["date_to"], "date_to", problems),
                      _age(raw["age_min"], "age_min", problems), _age(raw["age_max"], "age_max", problems))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        problems.append(Problem("the first date is after the last", "date_to"))
    if filters.age_min is not None and filters.age_max is not None and filters.age_min > filters.age_max:
        problems.append(Problem("the lowest age is above the highest", "age_max"))
    raw = {k: v for k, v in raw.items() if v}
    raw["tab"] = tab
    return View(tab, raw.get("concepts", "standard") != "source", filters if not problems else Filters(),
                _page_number(q.get("page")), raw), problems


@router.get("/workspaces/{namespace}/reviews/{resource_id}/participants/{person_id}", response_class=HTMLResponse,
            dependencies=REGISTERED)
def participant_page(request: Request, namespace: str, resource_id: int, person_id: int):
    """One participant of the review set: demographics, status and annotations, a tab per domain with the events that
    made them qualify marked, summary charts; previous and next in the set. Audited."""
    services = request.app.state.services
    view, problems = _view(request)
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        workspace = membership.workspace
        review, content = _review(session, membership, resource_id)
        try:
            rv.require_participant(content, person_id)
        except rv.NotAReview:
            raise HTTPException(404) from None
        place, version = _place(membership), workspace.data_version
        status = rv.statuses(session, review).get(person_id, rv.UNREVIEWED)
        fields = rv.fields_of(session, review)
        values = rv.annotations(session, review, [person_id]).get(person_id, {})
        changes = rv.changes(session, workspace, content)
    previous, following, position = rv.neighbours(content, person_id)
    definition = rv.builder_definition(content.get("definition"))
    try:
        reader = _reader(request, version, content)
        data = reader.read(person_id)
        if definition is not None:
            try:
                data = reader.qualifying(data, definition, services.engines.engine(version).expand)
            except ProblemsError:  # a snapshot the engine now refuses: the events are shown unmarked
                definition = None
    except ParticipantNotFound:
        return _unavailable(request, membership, f"Participant {person_id} is not in data version "
                                                 f"{place.data_version_name}: this review set was drawn on another.")
    except (EngineUnavailable, CdrFileError) as err:
        return _unavailable(request, membership, str(err))
    _audit(request, place, PURPOSE_PARTICIPANT, [person_id], content.get("cohort"))
    return _participant_response(request, membership, review, content, data, view, problems, review_status=status,
                                 fields=fields, values=values, changes=changes, previous=previous, following=following,
                                 position=position, snapshot=definition is not None)


def _participant_response(request: Request, membership: Membership, review, content, data, view: View,
                          problems: list[Problem], *, annotation_errors: FieldErrors | None = None,
                          typed: dict | None = None, http_status: int | None = None, **context) -> HTMLResponse:
    tab = view.tab
    events = data.shown(view.filters, tab) if tab not in ("summary", WEARABLES.slug) else []
    pages = max(1, -(-len(events) // EVENTS_PAGE))
    number = min(view.page, pages)
    tabs = [{"slug": "summary", "label": "Summary"}] + [{"slug": t.slug, "label": t.label} for t in TABS] + [
        {"slug": WEARABLES.slug, "label": WEARABLES.label}]
    counts = data.counts(view.filters)
    qualifying = sum(1 for e in data.events if e.qualifying)
    tab_info = next((t for t in TABS if t.slug == tab), None)
    status_code = http_status or (422 if problems else 200)
    return page(request, "review_participant.html", status=status_code, workspace=membership.workspace,
                role=membership.role, Role=Role, review=review, content=content, data=data, person=data.person,
                view=view, tabs=tabs, tab=tab, tab_info=tab_info, counts=counts, max_count=max(counts.values() or [0]),
                events=events[(number - 1) * EVENTS_PAGE:number * EVENTS_PAGE], events_total=len(events),
                page_number=number, pages=pages,
                top=data.top_concepts(view.filters, tab, view.standard) if tab_info else [],
                qualifying=qualifying, errors=FieldErrors.of_problems(problems),
                annotation_errors=annotation_errors or FieldErrors(), typed=typed or {},
                labels=rv.STATUS_LABELS, statuses=list(rv.STATUSES.items()), kinds=rv.FIELD_KINDS,
                base=_base(membership.workspace.namespace, review.id),
                registered=membership.workspace.tier == "registered", **context)


def _participant_path(namespace: str, resource_id: int, person_id: int, back: str) -> str:
    """The participant page again, with the query it was shown with (only this page's own parameters)."""
    path = f"{_base(namespace, resource_id)}/participants/{person_id}"
    allowed = ("tab", "concepts", "date_from", "date_to", "age_min", "age_max", "page")
    params = {k: v for k, v in parse_qsl(back[:500]) if k in allowed}
    return path + ("?" + urlencode(params) if params else "")


@router.post("/workspaces/{namespace}/reviews/{resource_id}/participants/{person_id}/status",
             response_class=HTMLResponse, dependencies=REGISTERED)
async def set_status(request: Request, namespace: str, resource_id: int, person_id: int):
    services, viewer = request.app.state.services, request.state.viewer
    form = await read_form(request)
    status = form.get("status")
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        review, content = _review(session, membership, resource_id)
        try:
            rv.set_status(session, membership, review, content, person_id, status or None, user=viewer.user,
                          now=services.now())
        except rv.NotAReview:
            raise HTTPException(404) from None
        except rv.ReviewError as err:
            raise HTTPException(422, detail=err.problems[0].message) from None
        w = membership.workspace
        services.audit.record_participant_access(
            session, actor_id=viewer.user.id, tier=w.tier, workspace_id=w.namespace, purpose=PURPOSE_STATUS,
            person_ids=[person_id], cohort=content.get("cohort") if isinstance(content.get("cohort"), (int, str)) else None,
            cdr_version=w.data_version.name, ip=viewer.ip)
    viewer.flash(f"Participant {person_id}: {rv.STATUS_LABELS.get(status or rv.UNREVIEWED, status)}.")
    return see_other(_participant_path(namespace, resource_id, person_id, form.get("back")))


@router.post("/workspaces/{namespace}/reviews/{resource_id}/participants/{person_id}/annotations",
             response_class=HTMLResponse, dependencies=REGISTERED)
async def set_annotations(request: Request, namespace: str, resource_id: int, person_id: int):
    services, viewer = request.app.state.services, request.state.viewer
    form = await read_form(request)
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            review, content = _review(session, membership, resource_id)
            typed = {f.id: form.get(f"annotation-{f.id}") for f in rv.fields_of(session, review)
                     if f"annotation-{f.id}" in form}
            try:
                rv.set_annotations(session, membership, review, content, person_id, typed, user=viewer.user,
                                   now=services.now())
            except rv.NotAReview:
                raise HTTPException(404) from None
            w = membership.workspace
            services.audit.record_participant_access(
                session, actor_id=viewer.user.id, tier=w.tier, workspace_id=w.namespace, purpose=PURPOSE_ANNOTATION,
                person_ids=[person_id],
                cohort=content.get("cohort") if isinstance(content.get("cohort"), (int, str)) else None,
                cdr_version=w.data_version.name, ip=viewer.ip)
        viewer.flash(f"Annotations of participant {person_id} saved.")
        return see_other(_participant_path(namespace, resource_id, person_id, form.get("back")))
    except rv.ReviewError as err:  # the page again, the typed values kept, each problem beside its field
        return _refused_annotations(request, namespace, resource_id, person_id, form, err)


def _refused_annotations(request: Request, namespace: str, resource_id: int, person_id: int, form, err) -> HTMLResponse:
    services = request.app.state.services
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        workspace = membership.workspace
        review, content = _review(session, membership, resource_id)
        place, version = _place(membership), workspace.data_version
        status = rv.statuses(session, review).get(person_id, rv.UNREVIEWED)
        fields = rv.fields_of(session, review)
        values = rv.annotations(session, review, [person_id]).get(person_id, {})
        changes = rv.changes(session, workspace, content)
    typed = {f.id: form.get(f"annotation-{f.id}") for f in fields}
    back = dict(parse_qsl(form.get("back")[:500]))
    view = View(back.get("tab", "summary") if back.get("tab") in {"summary", WEARABLES.slug, *(t.slug for t in TABS)}
                else "summary", back.get("concepts") != "source", Filters(), 1,
                {k: v for k, v in back.items() if k in ("tab", "concepts")})
    previous, following, position = rv.neighbours(content, person_id)
    try:
        data = _reader(request, version, content).read(person_id)
    except (EngineUnavailable, CdrFileError, ParticipantNotFound) as exc:
        return _unavailable(request, membership, str(exc))
    _audit(request, place, PURPOSE_PARTICIPANT, [person_id], content.get("cohort"))
    return _participant_response(request, membership, review, content, data, view, [],
                                 annotation_errors=FieldErrors.of_problems(err.problems), typed=typed, http_status=422,
                                 review_status=status, fields=fields, values=values, changes=changes,
                                 previous=previous, following=following, position=position,
                                 snapshot=rv.builder_definition(content.get("definition")) is not None)


# -- annotation fields ----------------------------------------------------------------------------------------------

def _set_page_again(request: Request, namespace: str, resource_id: int, status: int, **override) -> HTMLResponse:
    """The review set's page after a refused field change (its transaction rolled back); no table rows are shown,
    so nothing participant-level is sent."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        workspace = membership.workspace
        review, content = _review(session, membership, resource_id)
        context = dict(workspace=workspace, role=membership.role, Role=Role, review=review, content=content,
                       cohort=res.find_reference(session, workspace, "cohort", content.get("cohort")),
                       changes=rv.changes(session, workspace, content), progress=rv.progress(session, review, content),
                       fields=rv.fields_of(session, review),
                       others=[r for r in res.live(session, workspace, "review_set") if r.id != review.id],
                       table=rv.TablePage([], 0, 1, 1, {}), filters=rv.TableFilters(), errors=FieldErrors(),
                       labels=rv.STATUS_LABELS, kinds=rv.FIELD_KINDS, strata_labels=rv.STRATIFY_BY, methods=rv.METHODS,
                       base=_base(namespace, review.id), query="", field_errors=FieldErrors(),
                       field_values={"field_name": "", "field_kind": "text", "field_options": ""}, table_hidden=True)
        context.update(override)
        return page(request, "review_set.html", status=status, **context)


def _field_audit(request: Request, session, membership: Membership, review, **details) -> None:
    services, viewer = request.app.state.services, request.state.viewer
    services.audit.append(session, AuditAction.RESOURCE_UPDATED, actor_id=viewer.user.id, ip=viewer.ip, details={
        "workspace": membership.workspace.namespace, "resource_id": review.id, "kind": review.kind,
        "name": review.name, "version": review.version, **details})


@router.post("/workspaces/{namespace}/reviews/{resource_id}/fields", response_class=HTMLResponse, dependencies=REGISTERED)
async def add_field(request: Request, namespace: str, resource_id: int):
    services, viewer = request.app.state.services, request.state.viewer
    form = await read_form(request)
    values = {k: form.get(k) for k in ("field_name", "field_kind", "field_options")}
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            review, _content = _review(session, membership, resource_id)
            options = values["field_options"].splitlines() if values["field_kind"] == "list" else [
                line for line in values["field_options"].splitlines() if line.strip()]
            added = rv.add_field(session, membership, review, values["field_name"], values["field_kind"], options,
                                 user=viewer.user, now=services.now())
            _field_audit(request, session, membership, review, annotation_field_added=added.name, field_kind=added.kind)
            viewer.flash(f"Annotation field “{added.name}” added.")
            return see_other(_base(namespace, resource_id) + "#annotation-fields")
    except rv.ReviewError as err:
        return _set_page_again(request, namespace, resource_id, 422, field_errors=FieldErrors.of_problems(err.problems),
                               field_values=values)


@router.post("/workspaces/{namespace}/reviews/{resource_id}/fields/{field_id}/delete", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def delete_field(request: Request, namespace: str, resource_id: int, field_id: int):
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        review, _content = _review(session, membership, resource_id)
        try:
            removed = rv.delete_field(session, membership, review, field_id)
        except rv.NotAReview:
            raise HTTPException(404) from None
        _field_audit(request, session, membership, review, annotation_field_deleted=removed.name)
        viewer.flash(f"Annotation field “{removed.name}” deleted, with every value recorded in it.")
    return see_other(_base(namespace, resource_id) + "#annotation-fields")


@router.post("/workspaces/{namespace}/reviews/{resource_id}/fields/copy", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def copy_fields(request: Request, namespace: str, resource_id: int):
    services, viewer = request.app.state.services, request.state.viewer
    form = await read_form(request)
    source_text = form.get("source").strip()
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            review, _content = _review(session, membership, resource_id)
            if not source_text.isdigit():
                raise rv.ReviewError([Problem("choose the review set to copy the fields from", "source")])
            try:
                source, _ = rv.review_of(session, membership, int(source_text))
            except rv.NotAReview:
                raise rv.ReviewError([Problem(f"no review set {source_text} in this workspace", "source")]) from None
            copied, skipped = rv.copy_fields(session, membership, review, source, user=viewer.user, now=services.now())
            _field_audit(request, session, membership, review, annotation_fields_copied=copied, copied_from=source.id)
            viewer.flash(f"{len(copied)} field{'s' if len(copied) != 1 else ''} copied from “{source.name}”"
                         + (f"; already here, not copied: {', '.join(skipped)}" if skipped else "") + ".")
            return see_other(_base(namespace, resource_id) + "#annotation-fields")
    except rv.ReviewError as err:
        return _set_page_again(request, namespace, resource_id, 422, copy_errors=FieldErrors.of_problems(err.problems))


# -- export ---------------------------------------------------------------------------------------------------------

def _export(request: Request, namespace: str, resource_id: int):
    services = request.app.state.services
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        review, content = _review(session, membership, resource_id)
        place = _place(membership)
        table = rv.export_table(session, review, content)
    refused = downloads.refusal(request)
    if refused:
        raise HTTPException(429, detail=refused)
    _audit(request, place, downloads.purpose(request, PURPOSE_EXPORT), rv.participants(content), content.get("cohort"))
    return review, table


def _filename(review, suffix: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in review.name)[:60].strip("-") or "review"
    return f"{safe}-{review.id}.{suffix}"


@router.get("/workspaces/{namespace}/reviews/{resource_id}/export.csv", dependencies=REGISTERED)
def export_csv(request: Request, namespace: str, resource_id: int):
    """Statuses and annotations as CSV (``person_id``, ``status``, a column per field). Audited."""
    review, table = _export(request, namespace, resource_id)
    return Response(rv.export_csv(table), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{_filename(review, "csv")}"'})


@router.get("/workspaces/{namespace}/reviews/{resource_id}/export.parquet", dependencies=REGISTERED)
def export_parquet(request: Request, namespace: str, resource_id: int):
    """Statuses and annotations as Parquet (typed columns). Audited."""
    review, table = _export(request, namespace, resource_id)
    return Response(rv.export_parquet(table), media_type="application/vnd.apache.parquet",
                    headers={"content-disposition": f'attachment; filename="{_filename(review, "parquet")}"'})
