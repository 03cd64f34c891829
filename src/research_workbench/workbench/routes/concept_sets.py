"""Concept sets: the builder (search, browse, paste codes, a selection tray, name and description, save), OHDSI
concept-set JSON import and export, and the criteria API the Cohort Builder calls.

Pages (``requires(Access.REGISTERED)``, then the workspace role: WRITER builds and saves, READER views and exports):

- ``GET /workspaces/{ns}/concept-sets/new?domain=`` and ``GET /workspaces/{ns}/concept-sets/{id}``: the builder (a
  Reader sees the set read-only);
- ``POST /workspaces/{ns}/concept-sets/build``: one step of the builder (search, open a branch, add, remove, toggle
  descendants, paste codes, save). The whole state travels in the form (the tray is one field,
  ``201826s 45533023n 201820d``: concept id, then s standard, n source, d standard with its descendants), so the
  page works without JavaScript; ``static/concept_sets.js`` does search, adding and pasting in the page instead;
- ``GET|POST /workspaces/{ns}/concept-sets/import``: OHDSI (ATLAS) JSON pasted or uploaded, resolved
  (``cohorts.ohdsi_concept_sets``) and opened in the builder, with what was resolved listed, to be saved;
- ``GET /workspaces/{ns}/concept-sets/{id}/export``: the set as ATLAS concept-set JSON (a download).

Copying a set to another workspace is the resource page's (``routes/resources``).

API (``scope="workspaces:read"``; with a session cookie, unsafe methods carry the CSRF header):

- ``GET /api/workspaces/{ns}/criteria/search?q=&domain=&standard=&limit=``: ``{"term", "domain", "count",
  "results": [hit]}``, each hit as ``index.search.search_criteria`` gives it (``maps_to``, ``fuzzy``);
- ``POST /api/workspaces/{ns}/codes/match`` with ``{"text", "vocabularies", "map_to_standard", "domain"}``:
  ``cohorts.vocabulary.CodeMatches.as_dict()`` plus ``domain`` and ``other_domain`` (codes whose concepts are all
  of another domain than the one given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...cdr.facts import DOMAIN_LABELS, EVENT_DOMAINS, Domain, event_table_of
from ...cdr.problems import Problem
from ...cohorts.builder.library import MAX_CONCEPTS_PER_SET, ConceptRef, slug
from ...cohorts.ohdsi_concept_sets import (
    MAX_CONCEPT_SET_JSON_BYTES,
    ConceptSetJsonError,
    read_ohdsi_concept_set,
    write_ohdsi_concept_set,
)
from ...cohorts.vocabulary import CodeMatches, CodesError, concept_records, domain_of, match_codes
from ...index.browse import children
from ...index.search import SEARCH_LIMIT, concept_counts, search_criteria
from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import resources as res
from ...workspaces.roles import Membership, Role
from ..engines import EngineUnavailable
from ..forms import MAX_FIELDS, FieldErrors, Form, FormTooLarge, read_form
from ..guards import Access, requires
from ..rendering import page, see_other
from .resource_api import Refusal, _body, _member, _precheck, workspace_engine
from .resources import audit, member, resource_of

router = SecureRouter(include_in_schema=False)
api_router = SecureRouter(prefix="/api", tags=["workspace criteria"],
                          responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
REGISTERED = [requires(Access.REGISTERED)]
API_READ = [requires(Access.REGISTERED, scope="workspaces:read")]

PAGE_RESULTS = 50
"""Search hits a builder page shows (the API gives up to ``index.search.SEARCH_LIMIT``)."""
MAX_QUERY = 200
"""Characters of a search term."""
MAX_IMPORT_BYTES = 3 * MAX_CONCEPT_SET_JSON_BYTES + 64 * 1024
"""Bytes of the import form: the JSON (pasted, or a file read into the box) percent-encoded, which can triple it,
and the form's other fields."""
DOMAINS = [d for d in DOMAIN_LABELS if d in EVENT_DOMAINS]  # the order the menu shows them
_TOKEN = re.compile(r"([1-9][0-9]{0,17})([snd])")
_TRAIL = re.compile(r"([1-9][0-9]{0,17})(?::(module|question))?")


