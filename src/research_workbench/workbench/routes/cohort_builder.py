"""The Cohort Builder: a page per cohort (new, or a saved ``cohort`` resource) and the JSON it calls as it is edited.

The page holds the definition in the browser and asks, on every change:
- ``POST …/cohort-builder/results``: the count, each group's and item's count, the attrition funnel, the
  demographics and the sentence (``cohorts.builder.results``); READER (counts only, nothing participant-level);
- ``POST …/cohort-builder/draft``: the draft as it is now (``CohortDraft``: one per workspace, user and cohort), so a
  closed tab or a crash loses nothing; WRITER;
- ``GET …/cohort-builder/browse``: one level of a domain's tree (``index.browse``); READER;
- ``GET …/cohort-builder/variants``: the variants a variant criterion selects (how many, the first ``VARIANT_ROWS``)
  and the criterion as the definition takes it; READER, Controlled Tier workspaces only;
- ``POST …/cohort-builder/save``: save (a new version of the cohort) or save as (a new cohort); WRITER. A save made
  from an older version than the current one is refused (409) naming the current version, as everywhere else.
Searching criteria and matching pasted codes use the workspace criteria API (``routes/concept_sets``).

Genomics criteria (whole genome, arrays: has-data flags and variant criteria) exist only in Controlled Tier
workspaces: the menu offers them there only, the variant lookup refuses other workspaces, and a definition using them
elsewhere is refused naming the item.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...accounts.modules import Tier
from ...cdr.facts import DOMAIN_LABELS, EVENT_DOMAINS, Domain
from ...cdr.problems import Problem, ProblemsError
from ...cohorts.builder.describe import describe_item
from ...cohorts.builder.model import (
    VARIANT_TYPE,
    CohortDefinition,
    DefinitionError,
    SearchGroupItem,
    VariantCriterion,
    parse_definition,
)
from ...cohorts.builder.results import DEMOGRAPHICS, cohort_results
from ...cohorts.builder.semantics import HAS_DATA_FLAGS, VARIANT_STORES
from ...cohorts.members import is_circe
from ...index.browse import children
from ...index.variant_carriers import has_genotypes, variant_table
from ...index.variant_query import select_variants
from ...state.models import CohortDraft
from ...web import SecureRouter
from ...workspaces import resources as res
from ...workspaces.roles import Membership, Role
from ..engines import EngineUnavailable
from ..guards import Access, requires
from ..rendering import page
from .resource_api import Refusal, _body, _in_body, _precheck, workspace_engine
from .resources import audit, member, resource_of

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
GENOMICS = (Domain.WHOLE_GENOME_VARIANT, Domain.ARRAY_DATA)
WEARABLES = tuple(d for d in HAS_DATA_FLAGS if d not in GENOMICS)
NEW = "new"  # the draft key of a cohort not yet saved
VARIANT_ROWS = 50  # variants listed by the variant lookup (all are counted)
VARIANT_COLUMNS = ("variant_id", "rsid", "gene", "consequence", "allele_frequency")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort: int | None = Field(None, description="the cohort resource's id; absent for a new cohort")
    base_version: int | None = None
    name: str = Field("", max_length=res.NAME_MAX)
    definition: dict[str, Any]


class ResultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]
    demographics: bool = True


class SaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort: int | None = Field(None, description="the cohort to save a new version of; absent (or save_as): a new one")
    expected_version: int | None = None
    save_as: bool = False
    name: str
    description: str = ""
    definition: dict[str, Any]


# -- what the page offers -----------------------------------------------------------------------------------------

def criteria_menu(tier: Tier) -> list[dict]:
    """The criteria menu: program data first (as All of Us lists it), then each EHR domain."""
    program = [
        {"domain": Domain.PERSON.value, "label": "Demographics", "kind": "person"},
        {"domain": Domain.SURVEY.value, "label": "Surveys", "kind": "survey"},
        {"domain": Domain.PHYSICAL_MEASUREMENT.value, "label": "Physical measurements", "kind": "event"},
        *({"domain": d.value, "label": d.label, "kind": "flag", "section": "Wearables"} for d in WEARABLES),
        *({"domain": d.value, "label": d.label, "kind": "flag", "section": "Genomics"}
          for d in GENOMICS if tier is Tier.CONTROLLED),
        *([{"domain": Domain.WHOLE_GENOME_VARIANT.value, "label": "Variants", "kind": "variants", "section": "Genomics",
            "stores": [{"domain": d.value, "label": d.label} for d in GENOMICS]}] if tier is Tier.CONTROLLED else []),
    ]
    ehr = [{"domain": d.value, "label": DOMAIN_LABELS.get(d, d.label), "kind": "event"}
           for d in (Domain.CONDITION, Domain.PROCEDURE, Domain.DRUG, Domain.MEASUREMENT, Domain.OBSERVATION,
                     Domain.VISIT, Domain.DEVICE)]
    return [{"section": "Program data", "items": program}, {"section": "Electronic health records", "items": ehr}]


def _genomics_problems(definition: CohortDefinition, tier: Tier) -> list[Problem]:
    """Genome items (has-data flags and variant criteria alike) outside a Controlled Tier workspace, each named."""
    if tier is Tier.CONTROLLED:
        return []
    return [Problem(f"{item.type.label} criteria are available in Controlled Tier workspaces only",
                    f"definition.{side}[{g}].items[{i}].type")
            for side in ("includes", "excludes") for g, group in enumerate(getattr(definition, side))
            for i, item in enumerate(group.items) if item.type in GENOMICS]


def _definition(document: dict, tier: Tier) -> CohortDefinition:
    """The page's definition, validated; problems located under ``definition``."""
    try:
        definition = parse_definition(document)
    except DefinitionError as err:
        raise ProblemsError(res.located(err.problems, "definition"), "invalid definition") from None
    problems = _genomics_problems(definition, tier)
    if problems:
        raise ProblemsError(problems, "invalid definition")
    return definition


