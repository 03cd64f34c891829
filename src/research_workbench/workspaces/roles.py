"""Who may do what in a workspace: the role (OWNER > WRITER > READER) and the tier, checked together.

A member reaches a workspace only while they hold its tier (the one access evaluator decides); a member who loses
the tier loses the workspace with it, whatever their role. A locked workspace shows its members only its About
page. READER reads; WRITER also changes resources and the workspace's description; OWNER also shares, locks
nothing (admins lock), and deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..accounts.access import AccessState
from ..accounts.modules import Tier
from ..state.models import User, Workspace, WorkspaceMember


class Role(IntEnum):
    READER = 1
    WRITER = 2
    OWNER = 3

    @property
    def label(self) -> str:
        return self.name.title()


class WorkspaceNotFound(LookupError):
    """No such workspace, or not one this user may see (the two are not told apart)."""


class WorkspaceForbidden(PermissionError):
    def __init__(self, message: str, needed: Role | None = None):
        self.needed = needed
        super().__init__(message)


class WorkspaceLocked(PermissionError):
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        super().__init__(f"This workspace is locked by an administrator: {workspace.locked_reason}")


@dataclass(frozen=True)
class Membership:
    workspace: Workspace
    role: Role


def role_of(workspace: Workspace, user_id: int) -> Role | None:
    for member in workspace.members:
        if member.user_id == user_id:
            return Role[member.role]
    return None


def load_workspace(session: Session, namespace: str) -> Workspace | None:
    # One statement with its members and data version joined: every workspace request starts here.
    return session.execute(select(Workspace).options(joinedload(Workspace.members), joinedload(Workspace.data_version))
                           .where(Workspace.namespace == namespace, Workspace.deleted_at.is_(None))
                           ).unique().scalar_one_or_none()


def require(session: Session, namespace: str, user: User, access: AccessState, minimum: Role, *,
            about_page: bool = False) -> Membership:
    """The workspace and the user's role in it, when they hold at least ``minimum`` and the workspace's tier.

    ``WorkspaceNotFound`` when it does not exist, is deleted, or the user is not a member or lacks its tier (a
    Controlled Tier workspace is invisible to a Registered-only member); ``WorkspaceForbidden`` when the role is
    too low; ``WorkspaceLocked`` when an admin locked it (unless ``about_page``).
    """
    workspace = load_workspace(session, namespace)
    if workspace is None:
        raise WorkspaceNotFound(namespace)
    role = role_of(workspace, user.id)
    if role is None or Tier(workspace.tier) not in access.granted:
        raise WorkspaceNotFound(namespace)
    if workspace.locked_at is not None and not about_page:
        raise WorkspaceLocked(workspace)
    if role < minimum:
        raise WorkspaceForbidden(f"This needs the {minimum.label} role in the workspace; you are a {role.label}.",
                                 minimum)
    return Membership(workspace, role)


def members_of(session: Session, workspace: Workspace) -> list[WorkspaceMember]:
    """Owners first, then writers, then readers; each in the order they were added."""
    members = session.scalars(select(WorkspaceMember).options(selectinload(WorkspaceMember.user))
                              .where(WorkspaceMember.workspace_id == workspace.id).order_by(WorkspaceMember.id))
    return sorted(members, key=lambda m: -Role[m.role])