# -- the builder's state -------------------------------------------------------------------------------------------

def token(ref: ConceptRef) -> str:
    return f"{ref.conceptId}{'d' if ref.includeDescendants else 's' if ref.standard else 'n'}"


def parse_token(text: str) -> ConceptRef | None:
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        return None
    kind = match.group(2)
    return ConceptRef(conceptId=int(match.group(1)), standard=kind != "n", includeDescendants=kind == "d")


@dataclass
class BuilderState:
    domain: Domain
    tray: list[ConceptRef] = field(default_factory=list)
    name: str = ""
    description: str = ""
    resource_id: int | None = None
    version: int | None = None
    q: str = ""
    codes: str = ""
    map_codes: bool = True
    trail: list[str] = field(default_factory=list)  # opened branches of the browse tree: "id" or "id:level"

    def tray_text(self) -> str:
        return " ".join(token(r) for r in self.tray)

    def find(self, concept_id: int, standard: bool) -> int | None:
        return next((i for i, r in enumerate(self.tray) if (r.conceptId, r.standard) == (concept_id, standard)), None)

    def add(self, ref: ConceptRef) -> bool:
        """Add unless there; a standard concept added again with descendants gains them. True if it changed."""
        at = self.find(ref.conceptId, ref.standard)
        if at is None:
            self.tray.append(ref)
            return True
        if ref.includeDescendants and not self.tray[at].includeDescendants:
            self.tray[at] = ref
            return True
        return False


def _state_of(form: Form) -> BuilderState:
    """The builder's state as the form sent it; a damaged hidden field is a 422 (the page was not ours)."""
    try:
        domain = Domain(form.get("domain"))
    except ValueError:
        domain = None
    if domain not in EVENT_DOMAINS:
        raise HTTPException(422, detail="the form's domain is missing or wrong: start the concept set again")
    tray = []
    for text in form.get("tray").split():
        ref = parse_token(text)
        if ref is None:
            raise HTTPException(422, detail="the form's list of concepts is damaged: reload the page")
        tray.append(ref)
    numbers = {}
    for key in ("resource", "version"):
        value = form.get(key)
        if value and (not value.isdigit() or len(value) > 9):
            raise HTTPException(422, detail=f"the form's {key} is damaged: reload the page")
        numbers[key] = int(value) if value else None
    trail = form.get("trail").split()
    if any(_TRAIL.fullmatch(t) is None for t in trail) or len(trail) > 32:
        raise HTTPException(422, detail="the form's browse position is damaged: reload the page")
    state = BuilderState(domain=domain, name=form.get("name"), description=form.get("description"),
                         resource_id=numbers["resource"], version=numbers["version"], q=form.get("q")[:MAX_QUERY],
                         codes=form.get("codes"), map_codes=form.checked("map"), trail=trail)
    for ref in tray:
        state.add(ref)
    return state


def _content(state: BuilderState) -> dict[str, Any]:
    return {"domain": state.domain.value,
            "concepts": [r.model_dump(mode="json") for r in state.tray]}


def _state_of_resource(session: Session, resource) -> BuilderState:
    current = res.version_of(session, resource)
    content = current.content
    return BuilderState(domain=Domain(content["domain"]), tray=[ConceptRef.model_validate(c) for c in content["concepts"]],
                        name=current.name, description=current.description, resource_id=resource.id,
                        version=resource.version)


# -- what a page shows ----------------------------------------------------------------------------------------------

@dataclass
class Shown:
    """What the builder shows besides its state: search hits, the browse level, the tray's rows, reports."""

    hits: list[dict] = field(default_factory=list)
    searched: bool = False
    nodes: list[Any] = field(default_factory=list)
    nodes_total: int = 0
    crumbs: list[tuple[str, str]] = field(default_factory=list)  # (trail position, name)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    codes: dict | None = None  # the paste's report
    unavailable: str = ""


def _engine(request: Request, membership: Membership):
    return request.app.state.services.engines.engine(membership.workspace.data_version)


