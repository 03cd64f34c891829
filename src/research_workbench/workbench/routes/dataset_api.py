"""The dataset API: the column catalogue, and a saved dataset's description, preview, data and code. The SDK reads
datasets through it (``research_workbench.sdk``), with a session cookie in the browser's notebooks or a personal
API token elsewhere.

- ``GET /api/dataset-columns``: the data dictionary (domains, their columns, the prepackaged concept sets).
- ``GET /api/workspaces/{ns}/datasets/{id}[?version=]``: its tables (domains, then ``review_<id>`` per review set),
  the data version, and the definition.
- ``GET …/datasets/{id}/preview?table=``: the first 20 rows of one table, as JSON.
- ``GET …/datasets/{id}/data/{table}``: one table whole, as Parquet (a download: refused past the user's daily
  limit, ``accounts.egress``, unless it is a notebook kernel's read).
- ``GET …/datasets/{id}/code?language=``: the code the Dataset Builder shows (``datasets.codegen``).
- ``GET …/datasets/{id}/notebook?language=``: that code as a Jupyter notebook (Python or R).

A Controlled Tier dataset's ``WHOLE_GENOME_VARIANT`` table (genotype calls at the variants of its
``genome_selection``, ``datasets.genotypes``) is one table like the others here: previewed, read and audited the same.

READER for all of them; through an API token, the preview and the data need the ``data:read`` scope. Every preview and every data read is a ``participant_access`` event in the audit log
(purpose ``dataset_preview`` or ``dataset_read``, with the participants reached). Problems with the definition (a
deleted cohort, a domain without a concept set) are a 422 naming the place.
"""

from __future__ import annotations

import io
from typing import Any

import nbformat
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from ...cdr.facts import Domain
from ...cdr.store import CdrFileError
from ...datasets import codegen
from ...datasets import extract as dx
from ...datasets.columns import CATALOGUE, DEFAULT_COLUMNS
from ...datasets.prepackaged import WHOLE_DOMAINS
from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import datasets as wd
from ...workspaces import resources as res
from ...workspaces.roles import Membership, Role
from .. import downloads
from ..guards import Access, requires
from .dataset_builder import code_target, tables_of
from .resource_api import Refusal, _member, workspace_engine

router = SecureRouter(prefix="/api", tags=["datasets"], responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
READ = [requires(Access.REGISTERED, scope="workspaces:read")]
DATA = [requires(Access.REGISTERED, scope="data:read")]  # participant-level rows
PURPOSE_PREVIEW, PURPOSE_READ = "dataset_preview", "dataset_read"
PARQUET = "application/vnd.apache.parquet"


class ColumnOut(BaseModel):
    name: str
    type: str = Field(description="the DuckDB type of the value")
    description: str
    default: bool = Field(description="selected when the domain is added")


class CatalogueOut(BaseModel):
    domains: dict[str, list[ColumnOut]]
    prepackaged: dict[str, str] = Field(description="name → what it holds; a survey is also `survey:<concept id>`")


@router.get("/dataset-columns", response_model=CatalogueOut, dependencies=READ)
def dataset_columns() -> CatalogueOut:
    """The column catalogue: every column a dataset may select, per domain, with its data dictionary entry."""
    return CatalogueOut(
        domains={d.value: [ColumnOut(name=c.name, type=c.type, description=c.description,
                                     default=c.name in DEFAULT_COLUMNS[d]) for c in columns]
                 for d, columns in CATALOGUE.items()},
        prepackaged={name: what for name, (_, what) in WHOLE_DOMAINS.items()})


class _Loaded:
    """A dataset as one request needs it: the resource and version, its resolved definition, the workspace."""

    def __init__(self, membership: Membership, resource, version, resolved: wd.ResolvedDataset,
                 reviews: dict[str, pa.Table]):
        self.membership, self.resource, self.version = membership, resource, version
        self.resolved, self.reviews = resolved, reviews

    @property
    def tables(self) -> list[str]:
        return tables_of(self.resolved)


def _load(request: Request, namespace: str, resource_id: int, version: int | None) -> _Loaded:
    services = request.app.state.services
    with services.db.reading() as session:
        membership = _member(session, request, namespace, Role.READER)
        try:
            resource = res.get(session, membership, resource_id)
        except res.ResourceNotFound:
            raise Refusal(404, f"no dataset {resource_id} in workspace {namespace!r}") from None
        if resource.kind != "dataset":
            raise Refusal(404, f"resource {resource_id} is a {res.KINDS[resource.kind].lower()}, not a dataset")
        try:
            stored = res.version_of(session, resource, version)
        except LookupError as err:
            raise Refusal(404, str(err)) from None
        try:
            resolved = wd.resolve(session, membership.workspace, stored.content)
        except res.ResourceError as err:
            raise Refusal(422, "this dataset cannot be read as saved", err.problems) from None
        reviews = wd.review_tables(session, resolved)
    return _Loaded(membership, resource, stored, resolved, reviews)


def _plan(request: Request, loaded: _Loaded):
    engine = workspace_engine(request, loaded.membership)
    try:
        return engine, dx.plan(engine, loaded.resolved.request)
    except dx.DatasetError as err:
        raise Refusal(422, "this dataset cannot be run as saved", err.problems) from None


def _audit(request: Request, loaded: _Loaded, purpose: str, person_ids) -> None:
    services, viewer = request.app.state.services, request.state.viewer
    workspace = loaded.membership.workspace
    with services.db.session() as session:
        services.audit.record_participant_access(
            session, actor_id=viewer.user.id, tier=workspace.tier, workspace_id=workspace.namespace, purpose=purpose,
            person_ids=person_ids, cohort=loaded.resource.id, cdr_version=workspace.data_version.name, ip=viewer.ip)


def _table(request: Request, loaded: _Loaded, table: str, rows: int | None) -> pa.Table:
    if table in loaded.reviews:
        data = loaded.reviews[table]
        return data.slice(0, rows) if rows is not None else data
    try:
        domain = Domain(table)
    except ValueError:
        domain = None
    if domain not in loaded.resolved.request.values:
        raise Refusal(404, f"no table {table!r} in this dataset (its tables: {', '.join(loaded.tables)})")
    engine, plan = _plan(request, loaded)
    try:
        return dx.preview(engine, plan, domain, rows) if rows is not None else dx.read(engine, plan, domain)
    except CdrFileError as err:
        raise Refusal(503, f"the data version's files cannot be read: {err}") from None


def _persons(data: pa.Table) -> list[int]:
    return data.column("person_id").to_pylist() if "person_id" in data.column_names else []


@router.get("/workspaces/{namespace}/datasets/{resource_id}", dependencies=READ)
def dataset_info(request: Request, namespace: str, resource_id: int, version: int | None = Query(None, ge=1)):
    """The dataset's tables, version, data version and definition."""
    try:
        loaded = _load(request, namespace, resource_id, version)
        workspace = loaded.membership.workspace
        return JSONResponse({"id": loaded.resource.id, "name": loaded.resource.name, "version": loaded.version.version,
                             "current_version": loaded.resource.version, "workspace": workspace.namespace,
                             "data_version": workspace.data_version.name, "tier": workspace.tier,
                             "tables": loaded.tables, "definition": loaded.version.content})
    except Refusal as refusal:
        return refusal.response()


def _json_rows(data: pa.Table) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in data.to_pylist()]


