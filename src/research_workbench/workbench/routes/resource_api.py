"""The workspace resources in the JSON API: list, read, create, change (with the version changed, in the body or
an ``If-Match`` header), delete, history, one version, restore and copy. Changes are POSTs (to the resource, or
to its ``/delete``, ``/restore``, ``/copy``), as every unsafe route of the Workbench. Usable with a personal API token
(``workspaces:read`` to read, ``workspaces:write`` to change) or the session cookie (with the CSRF header).

Request bodies are read strictly (``cohorts.jsonfile``: a repeated key, NaN or too-deep nesting is a 422 naming
its place) and bounded (``MAX_BODY_BYTES``, 413 past it); content problems name their JSON path
(``body.content.includes[0]…``). A change made from an older version is a 409 naming the current version.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from ...accounts.audit import AuditAction
from ...cdr.problems import Problem, ProblemsError
from ...cohorts import jsonfile
from ...state.models import Resource
from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import resources as res
from ...workspaces import roles
from ...workspaces.roles import Membership, Role
from ..engines import EngineUnavailable
from ..forms import FormTooLarge
from ..guards import Access, requires

router = SecureRouter(prefix="/api", tags=["workspace resources"],
                      responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
READ = [requires(Access.REGISTERED, scope="workspaces:read")]
WRITE = [requires(Access.REGISTERED, scope="workspaces:write")]
MAX_BODY_BYTES = 3_000_000
"""Bytes of a request body: a resource's content (at most ``resources.MAX_CONTENT_BYTES``) and its fields."""
BODY_MAX_DEPTH = res.CONTENT_MAX_DEPTH + 2

Kind = Literal["cohort", "concept_set", "dataset", "review_set", "notebook"]


class Refusal(Exception):
    """An answer other than 2xx, as ``{"error", "problems"}`` JSON."""

    def __init__(self, status: int, message: str, problems: list[Problem] | None = None):
        self.status, self.problems = status, problems or []
        super().__init__(message)

    def response(self) -> JSONResponse:
        return JSONResponse({"error": str(self), "problems": [p.as_dict() for p in self.problems]},
                            status_code=self.status)


# -- models ------------------------------------------------------------------------------------------------------

class ResourceOut(BaseModel):
    id: int
    workspace: str = Field(description="the workspace's namespace")
    kind: Kind
    name: str
    description: str
    version: int = Field(description="the current version; also the resource's ETag (send it back to change it)")
    created_at: datetime
    created_by: int = Field(description="user id")
    updated_at: datetime
    updated_by: int = Field(description="user id")
    content: dict[str, Any] | None = Field(None, description="the current version's content (not in lists)")


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str = Field(description=f"1 to {res.NAME_MAX} characters, unique among the workspace's live resources "
                                  "of the kind")
    description: str = Field("", description=f"at most {res.DESCRIPTION_MAX} characters")
    content: dict[str, Any] = Field(description="by kind: cohort, a Cohort Builder definition (includes, excludes, "
                                                "dataFilters); concept_set, {domain, concepts}; dataset, {cohorts, "
                                                "concept_sets, values}; review_set, {cohort, size, participants}; "
                                                "notebook, {language, source}")


class ResourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, description="the version this change was made from (or an If-Match header); "
                                                  "another current version is a 409")
    name: str | None = Field(None, description="a new name (absent: kept)")
    description: str | None = Field(None, description="a new description (absent: kept)")
    content: dict[str, Any] | None = Field(None, description="new content (absent: kept)")
    note: str | None = Field(None, description=f"what changed, for the history (at most {res.NOTE_MAX} characters; "
                                               "\"edited\" when absent)")


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="the version to restore: it becomes a new version with that content")
    expected_version: int | None = Field(None, description="the current version as you know it (or If-Match)")


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="the namespace of the workspace to copy to (you need the Writer role there; "
                                    "same tier, same or newer data version)")
    name: str | None = Field(None, description="the copy's name (absent: the same name)")


class VersionOut(BaseModel):
    version: int
    name: str
    description: str
    created_at: datetime
    created_by: int = Field(description="user id")
    author: str = Field(description="the writer's name and email")
    note: str | None = Field(description="created, edited (or the writer's note), restored version N, copied from …")
    current: bool


class VersionContentOut(VersionOut):
    content: dict[str, Any]


