"""A workspace's Data tab and resource pages: cohorts, concept sets, datasets, review sets and notebooks, each with
its version history (restore an earlier version), edit and delete (WRITER), and copy to another workspace.

Every route is ``requires(Access.REGISTERED)`` (any tier holder); ``roles.require`` then checks the workspace's own
tier and the role: not a member (or no such workspace) → 404, too low a role → 403, locked → 403 with the reason.
Content is JSON in a textarea here (the Cohort Builder's own pages come later); the API takes the same documents.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...accounts.modules import Tier
from ...cdr.problems import Problem
from ...state.models import DataVersion, Workspace, WorkspaceMember
from ...web import SecureRouter
from ...workspaces import resources as res
from ...workspaces import roles
from ...workspaces.roles import Membership, Role
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
KIND_FILTERS = {"all": "All", **res.PLURALS}
KindFilter = Literal["all", "cohort", "concept_set", "dataset", "review_set", "notebook"]

EXAMPLES = {
    "cohort": '{"includes": [{"id": "g1", "items": [{"id": "i1", "type": "CONDITION", "searchParameters": '
              '[{"parameterId": "p1", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201826}]}]}]}',
    "concept_set": '{"domain": "CONDITION", "concepts": [{"conceptId": 201826}]}',
    "dataset": '{"cohorts": ["My cohort"], "concept_sets": [], "values": {"PERSON": ["person_id", "gender"]}}',
    "review_set": '{"cohort": "My cohort", "size": 20, "participants": []}',
    "notebook": '{"language": "python", "source": "print(1)"}',
}


def member(session: Session, request: Request, namespace: str, minimum: Role) -> Membership:
    """The viewer's membership of ``namespace`` with at least ``minimum``, or the HTTP error that says why not."""
    viewer = request.state.viewer
    try:
        return roles.require(session, namespace, viewer.user, viewer.access, minimum)
    except roles.WorkspaceNotFound:
        raise HTTPException(404) from None
    except (roles.WorkspaceLocked, roles.WorkspaceForbidden) as exc:
        raise HTTPException(403, detail=str(exc)) from None


def resource_of(session: Session, membership: Membership, resource_id: int) -> res.Resource:
    try:
        return res.get(session, membership, resource_id)
    except res.ResourceNotFound:
        raise HTTPException(404) from None


def audit(request: Request, session: Session, action: AuditAction, membership: Membership, resource, **details) -> None:
    viewer = request.state.viewer
    request.app.state.services.audit.append(
        session, action, actor_id=viewer.user.id, ip=viewer.ip,
        details={"workspace": membership.workspace.namespace, "resource_id": resource.id, "kind": resource.kind,
                 "name": resource.name, "version": resource.version, **details})


def form_errors(problems: list) -> FieldErrors:
    """Problems by form field: everything inside the content goes beside the content box, its JSON path kept."""
    shown = []
    for p in problems:
        where = getattr(p, "where", "") or "form"
        if where.startswith("content") or where.startswith("(json)") or where.startswith("line "):
            shown.append(Problem(f"{where}: {p.message}" if where != "content" else p.message, "content"))
        else:
            shown.append(p)
    return FieldErrors.of_problems(shown)


def _pretty(content: dict) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False)


def copy_targets(session: Session, request: Request, here: Workspace) -> list[tuple[str, str]]:
    """The viewer's other workspaces where they may write (Writer or Owner), live and unlocked, of a tier they hold."""
    viewer = request.state.viewer
    rows = session.execute(
        select(Workspace, DataVersion, WorkspaceMember.role).join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .join(DataVersion, DataVersion.id == Workspace.data_version_id)
        .where(WorkspaceMember.user_id == viewer.user.id, WorkspaceMember.role.in_(("WRITER", "OWNER")),
               Workspace.deleted_at.is_(None), Workspace.locked_at.is_(None), Workspace.id != here.id)
        .order_by(Workspace.name))
    return [(w.namespace, f"{w.name} ({Tier(w.tier).label}, data version {dv.name})")
            for w, dv, _ in rows if Tier(w.tier) in viewer.access.granted]


# -- the Data tab ------------------------------------------------------------------------------------------------

def _data_page(request: Request, session: Session, membership: Membership, kind: str, *, status: int = 200,
               errors: FieldErrors | None = None, values: dict | None = None) -> HTMLResponse:
    workspace = membership.workspace
    resources = res.live(session, workspace, None if kind == "all" else kind)
    counts = {k: 0 for k in res.KINDS}
    for r in res.live(session, workspace):
        counts[r.kind] += 1
    return page(request, "resource_data.html", status=status, workspace=workspace, role=membership.role,
                Role=Role, resources=resources, kind=kind, filters=KIND_FILTERS, counts=counts, kinds=res.KINDS,
                errors=errors or FieldErrors(), values=values or {"kind": "cohort", "name": "", "description": "",
                                                                  "content": ""},
                examples=EXAMPLES, name_max=res.NAME_MAX, description_max=res.DESCRIPTION_MAX)