@router.get("/workspaces/{namespace}/datasets/{resource_id}/preview", dependencies=DATA)
def dataset_preview(request: Request, namespace: str, resource_id: int,
                    table: str | None = Query(None, max_length=40, description="a table of the dataset (required)"),
                    version: int | None = Query(None, ge=1)):
    """The first 20 rows of one table (in the export's order). Audited."""
    try:
        loaded = _load(request, namespace, resource_id, version)
        if table is None:  # checked after the role: a non-member gets the same 404 whatever the query
            raise Refusal(422, f"table: one of {', '.join(loaded.tables)}")
        data = _table(request, loaded, table, dx.PREVIEW_ROWS)
        _audit(request, loaded, PURPOSE_PREVIEW, _persons(data))
        return JSONResponse({"table": table, "columns": data.column_names, "rows": _json_rows(data)})
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/datasets/{resource_id}/data/{table}", dependencies=DATA,
            responses={200: {"content": {PARQUET: {}}, "description": "the table as Parquet"}})
def dataset_data(request: Request, namespace: str, resource_id: int, table: str, version: int | None = Query(None, ge=1)):
    """One table of the dataset, whole, as a Parquet file. Audited."""
    try:
        loaded = _load(request, namespace, resource_id, version)
        refused = downloads.refusal(request)
        if refused:
            raise Refusal(429, refused)
        data = _table(request, loaded, table, None)
        _audit(request, loaded, downloads.purpose(request, PURPOSE_READ), _persons(data))
        out = io.BytesIO()
        pq.write_table(data, out, compression="zstd")
        return Response(out.getvalue(), media_type=PARQUET, headers={
            "content-disposition": f'attachment; filename="dataset-{resource_id}-v{loaded.version.version}-{table.lower()}.parquet"'})
    except Refusal as refusal:
        return refusal.response()


def _code_target(request: Request, loaded: _Loaded, language: str) -> codegen.CodeTarget:
    """What the generated code names for a saved dataset version: the Dataset Builder's own (one place for both)."""
    try:
        return code_target(request, loaded.membership, loaded.resolved, language=language,
                           dataset_id=loaded.resource.id, name=loaded.resource.name, version=loaded.version.version)
    except dx.DatasetError as err:
        raise Refusal(422, "this dataset cannot be run as saved", err.problems) from None


@router.get("/workspaces/{namespace}/datasets/{resource_id}/code", response_class=PlainTextResponse, dependencies=READ)
def dataset_code(request: Request, namespace: str, resource_id: int,
                 language: str | None = Query(None, max_length=20,
                                              description="python-pandas, python-polars, r or sql (required)"),
                 version: int | None = Query(None, ge=1)):
    """The code that reads the dataset (pinned to its version) in a notebook or anywhere with a token."""
    try:
        loaded = _load(request, namespace, resource_id, version)
        if language not in codegen.LANGUAGES:  # after the role: a non-member gets the same 404 whatever the query
            raise Refusal(422, f"language: one of {', '.join(codegen.LANGUAGES)}")
        return PlainTextResponse(codegen.code(language, _code_target(request, loaded, language)))
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/datasets/{resource_id}/notebook", dependencies=READ,
            responses={200: {"content": {"application/x-ipynb+json": {}}, "description": "a Jupyter notebook"}})
def dataset_notebook(request: Request, namespace: str, resource_id: int,
                     language: str | None = Query(None, max_length=20,
                                                  description="python-pandas, python-polars or r (required)"),
                     version: int | None = Query(None, ge=1)):
    """A notebook that reads the dataset (the code of ``language``, then the session's versions)."""
    try:
        loaded = _load(request, namespace, resource_id, version)
        if language not in codegen.KERNELS:
            raise Refusal(422, f"language: one of {', '.join(codegen.KERNELS)}")
        document = codegen.notebook(language, _code_target(request, loaded, language))
        name = f"dataset-{resource_id}-v{loaded.version.version}-{language}.ipynb"
        return Response(nbformat.writes(document), media_type="application/x-ipynb+json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    except Refusal as refusal:
        return refusal.response()
