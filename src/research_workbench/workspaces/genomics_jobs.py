"""Genomics jobs as records: who asked for which analysis of a Controlled Tier workspace's genomes, how far it got,
and how it ended. No web code.

The work itself is the Workbench's background runner's (``workbench.genomics_jobs``), which calls
``genomics.jobs.run_job``. This module says who may do what — a WRITER of a Controlled Tier workspace starts or
cancels a job, any member lists and reads them; a Registered Tier workspace has no genomes, and is told so — and
turns what a researcher asks (saved cohorts by id or name) into what the library takes (person ids, or for a GWAS
Cohort Builder definitions).

A request is the kind's ``genomics.jobs`` model with two differences: cohorts are the workspace's saved cohorts
(``cohort``; a GWAS's ``cases`` and ``controls``), each pinned at start to its current version (``{"id", "name",
"version"}``), so a job run later, or re-read from its record, means what was asked; and a GWAS's principal
components (a GWAS's ``pcs``, a PheWAS's ``covariates``) come from a finished PCA job of the same workspace
(``pcs_job``), never from a path on the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..accounts.modules import Tier
from ..cohorts.members import is_circe
from ..genomics import jobs
from ..genomics.store import GenomicsError, GenotypeStore
from ..state.models import GenomicsJob, Resource, User, Workspace
from .resources import ResourceNotFound, find_reference, version_of
from .roles import Membership, Role, WorkspaceForbidden

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ENDED = ("done", "failed", "cancelled")
KIND_LABELS = {"extract": "Genotype extract", "gwas": "GWAS", "pca": "Principal components", "phewas": "PheWAS",
               "frequencies": "Allele frequencies by ancestry"}
PERSONS, DEFINITION = "persons", "definition"
# Jobs run one at a time per server process: one person's queue must not hold everyone else's back for long.
MAX_ACTIVE_PER_USER = 5


@dataclass(frozen=True)
class CohortField:
    """A request field naming a saved cohort: the library's field it becomes and in which shape."""

    target: str  # the library's field
    shape: str  # PERSONS (person ids) or DEFINITION (a Cohort Builder definition)
    required: bool = False


COHORT_FIELDS: dict[str, dict[str, CohortField]] = {
    "extract": {"cohort": CohortField("person_ids", PERSONS, required=True)},
    "gwas": {"cases": CohortField("cases", DEFINITION), "controls": CohortField("controls", DEFINITION)},
    "pca": {"cohort": CohortField("person_ids", PERSONS)},
    "phewas": {"cohort": CohortField("population", PERSONS), "exposed": CohortField("exposed", PERSONS)},
    "frequencies": {"cohort": CohortField("person_ids", PERSONS)},
}
PCS_JOB = "pcs_job"  # principal components as covariates: a finished PCA job of the workspace
PCS_TARGET = {"gwas": "pcs", "phewas": "covariates"}  # the library field the PCA job's pcs.parquet fills
_PLACEHOLDER_PERSONS = [1]  # stands in for a cohort's members while the rest of a request is validated


class GenomicsJobNotFound(LookupError):
    """No genomics job with that id in this workspace."""


class GenomicsUnavailable(PermissionError):
    """The workspace's tier has no genomes (a Registered Tier workspace)."""


UNAVAILABLE = ("Genomic data is in the Controlled Tier only, and this is a Registered Tier workspace: create a "
               "Controlled Tier workspace (with Controlled Tier access) to extract genotypes or run a GWAS, PCA, "
               "PheWAS or allele frequencies.")


def available(workspace: Workspace) -> bool:
    return Tier(workspace.tier) is Tier.CONTROLLED


def _need_writer(membership: Membership) -> None:
    if membership.role < Role.WRITER:
        raise WorkspaceForbidden(f"Running genomics jobs needs the {Role.WRITER.label} role; you are a "
                                 f"{membership.role.label}.", Role.WRITER)


def _renamed(problems: Iterable[str], names: dict[str, str]) -> list[str]:
    """Library problems ("person_ids: …") located at the request's own fields ("cohort: …")."""
    out = []
    for text in problems:
        text = str(text)
        head, sep, rest = text.partition(":")
        root = head.split(".")[0].split("[")[0]
        out.append(names[root] + head[len(root):] + sep + rest if root in names else text)
    return out


def store_of(workspace: Workspace, kind: str = "wgs") -> GenotypeStore:
    """The workspace's data version's genotype store of ``kind``; GenomicsError when it has none."""
    version = workspace.data_version
    if not version.index_path:
        raise GenomicsError([f"kind: data version {version.name} has no search index, so no genotypes"])
    try:
        return GenotypeStore.open(Path(version.index_path), kind)
    except GenomicsError:
        raise GenomicsError([f"kind: data version {version.name} has no {kind} genotypes"]) from None


