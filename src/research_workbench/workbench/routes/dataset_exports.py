"""Dataset exports over the API: start one (a background job, ``export_jobs``), follow it, cancel it.

- ``POST /api/workspaces/{ns}/datasets/{id}/exports[?version=]`` → 202 and the export (WRITER).
- ``GET /api/workspaces/{ns}/exports`` and ``GET …/exports/{export_id}`` → status, progress (tables done of
  total), the snapshot's path and manifest once done, or why it stopped (any member).
- ``POST /api/workspaces/{ns}/exports/{export_id}/cancel`` → the export, asked to stop (WRITER).

An export remembers the session or API token that started it and stops, writing nothing, if that ends first.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ...web import ERROR_RESPONSES, ErrorResponse, SecureRouter
from ...workspaces import exports as ex
from ...workspaces import resources as res
from ...workspaces.roles import Role, WorkspaceForbidden
from ..forms import read_form
from ..guards import Access, requires
from ..rendering import page, see_other
from .resource_api import Refusal, _member
from .resources import member, resource_of

router = SecureRouter(prefix="/api", tags=["datasets"], responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse}})
READ = [requires(Access.REGISTERED, scope="workspaces:read")]
WRITE = [requires(Access.REGISTERED, scope="workspaces:write")]


@router.post("/workspaces/{namespace}/datasets/{resource_id}/exports", status_code=202, dependencies=WRITE)
def start_export(request: Request, namespace: str, resource_id: int, version: int | None = Query(None, ge=1)):
    """Export the dataset (at ``version``, default its current one) as a Parquet snapshot with a manifest, in the
    background. WRITER."""
    services, viewer = request.app.state.services, request.state.viewer
    try:
        with services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            try:
                dataset = res.get(session, membership, resource_id)
                export = ex.start(session, membership, dataset, version=version, user=viewer.user, now=services.now(),
                                  session_id=viewer.session_id if viewer.token is None else None,
                                  token_id=viewer.token.id if viewer.token is not None else None,
                                  runner=services.exports.runner)
            except res.ResourceNotFound as err:
                raise Refusal(404, str(err)) from None
            except res.ResourceError as err:
                raise Refusal(422, "this resource cannot be exported", err.problems) from None
            export_id, body = export.id, ex.as_dict(export)
        services.exports.submit(export_id)
        return JSONResponse(body, status_code=202)
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/exports", dependencies=READ)
def list_exports(request: Request, namespace: str):
    """The workspace's exports, newest first."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            return JSONResponse([ex.as_dict(e) for e in ex.of_workspace(session, membership)])
    except Refusal as refusal:
        return refusal.response()


@router.get("/workspaces/{namespace}/exports/{export_id}", dependencies=READ)
def get_export(request: Request, namespace: str, export_id: int):
    """One export: its status and progress; the snapshot's path and manifest once done."""
    try:
        with request.app.state.services.db.reading() as session:
            membership = _member(session, request, namespace, Role.READER)
            try:
                return JSONResponse(ex.as_dict(ex.get(session, membership, export_id)))
            except ex.ExportNotFound as err:
                raise Refusal(404, str(err)) from None
    except Refusal as refusal:
        return refusal.response()


@router.post("/workspaces/{namespace}/exports/{export_id}/cancel", dependencies=WRITE)
def cancel_export(request: Request, namespace: str, export_id: int):
    """Ask the export to stop; it stops before its next table and keeps nothing. WRITER."""
    try:
        with request.app.state.services.db.session() as session:
            membership = _member(session, request, namespace, Role.WRITER)
            try:
                export = ex.request_cancel(session, membership, ex.get(session, membership, export_id))
            except ex.ExportNotFound as err:
                raise Refusal(404, str(err)) from None
            except WorkspaceForbidden as err:
                raise Refusal(403, str(err)) from None
            return JSONResponse(ex.as_dict(export))
    except Refusal as refusal:
        return refusal.response()


# -- pages: the Dataset Builder's export panel and the workspace's exports -----------------------------------------

page_router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]


def _exports_page(request: Request, namespace: str, *, fragment: bool = False) -> HTMLResponse:
    services = request.app.state.services
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
        exports = ex.of_workspace(session, membership)
        names = {r.id: r.name for r in res.live(session, membership.workspace, "dataset")}
        return page(request, "dataset_exports.html", workspace=membership.workspace, role=membership.role, Role=Role,
                    exports=exports, names=names, fragment=fragment,
                    running=any(e.status not in ex.ENDED for e in exports))