def _compatible(domain: Domain, domain_id: str | None) -> bool:
    """A concept of the vocabulary's ``domain_id`` may be in a set of ``domain`` (surveys are observations,
    physical measurements measurements); a concept whose domain is not known is let in."""
    found = domain_of(domain_id)
    return found is None or found is event_table_of(domain).domain


def _show(request: Request, membership: Membership, state: BuilderState, shown: Shown) -> Shown:
    """Fill in what the page shows: search hits, the browse level, the tray's rows (names, codes, counts)."""
    cdr = Path(membership.workspace.data_version.cdr_path)
    try:
        engine = _engine(request, membership)
    except EngineUnavailable as err:
        engine, shown.unavailable = None, str(err)
    in_tray = {(r.conceptId, r.standard) for r in state.tray}
    if engine is not None and state.q.strip():
        shown.searched = True
        hits = search_criteria(engine.index_dir, state.q, domain=state.domain.value, limit=PAGE_RESULTS, check=False)
        for hit in hits:
            hit["token"] = f"{hit['concept_id']}{'s' if hit['is_standard'] else 'n'}"
            hit["in_tray"] = (hit["concept_id"], hit["is_standard"]) in in_tray
            for target in hit["maps_to"]:
                target["token"] = f"{target['concept_id']}s"
                target["in_tray"] = (target["concept_id"], True) in in_tray
        shown.hits = hits
    if engine is not None:
        parent, level = (None, None)
        if state.trail:
            last = _TRAIL.fullmatch(state.trail[-1])
            parent, level = int(last.group(1)), last.group(2)
        survey = state.domain is Domain.SURVEY
        nodes, shown.nodes_total = children(engine.con, engine.index_dir, state.domain, parent, standard=not survey,
                                            parent_level=level)
        opened = [int(_TRAIL.fullmatch(t).group(1)) for t in state.trail]
        named = engine.concept_names([n.concept_id for n in nodes] + opened)
        shown.nodes = [vars(node) | {
            "name": named.get(node.concept_id, node.name) if survey else node.name,
            "token": f"{node.concept_id}{'s' if node.is_standard else 'n'}", "count": node.rollup_count,
            "in_tray": (node.concept_id, node.is_standard) in in_tray,
            "addable": not survey or node.level == "question",  # a survey set lists questions
            "opens": f"{node.concept_id}:{node.level}" if survey else str(node.concept_id),
        } for node in nodes]
        shown.crumbs = [(" ".join(state.trail[:i + 1]), named.get(int(_TRAIL.fullmatch(t).group(1)), t))
                        for i, t in enumerate(state.trail)]
    records = concept_records(cdr, [r.conceptId for r in state.tray]) if state.tray else {}
    keys = [(r.conceptId, r.standard) for r in state.tray]
    counts = concept_counts(engine.index_dir, keys) if engine is not None and keys else {}
    shown.rows = [{"token": token(r), "concept_id": r.conceptId, "standard": r.standard,
                   "descendants": r.includeDescendants, "count": counts.get((r.conceptId, r.standard)),
                   "name": (records.get(r.conceptId) or {}).get("concept_name") or f"concept {r.conceptId}",
                   "vocabulary_id": (records.get(r.conceptId) or {}).get("vocabulary_id") or "",
                   "code": (records.get(r.conceptId) or {}).get("concept_code") or "",
                   "known": r.conceptId in records} for r in state.tray]
    return shown


def _render(request: Request, membership: Membership, state: BuilderState, *, status: int = 200,
            errors: FieldErrors | None = None, shown: Shown | None = None, resource=None) -> HTMLResponse:
    shown = _show(request, membership, state, shown or Shown())
    namespace = membership.workspace.namespace
    editable = membership.role >= Role.WRITER
    return page(request, "concept_set_builder.html", status=status, workspace=membership.workspace,
                role=membership.role, Role=Role, state=state, shown=shown, errors=errors or FieldErrors(),
                editable=editable, resource=resource, domain_label=DOMAIN_LABELS[state.domain],
                domains=[(d.value, DOMAIN_LABELS[d]) for d in DOMAINS], limit=MAX_CONCEPTS_PER_SET,
                name_max=res.NAME_MAX, description_max=res.DESCRIPTION_MAX, query_max=MAX_QUERY,
                api={"search": f"/api/workspaces/{namespace}/criteria/search",
                     "codes": f"/api/workspaces/{namespace}/codes/match"})


