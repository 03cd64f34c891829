"""The workspaces' JSON API under ``/api/workspaces``: everything the pages do, for the SDK and notebooks (personal
API tokens with the ``workspaces:read`` / ``workspaces:write`` scopes, or the session cookie with the CSRF header).

Every route declares ``Access.REGISTERED``; the workspace, the role and the workspace's own tier are checked by
``workspaces.service`` (a workspace you may not see is a 404, whatever the reason). Changes take the etag you last
read, in the ``If-Match`` header (``"3"``) or the body's ``etag`` field: a stale one is a 409 whose body names the
current etag, and nothing is written. Every action is in the audit log.

Writes are POSTs (``…/update``, ``…/delete``): forms, htmx and the authorization matrix speak GET and POST only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException

from ...cdr.problems import Problem
from ...state.models import DataVersion, Workspace
from ...web import ERROR_RESPONSES, SecureRouter
from ...web.openapi import ErrorResponse
from ...workspaces import service
from ...workspaces.purpose import ResearchPurpose
from ...workspaces.roles import Role, WorkspaceForbidden, WorkspaceLocked, WorkspaceNotFound, members_of, require
from ..guards import Access, requires
from .workspaces import context_of

router = SecureRouter(prefix="/api/workspaces", tags=["workspaces"], responses=ERROR_RESPONSES)
READ = [requires(Access.REGISTERED, scope="workspaces:read")]
WRITE = [requires(Access.REGISTERED, scope="workspaces:write")]
REFUSALS = (WorkspaceNotFound, WorkspaceForbidden, WorkspaceLocked)

Namespace = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                description="the workspace's namespace (the slug of its first name, fixed)")]
IfMatch = Annotated[str | None, Header(alias="if-match", max_length=40,
                                       description='the etag you last read, e.g. "3" (or send the body\'s etag)')]


class ConflictResponse(ErrorResponse):
    etag: int = Field(description="the workspace's current etag: read it again, reapply your change, send that etag")


WORKSPACE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "your role is too low, or an administrator locked the workspace"},
    404: {"model": ErrorResponse, "description": "no such workspace, or not one you may see (not told apart)"},
}
CHANGE_RESPONSES = {**WORKSPACE_RESPONSES,
                    409: {"model": ConflictResponse, "description": "someone else changed the workspace first"}}


# -- models ---------------------------------------------------------------------------------------------------------

class DataVersionOut(BaseModel):
    id: int
    name: str = Field(description="the release's name, e.g. 2026Q4R1")
    tier: str = Field(description="registered or controlled: the tier whose data this version holds")
    release_number: int = Field(description="public, increasing across all versions")
    is_default: bool = Field(description="the version new workspaces of this tier get unless another is chosen")
    archived: bool = Field(description="archived versions keep their workspaces but take no new ones")


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: Literal["OWNER", "WRITER", "READER"] = Field(
        description="READER views; WRITER also edits; OWNER also shares and deletes")


class ReviewOut(BaseModel):
    requested: bool = Field(description="the owners asked the Resource Access Board to review the purpose")
    status: Literal["pending", "approved", "changes_requested"] | None
    note: str | None = Field(description="the Board's note with its decision")
    reviewed_at: datetime | None


class WorkspaceSummary(BaseModel):
    namespace: str = Field(description="the workspace's id in URLs: a slug of its first name, never changed")
    name: str
    tier: str = Field(description="registered or controlled; fixed at creation")
    data_version: DataVersionOut
    role: Literal["OWNER", "WRITER", "READER"] = Field(description="your role in this workspace")
    etag: int = Field(description="the workspace's version: send it back (If-Match or etag) with a change")
    updated_at: datetime = Field(description="the last change to its name, purpose or collaborators")
    locked: bool = Field(description="locked by an administrator: only its About information can be read")


class WorkspaceOut(WorkspaceSummary):
    purpose: ResearchPurpose = Field(description="the research purpose (with its private parts: you are a member)")
    created_at: datetime
    created_by: str | None = Field(description="the creator's email")
    updated_by: str | None = Field(description="the email of who made the last change")
    locked_reason: str | None = Field(description="why an administrator locked it")
    review: ReviewOut
    members: list[MemberOut] = Field(description="owners first, then writers, then readers")


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description=f"1 to {service.NAME_MAX} characters; the namespace is a slug of it, fixed")
    tier: Literal["registered", "controlled"] = Field(description="the data tier, fixed for good; you must hold it")
    data_version: int | str | None = Field(
        None, description="a data version of that tier (id or name); default: the tier's default version")
    purpose: ResearchPurpose


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    etag: int | None = Field(None, description="the etag you last read (or send If-Match)")
    name: str | None = Field(None, description="a new name (the namespace stays)")
    purpose: ResearchPurpose | None = Field(None, description="the whole new research purpose")


class DuplicateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the copy's name")
    data_version: int | str | None = Field(
        None, description="the same or a newer data version of the workspace's tier (id or name); default: the "
                          "tier's default version (or the source's, when that is newer)")
    include_collaborators: bool = Field(False, description="give the source's collaborators their roles in the "
                                                           "copy (you are an OWNER either way)")
    purpose: ResearchPurpose | None = Field(None, description="a new purpose; default: a copy of the source's")


class DeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    etag: int | None = Field(None, description="the etag you last read (or send If-Match)")


class ShareItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, max_length=254, description="the collaborator's email (or give user_id)")
    user_id: int | None = Field(None, description="the collaborator's user id (or give email)")
    role: Literal["OWNER", "WRITER", "READER"] | None = Field(description="the role to give; null removes them")

    @model_validator(mode="after")
    def _one(self) -> ShareItem:
        if (self.email is None) == (self.user_id is None):
            raise ValueError("give either email or user_id")
        return self


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    etag: int | None = Field(None, description="the etag you last read (or send If-Match)")
    items: list[ShareItem] = Field(min_length=1, max_length=100,
                                   description="the changes; anyone not listed keeps their role")


class UserOut(BaseModel):
    id: int
    email: str
    name: str


# -- answers --------------------------------------------------------------------------------------------------------

def _version_out(v: DataVersion) -> DataVersionOut:
    return DataVersionOut(id=v.id, name=v.name, tier=v.tier, release_number=v.release_number,
                          is_default=bool(v.is_default), archived=v.archived_at is not None)


def _summary(w: Workspace, role: Role) -> WorkspaceSummary:
    return WorkspaceSummary(namespace=w.namespace, name=w.name, tier=w.tier, data_version=_version_out(w.data_version),
                            role=role.name, etag=w.etag, updated_at=w.updated_at, locked=w.locked_at is not None)


def _full(session, w: Workspace, role: Role) -> WorkspaceOut:
    members = members_of(session, w)
    named = service.people(session, {w.created_by, w.updated_by})
    return WorkspaceOut(
        **_summary(w, role).model_dump(), purpose=service.purpose_of(w), created_at=w.created_at,
        created_by=named[w.created_by].email if w.created_by in named else None,
        updated_by=named[w.updated_by].email if w.updated_by in named else None,
        locked_reason=w.locked_reason,
        review=ReviewOut(requested=bool(w.review_requested), status=w.review_status, note=w.review_note,
                         reviewed_at=w.reviewed_at),
        members=[MemberOut(user_id=m.user_id, email=m.user.email, name=m.user.full_name, role=m.role)
                 for m in members])


def _json(model: BaseModel, status: int = 200, etag: int | None = None) -> JSONResponse:
    headers = {"etag": f'"{etag}"'} if etag is not None else None
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=headers)


def _refused(exc: Exception) -> JSONResponse:
    if isinstance(exc, WorkspaceNotFound):
        raise HTTPException(404)
    return JSONResponse({"error": str(exc), "problems": []}, status_code=403)


def _stale(exc: service.StaleEtag) -> JSONResponse:
    return JSONResponse({"error": exc.heading, "problems": [p.as_dict() for p in exc.problems], "etag": exc.current},
                        status_code=409, headers={"etag": f'"{exc.current}"'})


def _etag(header: str | None, body: int | None) -> int | None:
    """The etag from If-Match or the body; both given and different: refused."""
    from_header = service.parse_etag(header) if header is not None else None
    if header is not None and from_header is None:
        raise service.WorkspaceError([Problem('not an etag: send the number you read, e.g. "3"', "if-match")])
    if from_header is not None and body is not None and from_header != body:
        raise service.WorkspaceError([Problem("If-Match and the body's etag differ: send one", "etag")])
    return from_header if from_header is not None else body


def _reread(request: Request, namespace: str, status: int = 200) -> JSONResponse:
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.reading() as session:
        membership = require(session, namespace, viewer.user, viewer.access, Role.READER, about_page=True)
        return _json(_full(session, membership.workspace, membership.role), status, membership.workspace.etag)


def _limit(request: Request) -> None:
    request.app.state.services.limits.hit("forms", request.state.viewer.ip)


# -- routes ---------------------------------------------------------------------------------------------------------

@router.get("", response_model=list[WorkspaceSummary], dependencies=READ)
def list_workspaces(request: Request) -> list[WorkspaceSummary]:
    """Your workspaces in the tiers you hold now, the most recently changed first."""
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.reading() as session:
        return [_summary(item.workspace, item.role) for item in service.list_for(session, viewer.user, viewer.access)]


@router.post("", response_model=WorkspaceOut, status_code=201, dependencies=WRITE, responses=CHANGE_RESPONSES)
def create_workspace(request: Request, body: CreateIn):
    """Create a workspace in a tier you hold, on a data version of that tier; you are its OWNER. A purpose with
    ``review_requested`` asks the Resource Access Board to review it."""
    _limit(request)
    services, viewer = request.app.state.services, request.state.viewer
    with services.db.session() as session:
        created = service.create(session, context_of(request), viewer.user, name=body.name, tier=body.tier,
                                 data_version=body.data_version, purpose=body.purpose)
        namespace = created.namespace
    return _reread(request, namespace, 201)


@router.get("/{namespace}", response_model=WorkspaceOut, dependencies=READ, responses=WORKSPACE_RESPONSES)
def get_workspace(request: Request, namespace: Namespace):
    """A workspace you are a member of (readable while locked, like its About page); its etag is also the ETag
    header."""
    try:
        return _reread(request, namespace)
    except REFUSALS as exc:
        return _refused(exc)


@router.post("/{namespace}/update", response_model=WorkspaceOut, dependencies=WRITE, responses=CHANGE_RESPONSES)
def update_workspace(request: Request, namespace: Namespace, body: UpdateIn, if_match: IfMatch = None):
    """Change the name and/or the research purpose (WRITER or OWNER), given the etag you last read."""
    _limit(request)
    services, viewer = request.app.state.services, request.state.viewer
    try:
        with services.db.session() as session:
            service.update_workspace(session, context_of(request), viewer.user, namespace,
                                     etag=_etag(if_match, body.etag), name=body.name, purpose=body.purpose)
    except REFUSALS as exc:
        return _refused(exc)
    except service.StaleEtag as exc:
        return _stale(exc)
    return _reread(request, namespace)


@router.post("/{namespace}/duplicate", response_model=WorkspaceOut, status_code=201, dependencies=WRITE,
             responses=WORKSPACE_RESPONSES)
def duplicate_workspace(request: Request, namespace: Namespace, body: DuplicateIn):
    """Copy a workspace you are a member of to the same or a newer data version of its tier, with or without its
    collaborators."""
    _limit(request)
    services, viewer = request.app.state.services, request.state.viewer
    try:
        with services.db.session() as session:
            copy = service.duplicate(session, context_of(request), viewer.user, namespace, name=body.name,
                                     data_version=body.data_version,
                                     include_collaborators=body.include_collaborators, purpose=body.purpose)
            target = copy.namespace
    except REFUSALS as exc:
        return _refused(exc)
    return _reread(request, target, 201)


@router.post("/{namespace}/delete", status_code=204, response_class=Response, dependencies=WRITE,
             responses=CHANGE_RESPONSES)
def delete_workspace(request: Request, namespace: Namespace, body: DeleteIn | None = None, if_match: IfMatch = None):
    """Delete a workspace (OWNER), given the etag you last read: it is gone for every member."""
    _limit(request)
    services, viewer = request.app.state.services, request.state.viewer
    try:
        with services.db.session() as session:
            service.delete(session, context_of(request), viewer.user, namespace,
                           etag=_etag(if_match, body.etag if body else None))
    except REFUSALS as exc:
        return _refused(exc)
    except service.StaleEtag as exc:
        return _stale(exc)
    return Response(status_code=204)


@router.post("/{namespace}/share", response_model=WorkspaceOut, dependencies=WRITE, responses=CHANGE_RESPONSES)
def share_workspace(request: Request, namespace: Namespace, body: ShareIn, if_match: IfMatch = None):
    """Give collaborators roles, change them, or remove them (OWNER), given the etag you last read. Only people
    holding the workspace's tier can be added; a workspace always keeps an OWNER."""
    _limit(request)
    services, viewer = request.app.state.services, request.state.viewer
    changes = [(item.user_id if item.user_id is not None else item.email, item.role) for item in body.items]
    try:
        with services.db.session() as session:
            service.share(session, context_of(request), viewer.user, namespace, etag=_etag(if_match, body.etag),
                          changes=changes)
    except REFUSALS as exc:
        return _refused(exc)
    except service.StaleEtag as exc:
        return _stale(exc)
    except service.WorkspaceError as exc:
        keys = {f"role.{key}": f"items[{i}]" for i, (key, _) in enumerate(changes)}
        exc.problems = [Problem(p.message, keys.get(p.where, p.where)) for p in exc.problems]
        raise
    return _reread(request, namespace)


@router.get("/{namespace}/users", response_model=list[UserOut], dependencies=WRITE, responses=WORKSPACE_RESPONSES)
def search_users(request: Request, namespace: Namespace,
                 q: Annotated[str, Query(max_length=200, description="the start of an email, given name, family "
                                                                     "name or full name (2 characters or more)")] = ""):
    """People an OWNER may add: registered users holding the workspace's tier who are not members yet (at most
    ten; disabled accounts never)."""
    services, viewer = request.app.state.services, request.state.viewer
    try:
        with services.db.reading() as session:
            found = service.search_users(session, context_of(request), viewer.user, namespace, q)
            return [UserOut(id=u.id, email=u.email, name=u.full_name) for u in found]
    except REFUSALS as exc:
        return _refused(exc)
