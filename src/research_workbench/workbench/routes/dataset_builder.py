"""The Dataset Builder: a page per dataset (new, or a saved ``dataset`` resource) and the JSON it calls as the
selections change.

The page holds the selections in the browser — (1) cohorts, (2) concept sets (the prepackaged ones, then the
workspace's), (3) values: each chosen domain's columns and the review sets whose statuses and annotations are
added — and asks:
- ``POST …/dataset-builder/code``: the code that reads the dataset (``datasets.codegen``), for the version the next
  save makes when the selections differ from the saved version (its first line says so), else the very text of
  ``GET /api/…/datasets/{id}/code``; READER;
- ``POST …/dataset-builder/preview``: one table's first 20 rows of the UNSAVED selections (resolve → plan →
  preview, as ``dataset_api`` does for a saved one), a ``participant_access`` event in the audit log; READER;
- ``POST …/dataset-builder/save``: a new dataset, or a new version of this one (a save made from an older version
  than the current one is refused, 409, naming the current version); a name and a description are required, as
  All of Us requires; WRITER.
The zip-code socioeconomic and whole genome variants sets are offered in Controlled Tier workspaces only (as the
Cohort Builder's Genomics menu is; whole genome variants only where the data version's index has the genotype
store); in a Registered Tier workspace the preview, the code and the save refuse them, naming them
(``content.prepackaged[0]``). Whole genome variants come with a variant selection (``content.genome_selection``:
rsIDs, genes, regions, variant ids, an allele-frequency range; ``datasets.genotypes``), which the page's small form
fills in and whose problems are located there (``content.genome_selection.regions[0]``).
Problems with the selections (no cohort, a domain with columns but no concept set, a deleted cohort) are a 422
whose problems name their place under ``content`` (``content.cohorts``, ``content.values.DRUG``), so the page shows
each beside the column it belongs to. Every route checks the role before it reads the body
(``resource_api._precheck``): who may not see the workspace gets its 404 whatever they send.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...accounts.modules import Tier
from ...cdr.facts import DOMAIN_LABELS, Domain
from ...cdr.problems import Problem, ProblemsError
from ...cdr.store import Cdr, CdrFileError
from ...datasets import codegen
from ...datasets import extract as dx
from ...datasets import genotypes
from ...datasets.columns import CATALOGUE, DEFAULT_COLUMNS, WEARABLE_TABLES
from ...datasets.prepackaged import CONTROLLED_TIER_ONLY, SURVEY_PREFIX, WHOLE_DOMAINS
from ...index.browse import children
from ...index.variant_carriers import has_genotypes
from ...index.layout import PERSONS_FILE
from ...web import SecureRouter
from ...workspaces import datasets as wd
from ...workspaces import resources as res
from ...workspaces.roles import Membership, Role
from ..engines import EngineUnavailable
from ..guards import Access, requires
from ..rendering import page
from .resource_api import Refusal, _body, _member, _precheck, workspace_engine
from .resources import audit, member, resource_of

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
PURPOSE_PREVIEW = "dataset_preview"  # the same purpose as the dataset API's preview of a saved dataset
VIA = "dataset builder"
PREPACKAGED_LABELS = {"demographics": "Demographics", "all_surveys": "All surveys",
                      "physical_measurements": "Physical measurements",
                      "zip_code_socioeconomic": "Zip code socioeconomic status",
                      genotypes.SET_NAME: "Whole genome variants"}
_NO_PARTICIPANTS = "choose at least one cohort, or all_participants"  # resources.DatasetContent's own words


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: dict[str, Any] = Field(description="the selections as a dataset's content")
    table: str = Field(max_length=40, description="a table of the dataset: a domain (CONDITION) or review_<id>")
    resource_id: int | None = Field(None, description="the saved dataset being edited (recorded in the audit log)")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: dict[str, Any]
    language: str = Field(max_length=20, description=f"one of {', '.join(codegen.LANGUAGES)}")
    resource_id: int | None = Field(None, description="the saved dataset being edited; absent for a new one")
    name: str | None = Field(None, max_length=200, description="the name as the page shows it (absent: the saved one)")
    description: str | None = Field(None, max_length=5000)


class SaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    content: dict[str, Any]
    resource_id: int | None = Field(None, description="the dataset to save a new version of; absent: a new dataset")
    expected_version: int | None = Field(None, description="the version the change was made from (with resource_id)")


# -- what the page offers -----------------------------------------------------------------------------------------

def _domain_label(domain: Domain) -> str:
    if domain is genotypes.DOMAIN:
        return PREPACKAGED_LABELS[genotypes.SET_NAME]
    return "Demographics (person)" if domain is Domain.PERSON else DOMAIN_LABELS.get(domain, domain.label)


def catalogue() -> dict[str, dict]:
    """Each domain's columns with their data dictionary entries, in the catalogue's order."""
    return {d.value: {"label": _domain_label(d),
                      "columns": [{"name": c.name, "type": c.type, "description": c.description,
                                   "default": c.name in DEFAULT_COLUMNS[d]} for c in columns]}
            for d, columns in CATALOGUE.items()}


def survey_modules(engine) -> list[dict]:
    """The data version's survey modules (the roots of the index's survey tree), most participants first."""
    try:
        nodes, _ = children(engine.con, engine.index_dir, Domain.SURVEY, None)
    except (duckdb.Error, OSError):  # an index without a survey tree offers no single surveys
        return []
    names = engine.concept_names([n.concept_id for n in nodes])
    return [{"conceptId": n.concept_id, "name": names.get(n.concept_id, n.name) or n.name,
             "participants": n.rollup_count} for n in nodes]


def prepackaged_sets(engine, tier: Tier) -> list[dict]:
    """The prepackaged concept sets as All of Us lists them: demographics, all surveys, each survey the data version
    has (``survey:<module concept id>``), physical measurements, each Fitbit table the data version has, and in a
    Controlled Tier workspace the zip-code socioeconomic set and, where the index has genomes, whole genome
    variants."""
    def entry(name: str) -> dict:
        domain, what = WHOLE_DOMAINS[name]
        return {"name": name, "label": PREPACKAGED_LABELS.get(name, what), "domain": domain.value, "description": what}

    surveys = [{"name": f"{SURVEY_PREFIX}{m['conceptId']}", "label": f"Survey: {m['name']}",
                "domain": Domain.SURVEY.value, "description": f"Every answer to {m['name']}"}
               for m in (survey_modules(engine) if engine is not None else [])]
    held = Cdr(engine.cdr_dir).manifest.tables if engine is not None else {}
    fitbit = [entry(name) for name, (domain, _) in WHOLE_DOMAINS.items()
              if domain in WEARABLE_TABLES and WEARABLE_TABLES[domain] in held]
    genomes = engine is not None and has_genotypes(engine.index_dir, genotypes.KIND)
    controlled = [entry(name) for name in WHOLE_DOMAINS if name in CONTROLLED_TIER_ONLY
                  and (name != genotypes.SET_NAME or genomes)] if tier is Tier.CONTROLLED else []
    return [entry("demographics"), entry("all_surveys"), *surveys, entry("physical_measurements"), *fitbit,
            *controlled]


def _workspace_options(session, membership: Membership) -> dict[str, list[dict]]:
    workspace = membership.workspace
    concept_sets = []
    for r in res.live(session, workspace, "concept_set"):
        content = res.version_of(session, r).content
        try:
            domain = Domain(content.get("domain", ""))
        except ValueError:
            continue
        concept_sets.append({"id": r.id, "name": r.name, "domain": domain.value, "domain_label": _domain_label(domain),
                             "concepts": len(content.get("concepts", []))})
    return {
        "cohorts": [{"id": r.id, "name": r.name} for r in res.live(session, workspace, "cohort")],
        "concept_sets": concept_sets,
        "reviews": [{"id": r.id, "name": r.name} for r in res.live(session, workspace, "review_set")],
    }


# -- the page -----------------------------------------------------------------------------------------------------

def _builder_page(request: Request, namespace: str, resource_id: int | None):
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER if resource_id is not None else Role.WRITER)
        workspace = membership.workspace
        resource = resource_of(session, membership, resource_id) if resource_id is not None else None
        if resource is not None and resource.kind != "dataset":
            raise HTTPException(404)
        saved = res.version_of(session, resource).content if resource is not None else None
        editable = membership.role >= Role.WRITER
        try:
            engine = request.app.state.services.engines.engine(workspace.data_version)
            unavailable = None
        except EngineUnavailable as err:
            engine, unavailable = None, str(err)
        base = f"/workspaces/{namespace}"
        config = {
            "namespace": namespace,
            "dataset": resource.id if resource else None,
            "version": resource.version if resource else None,
            "name": resource.name if resource else "",
            "description": resource.description if resource else "",
            "saved": saved,
            "editable": editable,
            **_workspace_options(session, membership),
            "prepackaged": prepackaged_sets(engine, Tier(workspace.tier)),
            "tier": workspace.tier,
            "controlled_only": sorted(CONTROLLED_TIER_ONLY),
            "catalogue": catalogue(),
            "languages": [{"key": k, "label": v} for k, v in codegen.LANGUAGES.items()],
            "preview_rows": dx.PREVIEW_ROWS,
            "genome": {"set": genotypes.SET_NAME, "domain": genotypes.DOMAIN.value,
                       "max_variants": genotypes.MAX_DATASET_VARIANTS},
            "limits": {"name": res.NAME_MAX, "description": res.DESCRIPTION_MAX},
            "urls": {
                "preview": f"{base}/dataset-builder/preview",
                "code": f"{base}/dataset-builder/code",
                "save": f"{base}/dataset-builder/save",
                "builder": f"{base}/datasets/",
                "resource": f"{base}/resources/",
                "new_cohort": f"{base}/cohorts/new",
                "new_concept_set": f"{base}/concept-sets/new",
            },
        }
        notebooks = []
        if resource is not None and editable:  # the export panel's "add to a notebook" choices
            from ...workspaces import notebooks as nb_files
            notebooks = [(n.name, f"{n.name} ({n.language})") for n in nb_files.list_notebooks(
                request.app.state.notebooks.root, namespace, now=request.app.state.services.now())]
        return page(request, "dataset_builder.html", workspace=workspace, role=membership.role, Role=Role,
                    resource=resource, unavailable=unavailable, editable=editable, notebooks=notebooks,
                    notebook_languages=[(k, codegen.LANGUAGES[k]) for k in codegen.KERNELS],
                    # inert JSON inside <script type="application/json">: "<" escaped so no "</script>" can end it
                    config=json.dumps(config, separators=(",", ":")).replace("<", "\\u003c"),
                    tier=Tier(workspace.tier), max_variants=genotypes.MAX_DATASET_VARIANTS)


@router.get("/workspaces/{namespace}/datasets/new", response_class=HTMLResponse, dependencies=REGISTERED)
def new_dataset(request: Request, namespace: str):
    """The Dataset Builder for a new dataset (WRITER)."""
    return _builder_page(request, namespace, None)


@router.get("/workspaces/{namespace}/datasets/{resource_id}/build", response_class=HTMLResponse,
            dependencies=REGISTERED)
def build_dataset(request: Request, namespace: str, resource_id: int):
    """The Dataset Builder on a saved dataset: WRITER edits; READER sees it read-only (and may preview)."""
    return _builder_page(request, namespace, resource_id)


# -- the selections made runnable ---------------------------------------------------------------------------------

def _located(problems: list[Problem], *, planned: bool = False) -> list[Problem]:
    """Problems of the selections at the place the page shows them: the content's under ``content`` (the missing
    participants beside the cohorts), the plan's own places (``cohorts``, ``values.DRUG``) put there too; the
    name's and description's as they are."""
    out = []
    for p in problems:
        where = p.where or ""
        if where == "content" and p.message == _NO_PARTICIPANTS:
            out.append(Problem("choose at least one cohort, or All participants", "content.cohorts"))
        elif planned:
            out.append(Problem(p.message, f"content.{where}" if where else "content"))
        else:
            out.append(p)
    return out


def _refused(message: str, problems: list[Problem], *, planned: bool = False) -> Refusal:
    located = _located(problems, planned=planned)
    return Refusal(422, f"{message}: " + "; ".join(str(p) for p in located), located)


def _resolved(session, membership: Membership, content: dict[str, Any]) -> tuple[dict, wd.ResolvedDataset]:
    """The selections validated (in their stored form) and resolved; 422 naming each problem."""
    try:
        stored = res.validate_content("dataset", content)
    except res.ResourceError as err:
        raise _refused("the selections are not a dataset yet", err.problems) from None
    try:
        return stored, wd.resolve(session, membership.workspace, stored)
    except res.ResourceError as err:  # a cohort, concept set or review set deleted since the page was opened
        raise _refused("the selections name a deleted resource", err.problems) from None


def _dataset_of(session, membership: Membership, resource_id: int):
    try:
        resource = res.get(session, membership, resource_id)
    except res.ResourceNotFound:
        raise Refusal(404, f"no dataset {resource_id} in this workspace",
                      [Problem("no such dataset", "resource_id")]) from None
    if resource.kind != "dataset":
        raise Refusal(404, f"resource {resource_id} is a {res.KINDS[resource.kind].lower()}, not a dataset",
                      [Problem("not a dataset", "resource_id")])
    return resource


def tables_of(resolved: wd.ResolvedDataset) -> list[str]:
    """The dataset's tables: its domains, then ``review_<id>`` per review set (the dataset API's order)."""
    return [d.value for d in resolved.request.values] + [f"review_{r.id}" for r in resolved.reviews]


def code_target(request: Request, membership: Membership, resolved: wd.ResolvedDataset, *, language: str,
                dataset_id: int, name: str, version: int) -> codegen.CodeTarget:
    """What the code of a dataset names: the workspace, the dataset and version, the data version, the tables and,
    for SQL, each domain's statement with what it binds (from the same plan as the preview and the export).

    Raises ``dx.DatasetError`` (problems located as the plan locates them: ``values.DRUG``) when SQL is asked of a
    dataset that cannot be run, and ``Refusal`` 503 when the data version has no usable index."""
    statements, bound, persons_file = {}, {}, ""
    if language == "sql":
        engine = workspace_engine(request, membership)
        plan = dx.plan(engine, resolved.request)
        cdr = Cdr(engine.cdr_dir)
        persons_file = str(engine.index_dir / PERSONS_FILE)
        for domain, query in plan.queries.items():
            statements[domain.value] = query.statement()
            bound[domain.value] = plan.params(domain, cdr)
    workspace = membership.workspace
    selection = resolved.request.genome_selection
    return codegen.CodeTarget(workspace.namespace, dataset_id, name, version, workspace.data_version.name,
                              tables_of(resolved), statements, bound, persons_file,
                              selection.describe() if selection is not None else "")


def _comment(language: str) -> str:
    return "--" if language == "sql" else "#"


# -- what the page calls ------------------------------------------------------------------------------------------

def _code(request: Request, namespace: str, body: CodeIn) -> PlainTextResponse:
    with request.app.state.services.db.reading() as session:
        membership = _member(session, request, namespace, Role.READER)
        if body.language not in codegen.LANGUAGES:
            raise Refusal(422, f"language: one of {', '.join(codegen.LANGUAGES)}",
                          [Problem(f"one of {', '.join(codegen.LANGUAGES)}", "language")])
        resource = _dataset_of(session, membership, body.resource_id) if body.resource_id is not None else None
        stored, resolved = _resolved(session, membership, body.content)
        current = res.version_of(session, resource) if resource is not None else None
        # Pending: the next save makes a new version (``resources.update`` writes none for an identical change).
        pending = current is None or (
            stored, current.name if body.name is None else body.name.strip(),
            current.description if body.description is None else body.description,
        ) != (current.content, current.name, current.description)
        name = (body.name or "").strip() or (resource.name if resource is not None else "New dataset")
    try:
        if pending:
            version = resource.version + 1 if resource is not None else 1
            target = code_target(request, membership, resolved, language=body.language,
                                 dataset_id=resource.id if resource is not None else 0, name=name, version=version)
        else:  # the saved version as it is: the dataset API's very text
            target = code_target(request, membership, resolved, language=body.language, dataset_id=resource.id,
                                 name=resource.name, version=resource.version)
    except dx.DatasetError as err:
        raise _refused("the dataset cannot be run as selected", err.problems, planned=True) from None
    text = codegen.code(body.language, target)
    if pending:
        unsaved = (f"Save the dataset to create this version (version {target.version}): the code reads it once "
                   "saved" + ("; 0 stands for the id the dataset gets then." if resource is None else "."))
        text = f"{_comment(body.language)} {unsaved}\n{text}"
    return PlainTextResponse(text)


@router.post("/workspaces/{namespace}/dataset-builder/code", response_class=PlainTextResponse, dependencies=REGISTERED)
async def code(request: Request, namespace: str):
    """The code that reads the selections: the saved version's code when nothing changed (the dataset API's text),
    else the code of the version the next save makes, its first line saying so (READER)."""
    try:
        _precheck(request, namespace, Role.READER)  # who may not see the workspace learns nothing from the body
        body = await _body(request, CodeIn)
        return await run_in_threadpool(_code, request, namespace, body)
    except ProblemsError as err:
        return Refusal(422, str(err), err.problems).response()
    except Refusal as refusal:
        return refusal.response()


def _preview(request: Request, namespace: str, body: PreviewIn) -> JSONResponse:
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.reading() as session:
        membership = _member(session, request, namespace, Role.READER)
        if body.resource_id is not None:
            _dataset_of(session, membership, body.resource_id)
        _, resolved = _resolved(session, membership, body.content)
        tables = tables_of(resolved)
        if body.table not in tables:
            raise Refusal(422, f"table: one of {', '.join(tables) or '(none: choose the columns of a domain)'}",
                          [Problem(f"{body.table!r} is not a table of these selections (its tables: "
                                   f"{', '.join(tables) or 'none'})", "table")])
        reviews = wd.review_tables(session, resolved) if body.table.startswith("review_") else {}
    if body.table in reviews:
        data = reviews[body.table].slice(0, dx.PREVIEW_ROWS)
    else:
        engine = workspace_engine(request, membership)
        try:
            plan = dx.plan(engine, resolved.request)
        except dx.DatasetError as err:
            raise _refused("the dataset cannot be run as selected", err.problems, planned=True) from None
        try:
            data = dx.preview(engine, plan, Domain(body.table), dx.PREVIEW_ROWS)
        except CdrFileError as err:
            raise Refusal(503, f"the data version's files cannot be read: {err}") from None
    persons = data.column("person_id").to_pylist() if "person_id" in data.column_names else []
    workspace = membership.workspace
    with services.db.session() as session:
        services.audit.record_participant_access(
            session, actor_id=viewer.user.id, tier=workspace.tier, workspace_id=workspace.namespace,
            purpose=PURPOSE_PREVIEW, person_ids=persons, cohort=body.resource_id,
            cdr_version=workspace.data_version.name, ip=viewer.ip)
    rows = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in data.to_pylist()]
    return JSONResponse({"table": body.table, "columns": data.column_names, "rows": rows})


@router.post("/workspaces/{namespace}/dataset-builder/preview", dependencies=REGISTERED)
async def preview(request: Request, namespace: str):
    """The first 20 rows of one table of the unsaved selections, in the export's order. Audited (READER)."""
    try:
        _precheck(request, namespace, Role.READER)
        body = await _body(request, PreviewIn)
        return await run_in_threadpool(_preview, request, namespace, body)
    except ProblemsError as err:
        return Refusal(422, str(err), err.problems).response()
    except Refusal as refusal:
        return refusal.response()


