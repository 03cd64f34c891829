"""The Research Projects Directory: every active workspace's research purpose (its public part), researchers
and institutions, searchable and filterable. Public: it carries no participant data and no private answer (the
AI/AN explanation and the review request stay out). A locked or deleted workspace is not listed.

The Data Browser's directory page reads the same entries (``browser serve --directory``), so there is one
directory, not a copy in a JSON file.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..state.models import User, Workspace, WorkspaceMember
from ..workspaces.purpose import PURPOSE_FLAGS, ResearchPurpose

MAX_QUERY = 200


class Researcher(BaseModel):
    name: str = Field(description="the researcher's name as on their profile")
    institution: str | None = Field(description="their institution's name")
    role: str = Field(description="OWNER, WRITER or READER in the workspace")


class DirectoryEntry(BaseModel):
    namespace: str = Field(description="the workspace's fixed short name")
    name: str = Field(description="the workspace's name")
    tier: str = Field(description="registered or controlled: the data the project uses")
    data_version: str = Field(description="the release the workspace is bound to")
    created: datetime = Field(description="when the workspace was created")
    updated: datetime = Field(description="its last change")
    purposes: list[str] = Field(description="the primary purposes, in words")
    purpose: dict = Field(description="the public part of the research purpose (every field but the AI/AN "
                                      "explanation and the review request)")
    researchers: list[Researcher] = Field(description="its members, owners first")
    institutions: list[str] = Field(description="its members' institutions, in alphabetical order")


def _entry(workspace: Workspace) -> DirectoryEntry:
    purpose = ResearchPurpose.model_validate(workspace.purpose)
    order = {"OWNER": 0, "WRITER": 1, "READER": 2}
    members = sorted(workspace.members, key=lambda m: (order.get(m.role, 3), m.id))
    researchers = [Researcher(name=m.user.full_name,
                              institution=m.user.institution.display_name if m.user.institution else None,
                              role=m.role) for m in members]
    institutions = sorted({r.institution for r in researchers if r.institution})
    return DirectoryEntry(namespace=workspace.namespace, name=workspace.name, tier=workspace.tier,
                          data_version=workspace.data_version.name, created=workspace.created_at,
                          updated=workspace.updated_at, purposes=purpose.purposes, purpose=purpose.public(),
                          researchers=researchers, institutions=institutions)


def _matches(entry: DirectoryEntry, words: list[str]) -> bool:
    text = " ".join([entry.name, entry.namespace, *entry.purposes, *entry.institutions,
                     *(r.name for r in entry.researchers),
                     *(str(entry.purpose.get(k) or "") for k in ("intended_study", "scientific_approach",
                                                                 "anticipated_findings", "disease_of_focus"))]).casefold()
    return all(w in text for w in words)


def entries(session: Session, *, q: str = "", tier: str | None = None, purpose: str | None = None,
            institution: str | None = None) -> list[DirectoryEntry]:
    """Active workspaces, newest change first; ``q`` matches every word in the name, purpose, researchers and
    institutions; ``purpose`` is a primary-purpose key (``PURPOSE_FLAGS``); ``institution`` a display name."""
    if purpose is not None and purpose not in PURPOSE_FLAGS:
        raise ValueError(f"unknown purpose {purpose!r}: one of {', '.join(PURPOSE_FLAGS)}")
    query = (select(Workspace)
             .options(selectinload(Workspace.data_version),
                      selectinload(Workspace.members).selectinload(WorkspaceMember.user)
                      .selectinload(User.institution))
             .where(Workspace.deleted_at.is_(None), Workspace.locked_at.is_(None))
             .order_by(Workspace.updated_at.desc(), Workspace.id.desc()))
    if tier is not None:
        query = query.where(Workspace.tier == tier)
    words = q.casefold().split()[:20] if q else []
    out = []
    for workspace in session.scalars(query):
        entry = _entry(workspace)
        if purpose is not None and not entry.purpose.get(purpose):
            continue
        if institution is not None and institution not in entry.institutions:
            continue
        if words and not _matches(entry, words):
            continue
        out.append(entry)
    return out