# -- builder steps ------------------------------------------------------------------------------------------------

class _Refused(Exception):
    """A step refused: the builder shown again with the problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems


def _add(state: BuilderState, refs: list[ConceptRef]) -> int:
    added = sum(state.add(r) for r in refs)
    if len(state.tray) > MAX_CONCEPTS_PER_SET:
        raise _Refused([Problem(f"a concept set holds at most {MAX_CONCEPTS_PER_SET:,} concepts "
                                "(MAX_CONCEPTS_PER_SET): remove some first", "tray")])
    return added


def paste_codes(cdr: Path, engine, state: BuilderState) -> tuple[list[ConceptRef], dict]:
    """The concepts the pasted codes bring to a set of ``state.domain`` (each code's standard concepts when
    ``map_codes`` and it has them, else its own) and the report: matched, unmatched, of another domain."""
    try:
        matches = match_codes(cdr, state.codes, map_to_standard=state.map_codes, counts=engine)
    except CodesError as err:
        raise _Refused([Problem(p.message, "codes") for p in err.problems]) from None
    refs, added, other = [], [], []
    for code in matches.codes:
        if not code.concepts:
            continue
        brought = []
        for concept in code.concepts:
            targets = concept.maps_to if state.map_codes and not concept.standard and concept.maps_to else (concept,)
            brought += [t for t in targets if _compatible(state.domain, t.domain_id)]
        if not brought:
            other.append(code.input)
            continue
        for target in brought:
            refs.append(ConceptRef(conceptId=target.concept_id, standard=target.standard))
        added.append({"input": code.input, "status": code.status,
                      "concepts": [f"{t.vocabulary_id} {t.code} {t.name}" for t in brought]})
    return refs, {"added": added, "unmatched": [(c.input, c.problem) for c in matches.codes if not c.concepts],
                  "other_domain": other, "duplicates": matches.duplicates}


def _step(request: Request, membership: Membership, state: BuilderState, form: Form, shown: Shown) -> None:
    """Apply one builder step (not save) to ``state``."""
    if form.get("add"):
        ref = parse_token(form.get("add"))
        if ref is None:
            raise HTTPException(422, detail="that concept is not one the page offered: reload the page")
        _add(state, [ref])
    elif form.get("remove"):
        ref = parse_token(form.get("remove"))
        at = state.find(ref.conceptId, ref.standard) if ref else None
        if at is not None:
            state.tray.pop(at)
    elif form.get("descendants"):
        ref = parse_token(form.get("descendants"))
        at = state.find(ref.conceptId, True) if ref else None
        if at is not None:
            old = state.tray[at]
            state.tray[at] = ConceptRef(conceptId=old.conceptId, standard=True,
                                        includeDescendants=not old.includeDescendants)
    elif form.get("open"):
        if _TRAIL.fullmatch(form.get("open")) is None:
            raise HTTPException(422, detail="that branch is not one the page offered: reload the page")
        state.trail.append(form.get("open"))
    elif form.get("trail_to") or form.get("action") == "top":
        target = form.get("trail_to").split()
        state.trail = target if target == state.trail[:len(target)] else []
    elif form.get("action") == "paste":
        if not state.codes.strip():
            raise _Refused([Problem("paste at least one code", "codes")])
        try:
            engine = _engine(request, membership)
        except EngineUnavailable:
            engine = None
        refs, shown.codes = paste_codes(Path(membership.workspace.data_version.cdr_path), engine, state)
        _add(state, refs)
        state.codes = ""
    elif form.get("action") == "clear":
        state.tray = []


def _check_domains(cdr: Path, state: BuilderState) -> None:
    """Every concept of the tray of the set's domain, as the vocabulary says (concepts it does not know pass)."""
    records = concept_records(cdr, [r.conceptId for r in state.tray])
    wrong = [(r.conceptId, records[r.conceptId]["domain_id"]) for r in state.tray
             if r.conceptId in records and not _compatible(state.domain, records[r.conceptId]["domain_id"])]
    if wrong:
        raise _Refused([Problem(f"concept {c} is of the {d} domain, not {DOMAIN_LABELS[state.domain].lower()}: "
                                "remove it", "tray") for c, d in wrong])


