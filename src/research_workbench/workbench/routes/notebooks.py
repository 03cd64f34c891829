"""A workspace's Notebooks tab: the list (name, language, last change, who holds it), new (Python or R), a
read-only preview, and for a Writer: Open in JupyterLab, rename, duplicate, copy to another workspace, delete.

Every route is ``requires(Access.REGISTERED)``; ``resources.member`` then checks the workspace's tier and the role
(not a member → 404, a Reader where a Writer is needed → 403). A Reader lists and previews.

"Open in JupyterLab" (a POST on the Workbench host) takes the notebook's edit lock (someone else holding it: the
page says who and since when, and offers the preview and a copy), starts the person's server for the workspace
if it is not running, mints a one-time ticket and redirects to the notebook host, which turns the ticket into a
session of its own (``notebooks/proxy.py``). The preview is the notebook as sanitised HTML on a Workbench page:
under the Workbench's CSP, nothing in it runs.
"""

from __future__ import annotations

from urllib.parse import quote

from anyio import to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...cdr.problems import Problem, ProblemsError
from ...web import SecureRouter
from ...workspaces import notebooks as nb
from ...workspaces import roles
from ...workspaces.roles import Membership, Role
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..notebooks import who
from ..notebooks.spawner import NotebookServerError
from ..rendering import page, see_other
from .resources import copy_targets, member

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]


def _notebooks(request: Request):
    return request.app.state.notebooks


def _url(namespace: str, name: str | None = None, action: str | None = None) -> str:
    path = f"/workspaces/{namespace}/notebooks"
    if name is not None:
        path += "/" + quote(name, safe="")
    return path + (f"/{action}" if action else "")


def _audit(request: Request, session, action: AuditAction, membership: Membership, notebook: str, **details) -> None:
    viewer = request.state.viewer
    request.app.state.services.audit.append(
        session, action, actor_id=viewer.user.id, ip=viewer.ip,
        details={"workspace": membership.workspace.namespace, "notebook": notebook, **details})


# -- the list ----------------------------------------------------------------------------------------------------

def _list_page(request: Request, membership: Membership, *, status: int = 200, errors: FieldErrors | None = None,
               values: dict | None = None) -> HTMLResponse:
    books = _notebooks(request)
    workspace = membership.workspace
    listed = nb.list_notebooks(books.root, workspace.namespace, now=books.now())
    languages = books.languages() if membership.role >= Role.WRITER else {}
    return page(request, "notebooks_list.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                notebooks=listed, languages=languages, enabled=books.enabled, me=request.state.viewer.user.id,
                errors=errors or FieldErrors(), values=values or {"name": "", "language": "python"},
                name_max=nb.NAME_MAX - len(nb.SUFFIX), url=_url)