@router.get("/workspaces/{namespace}/data", response_class=HTMLResponse, dependencies=REGISTERED)
def data_tab(request: Request, namespace: str, kind: KindFilter = Query("all")):
    """The workspace's resources, filtered by kind; a Writer also sees the form for a new one."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        return _data_page(request, session, membership, kind)


@router.post("/workspaces/{namespace}/resources", response_class=HTMLResponse, dependencies=REGISTERED)
async def create_resource(request: Request, namespace: str):
    services = request.app.state.services
    form = await read_form(request)
    values = {k: form.get(k) for k in ("kind", "name", "description", "content")}
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            if not values["content"].strip():
                raise res.ResourceError([Problem("write the content as JSON", "content")])
            resource = res.create(session, membership, values["kind"], values["name"], values["description"],
                                  res.decode_content(values["content"]), request.state.viewer.user, services.now())
            audit(request, session, AuditAction.RESOURCE_CREATED, membership, resource)
            request.state.viewer.flash(f"{res.KINDS[resource.kind]} “{resource.name}” created (version 1).")
            return see_other(f"/workspaces/{namespace}/resources/{resource.id}")
    except res.ResourceError as err:  # (the transaction rolled back) the form again, with the problems
        with services.db.reading() as session:
            membership = member(session, request, namespace, Role.WRITER)
            return _data_page(request, session, membership, "all", status=422, errors=form_errors(err.problems),
                              values=values)


# -- one resource ------------------------------------------------------------------------------------------------

def _resource_page(request: Request, session: Session, membership: Membership, resource, *, shown: int | None = None,
                   status: int = 200, errors: FieldErrors | None = None, values: dict | None = None,
                   copy_errors: FieldErrors | None = None, copy_values: dict | None = None,
                   stale: str | None = None, kept: bool = False) -> HTMLResponse:
    try:
        version = res.version_of(session, resource, shown)
    except res.ResourceNotFound:
        raise HTTPException(404) from None
    current = version if shown is None else res.version_of(session, resource)
    workspace = membership.workspace
    return page(request, "resource_view.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                resource=resource, kind_label=res.KINDS[resource.kind], version=version,
                summary=res.summary(session, workspace, resource.kind, version.content),
                content_json=_pretty(version.content), history=res.history(session, resource),
                targets=copy_targets(session, request, workspace),
                errors=errors or FieldErrors(), copy_errors=copy_errors or FieldErrors(),
                values=values or {"name": current.name, "description": current.description,
                                  "content": _pretty(current.content), "note": "", "version": resource.version},
                copy_values=copy_values or {"target": "", "name": ""}, stale=stale, kept=kept,
                name_max=res.NAME_MAX, description_max=res.DESCRIPTION_MAX, note_max=res.NOTE_MAX)


@router.get("/workspaces/{namespace}/resources/{resource_id}", response_class=HTMLResponse, dependencies=REGISTERED)
def view_resource(request: Request, namespace: str, resource_id: int, version: int | None = Query(None, ge=1)):
    """A resource: its content (``version``: an earlier one), its history with Restore buttons, edit and copy."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        resource = resource_of(session, membership, resource_id)
        return _resource_page(request, session, membership, resource, shown=version)


def _expected(form, field: str = "version") -> int:
    text = form.get(field)
    if not text.isdigit() or len(text) > 9:
        raise HTTPException(422, detail=f"the form's {field} is missing: reload the page and try again")
    return int(text)


