"""Data versions on the web: the API listing the versions a researcher may bind a workspace to, and the
administrators' page to choose each tier's default and archive old versions.

Versions are published from the command line (``workbench release publish``: it reads the release's files, which
the web server need not see); the service is ``workspaces.data_versions``. The API shows a viewer only the tiers
they hold (Controlled Tier versions to Controlled Tier researchers), never the server's file paths, and archived
versions only when asked (``?archived=true``: what an existing workspace may still be bound to).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.exceptions import HTTPException

from ...accounts.modules import Tier
from ...cdr.problems import Problem
from ...state.models import DataVersion, Workspace
from ...web import ERROR_RESPONSES, QueryInt, SecureRouter
from ...workspaces import data_versions as dv
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(responses=ERROR_RESPONSES)
ADMIN = [requires(Access.ADMIN)]

VersionId = Annotated[QueryInt, Path(ge=1, le=2**31 - 1)]


# -- the API ----------------------------------------------------------------------------------------------------

class DataVersionOut(BaseModel):
    id: int
    name: str = Field(description="the release's public name, e.g. 2026Q4R1")
    tier: str = Field(description="registered or controlled")
    release_number: int = Field(description="public and increasing: a later release has a higher number (the tiers "
                                            "of one release share it)")
    participant_count: int = Field(description="participants in this tier of the release")
    data_types: list[str] = Field(description="what the version holds, in the Cohort Builder's domain spelling: "
                                              + ", ".join(dv.DATA_TYPES))
    data_type_labels: list[str] = Field(description="the same, in words")
    default: bool = Field(description="offered first for new workspaces of its tier (one per tier)")
    archived: bool = Field(description="still readable by its workspaces, not offered for new ones")
    created_at: datetime = Field(description="when it was published")
    archived_at: datetime | None


def version_out(version: DataVersion) -> DataVersionOut:
    return DataVersionOut(id=version.id, name=version.name, tier=version.tier, release_number=version.release_number,
                          participant_count=version.participant_count, data_types=list(version.data_types),
                          data_type_labels=dv.data_type_labels(version.data_types), default=version.is_default,
                          archived=version.archived_at is not None, created_at=version.created_at,
                          archived_at=version.archived_at)


@router.get("/api/data-versions", response_model=list[DataVersionOut], tags=["workbench"],
            dependencies=[requires(Access.REGISTERED, scope="workspaces:read")])
def api_data_versions(request: Request, archived: Annotated[bool, Query(
        description="also archived versions (readable by their workspaces, not offered for new ones)")] = False
                      ) -> list[DataVersionOut]:
    """The data versions of the tiers you hold, newest first: those offered for new workspaces (with
    ``archived=true``, archived ones too)."""
    services, viewer = request.app.state.services, request.state.viewer
    tiers = [t for t in Tier if viewer.has_tier(t)]
    with services.db.reading() as session:
        found = [v for tier in tiers for v in dv.list_versions(session, tier, include_archived=archived)]
        return [version_out(v) for v in dv.newest_first(found)]


# -- the administrators' page -----------------------------------------------------------------------------------

def _admin_page(request: Request, *, status: int = 200, failed: int | None = None,
                errors: FieldErrors | None = None) -> HTMLResponse:
    services = request.app.state.services
    with services.db.reading() as session:
        versions = dv.list_versions(session, include_archived=True)
        used = dict(session.execute(select(Workspace.data_version_id, func.count()).where(Workspace.deleted_at.is_(None))
                                    .group_by(Workspace.data_version_id)).all())
    tiers = [(tier, [v for v in versions if v.tier == tier.value]) for tier in dv.TIERS]
    return page(request, "admin_data_versions.html", status=status, tiers=tiers, used=used, failed=failed,
                errors=errors or FieldErrors(), labels=dv.data_type_labels)


@router.get("/admin/data-versions", response_class=HTMLResponse, dependencies=ADMIN, include_in_schema=False)
def admin_data_versions(request: Request):
    """Every published version by tier, newest first: its default, what is offered, what is archived."""
    return _admin_page(request)


async def _change(request: Request, version_id: int, what: str) -> Response:
    services, viewer = request.app.state.services, request.state.viewer
    services.limits.hit("forms", viewer.ip)
    await read_form(request)
    try:
        with services.db.session() as session:
            if what == "archive":
                version, changed = dv.archive(session, version_id, now=services.now(), audit=services.audit,
                                              actor_id=viewer.user.id, ip=viewer.ip, via="web")
            else:
                version, _, changed = dv.set_default(session, version_id, now=services.now(), audit=services.audit,
                                                     actor_id=viewer.user.id, ip=viewer.ip, via="web")
            label = f"{version.name} ({Tier(version.tier).label})"
    except dv.DataVersionNotFound:
        raise HTTPException(404) from None
    except dv.DataVersionError as err:
        problems = [Problem(p.message, "form") for p in err.problems]
        return _admin_page(request, status=409, failed=version_id, errors=FieldErrors.of_problems(problems))
    if what == "archive":
        viewer.flash(f"{label} is archived: its workspaces keep it; new workspaces are not offered it." if changed
                     else f"{label} was already archived.")
    else:
        viewer.flash(f"{label} is now the default for new workspaces." if changed
                     else f"{label} was already the default.")
    return see_other("/admin/data-versions")


@router.post("/admin/data-versions/{version_id}/archive", response_class=HTMLResponse, dependencies=ADMIN,
             include_in_schema=False)
async def admin_archive(request: Request, version_id: VersionId):
    return await _change(request, version_id, "archive")


@router.post("/admin/data-versions/{version_id}/default", response_class=HTMLResponse, dependencies=ADMIN,
             include_in_schema=False)
async def admin_set_default(request: Request, version_id: VersionId):
    return await _change(request, version_id, "default")
