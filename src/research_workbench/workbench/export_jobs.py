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
The thread, these checks and the orphan handling are ``background.BackgroundJobs``', shared with genomics jobs.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..cdr.store import Cdr, CdrFileError, sha256_file
from ..datasets import extract as dx
from ..state.models import DatasetExport, Resource, Workspace
from ..workspaces import datasets as wd
from ..workspaces.resources import ResourceError, version_of
from .background import BackgroundJobs, JobStopped, Words
from .engines import EngineUnavailable

log = logging.getLogger(__name__)
PURPOSE_EXPORT = "dataset_export"
ExportStopped = JobStopped  # the name this module's callers know


def export_dir(root: Path, namespace: str, export: DatasetExport, name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "dataset"
    return Path(root) / namespace / f"{export.id}-{slug}-v{export.version}"


class ExportJobs(BackgroundJobs):
    """Dataset exports; the thread, the checks before each table and orphan handling are ``BackgroundJobs``'."""

    model = DatasetExport
    words = Words("export", "export from this workspace")
    thread_name = "dataset-export"
    orphan_message = "the server stopped during the export"

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
            if not self._begin(export_id):
                return
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