# -- helpers -----------------------------------------------------------------------------------------------------

def _member(session: Session, request: Request, namespace: str, minimum: Role) -> Membership:
    viewer = request.state.viewer
    try:
        membership = roles.require(session, namespace, viewer.user, viewer.access, minimum)
    except roles.WorkspaceNotFound:
        raise Refusal(404, f"no workspace {namespace!r} that you are a member of") from None
    except (roles.WorkspaceLocked, roles.WorkspaceForbidden) as exc:
        raise Refusal(403, str(exc)) from None
    bound = viewer.token.workspace_id if viewer.token is not None else None
    if bound is not None and bound != membership.workspace.id:  # a notebook's kernels: their own workspace only
        raise Refusal(404, f"no workspace {namespace!r} that this token reaches")
    return membership


def workspace_engine(request: Request, membership: Membership):
    """The cohort engine of the workspace's data version, or a 503 saying why there is none (no or a stale index)."""
    try:
        return request.app.state.services.engines.engine(membership.workspace.data_version)
    except EngineUnavailable as err:
        raise Refusal(503, f"this workspace's data version cannot be searched right now: {err}") from None


def _precheck(request: Request, namespace: str, minimum: Role, resource_id: int | None = None) -> None:
    """The role (and the resource) checked before the body is read: a refusal never waits on reading the body, and
    the body is read outside the write transaction (which checks again)."""
    with request.app.state.services.db.reading() as session:
        membership = _member(session, request, namespace, minimum)
        if resource_id is not None:
            _resource(session, membership, resource_id)


def _resource(session: Session, membership: Membership, resource_id: int) -> Resource:
    try:
        return res.get(session, membership, resource_id)
    except res.ResourceNotFound as exc:
        raise Refusal(404, str(exc)) from None


def _out(session: Session, resource: Resource, namespace: str, *, content: bool = True) -> ResourceOut:
    return ResourceOut(id=resource.id, workspace=namespace, kind=resource.kind, name=resource.name,
                       description=resource.description, version=resource.version, created_at=resource.created_at,
                       created_by=resource.created_by, updated_at=resource.updated_at, updated_by=resource.updated_by,
                       content=res.version_of(session, resource).content if content else None)