@page_router.get("/workspaces/{namespace}/exports", response_class=HTMLResponse, dependencies=REGISTERED)
def exports_page(request: Request, namespace: str, fragment: bool = Query(False)):
    """The workspace's dataset exports: status and progress (refreshed while one runs), the snapshot's folder and
    row counts, why one stopped; Cancel for a Writer."""
    return _exports_page(request, namespace, fragment=fragment)


@page_router.post("/workspaces/{namespace}/datasets/{resource_id}/export", response_class=HTMLResponse,
                  dependencies=REGISTERED)
async def export_form(request: Request, namespace: str, resource_id: int):
    """Start an export of the dataset's saved version (the Dataset Builder's "Export a snapshot"). WRITER."""
    services, viewer = request.app.state.services, request.state.viewer
    await read_form(request)  # the CSRF field only
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        dataset = resource_of(session, membership, resource_id)
        if dataset.kind != "dataset":
            raise HTTPException(404)
        export = ex.start(session, membership, dataset, version=None, user=viewer.user, now=services.now(),
                          session_id=viewer.session_id, token_id=None, runner=services.exports.runner)
        export_id = export.id
    services.exports.submit(export_id)
    viewer.flash(f"Export {export_id} of “{dataset.name}” started: it runs in the background.")
    return see_other(f"/workspaces/{namespace}/exports")


@page_router.post("/workspaces/{namespace}/exports/{export_id}/cancel", response_class=HTMLResponse,
                  dependencies=REGISTERED)
async def cancel_form(request: Request, namespace: str, export_id: int):
    services = request.app.state.services
    await read_form(request)
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        try:
            ex.request_cancel(session, membership, ex.get(session, membership, export_id))
        except ex.ExportNotFound:
            raise HTTPException(404) from None
    request.state.viewer.flash(f"Export {export_id}: asked to stop (before its next table; nothing is kept).")
    return see_other(f"/workspaces/{namespace}/exports")


@page_router.post("/workspaces/{namespace}/datasets/{resource_id}/to-notebook", response_class=HTMLResponse,
                  dependencies=REGISTERED)
async def to_notebook(request: Request, namespace: str, resource_id: int):
    """Write the code that reads the dataset (its saved version) into a new notebook, or add it to an existing one
    of the same language that no one else holds. WRITER."""
    from ...datasets import codegen
    from ...workspaces import notebooks as files
    from .dataset_api import _code_target, _load

    services, viewer = request.app.state.services, request.state.viewer
    with services.db.reading() as session:
        member(session, request, namespace, Role.WRITER)  # the role before the body
    form = await read_form(request)
    language, name, existing = form.get("language") or "", (form.get("name") or "").strip(), form.get("existing") or ""
    back = f"/workspaces/{namespace}/datasets/{resource_id}/build#export"
    if language not in codegen.KERNELS:
        viewer.flash(f"Choose the notebook's language: {', '.join(codegen.LANGUAGES[k] for k in codegen.KERNELS)}.")
        return see_other(back)
    try:
        loaded = _load(request, namespace, resource_id, None)
        document = codegen.notebook(language, _code_target(request, loaded, language))
    except Refusal as refusal:
        viewer.flash(f"The notebook could not be made: {refusal}.")
        return see_other(back)
    cells = [(c.cell_type, c.source) for c in document.cells]
    kind = codegen.KERNELS[language][1].lower()  # "python" or "r"
    root, now, who = request.app.state.notebooks.root, services.now(), viewer.user.email
    try:
        if existing:
            files.append_cells(root, namespace, existing, cells, kind, user_id=viewer.user.id, by=who, now=now)
            target = existing
        else:
            target = files.write_notebook(root, namespace, name or loaded.resource.name, cells, kind, by=who,
                                          now=now).name
    except files.NotebookLocked as locked:
        viewer.flash(f"{existing} is in use by {locked.lock.who}: open a copy, or try when they are done.")
        return see_other(back)
    except (files.NotebookError, files.NotebookNotFound) as err:
        message = "; ".join(p.message for p in getattr(err, "problems", [])) or f"no notebook {existing!r}"
        viewer.flash(f"The notebook could not be written: {message}.")
        return see_other(back)
    viewer.flash(f"{'Added to' if existing else 'Created'} {target}: open it in JupyterLab to run it.")
    return see_other(f"/workspaces/{namespace}/notebooks/{quote(target, safe='')}")