@router.post("/workspaces/{namespace}/resources/{resource_id}/update", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def update_resource(request: Request, namespace: str, resource_id: int):
    services = request.app.state.services
    form = await read_form(request)
    values = {k: form.get(k) for k in ("name", "description", "content", "note")}
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            resource = resource_of(session, membership, resource_id)
            expected = values["version"] = _expected(form)
            if not values["content"].strip():
                raise res.ResourceError([Problem("write the content as JSON", "content")])
            changed = res.update(session, membership, resource, expected_version=expected,
                                 user=request.state.viewer.user, now=services.now(), name=values["name"],
                                 description=values["description"], content=res.decode_content(values["content"]),
                                 note=values["note"] or None)
            if changed:
                audit(request, session, AuditAction.RESOURCE_UPDATED, membership, resource,
                      note=values["note"] or "edited")
                request.state.viewer.flash(f"Saved as version {resource.version}.")
            else:
                request.state.viewer.flash(f"Nothing changed: still version {resource.version}.")
            return see_other(f"/workspaces/{namespace}/resources/{resource.id}")
    except res.StaleVersion as stale:
        # The writer's text stays in the form, now over the current version: saving again replaces it.
        return _again(request, namespace, resource_id, 409, values=values, stale=str(stale), version_to_current=True,
                      kept=True)
    except res.ResourceError as err:
        return _again(request, namespace, resource_id, 422, values=values, errors=form_errors(err.problems))


def _again(request: Request, namespace: str, resource_id: int, status: int, *, version_to_current: bool = False,
           **context) -> HTMLResponse:
    """The resource page after a refused change (whose transaction rolled back), read afresh."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        resource = resource_of(session, membership, resource_id)
        if version_to_current and context.get("values") is not None:
            context["values"]["version"] = resource.version
        return _resource_page(request, session, membership, resource, status=status, **context)


@router.post("/workspaces/{namespace}/resources/{resource_id}/delete", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def delete_resource(request: Request, namespace: str, resource_id: int):
    services = request.app.state.services
    form = await read_form(request)
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            resource = resource_of(session, membership, resource_id)
            res.delete(session, membership, resource, user=request.state.viewer.user, now=services.now(),
                       expected_version=_expected(form))
            audit(request, session, AuditAction.RESOURCE_DELETED, membership, resource)
            request.state.viewer.flash(f"{res.KINDS[resource.kind]} “{resource.name}” deleted.")
            return see_other(f"/workspaces/{namespace}/data")
    except res.StaleVersion as stale:
        return _again(request, namespace, resource_id, 409, stale=str(stale))


@router.post("/workspaces/{namespace}/resources/{resource_id}/restore", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def restore_resource(request: Request, namespace: str, resource_id: int):
    services = request.app.state.services
    form = await read_form(request)
    try:
        with services.db.session() as session:
            membership = member(session, request, namespace, Role.WRITER)
            resource = resource_of(session, membership, resource_id)
            number = _expected(form, "restore")
            res.restore(session, membership, resource, number, user=request.state.viewer.user, now=services.now(),
                        expected_version=_expected(form))
            audit(request, session, AuditAction.RESOURCE_RESTORED, membership, resource, restored=number)
            request.state.viewer.flash(f"Version {number} restored as version {resource.version}.")
            return see_other(f"/workspaces/{namespace}/resources/{resource.id}")
    except res.StaleVersion as stale:
        return _again(request, namespace, resource_id, 409, stale=str(stale))
    except res.ResourceNotFound:
        raise HTTPException(404) from None
    except res.ResourceError as err:
        return _again(request, namespace, resource_id, 422, errors=FieldErrors.of_problems(err.problems))


class _CopyRefused(Exception):
    def __init__(self, problems: list):
        self.problems = problems


@router.post("/workspaces/{namespace}/resources/{resource_id}/copy", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def copy_resource(request: Request, namespace: str, resource_id: int):
    services = request.app.state.services
    viewer = request.state.viewer
    form = await read_form(request)
    values = {"target": form.get("target"), "name": form.get("name")}
    try:
        with services.db.session() as session:
            source = member(session, request, namespace, Role.READER)
            resource = resource_of(session, source, resource_id)
            if not values["target"]:
                raise _CopyRefused([Problem("choose the workspace to copy to", "target")])
            try:
                target = roles.require(session, values["target"], viewer.user, viewer.access, Role.WRITER)
            except roles.WorkspaceNotFound:
                raise _CopyRefused([Problem(f"no workspace {values['target']!r} that you are a member of",
                                            "target")]) from None
            except (roles.WorkspaceLocked, roles.WorkspaceForbidden) as exc:
                raise _CopyRefused([Problem(str(exc), "target")]) from None
            try:
                copied = res.copy(session, source, resource, target, user=viewer.user, now=services.now(),
                                  name=values["name"] or None)
            except (res.CopyRefused, res.ResourceError) as err:
                raise _CopyRefused(err.problems) from None
            audit(request, session, AuditAction.RESOURCE_COPIED, source, resource, target=target.workspace.namespace,
                  copy_id=copied.id, copy_name=copied.name)
            viewer.flash(f"Copied to {target.workspace.name} as “{copied.name}”.")
            return see_other(f"/workspaces/{target.workspace.namespace}/resources/{copied.id}")
    except _CopyRefused as refused:
        return _again(request, namespace, resource_id, 422, copy_values=values,
                      copy_errors=FieldErrors.of_problems(refused.problems))