def _json(model: BaseModel, status: int = 200, version: int | None = None) -> JSONResponse:
    headers = {"etag": f'"{version}"'} if version is not None else None
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The request body as ``model``: read up to MAX_BODY_BYTES, decoded strictly, every problem under ``body``."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise FormTooLarge(f"the request body is larger than {MAX_BODY_BYTES:,} bytes (MAX_BODY_BYTES)")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise FormTooLarge(f"the request body is larger than {MAX_BODY_BYTES:,} bytes (MAX_BODY_BYTES)")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refusal(415, "send the body as JSON (content-type: application/json)")
    try:
        document = jsonfile.loads(bytes(raw), source="body", max_bytes=MAX_BODY_BYTES, max_depth=BODY_MAX_DEPTH,
                                  root="body", limit_names=("MAX_BODY_BYTES", "BODY_MAX_DEPTH"))
    except jsonfile.JsonInputError as err:
        problems = [Problem(p.message, f"body, {p.where()}" if p.path is None else p.path if p.path == "body"
                            else "body" + ("" if p.path.startswith("[") else ".") + p.path) for p in err.problems]
        raise ProblemsError(problems, "invalid JSON: " + "; ".join(str(p) for p in problems)) from None
    if not isinstance(document, dict):
        raise ProblemsError([Problem("must be a JSON object", "body")], "invalid request: body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as err:
        problems = [Problem(str(e.get("msg", "")).removeprefix("Value error, "),
                            jsonfile.json_path(("body",) + tuple(e.get("loc", ())), "body")) for e in err.errors()]
        raise ProblemsError(problems, "invalid request: " + "; ".join(str(p) for p in problems)) from None


def _in_body(err: ProblemsError) -> ProblemsError:
    """Content problems (``content.x``) located in the request body (``body.content.x``)."""
    problems = [Problem(p.message, f"body.{p.where}" if p.where and not p.where.startswith("(") else p.where)
                for p in err.problems]
    return ProblemsError(problems, f"{err.heading}: " + "; ".join(str(p) for p in problems))


_IF_MATCH = re.compile(r'\s*(?:W/)?"?(\d{1,9})"?\s*')


def _if_match(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if header is None:
        return None
    match = _IF_MATCH.fullmatch(header)
    if match is None:
        raise Refusal(400, 'If-Match must be the resource\'s version as an ETag, e.g. "3"',
                      [Problem("not a version", "header.if-match")])
    return int(match.group(1))


def _expected(request: Request, in_body: int | None, *, required: bool) -> int | None:
    header = _if_match(request)
    if header is not None and in_body is not None and header != in_body:
        raise Refusal(400, f"If-Match says version {header} but the body says {in_body}: send one")
    expected = in_body if in_body is not None else header
    if expected is None and required:
        raise Refusal(428, "say which version you changed: \"version\" in the body, or an If-Match header",
                      [Problem("required", "body.version")])
    return expected


def _audit(request: Request, session: Session, action: AuditAction, namespace: str, resource: Resource, **details) -> None:
    viewer = request.state.viewer
    request.app.state.services.audit.append(
        session, action, actor_id=viewer.user.id, ip=viewer.ip,
        details={"workspace": namespace, "resource_id": resource.id, "kind": resource.kind, "name": resource.name,
                 "version": resource.version, "via": "api", **details})


STALE = {409: {"model": ErrorResponse, "description": "changed from a version that is no longer the current one"}}


# -- routes ------------------------------------------------------------------------------------------------------

@router.get("/workspaces/{namespace}/resources", response_model=list[ResourceOut], dependencies=READ)
def list_resources(request: Request, namespace: str, kind: Kind | None = Query(None, description="only this kind")):
    """The workspace's live resources (without content), by kind then name; READER."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            rows = res.live(session, membership.workspace, kind)
            return JSONResponse([_out(session, r, namespace, content=False).model_dump(mode="json") for r in rows])
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/resources", response_model=ResourceOut, status_code=201, dependencies=WRITE,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": ResourceCreate.model_json_schema()}}}})
async def create_resource(request: Request, namespace: str):
    """A new resource at version 1; WRITER. Content problems are a 422 naming each JSON path."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.WRITER)
        body = await _body(request, ResourceCreate)
        with services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            try:
                resource = res.create(session, membership, body.kind, body.name, body.description, body.content,
                                      request.state.viewer.user, services.now())
            except res.ResourceError as err:
                raise _in_body(err) from None
            _audit(request, session, AuditAction.RESOURCE_CREATED, namespace, resource)
            return _json(_out(session, resource, namespace), 201, resource.version)
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/resources/{resource_id}", response_model=ResourceOut, dependencies=READ)
def get_resource(request: Request, namespace: str, resource_id: int):
    """One resource with its current content; the ETag header is its version. READER."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            resource = _resource(session, membership, resource_id)
            return _json(_out(session, resource, namespace), version=resource.version)
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/resources/{resource_id}", response_model=ResourceOut, dependencies=WRITE,
              responses={**STALE, 428: {"model": ErrorResponse}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": ResourceUpdate.model_json_schema()}}}})
async def update_resource(request: Request, namespace: str, resource_id: int):
    """Change the name, description and/or content as a new version; WRITER. Say which version you changed
    (``version``, or ``If-Match``): a change from an older one is a 409 naming the current version. A change
    identical to the current version writes nothing (the version stays)."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.WRITER, resource_id)
        body = await _body(request, ResourceUpdate)
        with services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            resource = _resource(session, membership, resource_id)
            expected = _expected(request, body.version, required=True)
            try:
                changed = res.update(session, membership, resource, expected_version=expected,
                                     user=request.state.viewer.user, now=services.now(), name=body.name,
                                     description=body.description, content=body.content, note=body.note)
            except res.StaleVersion as stale:
                raise Refusal(409, str(stale), [Problem(f"the current version is {stale.current}", "body.version")]) from None
            except res.ResourceError as err:
                raise _in_body(err) from None
            if changed:
                _audit(request, session, AuditAction.RESOURCE_UPDATED, namespace, resource, note=body.note or "edited")
            return _json(_out(session, resource, namespace), version=resource.version)
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/resources/{resource_id}/delete", status_code=204, dependencies=WRITE,
               responses=STALE)
def delete_resource(request: Request, namespace: str, resource_id: int):
    """Delete (softly: the history stays, the name is free again); WRITER. With ``If-Match``, only that version."""
    services = request.app.state.services
    try:
        with services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            resource = _resource(session, membership, resource_id)
            try:
                res.delete(session, membership, resource, user=request.state.viewer.user, now=services.now(),
                           expected_version=_expected(request, None, required=False))
            except res.StaleVersion as stale:
                raise Refusal(409, str(stale), [Problem(f"the current version is {stale.current}",
                                                        "header.if-match")]) from None
            _audit(request, session, AuditAction.RESOURCE_DELETED, namespace, resource)
            return Response(status_code=204)
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/resources/{resource_id}/history", response_model=list[VersionOut],
            dependencies=READ)