def _person_options(engine) -> dict[str, list[dict]]:
    """Each demographic's values with names and participant counts (the Demographics menu)."""
    options = {}
    for key in DEMOGRAPHICS:
        groups = engine.person_groups(key)
        names = engine.concept_names([v for v in groups if v is not None])
        options[key] = sorted(({"conceptId": v, "name": names[v], "count": len(ids)} for v, ids in groups.items() if v is not None),
                              key=lambda o: (-o["count"], o["name"]))
    return options


def _visit_types(engine) -> list[dict]:
    nodes, _ = children(engine.con, engine.index_dir, Domain.VISIT, None)
    return [{"conceptId": n.concept_id, "name": n.name, "count": n.rollup_count} for n in nodes]


def _draft(session: Session, membership: Membership, user_id: int, key: str) -> CohortDraft | None:
    return session.scalar(select(CohortDraft).where(CohortDraft.workspace_id == membership.workspace.id,
                                                     CohortDraft.user_id == user_id, CohortDraft.cohort_key == key))


# -- the page -----------------------------------------------------------------------------------------------------

def _builder_page(request: Request, namespace: str, resource_id: int | None):
    viewer = request.state.viewer
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER if resource_id is not None else Role.WRITER)
        workspace = membership.workspace
        tier = Tier(workspace.tier)
        resource = resource_of(session, membership, resource_id) if resource_id is not None else None
        if resource is not None and resource.kind != "cohort":
            raise HTTPException(404)
        saved = res.version_of(session, resource).content if resource is not None else None
        if saved is not None and is_circe(saved):
            raise HTTPException(409, detail="an OHDSI cohort is not edited in the Cohort Builder: its page shows it")
        editable = membership.role >= Role.WRITER
        draft = _draft(session, membership, viewer.user.id, str(resource_id) if resource_id else NEW) if editable else None
        try:
            engine = request.app.state.services.engines.engine(workspace.data_version)
            unavailable = None
        except EngineUnavailable as err:
            engine, unavailable = None, str(err)
        config = {
            "namespace": namespace,
            "cohort": resource.id if resource else None,
            "version": resource.version if resource else None,
            "name": resource.name if resource else "",
            "description": resource.description if resource else "",
            "saved": saved,
            "draft": ({"definition": draft.content, "name": draft.name, "base_version": draft.base_version,
                       "updated_at": draft.updated_at.isoformat()} if draft is not None else None),
            "editable": editable,
            "tier": tier.value,
            "menu": criteria_menu(tier),
            "people": _person_options(engine) if engine else {},
            "visit_types": _visit_types(engine) if engine else [],
            "event_domains": [d.value for d in EVENT_DOMAINS],
            "urls": {
                "results": f"/workspaces/{namespace}/cohort-builder/results",
                "draft": f"/workspaces/{namespace}/cohort-builder/draft",
                "save": f"/workspaces/{namespace}/cohort-builder/save",
                "browse": f"/workspaces/{namespace}/cohort-builder/browse",
                "variants": f"/workspaces/{namespace}/cohort-builder/variants",
                "search": f"/api/workspaces/{namespace}/criteria/search",
                "codes": f"/api/workspaces/{namespace}/codes/match",
                "review": f"/workspaces/{namespace}/reviews/new?cohort=",
                "dataset": f"/workspaces/{namespace}/cohort-builder/dataset",
                "compare": f"/workspaces/{namespace}/compare?a=",
                "resource": f"/workspaces/{namespace}/resources/",
                "builder": f"/workspaces/{namespace}/cohorts/",
            },
        }
        return page(request, "cohort_builder.html", workspace=workspace, role=membership.role, Role=Role,
                    resource=resource, unavailable=unavailable,
                    # inert JSON inside <script type="application/json">: "<" escaped so no "</script>" can end it
                    config=json.dumps(config, separators=(",", ":")).replace("<", "\\u003c"),
                    tier=tier)