def prepare(session: Session, workspace: Workspace, kind: str, request: Any) -> dict[str, Any]:
    """The request as it is stored: every field checked (GenomicsError naming each bad one), saved cohorts found
    and pinned to their current version, a GWAS's ``pcs_job`` found finished."""
    if kind not in jobs.JOB_KINDS:
        raise GenomicsError([f"kind: {kind!r} is not one of {', '.join(jobs.JOB_KINDS)}"])
    if not isinstance(request, dict):
        raise GenomicsError([f"request: a {kind} request is an object of fields"])
    fields = COHORT_FIELDS[kind]
    problems: list[str] = []
    pinned: dict[str, Any] = {}
    library: dict[str, Any] = {}
    names = {f.target: name for name, f in fields.items()}
    pcs_target = PCS_TARGET.get(kind)
    for name, value in request.items():
        if name in names and name not in fields:
            problems.append(f"{name}: name a saved cohort of the workspace in {names[name]!r} (its id or name)")
        elif name == pcs_target:
            problems.append(f"{name}: name a finished PCA job of this workspace in {PCS_JOB!r}")
        elif name not in fields and name != PCS_JOB:
            library[name] = value
    for name, spec in fields.items():
        ref = request.get(name)
        if ref is None and spec.required:
            problems.append(f"{name}: required: choose one of the workspace's saved cohorts")
        cohort = None if ref is None else _saved_cohort(session, workspace, name, ref, problems)
        if cohort is None:
            if spec.shape == PERSONS and (ref is not None or spec.required):
                library[spec.target] = _PLACEHOLDER_PERSONS  # its problem is said once, above
            continue
        resource, content = cohort
        if spec.shape == DEFINITION and is_circe(content):
            problems.append(f"{name}: {resource.name!r} is an OHDSI (Circe) cohort; a GWAS takes Cohort Builder "
                            "cohorts")
            continue
        pinned[name] = {"id": resource.id, "name": resource.name, "version": resource.version}
        library[spec.target] = content if spec.shape == DEFINITION else _PLACEHOLDER_PERSONS
    if request.get(PCS_JOB) is not None:
        if pcs_target is None:
            problems.append(f"{PCS_JOB}: only a GWAS or a PheWAS takes principal components")
        else:
            pca = _pca_job(session, workspace, request[PCS_JOB], problems)
            if pca is not None:
                pinned[PCS_JOB] = pca.id
                library[pcs_target] = str(Path(pca.path) / "pcs.parquet")
    try:
        job = jobs.validate(kind, library)
    except GenomicsError as err:
        problems += _renamed(err.problems, {**names, **({pcs_target: PCS_JOB} if pcs_target else {})})
        job = None
    if job is not None and not problems:
        try:
            store_of(workspace, getattr(job, "kind", "wgs"))
        except GenomicsError as err:
            problems += err.problems
    if problems:
        raise GenomicsError(problems)
    # Stored in full (defaults written out): the record says exactly what ran, whatever later defaults become.
    filled = {spec.target for spec in fields.values()} | ({pcs_target} if pcs_target else set())
    return {**job.model_dump(mode="json", exclude=filled), **pinned}


def _saved_cohort(session: Session, workspace: Workspace, name: str, ref: Any,
                  problems: list[str]) -> tuple[Resource, dict[str, Any]] | None:
    if isinstance(ref, bool) or not isinstance(ref, (int, str)) or (isinstance(ref, str) and not ref.strip()):
        problems.append(f"{name}: a saved cohort's id (a whole number) or name")
        return None
    resource = find_reference(session, workspace, "cohort", ref)
    if resource is None:
        problems.append(f"{name}: no saved cohort {ref!r} in this workspace")
        return None
    return resource, version_of(session, resource).content


def _pca_job(session: Session, workspace: Workspace, ref: Any, problems: list[str]) -> GenomicsJob | None:
    if isinstance(ref, bool) or not isinstance(ref, int):
        problems.append(f"{PCS_JOB}: a PCA job's id (a whole number)")
        return None
    pca = session.get(GenomicsJob, ref)
    if pca is None or pca.workspace_id != workspace.id or pca.kind != "pca":
        problems.append(f"{PCS_JOB}: no PCA job {ref} in this workspace")
        return None
    if pca.status != "done" or not pca.path:
        problems.append(f"{PCS_JOB}: PCA job {ref} has not finished ({pca.status})")
        return None
    return pca