def resource_history(request: Request, namespace: str, resource_id: int):
    """Every version, newest first: who, when, and the note; READER."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            resource = _resource(session, membership, resource_id)
            return JSONResponse([VersionOut(**vars(h)).model_dump(mode="json") for h in res.history(session, resource)])
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/resources/{resource_id}/versions/{version}", response_model=VersionContentOut,
            dependencies=READ)
def resource_version(request: Request, namespace: str, resource_id: int, version: int):
    """One version with its content; READER."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            resource = _resource(session, membership, resource_id)
            entry = next((h for h in res.history(session, resource) if h.version == version), None)
            if entry is None:
                raise Refusal(404, f"{res.KINDS[resource.kind].lower()} {resource.id} has no version {version} "
                                   f"(the current version is {resource.version})")
            row = res.version_of(session, resource, version)
            return _json(VersionContentOut(**vars(entry), content=row.content))
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/resources/{resource_id}/restore", response_model=ResourceOut,
             dependencies=WRITE, responses=STALE,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": RestoreIn.model_json_schema()}}}})
async def restore_resource(request: Request, namespace: str, resource_id: int):
    """Restore an earlier version: a NEW version with its name, description and content (note "restored version
    N"); WRITER."""
    services = request.app.state.services
    try:
        _precheck(request, namespace, Role.WRITER, resource_id)
        body = await _body(request, RestoreIn)
        with services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            resource = _resource(session, membership, resource_id)
            try:
                res.restore(session, membership, resource, body.version, user=request.state.viewer.user,
                            now=services.now(), expected_version=_expected(request, body.expected_version,
                                                                           required=False))
            except res.StaleVersion as stale:
                raise Refusal(409, str(stale), [Problem(f"the current version is {stale.current}",
                                                        "body.expected_version")]) from None
            except res.ResourceNotFound as exc:
                raise Refusal(404, str(exc)) from None
            except res.ResourceError as err:
                raise ProblemsError([Problem(p.message, f"body.{p.where}") for p in err.problems],
                                    "cannot restore: " + "; ".join(str(p) for p in err.problems)) from None
            _audit(request, session, AuditAction.RESOURCE_RESTORED, namespace, resource, restored=body.version)
            return _json(_out(session, resource, namespace), version=resource.version)
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/resources/{resource_id}/copy", response_model=ResourceOut, status_code=201,
             dependencies=WRITE,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": CopyIn.model_json_schema()}}}})
async def copy_resource(request: Request, namespace: str, resource_id: int):
    """Copy to another workspace (READER here, WRITER there; the same tier, and there a data version that is the
    same release or a newer one). Answers the copy."""
    services = request.app.state.services
    viewer = request.state.viewer
    try:
        _precheck(request, namespace, Role.READER, resource_id)
        body = await _body(request, CopyIn)
        with services.db.session() as session:
            source = _member(session, request, namespace, Role.READER)
            resource = _resource(session, source, resource_id)
            target = _member(session, request, body.target, Role.WRITER)
            try:
                copied = res.copy(session, source, resource, target, user=viewer.user, now=services.now(),
                                  name=body.name)
            except (res.CopyRefused, res.ResourceError) as err:
                problems = [Problem(p.message, f"body.{p.where}") for p in err.problems]
                raise ProblemsError(problems, "cannot copy: " + "; ".join(p.message for p in err.problems)) from None
            _audit(request, session, AuditAction.RESOURCE_COPIED, namespace, resource,
                   target=target.workspace.namespace, copy_id=copied.id, copy_name=copied.name)
            return _json(_out(session, copied, target.workspace.namespace), 201, copied.version)
    except Refusal as refusal:
        return refusal.response()
