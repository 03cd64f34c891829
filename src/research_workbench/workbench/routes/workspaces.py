"""Workspace pages: the list, creating one (the research purpose form), its About page, editing, duplicating,
deleting and sharing; and for administrators the Resource Access Board's review queue and workspace locks.

Guards: every workspace page declares ``Access.REGISTERED`` (a tier holder signed in with a second factor); inside,
``roles.require`` (through ``workspaces.service``) checks the workspace, the role and the workspace's own tier. A
workspace the viewer may not see is a 404 (a Controlled Tier workspace is invisible to a Registered-only member,
even one listed as its member); too low a role is a 403 page; a locked workspace is a 403 page with the reason,
except its About page, which shows the lock as a banner. The administrators' pages declare ``Access.ADMIN``.

Every change goes through ``workspaces.service`` with its audit event in the same transaction. Edit, share and
delete carry the workspace's etag in a hidden field: a stale one is a 409 page saying someone else changed the
workspace, showing their version and offering to reload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from ...accounts.modules import Tier
from ...cdr.problems import Problem
from ...state.models import User, Workspace
from ...web import SecureRouter
from ...workspaces import service
from ...workspaces.purpose import (
    AIAN_RESEARCH_TYPES, ANSWER_MAX, DISSEMINATION, POPULATION_DETAILS, PURPOSE_FLAGS, RESEARCH_OUTCOMES,
    ResearchPurpose,
)
from ...workspaces.roles import (
    Role, WorkspaceForbidden, WorkspaceLocked, WorkspaceNotFound, load_workspace, members_of, require, role_of,
)
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import fragment_or_page, page, see_other

router = SecureRouter(include_in_schema=False)
REGISTERED = [requires(Access.REGISTERED)]
ADMIN = [requires(Access.ADMIN)]
DRAFT = "rw.workspace_draft"  # the new-workspace form as last sent, kept in the server-side session when refused
REFUSALS = (WorkspaceNotFound, WorkspaceForbidden, WorkspaceLocked)

Namespace = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")]

PURPOSE_LABELS = {k: ResearchPurpose.model_fields[k].description
                  for k in ("intended_study", "scientific_approach", "anticipated_findings")}
LABELS = {"questions": PURPOSE_LABELS, "flags": PURPOSE_FLAGS, "dissemination": DISSEMINATION,
          "outcomes": RESEARCH_OUTCOMES, "populations": POPULATION_DETAILS, "aian": AIAN_RESEARCH_TYPES}
TEXT_FIELDS = service.TEXT_FIELDS


# -- shared pieces --------------------------------------------------------------------------------------------------

def _services(request: Request):
    return request.app.state.services


def context_of(request: Request) -> service.Context:
    """The service context: the audit log, access (the viewer's own as evaluated for this request; anyone else's
    evaluated now), the time and the client's address."""
    services, viewer = _services(request), request.state.viewer
    now = services.now()

    def access_of(user: User):
        if viewer.user is not None and user.id == viewer.user.id:
            return viewer.access
        return services.evaluator.state(user, now)

    return service.Context(services.audit, access_of, now, viewer.ip)


def refused(request: Request, exc: Exception, namespace: str) -> Response:
    """A workspace the viewer may not see (404), a role too low (403) or a locked workspace (403 with the reason)."""
    if isinstance(exc, WorkspaceNotFound):
        raise HTTPException(404)
    if isinstance(exc, WorkspaceLocked):
        with _services(request).db.reading() as session:  # the refused transaction's objects were rolled back
            workspace = load_workspace(session, namespace)
        if workspace is None:
            raise HTTPException(404)
        return page(request, "workspace_locked.html", status=403, workspace=workspace)
    return page(request, "workspace_forbidden.html", status=403, message=str(exc))


def _limit(request: Request) -> None:
    _services(request).limits.hit("forms", request.state.viewer.ip)


def purpose_from_form(form) -> dict[str, Any]:
    data: dict[str, Any] = {flag: form.checked(flag) for flag in PURPOSE_FLAGS}
    for key in TEXT_FIELDS:
        data[key] = form.get(key)
    for key in ("dissemination", "research_outcomes", "population_details"):
        data[key] = form.list(key)
    data["population_focus"] = form.get("population_focus") == "yes"
    data["aian_research_type"] = form.get("aian_research_type") or None
    data["review_requested"] = form.get("review_requested") == "yes"
    return data


def blank_purpose() -> dict[str, Any]:
    fields = ResearchPurpose.model_fields
    return {k: ([] if f.default_factory is list else (f.default if not f.is_required() else ""))
            for k, f in fields.items()}