@router.get("/workspaces/{namespace}/notebooks", response_class=HTMLResponse, dependencies=REGISTERED)
def notebook_list(request: Request, namespace: str):
    """The workspace's notebooks; a Writer also sees the form for a new one."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
    return _list_page(request, membership)


@router.post("/workspaces/{namespace}/notebooks", response_class=HTMLResponse, dependencies=REGISTERED)
async def create_notebook(request: Request, namespace: str):
    services = request.app.state.services
    books = _notebooks(request)
    form = await read_form(request)
    values = {"name": form.get("name"), "language": form.get("language")}
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
    try:
        if values["language"] not in books.languages():
            raise nb.NotebookError([Problem(f"choose {' or '.join(books.languages().values())}", "language")])
        made = nb.create(books.root, namespace, values["name"], values["language"],
                         by=who(request.state.viewer.user), now=services.now())
    except nb.NotebookError as err:
        return _list_page(request, membership, status=422, errors=FieldErrors.of_problems(err.problems),
                          values=values)
    request.state.viewer.flash(f"Notebook “{made.name}” created ({made.language_label}).")
    return see_other(_url(namespace, made.name))


# -- one notebook ----------------------------------------------------------------------------------------------

def _view_page(request: Request, membership: Membership, name: str, *, status: int = 200,
               errors: FieldErrors | None = None, values: dict | None = None, locked: str | None = None,
               failed: str | None = None) -> HTMLResponse:
    books = _notebooks(request)
    workspace = membership.workspace
    try:
        notebook = nb.get(books.root, workspace.namespace, name, now=books.now())
    except nb.NotebookNotFound:
        raise HTTPException(404) from None
    try:
        preview, unreadable = nb.preview_html(books.root, workspace.namespace, name), None
    except nb.NotebookError as err:
        preview, unreadable = "", "; ".join(p.message for p in err.problems)
    targets = []
    if membership.role >= Role.WRITER:
        with request.app.state.services.db.reading() as session:
            targets = copy_targets(session, request, workspace)
    return page(request, "notebooks_view.html", status=status, workspace=workspace, role=membership.role, Role=Role,
                notebook=notebook, preview=preview, unreadable=unreadable, targets=targets, enabled=books.enabled,
                me=request.state.viewer.user.id, errors=errors or FieldErrors(),
                values=values or {"new_name": "", "copy_name": "", "target": ""}, locked=locked, failed=failed,
                name_max=nb.NAME_MAX - len(nb.SUFFIX), url=_url)


def _exists(request: Request, membership: Membership, name: str) -> None:
    try:
        nb.get(_notebooks(request).root, membership.workspace.namespace, name, now=_notebooks(request).now())
    except nb.NotebookNotFound:
        raise HTTPException(404) from None


@router.get("/workspaces/{namespace}/notebooks/{notebook}", response_class=HTMLResponse, dependencies=REGISTERED)
def view_notebook(request: Request, namespace: str, notebook: str):
    """The read-only preview, and a Writer's actions."""
    with request.app.state.services.db.reading() as session:
        membership = member(session, request, namespace, Role.READER)
    return _view_page(request, membership, notebook)


@router.post("/workspaces/{namespace}/notebooks/{notebook}/open", dependencies=REGISTERED)
async def open_notebook(request: Request, namespace: str, notebook: str):
    """Take the edit lock, start the server if needed, and send the browser to the notebook host with a ticket."""
    services = request.app.state.services
    books = _notebooks(request)
    viewer = request.state.viewer
    await read_form(request)
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
    _exists(request, membership, notebook)
    if not books.enabled:
        return _view_page(request, membership, notebook, status=409, failed=(
            "JupyterLab is not set up on this Workbench (no notebook host is configured): read the preview instead."))
    user, label = viewer.user, who(viewer.user)
    try:
        await to_thread.run_sync(lambda: nb.acquire(books.root, namespace, notebook, user_id=user.id, who=label,
                                                    now=services.now()))
    except nb.NotebookLocked as locked:
        return _view_page(request, membership, notebook, status=409, locked=str(locked))
    try:
        server, started = await to_thread.run_sync(books.spawner.start, user.id, namespace)
    except (NotebookServerError, ProblemsError) as err:
        await to_thread.run_sync(lambda: nb.release(books.root, namespace, user.id, now=services.now()))
        message = "; ".join(p.message for p in err.problems) if isinstance(err, ProblemsError) else str(err)
        return _view_page(request, membership, notebook, status=503,
                          failed=f"JupyterLab could not be started: {message.splitlines()[0]}")
    with services.db.session() as session:
        if started:
            _audit(request, session, AuditAction.NOTEBOOK_SERVER_STARTED, membership, notebook,
                   seconds=round(server.start_seconds, 2), api_token_id=server.api_token_id)
        _audit(request, session, AuditAction.NOTEBOOK_OPENED, membership, notebook)
    ticket = books.tickets.mint(user_id=user.id, who=label, namespace=namespace, notebook=notebook,
                                session_id=viewer.session_id, now=services.now())
    return RedirectResponse(f"{books.origin}/notebooks/enter?ticket={ticket}", status_code=303,
                            headers={"cache-control": "no-store"})