@router.get("/workspaces/{namespace}/cohorts/new", response_class=HTMLResponse, dependencies=REGISTERED)
def new_cohort(request: Request, namespace: str):
    """The Cohort Builder for a new cohort (WRITER); a draft of one started earlier is brought back."""
    return _builder_page(request, namespace, None)


@router.get("/workspaces/{namespace}/cohorts/{resource_id}/build", response_class=HTMLResponse, dependencies=REGISTERED)
def build_cohort(request: Request, namespace: str, resource_id: int):
    """The Cohort Builder on a saved cohort: WRITER edits (with their draft, if any); READER sees it read-only."""
    return _builder_page(request, namespace, resource_id)


# -- what the page calls ------------------------------------------------------------------------------------------

@router.post("/workspaces/{namespace}/cohort-builder/results", dependencies=REGISTERED)
async def results(request: Request, namespace: str):
    """Count, group and item counts, attrition, demographics and the sentence of a definition (READER)."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.READER)  # who may not see the workspace learns nothing from the body
        body = await _body(request, ResultsIn)
        with services.db.reading() as session:
            membership = member(session, request, namespace, Role.READER)
            tier = Tier(membership.workspace.tier)
            engine = workspace_engine(request, membership)
        try:
            definition = _definition(body.definition, tier)
            return JSONResponse(cohort_results(engine, definition, with_demographics=body.demographics).as_dict())
        except ProblemsError as err:  # the page shows why beside the count, so as JSON (a bad definition, no genomes)
            raise Refusal(422, "invalid definition", [p if isinstance(p, Problem) else Problem(str(p))
                                                      for p in err.problems]) from None
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/cohort-builder/browse", dependencies=REGISTERED)
def browse(request: Request, namespace: str, domain: str | None = Query(None), parent: int | None = Query(None),
           standard: bool = Query(True), level: str | None = Query(None, pattern="^(module|question)$"),
           offset: int = Query(0, ge=0, le=1_000_000)):
    """One level of a domain's criteria tree (the roots without ``parent``), with item and roll-up counts (READER)."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = member(session, request, namespace, Role.READER)
            engine = workspace_engine(request, membership)
        try:  # checked after the role, so a non-member gets the same 404 whatever the query says
            chosen = Domain(domain or "")
        except ValueError:
            raise Refusal(422, f"domain: one of {', '.join(d.value for d in Domain)}") from None
        nodes, total = children(engine.con, engine.index_dir, chosen, parent, standard=standard, parent_level=level,
                                offset=offset)
        if chosen is Domain.SURVEY:
            names = engine.concept_names([n.concept_id for n in nodes])
            for n in nodes:
                n.name = names.get(n.concept_id, n.name)
        return JSONResponse({"total": total, "offset": offset, "nodes": [n.__dict__ for n in nodes]})
    except Refusal as refusal:
        return refusal.response()


# Lists typed in one field: rsIDs, genes and variant ids apart by commas, semicolons or spaces; regions only by
# semicolons or spaces (a region's positions may carry thousands separators: chr10:114,000,000-115,000,000).
_LIST_SEPARATORS = {"rsids": r"[\s,;]+", "genes": r"[\s,;]+", "variant_ids": r"[\s,;]+", "regions": r"[\s;]+"}