def _form_context(request: Request, **extra: Any) -> dict[str, Any]:
    return {"flags": list(PURPOSE_FLAGS.items()), "dissemination": list(DISSEMINATION.items()),
            "outcomes": list(RESEARCH_OUTCOMES.items()), "populations": list(POPULATION_DETAILS.items()),
            "aian_types": list(AIAN_RESEARCH_TYPES.items()), "answer_max": ANSWER_MAX, "labels": PURPOSE_LABELS,
            **extra}


def _version_options(versions) -> list[tuple[str, str]]:
    return [(str(v.id), f"{v.name} ({Tier(v.tier).label}, release {v.release_number}"
             + (", default" if v.is_default else "") + ")") for v in versions]


def _held_tiers(request: Request) -> list[Tier]:
    viewer = request.state.viewer
    return [t for t in Tier if viewer.has_tier(t)]


def _about(workspace: Workspace, session) -> dict[str, Any]:
    members = members_of(session, workspace)
    named = service.people(session, {workspace.created_by, workspace.updated_by, workspace.locked_by,
                                     workspace.reviewed_by})
    return {"members": members, "named": named, "purpose": service.purpose_of(workspace),
            "version": workspace.data_version}


# -- the list -------------------------------------------------------------------------------------------------------

@router.get("/workspaces", response_class=HTMLResponse, dependencies=REGISTERED)
def workspace_list(request: Request):
    """Your workspaces in the tiers you hold: name, tier, data version, your role, the last change."""
    services, viewer = _services(request), request.state.viewer
    with services.db.reading() as session:
        listed = service.list_for(session, viewer.user, viewer.access)
        named = service.people(session, {item.workspace.updated_by for item in listed})
    return page(request, "workspace_list.html", listed=listed, named=named, Role=Role)


# -- create ---------------------------------------------------------------------------------------------------------

def _new_page(request: Request, values: dict[str, Any], errors: FieldErrors | None = None, status: int = 200):
    services = _services(request)
    tiers = _held_tiers(request)
    with services.db.reading() as session:
        versions = service.data_versions(session, tiers)
    return page(request, "workspace_new.html", status=status, values=values, errors=errors or FieldErrors(),
                **_form_context(request, tiers=[(t.value, t.label) for t in tiers],
                                version_options=_version_options(versions)))


@router.get("/workspaces/new", response_class=HTMLResponse, dependencies=REGISTERED)
def new_form(request: Request):
    """The create form; after a refused attempt, what was typed (the server-side draft)."""
    draft = request.state.viewer.data.get(DRAFT)
    if draft:
        return _new_page(request, draft)
    tiers = _held_tiers(request)
    with _services(request).db.reading() as session:
        default = service.default_version(session, tiers[0]) if tiers else None
    return _new_page(request, {"name": "", "tier": tiers[0].value if len(tiers) == 1 else "",
                               "data_version": str(default.id) if default and len(tiers) == 1 else "",
                               "purpose": blank_purpose()})


@router.post("/workspaces/new", response_class=HTMLResponse, dependencies=REGISTERED)
async def create(request: Request):
    _limit(request)
    form = await read_form(request)
    viewer, services = request.state.viewer, _services(request)
    values = {"name": form.get("name"), "tier": form.get("tier"), "data_version": form.get("data_version"),
              "purpose": purpose_from_form(form)}
    try:
        with services.db.session() as session:
            workspace = service.create(session, context_of(request), viewer.user, name=values["name"],
                                       tier=values["tier"], data_version=values["data_version"] or None,
                                       purpose=values["purpose"])
            namespace = workspace.namespace
    except service.WorkspaceError as exc:
        viewer.data[DRAFT] = values
        return _new_page(request, values, FieldErrors.of_problems(exc.problems), status=422)
    viewer.data.pop(DRAFT, None)
    viewer.flash("Workspace created.")
    return see_other(f"/workspaces/{namespace}")


# -- the About page -------------------------------------------------------------------------------------------------

@router.get("/workspaces/{namespace}", response_class=HTMLResponse, dependencies=REGISTERED)
def about(request: Request, namespace: Namespace):
    """The workspace's About page: its purpose, collaborators, data version, dates, tier, review and lock."""
    services, viewer = _services(request), request.state.viewer
    try:
        with services.db.reading() as session:
            membership = require(session, namespace, viewer.user, viewer.access, Role.READER, about_page=True)
            context = _about(membership.workspace, session)
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    return page(request, "workspace_about.html", workspace=membership.workspace, role=membership.role, Role=Role,
                L=LABELS, **context)