def start(session: Session, membership: Membership, kind: str, request: Any, *, user: User, now: datetime,
          session_id: str | None, token_id: int | None, runner: str | None = None) -> GenomicsJob:
    """A queued job of ``kind``, to be run by ``runner`` (the server process's "host:pid"). WRITER of a Controlled
    Tier workspace; GenomicsUnavailable for a Registered Tier one; GenomicsError naming each bad field."""
    _need_writer(membership)
    workspace = membership.workspace
    if not available(workspace):
        raise GenomicsUnavailable(UNAVAILABLE)
    stored = prepare(session, workspace, kind, request)
    active = session.scalar(select(func.count()).select_from(GenomicsJob).where(
        GenomicsJob.user_id == user.id, GenomicsJob.status.in_(("queued", "running"))))
    if active >= MAX_ACTIVE_PER_USER:
        raise GenomicsError([f"(request): you have {active} genomics jobs queued or running, the most at once: "
                             "wait for one to end, or cancel one"])
    job = GenomicsJob(workspace_id=workspace.id, user_id=user.id, session_id=session_id, token_id=token_id,
                      kind=kind, request=stored, status="queued", done_steps=0, total_steps=0,
                      cancel_requested=False, runner=runner, created_at=now)
    session.add(job)
    session.flush()
    return job


def of_workspace(session: Session, membership: Membership, limit: int = 100,
                 kind: str | None = None) -> list[GenomicsJob]:
    """The workspace's genomics jobs (of ``kind``), newest first."""
    query = select(GenomicsJob).where(GenomicsJob.workspace_id == membership.workspace.id)
    if kind is not None:
        query = query.where(GenomicsJob.kind == kind)
    return list(session.scalars(query.order_by(GenomicsJob.id.desc()).limit(limit)))


def get(session: Session, membership: Membership, job_id: int) -> GenomicsJob:
    job = session.get(GenomicsJob, job_id)
    if job is None or job.workspace_id != membership.workspace.id:
        raise GenomicsJobNotFound(f"no genomics job {job_id} in workspace {membership.workspace.namespace}")
    return job


def request_cancel(session: Session, membership: Membership, job: GenomicsJob) -> GenomicsJob:
    """Ask a queued or running job to stop (at its next step; nothing is kept). WRITER. An ended job is left as
    it is."""
    _need_writer(membership)
    if job.status not in ENDED:
        job.cancel_requested = True
    return job


def as_dict(job: GenomicsJob) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "request": job.request, "status": job.status, "done": job.done_steps,
            "total": job.total_steps, "message": job.message, "path": job.path, "summary": job.summary,
            "cancel_requested": job.cancel_requested, "user_id": job.user_id,
            "created_at": job.created_at.isoformat(),
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


# -- what the runner needs --------------------------------------------------------------------------------------

@dataclass
class ResolvedJob:
    """A job's request read back for running: the library's fields, and the pinned cohorts' contents by the
    library field they fill (their members still to be found on the data version)."""

    kind: str
    library: dict[str, Any]
    cohorts: dict[str, dict[str, Any]] = field(default_factory=dict)  # library field → cohort content (PERSONS)
    cohort_ids: list[int] = field(default_factory=list)

    def request(self, members: Callable[[dict[str, Any]], Iterable[int]]) -> dict[str, Any]:
        """The library's request, each cohort's person ids found by ``members(content)``."""
        return {**self.library, **{target: sorted(int(p) for p in members(content))
                                   for target, content in self.cohorts.items()}}


def resolve(session: Session, workspace: Workspace, job: GenomicsJob) -> ResolvedJob:
    """The job's request with its pinned cohorts read (GenomicsError naming the field when one is gone)."""
    fields = COHORT_FIELDS[job.kind]
    problems: list[str] = []
    library = {k: v for k, v in job.request.items() if k not in fields and k != PCS_JOB}
    resolved = ResolvedJob(job.kind, library)
    for name, spec in fields.items():
        pinned = job.request.get(name)
        if pinned is None:
            continue
        resource = session.get(Resource, pinned["id"])
        if resource is None or resource.workspace_id != workspace.id or resource.deleted_at is not None:
            problems.append(f"{name}: the cohort {pinned['name']!r} was deleted: restore it, or start the job "
                            "again with another cohort")
            continue
        try:
            content = version_of(session, resource, pinned["version"]).content
        except ResourceNotFound as err:
            problems.append(f"{name}: {err}")
            continue
        resolved.cohort_ids.append(resource.id)
        if spec.shape == DEFINITION:
            resolved.library[spec.target] = content
        else:
            resolved.cohorts[spec.target] = content
    if job.request.get(PCS_JOB) is not None:
        pca = session.get(GenomicsJob, job.request[PCS_JOB])
        if pca is None or pca.workspace_id != workspace.id or pca.status != "done" or not pca.path \
                or not (Path(pca.path) / "pcs.parquet").is_file():
            problems.append(f"{PCS_JOB}: PCA job {job.request[PCS_JOB]}'s components are no longer there")
        else:
            resolved.library[PCS_TARGET[job.kind]] = str(Path(pca.path) / "pcs.parquet")
    if problems:
        raise GenomicsError(problems)
    return resolved
