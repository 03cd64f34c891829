"""Dataset exports as records: who started which dataset version's snapshot, how far it got, and how it ended.

The work itself (reading the rows, writing the files) is the Workbench's background runner's
(``workbench.export_jobs``); this module only keeps the records and says who may do what: a WRITER starts or
cancels an export, any member lists and reads them. No web code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cdr.problems import Problem
from ..state.models import DatasetExport, Resource, User
from .resources import ResourceError, version_of
from .roles import Membership, Role, WorkspaceForbidden

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ENDED = ("done", "failed", "cancelled")


class ExportNotFound(LookupError):
    """No export with that id in this workspace."""


def _need_writer(membership: Membership) -> None:
    if membership.role < Role.WRITER:
        raise WorkspaceForbidden(f"Exporting needs the {Role.WRITER.label} role; you are a {membership.role.label}.",
                                 Role.WRITER)


def start(session: Session, membership: Membership, dataset: Resource, *, version: int | None, user: User,
          now: datetime, session_id: str | None, token_id: int | None, runner: str | None = None) -> DatasetExport:
    """A queued export of ``dataset`` at ``version`` (default: its current one), to be run by ``runner`` (the server
    process's "host:pid"). WRITER."""
    _need_writer(membership)
    if dataset.kind != "dataset" or dataset.workspace_id != membership.workspace.id:
        raise ResourceError([Problem(f"resource {dataset.id} is not a dataset of this workspace", "resource_id")])
    stored = version_of(session, dataset, version)
    export = DatasetExport(workspace_id=membership.workspace.id, resource_id=dataset.id, version=stored.version,
                           user_id=user.id, session_id=session_id, token_id=token_id, status="queued", done_steps=0,
                           total_steps=0, cancel_requested=False, runner=runner, created_at=now)
    session.add(export)
    session.flush()
    return export


def of_workspace(session: Session, membership: Membership, limit: int = 100) -> list[DatasetExport]:
    """The workspace's exports, newest first."""
    return list(session.scalars(select(DatasetExport).where(DatasetExport.workspace_id == membership.workspace.id)
                                .order_by(DatasetExport.id.desc()).limit(limit)))


def get(session: Session, membership: Membership, export_id: int) -> DatasetExport:
    export = session.get(DatasetExport, export_id)
    if export is None or export.workspace_id != membership.workspace.id:
        raise ExportNotFound(f"no export {export_id} in workspace {membership.workspace.namespace}")
    return export


def request_cancel(session: Session, membership: Membership, export: DatasetExport) -> DatasetExport:
    """Ask a queued or running export to stop (it stops after the table it is writing; nothing is kept). WRITER.
    An export that has ended is left as it is."""
    _need_writer(membership)
    if export.status not in ENDED:
        export.cancel_requested = True
    return export


def as_dict(export: DatasetExport) -> dict:
    return {"id": export.id, "dataset": export.resource_id, "version": export.version, "status": export.status,
            "done": export.done_steps, "total": export.total_steps, "message": export.message,
            "path": export.path, "manifest": export.manifest, "cancel_requested": export.cancel_requested,
            "created_at": export.created_at.isoformat(),
            "finished_at": export.finished_at.isoformat() if export.finished_at else None}