# -- edit -----------------------------------------------------------------------------------------------------------

def _edit_page(request: Request, workspace: Workspace, values: dict[str, Any], errors: FieldErrors | None = None,
               status: int = 200):
    return page(request, "workspace_edit.html", status=status, workspace=workspace, values=values,
                errors=errors or FieldErrors(), **_form_context(request))


@router.get("/workspaces/{namespace}/edit", response_class=HTMLResponse, dependencies=REGISTERED)
def edit_form(request: Request, namespace: Namespace):
    services, viewer = _services(request), request.state.viewer
    try:
        with services.db.reading() as session:
            workspace = require(session, namespace, viewer.user, viewer.access, Role.WRITER).workspace
            _ = workspace.data_version
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    return _edit_page(request, workspace, {"name": workspace.name, "etag": str(workspace.etag),
                                           "purpose": dict(workspace.purpose)})


def _conflict_page(request: Request, namespace: str, exc: service.StaleEtag, *, what: str,
                   yours: dict[str, Any] | None = None) -> HTMLResponse:
    """409: someone else changed the workspace; their version (as it is now), what you sent, and a reload."""
    services, viewer = _services(request), request.state.viewer
    with services.db.reading() as session:
        membership = require(session, namespace, viewer.user, viewer.access, Role.READER, about_page=True)
        context = _about(membership.workspace, session)
    return page(request, "workspace_conflict.html", status=409, workspace=membership.workspace, what=what,
                yours=yours, given=exc.given, L=LABELS, **context)


@router.post("/workspaces/{namespace}/edit", response_class=HTMLResponse, dependencies=REGISTERED)
async def edit(request: Request, namespace: Namespace):
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    values = {"name": form.get("name"), "etag": form.get("etag"), "purpose": purpose_from_form(form)}
    try:
        with services.db.session() as session:
            service.update_workspace(session, context_of(request), viewer.user, namespace, etag=values["etag"],
                                     name=values["name"], purpose=values["purpose"])
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    except service.StaleEtag as exc:
        return _conflict_page(request, namespace, exc, what="edit", yours=values)
    except service.WorkspaceError as exc:
        with services.db.reading() as session:
            workspace = require(session, namespace, viewer.user, viewer.access, Role.WRITER).workspace
            _ = workspace.data_version
        return _edit_page(request, workspace, values, FieldErrors.of_problems(exc.problems), status=422)
    viewer.flash("Your changes are saved.")
    return see_other(f"/workspaces/{namespace}")


# -- duplicate ------------------------------------------------------------------------------------------------------

def _duplicate_page(request: Request, namespace: str, values: dict[str, Any] | None = None,
                    errors: FieldErrors | None = None, status: int = 200):
    services, viewer = _services(request), request.state.viewer
    with services.db.reading() as session:
        source = require(session, namespace, viewer.user, viewer.access, Role.READER).workspace
        versions = [v for v in service.data_versions(session, [source.tier])
                    if v.release_number >= source.data_version.release_number]
        if values is None:
            default = next((v for v in versions if v.is_default), source.data_version)
            values = {"name": f"Duplicate of {source.name}"[:service.NAME_MAX], "data_version": str(default.id),
                      "include_collaborators": False, "purpose": dict(source.purpose)}
    return page(request, "workspace_duplicate.html", status=status, workspace=source, values=values,
                errors=errors or FieldErrors(), **_form_context(request, version_options=_version_options(versions)))


@router.get("/workspaces/{namespace}/duplicate", response_class=HTMLResponse, dependencies=REGISTERED)
def duplicate_form(request: Request, namespace: Namespace):
    try:
        return _duplicate_page(request, namespace)
    except REFUSALS as exc:
        return refused(request, exc, namespace)


@router.post("/workspaces/{namespace}/duplicate", response_class=HTMLResponse, dependencies=REGISTERED)
async def duplicate(request: Request, namespace: Namespace):
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    values = {"name": form.get("name"), "data_version": form.get("data_version"),
              "include_collaborators": form.checked("include_collaborators"), "purpose": purpose_from_form(form)}
    try:
        with services.db.session() as session:
            copy = service.duplicate(session, context_of(request), viewer.user, namespace, name=values["name"],
                                     data_version=values["data_version"] or None,
                                     include_collaborators=values["include_collaborators"],
                                     purpose=values["purpose"])
            target = copy.namespace
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    except service.WorkspaceError as exc:
        return _duplicate_page(request, namespace, values, FieldErrors.of_problems(exc.problems), status=422)
    viewer.flash("Workspace duplicated." + ("" if values["include_collaborators"]
                                           else " You are its only collaborator: share it to add others."))
    return see_other(f"/workspaces/{target}")