def _save(request: Request, namespace: str, body: SaveIn) -> JSONResponse:
    services, user = request.app.state.services, request.state.viewer.user
    missing = [Problem("give the dataset a name", "name")] if not body.name.strip() else []
    if not body.description.strip():
        missing.append(Problem("say what the dataset holds and what it is for (a description is required)",
                               "description"))
    if body.resource_id is not None and body.expected_version is None:
        raise Refusal(428, "say which version you changed (expected_version)",
                      [Problem("required with resource_id", "expected_version")])
    with services.db.session() as session:
        membership = _member(session, request, namespace, Role.WRITER)
        resource = _dataset_of(session, membership, body.resource_id) if body.resource_id is not None else None
        missing += wd.tier_problems(membership.workspace, body.content)  # saved here, it could never be run
        if missing:
            raise Refusal(422, "not saved: " + "; ".join(str(p) for p in missing), missing)
        try:
            if resource is None:
                resource = res.create(session, membership, "dataset", body.name, body.description, body.content, user,
                                      services.now())
                audit(request, session, AuditAction.RESOURCE_CREATED, membership, resource, via=VIA)
                created = True
            else:
                created = False
                if res.update(session, membership, resource, expected_version=body.expected_version, user=user,
                              now=services.now(), name=body.name, description=body.description, content=body.content,
                              note="saved in the Dataset Builder"):
                    audit(request, session, AuditAction.RESOURCE_UPDATED, membership, resource, via=VIA)
        except res.StaleVersion as stale:
            return JSONResponse({"error": str(stale), "problems": [], "current_version": stale.current},
                                status_code=409)
        except res.ResourceNotFound:
            raise Refusal(404, f"no dataset {body.resource_id} in this workspace") from None
        except res.ResourceError as err:
            raise _refused("not saved", err.problems) from None
        return JSONResponse({"resource_id": resource.id, "version": resource.version, "name": resource.name,
                             "description": resource.description, "created": created,
                             "url": f"/workspaces/{namespace}/datasets/{resource.id}/build"})


@router.post("/workspaces/{namespace}/dataset-builder/save", dependencies=REGISTERED)
async def save(request: Request, namespace: str):
    """Save the selections: a new dataset, or (``resource_id`` and ``expected_version``) a new version of it.
    A name and a description are required; 409 when it was saved by someone else since ``expected_version``
    (WRITER)."""
    try:
        _precheck(request, namespace, Role.WRITER)
        body = await _body(request, SaveIn)
        return await run_in_threadpool(_save, request, namespace, body)
    except ProblemsError as err:
        return Refusal(422, str(err), err.problems).response()
    except Refusal as refusal:
        return refusal.response()