@router.post("/workspaces/{namespace}/notebooks/{notebook}/rename", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def rename_notebook(request: Request, namespace: str, notebook: str):
    services = request.app.state.services
    books = _notebooks(request)
    form = await read_form(request)
    values = {"new_name": form.get("new_name"), "copy_name": "", "target": ""}
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
    _exists(request, membership, notebook)
    user = request.state.viewer.user
    try:
        renamed = nb.rename(books.root, namespace, notebook, values["new_name"], user_id=user.id, by=who(user),
                            now=services.now())
    except nb.NotebookLocked as locked:
        return _view_page(request, membership, notebook, status=409, locked=str(locked), values=values)
    except nb.NotebookError as err:
        return _view_page(request, membership, notebook, status=422, errors=FieldErrors.of_problems(err.problems),
                          values=values)
    request.state.viewer.flash(f"Renamed to “{renamed.name}”.")
    return see_other(_url(namespace, renamed.name))


@router.post("/workspaces/{namespace}/notebooks/{notebook}/duplicate", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def duplicate_notebook(request: Request, namespace: str, notebook: str):
    services = request.app.state.services
    books = _notebooks(request)
    form = await read_form(request)
    values = {"new_name": form.get("new_name"), "copy_name": "", "target": ""}
    with services.db.reading() as session:
        membership = member(session, request, namespace, Role.WRITER)
    _exists(request, membership, notebook)
    try:
        copied = nb.duplicate(books.root, namespace, notebook, values["new_name"] or None,
                              by=who(request.state.viewer.user), now=services.now())
    except nb.NotebookError as err:
        return _view_page(request, membership, notebook, status=422, errors=FieldErrors.of_problems(err.problems),
                          values=values)
    request.state.viewer.flash(f"Duplicated as “{copied.name}”.")
    return see_other(_url(namespace, copied.name))


@router.post("/workspaces/{namespace}/notebooks/{notebook}/copy", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def copy_notebook(request: Request, namespace: str, notebook: str):
    services = request.app.state.services
    books = _notebooks(request)
    viewer = request.state.viewer
    form = await read_form(request)
    values = {"new_name": "", "copy_name": form.get("copy_name"), "target": form.get("target")}
    with services.db.session() as session:
        source = member(session, request, namespace, Role.WRITER)
        _exists(request, source, notebook)
        problems = []
        target = None
        if not values["target"]:
            problems = [Problem("choose the workspace to copy to", "target")]
        else:
            try:
                target = roles.require(session, values["target"], viewer.user, viewer.access, Role.WRITER)
            except roles.WorkspaceNotFound:
                problems = [Problem(f"no workspace {values['target']!r} that you are a member of", "target")]
            except (roles.WorkspaceLocked, roles.WorkspaceForbidden) as exc:
                problems = [Problem(str(exc), "target")]
        if target is not None:
            try:
                copied = nb.copy_to(books.root, source.workspace, notebook, target.workspace,
                                    values["copy_name"] or None, by=who(viewer.user), now=services.now())
            except nb.NotebookError as err:
                problems = [Problem(p.message, "copy_name" if p.where == "new_name" else p.where)
                            for p in err.problems]
            else:
                _audit(request, session, AuditAction.NOTEBOOK_COPIED, source, notebook,
                       target=target.workspace.namespace, copy=copied.name)
                viewer.flash(f"Copied to {target.workspace.name} as “{copied.name}”.")
                return see_other(_url(target.workspace.namespace, copied.name))
    return _view_page(request, source, notebook, status=422, errors=FieldErrors.of_problems(problems), values=values)


@router.post("/workspaces/{namespace}/notebooks/{notebook}/delete", response_class=HTMLResponse,
             dependencies=REGISTERED)
async def delete_notebook(request: Request, namespace: str, notebook: str):
    services = request.app.state.services
    books = _notebooks(request)
    await read_form(request)
    user = request.state.viewer.user
    refused = None
    with services.db.session() as session:
        membership = member(session, request, namespace, Role.WRITER)
        _exists(request, membership, notebook)
        try:
            nb.delete(books.root, namespace, notebook, user_id=user.id, now=services.now())
        except nb.NotebookLocked as locked:
            refused = str(locked)
        else:
            _audit(request, session, AuditAction.NOTEBOOK_DELETED, membership, notebook)
    if refused is not None:
        return _view_page(request, membership, notebook, status=409, locked=refused)
    request.state.viewer.flash(f"Notebook “{notebook}” deleted.")
    return see_other(_url(namespace))