# -- delete ---------------------------------------------------------------------------------------------------------

@router.get("/workspaces/{namespace}/delete", response_class=HTMLResponse, dependencies=REGISTERED)
def delete_form(request: Request, namespace: Namespace):
    """Asks before deleting (owners only)."""
    services, viewer = _services(request), request.state.viewer
    try:
        with services.db.reading() as session:
            workspace = require(session, namespace, viewer.user, viewer.access, Role.OWNER).workspace
            others = len(workspace.members) - 1
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    return page(request, "workspace_delete.html", workspace=workspace, others=others, errors=FieldErrors())


@router.post("/workspaces/{namespace}/delete", response_class=HTMLResponse, dependencies=REGISTERED)
async def delete(request: Request, namespace: Namespace):
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    try:
        with services.db.session() as session:
            gone = service.delete(session, context_of(request), viewer.user, namespace, etag=form.get("etag"))
            name = gone.name
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    except service.StaleEtag as exc:
        return _conflict_page(request, namespace, exc, what="delete")
    except service.WorkspaceError as exc:
        with services.db.reading() as session:
            workspace = require(session, namespace, viewer.user, viewer.access, Role.OWNER).workspace
            others = len(workspace.members) - 1
        return page(request, "workspace_delete.html", status=422, workspace=workspace, others=others,
                    errors=FieldErrors.of_problems(exc.problems))
    viewer.flash(f"Workspace “{name}” deleted.")
    return see_other("/workspaces")


# -- share ----------------------------------------------------------------------------------------------------------

SearchQuery = Annotated[str, Query(max_length=200)]


def _share_page(request: Request, namespace: str, q: str = "", errors: FieldErrors | None = None,
                status: int = 200, fragment: bool = False):
    services, viewer = _services(request), request.state.viewer
    ctx = context_of(request)
    with services.db.reading() as session:
        workspace = require(session, namespace, viewer.user, viewer.access, Role.OWNER).workspace
        members = members_of(session, workspace)
        found = service.search_users(session, ctx, viewer.user, namespace, q) if q else []
    context = {"workspace": workspace, "members": members, "found": found, "q": q, "roles": list(Role)[::-1],
               "errors": errors or FieldErrors(), "search_min": service.SEARCH_MIN, "Role": Role,
               "tier_label": Tier(workspace.tier).label}
    if fragment:
        return fragment_or_page(request, "workspace_share.html", "workspace_share_results.html", **context)
    return page(request, "workspace_share.html", status=status, **context)


@router.get("/workspaces/{namespace}/share", response_class=HTMLResponse, dependencies=REGISTERED)
def share_form(request: Request, namespace: Namespace, q: SearchQuery = ""):
    """Collaborators and their roles; ``q`` finds registered users holding the workspace's tier to add (htmx asks
    for the results alone)."""
    if q.strip():
        _limit(request)  # the search lists people: bounded like a form
    try:
        return _share_page(request, namespace, q.strip(), fragment=True)
    except REFUSALS as exc:
        return refused(request, exc, namespace)


def share_changes(form) -> list[tuple[int, str]]:
    """``role.<user id>`` fields: OWNER, WRITER, READER, or "remove"."""
    changes = []
    for key in form.data.keys():
        if key.startswith("role.") and key[5:].isdigit() and len(key) <= 17:
            changes.append((int(key[5:]), form.get(key)))
    return changes


@router.post("/workspaces/{namespace}/share", response_class=HTMLResponse, dependencies=REGISTERED)
async def share(request: Request, namespace: Namespace):
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    changes = share_changes(form)
    try:
        with services.db.session() as session:
            shared = service.share(session, context_of(request), viewer.user, namespace, etag=form.get("etag"),
                                   changes=changes)
            mine = role_of(shared, viewer.user.id)
    except REFUSALS as exc:
        return refused(request, exc, namespace)
    except service.StaleEtag as exc:
        return _conflict_page(request, namespace, exc, what="share")
    except service.WorkspaceError as exc:
        if not changes and not any(p.where == "etag" for p in exc.problems):
            exc.problems.append(Problem("choose a role for someone", "form"))
        try:
            return _share_page(request, namespace, form.get("q").strip()[:200],
                               FieldErrors.of_problems(exc.problems), status=422)
        except REFUSALS as again:
            return refused(request, again, namespace)
    viewer.flash("Collaborators saved.")
    if mine is None:  # they removed themselves
        return see_other("/workspaces")
    return see_other(f"/workspaces/{namespace}/share" if mine is Role.OWNER else f"/workspaces/{namespace}")


