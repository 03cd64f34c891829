"""What the Workbench's background jobs (dataset exports, genomics analyses) share: one worker thread per server
process, the process's name on the jobs it runs, orphans failed at start-up, progress on the record, and the checks
before each step that stop a job when the access that asked for it ends.

A job's record (``DatasetExport``, ``GenomicsJob``) has the same columns for all of this: ``status``,
``done_steps``/``total_steps``, ``message``, ``cancel_requested``, ``session_id`` or ``token_id`` (what started
it), ``user_id``, ``workspace_id``, ``runner`` ("host:pid") and the timestamps. Keeping the checks here, once, means
an export and a GWAS stop for exactly the same reasons, with the same words.

Why a job stops (``may_go_on``): it was cancelled; the session that started it ended (sign-out, idle or absolute
timeout) or the API token was revoked or expired — a job never outlives the access that asked for it; the user lost
their access, their WRITER role in the workspace, or the workspace's tier. Each job writes its files atomically
(into a hidden sibling, renamed into place at the end), so a stopped job has written nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ..accounts.modules import Tier
from ..state.models import ApiToken, User, Workspace
from ..workspaces import roles
from ..workspaces.roles import Role

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


class JobStopped(Exception):
    """The job may not go on: the message says why (shown on its record); ``status`` is what the record becomes."""

    def __init__(self, message: str, status: str = "failed"):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Words:
    """How the checks' messages name a kind of job: "the export" / "export from this workspace"."""

    noun: str  # "export", "job"
    may: str  # what the user may no longer do: "export from this workspace"


def process_name() -> str:
    """This server process as jobs record it: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def alive(runner: str | None) -> bool:
    """Whether the server process ``runner`` ("host:pid") may still be running a job. A process of another host
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


def may_go_on(services, session, job, words: Words) -> None:
    """Raise ``JobStopped`` (saying why, and that nothing was written) unless ``job`` may take its next step."""
    now = services.now()
    noun = words.noun
    if job.cancel_requested:
        raise JobStopped("cancelled: nothing was written", "cancelled")
    if job.session_id is not None:
        ended = services.sessions.ended_reason(session, job.session_id, now)
        if ended:
            raise JobStopped(f"{ended} during the {noun}: nothing was written; sign in and start it again")
    if job.token_id is not None:
        token = session.get(ApiToken, job.token_id)
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            raise JobStopped(f"the API token that started the {noun} was revoked or expired: nothing was written")
    user = session.get(User, job.user_id)
    workspace = session.get(Workspace, job.workspace_id)
    state = services.evaluator.state(user, now)
    if user.disabled_at is not None or not state.granted:
        raise JobStopped(f"your access ended during the {noun}: nothing was written")
    try:
        roles.require(session, workspace.namespace, user, state, Role.WRITER)
    except (roles.WorkspaceNotFound, roles.WorkspaceForbidden, roles.WorkspaceLocked) as err:
        raise JobStopped(f"you may no longer {words.may} ({err}): nothing was written") from None
    if Tier(workspace.tier) not in state.granted:
        raise JobStopped("your access to the workspace's tier ended: nothing was written")


class BackgroundJobs:
    """Jobs of one record type run one at a time on this process's own thread. Subclasses set ``model``, ``words``,
    ``thread_name`` and ``orphan_message``, and implement ``run(job_id)``."""

    model: type
    words: Words
    thread_name: str
    orphan_message: str

    def __init__(self, services, root: Path):
        self.services, self.root = services, Path(root)
        self._executor: ThreadPoolExecutor | None = None
        self.runner = process_name()  # this process, named on the jobs it runs

    def submit(self, job_id: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.thread_name)
        self._executor.submit(self.run, job_id)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def run(self, job_id: int) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def fail_orphans(self) -> int:
        """Jobs left queued or running by a server process of this host that has stopped: marked failed (their
        files were never renamed into place). Called when a server process starts; another process's live jobs are
        left alone."""
        s = self.services
        with s.db.session() as session:
            stale = [j for j in session.scalars(select(self.model).where(self.model.status.in_(ACTIVE)))
                     if j.runner != self.runner and not alive(j.runner)]
            for job in stale:
                job.status, job.message, job.finished_at = "failed", self.orphan_message, s.now()
                self._orphaned(session, job)
            return len(stale)

    def _orphaned(self, session, job) -> None:
        """What else an orphan leaves to clear up (a subclass's; nothing by default)."""

    def _may_go_on(self, job_id: int) -> None:
        with self.services.db.reading() as session:
            may_go_on(self.services, session, session.get(self.model, job_id), self.words)

    def _progress(self, job_id: int, done: int, total: int) -> None:
        with self.services.db.session() as session:
            job = session.get(self.model, job_id)
            job.done_steps, job.total_steps = done, total

    def _begin(self, job_id: int) -> bool:
        """Mark the job running; False when it has already ended (cancelled while queued, failed as an orphan)."""
        with self.services.db.session() as session:
            job = session.get(self.model, job_id)
            if job is None or job.status not in ACTIVE:
                return False
            job.status, job.started_at = "running", self.services.now()
            return True