def _save(request: Request, namespace: str, state: BuilderState) -> Response:
    services = request.app.state.services
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        user = request.state.viewer.user
        if state.resource_id is None:
            resource = res.create(session, membership, "concept_set", state.name, state.description, _content(state),
                                  user, services.now())
            audit(request, session, AuditAction.RESOURCE_CREATED, membership, resource)
            request.state.viewer.flash(f"Concept set “{resource.name}” saved (version 1, {len(state.tray)} concepts).")
        else:
            resource = _concept_set(session, membership, state.resource_id)
            changed = res.update(session, membership, resource, expected_version=state.version or 0, user=user,
                                 now=services.now(), name=state.name, description=state.description,
                                 content=_content(state))
            if changed:
                audit(request, session, AuditAction.RESOURCE_UPDATED, membership, resource, note="edited")
                request.state.viewer.flash(f"Saved as version {resource.version} ({len(state.tray)} concepts).")
            else:
                request.state.viewer.flash(f"Nothing changed: still version {resource.version}.")
        return see_other(f"/workspaces/{namespace}/concept-sets/{resource.id}")


def _concept_set(session: Session, membership: Membership, resource_id: int):
    resource = resource_of(session, membership, resource_id)
    if resource.kind != "concept_set":
        raise HTTPException(404)
    return resource


def _problems_of(err: res.ResourceError) -> FieldErrors:
    """A resource's problems by builder field: the content's are about the tray."""
    return FieldErrors.of_problems([
        Problem(p.message, "tray" if (p.where or "").startswith("content") else p.where or "form") for p in err.problems])


def _build(request: Request, namespace: str, form: Form) -> Response:
    services = request.app.state.services
    with services.db.reading() as session:
        # a visitor without the role learns nothing of the form
        cdr = Path(member(session, request, namespace, Role.WRITER).workspace.data_version.cdr_path)
    state = _state_of(form)
    shown = Shown()
    status, errors = 200, None
    if form.get("action") == "save":
        try:
            if not state.tray:
                raise _Refused([Problem("add at least one concept", "tray")])
            _check_domains(cdr, state)
            return _save(request, namespace, state)
        except res.StaleVersion as stale:
            status, errors = 409, FieldErrors.of_problems([Problem(str(stale), "form")])
        except res.ResourceError as err:
            status, errors = 422, _problems_of(err)
        except _Refused as refused:
            status, errors = 422, FieldErrors.of_problems(refused.problems)
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        resource = _concept_set(session, membership, state.resource_id) if state.resource_id else None
        if status == 409:
            state.version = resource.version  # saving again replaces the current version
        if status == 200:
            try:
                _step(request, membership, state, form, shown)
            except _Refused as refused:
                status, errors = 422, FieldErrors.of_problems(refused.problems)
        return _render(request, membership, state, status=status, errors=errors, shown=shown, resource=resource)


# -- pages --------------------------------------------------------------------------------------------------------

@router.get("/workspaces/{namespace}/concept-sets/new", response_class=HTMLResponse, dependencies=REGISTERED)
def new_concept_set(request: Request, namespace: str, domain: Domain = Query(Domain.CONDITION)):
    """An empty builder for a set of ``domain`` (WRITER)."""
    if domain not in EVENT_DOMAINS:
        raise HTTPException(422, detail=f"a concept set holds concepts of one of: {', '.join(d.value for d in DOMAINS)}")
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        return _render(request, membership, BuilderState(domain=domain))


@router.post("/workspaces/{namespace}/concept-sets/build", response_class=HTMLResponse, dependencies=REGISTERED)
async def build_concept_set(request: Request, namespace: str):
    """One step of the builder, or save (WRITER)."""
    form = await read_form(request)
    return await run_in_threadpool(_build, request, namespace, form)


