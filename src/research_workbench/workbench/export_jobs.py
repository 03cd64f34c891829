"""Dataset exports run in the background: one at a time per server process, on their own thread (and cohort
engine), writing the snapshot into ``exports_dir/<workspace>/<export id>-v<version>/`` with its manifest.

Progress is written to the export's record after each table, so any server process can answer "how far is it"
(the page polls it). Before each table the export checks that it may go on: not cancelled; the session or API
token that started it still live (a sign-out, a timeout or a revoked token stops it: an export never outlives the
access that asked for it); the user still a WRITER of the workspace with its tier. When it stops, nothing is kept
(``datasets.extract.export`` writes into a hidden directory and renames it only when complete) and the record
says why. A finished export is a ``participant_access`` event (purpose ``dataset_export``) in the audit log.
An export queued by a server process that then stopped is marked failed when a process starts ("the server
stopped"); each export records the process that runs it ("host:pid"), so a live process's exports are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from ..accounts.modules import Tier
from ..cdr.store import Cdr, CdrFileError, sha256_file
from ..datasets import extract as dx
from ..state.models import ApiToken, DatasetExport, Resource, User, Workspace
from ..workspaces import datasets as wd
from ..workspaces import roles
from ..workspaces.exports import ENDED
from ..workspaces.resources import ResourceError, version_of
from ..workspaces.roles import Role
from .engines import EngineUnavailable

log = logging.getLogger(__name__)
PURPOSE_EXPORT = "dataset_export"


class ExportStopped(Exception):
    """The export may not go on: the message says why (shown on its record)."""

    def __init__(self, message: str, status: str = "failed"):
        self.status = status
        super().__init__(message)


def export_dir(root: Path, namespace: str, export: DatasetExport, name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "dataset"
    return Path(root) / namespace / f"{export.id}-{slug}-v{export.version}"


def _alive(runner: str | None) -> bool:
    """Whether the server process ``runner`` ("host:pid") may still be running an export. A process of another host
    cannot be checked from here, so it is taken to be alive."""
    host, _, pid = (runner or "").rpartition(":")
    if not host or not pid.isdigit():
        return False  # no process recorded: none can be running it
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


class ExportJobs:
    def __init__(self, services, root: Path):
        self.services, self.root = services, Path(root)
        self._executor: ThreadPoolExecutor | None = None
        self.runner = f"{socket.gethostname()}:{os.getpid()}"  # this process, named on the exports it runs

    def submit(self, export_id: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-export")
        self._executor.submit(self.run, export_id)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def fail_orphans(self) -> int:
        """Exports left queued or running by a server process of this host that has stopped: marked failed (their
        files were never renamed into place). Called when a server process starts; another process's live exports
        are left alone."""
        s = self.services
        with s.db.session() as session:
            stale = [e for e in session.scalars(select(DatasetExport).where(DatasetExport.status.in_(("queued", "running"))))
                     if e.runner != self.runner and not _alive(e.runner)]
            for export in stale:
                export.status, export.message, export.finished_at = "failed", "the server stopped during the export", s.now()
            return len(stale)

    # -- the checks before each table -------------------------------------------------------------------------
    def _may_go_on(self, export_id: int) -> None:
        s = self.services
        now = s.now()
        with s.db.reading() as session:
            export = session.get(DatasetExport, export_id)
            if export.cancel_requested:
                raise ExportStopped("cancelled: nothing was written", "cancelled")
            if export.session_id is not None:
                ended = s.sessions.ended_reason(session, export.session_id, now)
                if ended:
                    raise ExportStopped(f"{ended} during the export: nothing was written; sign in and start it again")
            if export.token_id is not None:
                token = session.get(ApiToken, export.token_id)
                if token is None or token.revoked_at is not None or token.expires_at <= now:
                    raise ExportStopped("the API token that started the export was revoked or expired: nothing was "
                                        "written")
            user = session.get(User, export.user_id)
            workspace = session.get(Workspace, export.workspace_id)
            state = s.evaluator.state(user, now)
            if user.disabled_at is not None or not state.granted:
                raise ExportStopped("your access ended during the export: nothing was written")
            try:
                roles.require(session, workspace.namespace, user, state, Role.WRITER)
            except (roles.WorkspaceNotFound, roles.WorkspaceForbidden, roles.WorkspaceLocked) as err:
                raise ExportStopped(f"you may no longer export from this workspace ({err}): nothing was written") from None
            if Tier(workspace.tier) not in state.granted:
                raise ExportStopped("your access to the workspace's tier ended: nothing was written")

    def _progress(self, export_id: int, done: int, total: int) -> None:
        with self.services.db.session() as session:
            export = session.get(DatasetExport, export_id)
            export.done_steps, export.total_steps = done, total

    def _end(self, export_id: int, status: str, message: str | None, *, path: str | None = None,
             manifest: dict | None = None) -> None:
        with self.services.db.session() as session:
            export = session.get(DatasetExport, export_id)
            export.status, export.message, export.finished_at = status, message, self.services.now()
            export.path, export.manifest = path, manifest

    # -- the work ---------------------------------------------------------------------------------------------
    def run(self, export_id: int) -> None:
        s = self.services
        try:
            with s.db.session() as session:
                export = session.get(DatasetExport, export_id)
                if export is None or export.status in ENDED:
                    return
                export.status, export.started_at = "running", s.now()
            self._may_go_on(export_id)
            with s.db.reading() as session:
                export = session.get(DatasetExport, export_id)
                workspace = session.get(Workspace, export.workspace_id)
                dataset = session.get(Resource, export.resource_id)
                stored = version_of(session, dataset, export.version)
                resolved = wd.resolve(session, workspace, stored.content)
                reviews = wd.review_tables(session, resolved)
                version = workspace.data_version
                namespace, name, tier, dataset_id = workspace.namespace, dataset.name, workspace.tier, dataset.id
                target = export_dir(self.root, namespace, export, name)
                content = stored.content
            engine = s.engines.engine(version)
            plan = dx.plan(engine, resolved.request)
            about = {"export": export_id, "workspace": namespace, "tier": tier,
                     "dataset": {"id": dataset_id, "name": name, "version": export.version}, "definition": content,
                     "data_version": {"name": version.name, "tier": version.tier,
                                      "cdr_manifest_sha256": _manifest_digest(Cdr(engine.cdr_dir))}}

            def progress(done: int, total: int, _name) -> None:
                self._progress(export_id, done, total)
                if done < total:
                    self._may_go_on(export_id)

            manifest = dx.export(engine, plan, target, about=about, extra=reviews, progress=progress)
            self._end(export_id, "done", None, path=str(target), manifest=manifest)
            persons = sorted(plan.persons) if plan.persons is not None else None
            with s.db.session() as session:
                export = session.get(DatasetExport, export_id)
                s.audit.record_participant_access(
                    session, actor_id=export.user_id, tier=tier, workspace_id=namespace, purpose=PURPOSE_EXPORT,
                    person_ids=persons, cohort=dataset_id, cdr_version=version.name)
        except ExportStopped as stop:
            self._end(export_id, stop.status, str(stop))
        except ResourceError as err:
            self._end(export_id, "failed", "the dataset cannot be read as saved: " + "; ".join(
                f"{p.where}: {p.message}" for p in err.problems)[:450])
        except dx.DatasetError as err:
            self._end(export_id, "failed", "the dataset cannot be run as saved: " + "; ".join(
                f"{p.where}: {p.message}" for p in err.problems)[:450])
        except (EngineUnavailable, CdrFileError) as err:
            self._end(export_id, "failed", f"the data version cannot be read: {err}"[:500])
        except Exception as err:  # recorded and logged: a failed export must never stay "running"
            log.exception("export %s failed", export_id)
            self._end(export_id, "failed", f"the export failed: {type(err).__name__}: {err}"[:500])


def _manifest_digest(cdr: Cdr) -> str:
    return sha256_file(cdr.path / "manifest.json")