# -- administrators: the review queue and locks ---------------------------------------------------------------------

def _reviews_page(request: Request, *, failed: str | None = None, errors: FieldErrors | None = None,
                  values: dict[str, str] | None = None, status: int = 200):
    services = _services(request)
    with services.db.reading() as session:
        pending, decided = service.review_queue(session)
        named = service.people(session, {w.created_by for w in pending + decided}
                               | {w.reviewed_by for w in decided})
        purposes = {w.id: service.purpose_of(w) for w in pending}
    return page(request, "workspace_reviews.html", status=status, pending=pending, decided=decided, named=named,
                purposes=purposes, decisions=list(service.DECISIONS.items()), failed=failed,
                errors=errors or FieldErrors(), values=values or {}, L=LABELS, note_max=service.NOTE_MAX)


@router.get("/admin/reviews", response_class=HTMLResponse, dependencies=ADMIN)
def reviews(request: Request):
    """The Resource Access Board's queue: requested reviews, oldest first, each with its purpose and a decision
    form; then the latest decisions."""
    return _reviews_page(request)


@router.post("/admin/reviews/{namespace}", response_class=HTMLResponse, dependencies=ADMIN)
async def decide(request: Request, namespace: Namespace):
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    values = {"decision": form.get("decision"), "note": form.get("note")}
    try:
        with services.db.session() as session:
            service.decide_review(session, context_of(request), viewer.user, namespace, decision=values["decision"],
                                  note=values["note"])
    except WorkspaceNotFound:
        raise HTTPException(404) from None
    except service.WorkspaceError as exc:
        status = 409 if isinstance(exc, service.WorkspaceConflict) else 422
        return _reviews_page(request, failed=namespace, errors=FieldErrors.of_problems(exc.problems), values=values,
                             status=status)
    viewer.flash(f"Decision recorded for {namespace}: {service.DECISIONS[values['decision']]}.")
    return see_other("/admin/reviews")


def _locks_page(request: Request, q: str = "", *, failed: str | None = None, errors: FieldErrors | None = None,
                values: dict[str, str] | None = None, status: int = 200):
    services = _services(request)
    with services.db.reading() as session:
        found = service.admin_search(session, q)
        named = service.people(session, {w.created_by for w in found} | {w.locked_by for w in found})
    return page(request, "workspace_admin.html", status=status, found=found, named=named, q=q, failed=failed,
                errors=errors or FieldErrors(), values=values or {}, reason_max=service.REASON_MAX)


@router.get("/admin/workspaces", response_class=HTMLResponse, dependencies=ADMIN)
def admin_workspaces(request: Request, q: SearchQuery = ""):
    """Workspaces by name or namespace (locked ones first), each with a lock or unlock form."""
    return _locks_page(request, q.strip())


async def _lock_action(request: Request, namespace: str, action) -> Response:
    _limit(request)
    form = await read_form(request)
    services, viewer = _services(request), request.state.viewer
    values = {"reason": form.get("reason")}
    try:
        with services.db.session() as session:
            done = action(session, context_of(request), viewer.user, namespace, reason=values["reason"])
            locked = done.locked_at is not None
    except WorkspaceNotFound:
        raise HTTPException(404) from None
    except service.WorkspaceError as exc:
        status = 409 if isinstance(exc, service.WorkspaceConflict) else 422
        return _locks_page(request, namespace, failed=namespace, errors=FieldErrors.of_problems(exc.problems),
                           values=values, status=status)
    viewer.flash(f"{namespace} is {'locked: its members see only its About page' if locked else 'unlocked'}.")
    return see_other(f"/admin/workspaces?q={namespace}")


@router.post("/admin/workspaces/{namespace}/lock", response_class=HTMLResponse, dependencies=ADMIN)
async def lock(request: Request, namespace: Namespace):
    """Lock a workspace with a reason: its members then see only its About page, with the reason."""
    return await _lock_action(request, namespace, service.lock)


@router.post("/admin/workspaces/{namespace}/unlock", response_class=HTMLResponse, dependencies=ADMIN)
async def unlock(request: Request, namespace: Namespace):
    return await _lock_action(request, namespace, service.unlock)
