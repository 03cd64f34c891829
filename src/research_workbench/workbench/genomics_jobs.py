"""Genomics jobs run in the background: one at a time per server process, on their own thread (and cohort engine),
writing each job's files into ``genomics_dir/<workspace>/<job id>-<kind>/``.

A job's saved cohorts are resolved to person ids on the workspace's data version when it starts running
(``workspaces.genomics_jobs.resolve``, ``cohorts.members``), then ``genomics.jobs.run_job`` does the work. Its
progress goes to the record at every step the library reports (the pages poll it), and at every step the job checks
that it may go on (``background.may_go_on``: not cancelled, the session or token that started it still live, the
user still a WRITER with the workspace's tier). Every library writes its directory whole or not at all, so a stopped
job has written nothing, as its record says.

A finished job is a ``participant_access`` event (purpose ``genomics_<kind>``) with the person ids whose genotypes
it read. A hidden file in the job's folder keeps those ids, so that each later download of a participant-level
file (an extract's genotypes, a PCA's components) is audited with them too.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..cdr.store import CdrFileError
from ..cohorts.members import members
from ..genomics import jobs as gj
from ..genomics.store import GenomicsError
from ..state.models import GenomicsJob, Workspace
from ..workspaces import genomics_jobs as records
from .background import BackgroundJobs, JobStopped, Words
from .engines import EngineUnavailable

log = logging.getLogger(__name__)
PARTICIPANTS_FILE = ".participants.parquet"  # the person ids a job read (hidden: not one of its result files)


def purpose(kind: str) -> str:
    """The audit purpose of running a job of ``kind``."""
    return f"genomics_{kind}"


def job_dir(root: Path, namespace: str, job_id: int, kind: str) -> Path:
    return Path(root) / namespace / f"{job_id}-{kind}"


def write_participants(directory: Path, person_ids: np.ndarray) -> None:
    """The job's person ids beside its results, written whole (a temporary sibling renamed into place)."""
    target = Path(directory) / PARTICIPANTS_FILE
    temporary = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(pa.table({"person_id": pa.array(person_ids, pa.int64())}), temporary)
    os.replace(temporary, target)


def read_participants(directory: Path) -> list[int] | None:
    """The person ids a finished job read (None when its folder does not say)."""
    path = Path(directory) / PARTICIPANTS_FILE
    if not path.is_file():
        return None
    return pq.read_table(path, columns=["person_id"])["person_id"].to_pylist()


class GenomicsJobs(BackgroundJobs):
    model = GenomicsJob
    words = Words("job", "run genomics jobs in this workspace")
    thread_name = "genomics-job"
    orphan_message = "the server stopped during the job"

    def _orphaned(self, session, job: GenomicsJob) -> None:
        """A process killed mid-job could not remove the hidden folder its library was writing: removed here."""
        workspace = session.get(Workspace, job.workspace_id)
        target = job_dir(self.root, workspace.namespace, job.id, job.kind)
        if target.parent.is_dir():
            for leftover in target.parent.glob(f".{target.name}.*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def _end(self, job_id: int, status: str, message: str | None, *, path: str | None = None,
             summary: dict | None = None) -> None:
        with self.services.db.session() as session:
            job = session.get(GenomicsJob, job_id)
            job.status, job.message, job.finished_at = status, message, self.services.now()
            job.path, job.summary = path, summary

    def _step(self, job_id: int, step: str, done: int, total: int) -> None:
        """Progress on the record (the step's words as its message while it runs), then the checks."""
        self._progress(job_id, done, total)
        if step:
            with self.services.db.session() as session:
                session.get(GenomicsJob, job_id).message = step[:500]
        self._may_go_on(job_id)

    def run(self, job_id: int) -> None:
        s = self.services
        target: Path | None = None
        try:
            if not self._begin(job_id):
                return
            self._may_go_on(job_id)
            with s.db.reading() as session:
                job = session.get(GenomicsJob, job_id)
                workspace = session.get(Workspace, job.workspace_id)
                if not records.available(workspace):
                    raise JobStopped(records.UNAVAILABLE)
                resolved = records.resolve(session, workspace, job)
                version, namespace, tier, kind = workspace.data_version, workspace.namespace, workspace.tier, job.kind
                user_id = job.user_id
                target = job_dir(self.root, namespace, job_id, kind)
            if not version.index_path:
                raise EngineUnavailable(f"data version {version.name} ({version.tier}) has no search index")
            engine = s.engines.engine(version) if resolved.cohorts else None
            request = resolved.request(lambda content: members(engine, content))
            index_dir = Path(version.index_path)

            def progress(step: str, done: int, total: int) -> None:
                self._step(job_id, step, done, total)

            summary = gj.run_job(kind, index_dir, request, target, progress=progress)
            persons = gj.persons_read(kind, index_dir, request)
            write_participants(target, persons)
            summary = {**summary, "persons_read": int(len(persons))}
            self._end(job_id, "done", None, path=str(target), summary=_json_ready(summary))
            with s.db.session() as session:
                s.audit.record_participant_access(
                    session, actor_id=user_id, tier=tier, workspace_id=namespace, purpose=purpose(kind),
                    person_ids=persons.tolist(), cohort=resolved.cohort_ids[0] if resolved.cohort_ids else None,
                    cdr_version=version.name)
        except JobStopped as stop:
            self._end(job_id, stop.status, str(stop))
        except gj.JobCancelled:
            self._end(job_id, "cancelled", "cancelled: nothing was written")
        except GenomicsError as err:
            self._end(job_id, "failed", "the job cannot run: " + "; ".join(map(str, err.problems))[:480])
        except (EngineUnavailable, CdrFileError) as err:
            self._end(job_id, "failed", f"the data version cannot be read: {err}"[:500])
        except Exception as err:  # recorded and logged: a failed job must never stay "running"
            log.exception("genomics job %s failed", job_id)
            self._end(job_id, "failed", f"the job failed: {type(err).__name__}: {err}"[:500])
        finally:
            if target is not None:
                self._discard_unfinished(job_id, target)

    def _discard_unfinished(self, job_id: int, target: Path) -> None:
        """A job that did not finish keeps no folder (a library that stopped left none; this removes what a step
        after it, such as the participants file, may have left)."""
        with self.services.db.reading() as session:
            done = session.get(GenomicsJob, job_id).status == "done"
        if not done and target.is_dir():
            shutil.rmtree(target, ignore_errors=True)


def _json_ready(value):
    """The summary as plain JSON values (numpy numbers and NaN made into what a JSON column holds)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
