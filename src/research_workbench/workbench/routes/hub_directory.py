"""The Research Projects Directory, public: a page with search and filters, and the same list as JSON."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from ...hub import directory
from ...workspaces.purpose import PURPOSE_FLAGS
from ...web import ERROR_RESPONSES, SecureRouter
from ..guards import Access, requires

router = SecureRouter()
PUBLIC = [requires(Access.PUBLIC)]
PurposeKey = Literal[tuple(PURPOSE_FLAGS)]  # type: ignore[valid-type]


class Directory(BaseModel):
    count: int
    projects: list[directory.DirectoryEntry]


def _entries(request: Request, q: str, tier: str | None, purpose: str | None, institution: str | None):
    services = request.app.state.services
    with services.db.reading() as session:
        return directory.entries(session, q=q, tier=tier, purpose=purpose, institution=institution)


@router.get("/hub/projects", response_class=HTMLResponse, dependencies=PUBLIC, include_in_schema=False)
def projects_page(request: Request, q: Annotated[str, Query(max_length=directory.MAX_QUERY)] = "",
                  tier: Literal["registered", "controlled", ""] = "", purpose: PurposeKey | Literal[""] = "",
                  institution: Annotated[str, Query(max_length=200)] = ""):
    from ..rendering import page

    found = _entries(request, q, tier or None, purpose or None, institution or None)
    with request.app.state.services.db.reading() as session:
        everyone = directory.entries(session)
    institutions = sorted({i for e in everyone for i in e.institutions})
    return page(request, "hub_projects.html", projects=found, q=q, tier=tier, purpose=purpose,
                institution=institution, purposes=PURPOSE_FLAGS, institutions=institutions, total=len(everyone))


@router.get("/api/hub/projects", response_model=Directory, dependencies=PUBLIC, responses=ERROR_RESPONSES,
            tags=["research hub"])
def projects_api(request: Request, q: Annotated[str, Query(max_length=directory.MAX_QUERY)] = "",
                 tier: Literal["registered", "controlled"] | None = None, purpose: PurposeKey | None = None,
                 institution: Annotated[str | None, Query(max_length=200)] = None) -> Directory:
    """Every active workspace's public research purpose, researchers and institutions (newest change first)."""
    found = _entries(request, q, tier, purpose, institution)
    return Directory(count=len(found), projects=found)