@router.get("/workspaces/{namespace}/concept-sets/import", response_class=HTMLResponse, dependencies=REGISTERED)
def import_form(request: Request, namespace: str):
    """The OHDSI JSON import form (WRITER)."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        return _import_page(request, membership)


def _import_page(request: Request, membership: Membership, *, status: int = 200, errors: FieldErrors | None = None,
                 values: dict | None = None) -> HTMLResponse:
    return page(request, "concept_set_import.html", status=status, workspace=membership.workspace,
                role=membership.role, Role=Role, errors=errors or FieldErrors(),
                values=values or {"json": "", "domain": "", "name": "", "description": ""},
                domains=[(d.value, DOMAIN_LABELS[d]) for d in DOMAINS], max_bytes=MAX_CONCEPT_SET_JSON_BYTES,
                name_max=res.NAME_MAX, description_max=res.DESCRIPTION_MAX)


async def _import_form(request: Request) -> dict[str, str]:
    """The import form's fields, bounded by MAX_IMPORT_BYTES. A file is read into the JSON box by the page's script:
    the form is never multipart (the CSRF middleware, asgi-csrf, cannot read multipart bodies with the
    python-multipart we ship)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_IMPORT_BYTES:
        raise FormTooLarge(f"the form is larger than {MAX_IMPORT_BYTES:,} bytes (MAX_IMPORT_BYTES)")
    data = await request.form(max_files=0, max_fields=MAX_FIELDS)
    return {k: (data.get(k) if isinstance(data.get(k), str) else "") for k in ("json", "domain", "name", "description")}


def _import(request: Request, namespace: str, values: dict[str, str]) -> HTMLResponse:
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
        try:
            if not values["json"].strip():
                raise ConceptSetJsonError([Problem("paste the JSON or choose a file", "json")])
            imported = read_ohdsi_concept_set(values["json"], cdr_dir=Path(membership.workspace.data_version.cdr_path),
                                              domain=values["domain"] or None)
        except ConceptSetJsonError as err:  # a JSON path is shown beside the JSON box, the domain beside its own
            problems = [Problem(p.message, p.where) if p.where in ("domain", "json") else Problem(str(p), "json")
                        for p in err.problems]
            return _import_page(request, membership, status=422, errors=FieldErrors.of_problems(problems), values=values)
        state = BuilderState(domain=Domain(imported.content["domain"]),
                             tray=[ConceptRef.model_validate(c) for c in imported.content["concepts"]],
                             name=(values["name"].strip() or imported.name)[:res.NAME_MAX],
                             description=(values["description"].strip() or imported.description)[:res.DESCRIPTION_MAX])
        notes = [f"Imported {len(state.tray)} concept{'s' if len(state.tray) != 1 else ''} "
                 f"({DOMAIN_LABELS[state.domain]}); not saved yet: check them, then save."] + imported.notes
        return _render(request, membership, state, shown=Shown(notes=notes))


@router.post("/workspaces/{namespace}/concept-sets/import", response_class=HTMLResponse, dependencies=REGISTERED)
async def import_concept_set(request: Request, namespace: str):
    """Read OHDSI JSON (pasted, or a file) into the builder, unsaved, with what was resolved listed (WRITER)."""
    values = await _import_form(request)
    return await run_in_threadpool(_import, request, namespace, values)


@router.get("/workspaces/{namespace}/concept-sets/{resource_id}", response_class=HTMLResponse, dependencies=REGISTERED)
def view_concept_set(request: Request, namespace: str, resource_id: int):
    """A saved concept set in the builder (WRITER) or read-only (READER)."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        resource = _concept_set(session, membership, resource_id)
        return _render(request, membership, _state_of_resource(session, resource), resource=resource)


@router.get("/workspaces/{namespace}/concept-sets/{resource_id}/export", dependencies=REGISTERED)
def export_concept_set(request: Request, namespace: str, resource_id: int,
                       wrapped: bool = Query(False, description="with the name and description around the expression")):
    """The set as the ATLAS concept-set expression (a JSON download; READER)."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        resource = _concept_set(session, membership, resource_id)
        current = res.version_of(session, resource)
        document = write_ohdsi_concept_set(current.content, cdr_dir=Path(membership.workspace.data_version.cdr_path),
                                           name=current.name, description=current.description, wrapped=wrapped)
        filename = f"{slug(current.name)}.json"
    return JSONResponse(document, headers={"content-disposition": f'attachment; filename="{filename}"'})