def _variant_query(domain: str | None, fields: dict[str, list[str]], min_af: str | None, max_af: str | None,
                   zygosity: str | None) -> tuple[Domain, VariantCriterion]:
    """The lookup's query as (item type, criterion), validated as a definition's criterion is; problems under
    ``query``."""
    try:
        chosen = Domain(domain or Domain.WHOLE_GENOME_VARIANT.value)
    except ValueError:
        chosen = None
    if chosen not in VARIANT_STORES:
        raise Refusal(422, "invalid variant lookup", [Problem(f"one of {', '.join(d.value for d in VARIANT_STORES)}",
                                                               "query.domain")])
    values: dict[str, Any] = {name: [v for text in fields[name] for v in re.split(_LIST_SEPARATORS[name], text) if v]
                              for name in _LIST_SEPARATORS}
    values |= {name: value.strip() for name, value in (("min_af", min_af), ("max_af", max_af), ("zygosity", zygosity))
               if value is not None and value.strip()}
    try:
        criterion = VariantCriterion(**values)
    except ValidationError as err:
        problems = [Problem(str(e.get("msg", "")).removeprefix("Value error, "),
                            "query" + "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in e["loc"]))
                    for e in err.errors()]
        raise Refusal(422, "invalid variant lookup", problems) from None
    if not criterion.by_identifier:
        raise Refusal(422, "invalid variant lookup", [Problem(
            "give at least one rsID, gene, region or variant id (an allele-frequency range alone would select variants "
            "across the whole genome)", "query")])
    return chosen, criterion


@router.get("/workspaces/{namespace}/cohort-builder/variants", dependencies=REGISTERED)
def variants(request: Request, namespace: str, domain: str | None = Query(None), rsids: list[str] = Query([]),
             genes: list[str] = Query([]), regions: list[str] = Query([]), variant_ids: list[str] = Query([]),
             min_af: str | None = Query(None), max_af: str | None = Query(None), zygosity: str | None = Query(None)):
    """The variants a variant criterion selects in the workspace's genotype store of ``domain`` (whole genomes by
    default): how many, the first ``VARIANT_ROWS`` (id, rsID, gene, consequence, allele frequency), the criterion as a
    definition's search parameter takes it, and its words (READER; Controlled Tier workspaces only)."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = member(session, request, namespace, Role.READER)
            tier = Tier(membership.workspace.tier)
            engine = workspace_engine(request, membership)
        # checked after the role, so a non-member gets the same 404 whatever the query says
        chosen, criterion = _variant_query(domain, {"rsids": rsids, "genes": genes, "regions": regions,
                                                    "variant_ids": variant_ids}, min_af, max_af, zygosity)
        if tier is not Tier.CONTROLLED:
            raise Refusal(422, "invalid variant lookup", [Problem(
                f"{chosen.label} criteria are available in Controlled Tier workspaces only", "query.domain")])
        kind = VARIANT_STORES[chosen]
        if not has_genotypes(engine.index_dir, kind):
            raise Refusal(422, "invalid variant lookup", [Problem(
                f"this workspace's data version has no {chosen.label.lower()} genotypes", "query.domain")])
        table = variant_table(engine.index_dir, kind)
        selected = select_variants(table, criterion.selection())
        shown = table.filter(pc.is_in(table["variant_index"], value_set=pa.array(selected[:VARIANT_ROWS], pa.int64())))
        item = SearchGroupItem(id="lookup", type=chosen, searchParameters=[
            {"parameterId": "lookup", "domain": chosen, "type": VARIANT_TYPE, "variant": criterion}])
        return JSONResponse({
            "domain": chosen.value, "count": len(selected), "shown": shown.num_rows,
            "variants": shown.select(list(VARIANT_COLUMNS)).to_pylist(),
            "criterion": criterion.model_dump(mode="json", exclude_defaults=True),
            "description": describe_item(item),
        })
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/cohort-builder/draft", dependencies=REGISTERED)
async def save_draft(request: Request, namespace: str):
    """Keep the page's definition as this user's draft of the cohort (WRITER). Incomplete definitions are kept too:
    a draft is work in progress."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.WRITER)
        body = await _body(request, DraftIn)
        if len(json.dumps(body.definition, separators=(",", ":")).encode()) > res.MAX_CONTENT_BYTES:
            raise Refusal(413, f"the draft is larger than {res.MAX_CONTENT_BYTES:,} bytes")
        user = request.state.viewer.user
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            key = NEW
            if body.cohort is not None:
                resource = resource_of(session, membership, body.cohort)
                key = str(resource.id)
            draft = _draft(session, membership, user.id, key)
            if draft is None:
                draft = CohortDraft(workspace_id=membership.workspace.id, user_id=user.id, cohort_key=key,
                                    content={}, updated_at=services.now())
                session.add(draft)
            draft.content, draft.name, draft.base_version = body.definition, body.name, body.base_version
            draft.updated_at = services.now()
            return JSONResponse({"saved_at": draft.updated_at.isoformat()})
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/cohort-builder/draft/discard", dependencies=REGISTERED)
async def discard_draft(request: Request, namespace: str, cohort: int | None = Query(None)):
    """Forget this user's draft of the cohort (WRITER): the page goes back to the saved version."""
    services = request.app.state.services
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        draft = _draft(session, membership, request.state.viewer.user.id, str(cohort) if cohort else NEW)
        if draft is not None:
            session.delete(draft)
    return Response(status_code=204)


@router.post("/workspaces/{namespace}/cohort-builder/save", dependencies=REGISTERED)
async def save(request: Request, namespace: str):
    """Save the definition: a new version of the cohort, or (``save_as`` or no cohort) a new cohort. The draft it
    came from is then forgotten. 409 when the cohort was saved by someone else since ``expected_version``."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.WRITER)
        body = await _body(request, SaveIn)
        user = request.state.viewer.user
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            definition = _definition(body.definition, Tier(membership.workspace.tier))
            content = definition.model_dump(mode="json", exclude_none=True)
            try:
                if body.cohort is None or body.save_as:
                    resource = res.create(session, membership, "cohort", body.name, body.description, content, user,
                                          services.now())
                    audit(request, session, AuditAction.RESOURCE_CREATED, membership, resource, via="cohort builder")
                else:
                    resource = resource_of(session, membership, body.cohort)
                    if body.expected_version is None:
                        raise Refusal(428, "say which version you changed (expected_version)")
                    if res.update(session, membership, resource, expected_version=body.expected_version, user=user,
                                  now=services.now(), name=body.name, description=body.description, content=content,
                                  note="saved in the Cohort Builder"):
                        audit(request, session, AuditAction.RESOURCE_UPDATED, membership, resource, via="cohort builder")
            except res.StaleVersion as stale:
                raise Refusal(409, str(stale)) from None
            except res.ResourceError as err:
                raise _in_body(err) from None
            for key in {NEW if body.cohort is None or body.save_as else str(body.cohort), str(resource.id)}:
                draft = _draft(session, membership, user.id, key)
                if draft is not None:
                    session.delete(draft)
            return JSONResponse({"cohort": resource.id, "version": resource.version, "name": resource.name,
                                 "url": f"/workspaces/{namespace}/cohorts/{resource.id}/build"})
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/cohort-builder/dataset", dependencies=REGISTERED)
async def create_dataset(request: Request, namespace: str, cohort: int | None = Query(None)):
    """"Create a dataset" after saving: a dataset resource drawing on this cohort, with the demographics columns,
    opened on its page (the Dataset Builder takes it from there). WRITER."""
    services = request.app.state.services
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        if cohort is None:
            raise HTTPException(422, detail="cohort: the saved cohort's id is required")
        source = resource_of(session, membership, cohort)
        if source.kind != "cohort":
            raise HTTPException(404)
        taken = {r.name for r in res.live(session, membership.workspace, "dataset")}
        name = next(n for n in (f"{source.name} dataset" if i == 1 else f"{source.name} dataset {i}"
                                for i in range(1, len(taken) + 2)) if n not in taken)[:res.NAME_MAX]
        content = {"cohorts": [source.id], "concept_sets": [], "values": {Domain.PERSON.value: [
            "person_id", "gender", "date_of_birth", "race", "ethnicity", "sex_at_birth"]}}
        try:
            dataset = res.create(session, membership, "dataset", name, f"Participants of the cohort {source.name}.",
                                 content, request.state.viewer.user, services.now())
        except res.ResourceError as err:
            raise ProblemsError(err.problems, "the dataset could not be created") from None
        audit(request, session, AuditAction.RESOURCE_CREATED, membership, dataset, via="cohort builder")
        return JSONResponse({"dataset": dataset.id, "url": f"/workspaces/{namespace}/datasets/{dataset.id}/build"})