# -- the criteria API ---------------------------------------------------------------------------------------------

class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="codes separated by new lines, commas, semicolons or spaces; VOCABULARY:code to "
                                  "name the vocabulary")
    vocabularies: list[str] | None = Field(None, description="only these vocabularies (ids, any case); absent: all")
    map_to_standard: bool = Field(True, description="give each source concept's \"Maps to\" standard concepts")
    domain: Domain | None = Field(None, description="the domain the codes are for: codes whose concepts are all of "
                                                    "another domain are listed in other_domain")


def _api_member(session: Session, request: Request, namespace: str) -> Membership:
    return _member(session, request, namespace, Role.READER)


@api_router.get("/workspaces/{namespace}/criteria/search", dependencies=API_READ)
def criteria_search(request: Request, namespace: str,
                    q: str | None = Query(None, max_length=MAX_QUERY, description="words of a name or synonym, or a code (required)"),
                    domain: Domain | None = Query(None), standard: bool | None = Query(None),
                    limit: int = Query(PAGE_RESULTS, ge=1, le=SEARCH_LIMIT)):
    """Criteria of the workspace's data version matching ``q`` (prefixes; spelling corrected when few match), best
    first; a source concept's hit carries its standard concepts (``maps_to``). READER."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _api_member(session, request, namespace)
            engine = workspace_engine(request, membership)
        if q is None:  # checked after the role: a non-member gets the same 404 whatever the query
            raise Refusal(422, "q: the words or code to search for are required")
        hits = search_criteria(engine.index_dir, q, domain=domain.value if domain else None, standard=standard,
                               limit=limit, check=False)
        return JSONResponse({"term": q, "domain": domain.value if domain else None, "count": len(hits), "results": hits})
    except Refusal as refusal:
        return refusal.response()


def _other_domain(matches: CodeMatches, domain: Domain) -> list[str]:
    """Inputs whose concepts (their standard concepts, when mapped) are all of another domain than ``domain``."""
    out = []
    for code in matches.codes:
        if not code.concepts:
            continue
        targets = [t for c in code.concepts
                   for t in (c.maps_to if matches.mapped and not c.standard and c.maps_to else (c,))]
        if not any(_compatible(domain, t.domain_id) for t in targets):
            out.append(code.input)
    return out


@api_router.post("/workspaces/{namespace}/codes/match", dependencies=API_READ,
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                     "schema": CodesIn.model_json_schema()}}}})
async def match_pasted_codes(request: Request, namespace: str):
    """Pasted codes matched against the data version's vocabulary (``cohorts.vocabulary``), with standard mappings
    and participant counts; READER. Input refused as a whole (too long, no codes) is a 422 naming ``body.text``."""
    try:
        _precheck(request, namespace, Role.READER)
        body = await _body(request, CodesIn)
        return await run_in_threadpool(_match, request, namespace, body)
    except Refusal as refusal:
        return refusal.response()


def _match(request: Request, namespace: str, body: CodesIn) -> JSONResponse:
    try:
        with request.app.state.services.db.reading() as session:
            membership = _api_member(session, request, namespace)
            cdr = Path(membership.workspace.data_version.cdr_path)
            engine = workspace_engine(request, membership)
        try:
            matches = match_codes(cdr, body.text, vocabularies=body.vocabularies, map_to_standard=body.map_to_standard,
                                  counts=engine)
        except CodesError as err:
            problems = [Problem(p.message, f"body.{p.where}") for p in err.problems]
            raise Refusal(422, "codes refused: " + "; ".join(str(p) for p in problems), problems) from None
        document = matches.as_dict() | {"domain": body.domain.value if body.domain else None,
                                        "other_domain": _other_domain(matches, body.domain) if body.domain else []}
        return JSONResponse(document)
    except Refusal as refusal:
        return refusal.response()

