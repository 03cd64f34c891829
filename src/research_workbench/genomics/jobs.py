"""Genomics analyses as jobs: one request model per kind and one entry point, ``run_job``, that validates a request
and calls the library. The Researcher Workbench's background runner, its API and the SDK all go through here, so a
request means the same thing whoever sends it.

Kinds (``JOB_KINDS``) and what they call:

- ``extract``: ``extract.extract`` — the cohort's genotypes for chosen variants as VCF, PLINK 1, PLINK 2, BGEN;
- ``gwas``: ``gwas_run.run_gwas`` — results, Manhattan and QQ plots, summary;
- ``pca``: ``pca.run_pca`` — principal components (``pcs.parquet``: a GWAS's ``pcs`` covariate), plots;
- ``phewas``: ``phewas.run_phewas`` — a variant against many phenotypes;
- ``frequencies``: ``ancestry_af.ancestry_frequencies`` — per-ancestry allele counts and frequencies.

Fields are named as in the library. Cohorts are lists of person ids (``person_ids``; a PheWAS's ``population`` and
``exposed``; None where the library reads everyone with genotypes), except a GWAS's ``cases`` and ``controls``,
which the library takes as Cohort Builder definitions: resolving a workspace's saved cohorts is the workspace
layer's job, not this one's. So is choosing a file on the server (a GWAS's ``pcs``, a PheWAS's ``covariates``).

Every kind writes a new directory ``out_dir`` whole or not at all (files are written in a hidden sibling renamed
into place at the end), so a job stopped by ``cancelled`` or an error leaves nothing behind. ``progress(step, done,
total)`` is called as the library reports; ``cancelled()`` is asked before the work and at each report (it may
also raise its own exception to stop, which propagates).
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..index.variant_query import VariantSelection
from .extract import ExtractRequest
from .store import GenomicsError, GenotypeStore

JOB_KINDS = ("extract", "gwas", "pca", "phewas", "frequencies")
JobKind = Literal["extract", "gwas", "pca", "phewas", "frequencies"]
Progress = Callable[[str, int, int], None]
Cancelled = Callable[[], bool]
FREQUENCIES_STEM = "frequencies"  # frequencies.parquet and frequencies.tsv


class JobCancelled(Exception):
    """``cancelled()`` said stop: nothing was written."""


PersonIds = list[int]


# -- the requests, one per kind ----------------------------------------------------------------------------------

class ExtractJob(ExtractRequest):
    """An extract (``extract.ExtractRequest``) of the genotypes of ``person_ids``."""

    person_ids: PersonIds = Field(min_length=1, description="The cohort: person ids (those without genotypes are "
                                                            "left out)")


class PruneModel(BaseModel):
    """LD pruning as ``plink2 --indep-pairwise window step r2``."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(50, ge=2, le=10_000, description="Variants per window")
    step: int = Field(5, ge=1, le=10_000, description="Variants the window moves by")
    r2: float = Field(0.2, gt=0, le=1, description="Prune one of a pair above this r²")


class PcaJob(BaseModel):
    """Principal components (``pca.run_pca``) of ``person_ids`` (None: everyone with genotypes)."""

    model_config = ConfigDict(extra="forbid")

    person_ids: PersonIds | None = Field(None, min_length=1, description="The cohort (None: everyone genotyped)")
    k: int = Field(10, ge=1, le=100, description="Components")
    kind: Literal["wgs", "array"] = "wgs"
    selection: VariantSelection = Field(default_factory=VariantSelection)
    min_maf: float = Field(0.01, ge=0, le=0.5)
    min_call_rate: float = Field(0.95, ge=0, le=1)
    prune: PruneModel | None = Field(default_factory=PruneModel, description="None: no LD pruning")
    method: Literal["auto", "exact", "randomized"] = "auto"
    seed: int = Field(0, ge=0)
    power_iterations: int = Field(5, ge=0, le=50)
    oversample: int = Field(10, ge=0, le=500)
    loadings: bool = Field(False, description="Also write each variant's weights")


class PhewasJob(BaseModel):
    """A PheWAS (``phewas.run_phewas``): one exposure — a ``variant``'s dosage, ``carriers`` of a selection, or
    membership of ``exposed`` — against every condition, within ``population`` (None: everyone analysable)."""

    model_config = ConfigDict(extra="forbid")

    variant: str | None = Field(None, description="An rsID or CHROM-POS-REF-ALT: its ALT dosage is the exposure")
    carriers: VariantSelection | None = Field(None, description="Carrying an ALT allele of any of these variants")
    exposed: PersonIds | None = Field(None, min_length=1, description="Membership of these persons")
    population: PersonIds | None = Field(None, min_length=1, description="The cohort analysed (None: everyone)")
    min_cases: int = Field(20, ge=1, description="Fewest cases a condition needs to be tested")
    max_levels: int | None = Field(None, ge=0, description="Ancestor levels a condition rolls up to (None: all)")
    covariates: str | None = Field(None, description="A file on the server with person_id and numeric columns "
                                                     "(a PCA job's pcs.parquet): set by the workspace layer")
    kind: Literal["wgs", "array"] = "wgs"

    @model_validator(mode="after")
    def _one_exposure(self) -> PhewasJob:
        given = [n for n in ("variant", "carriers", "exposed") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one exposure: variant, carriers or exposed"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class FrequenciesJob(BaseModel):
    """Allele frequencies per ancestry group (``ancestry_af.ancestry_frequencies``)."""

    model_config = ConfigDict(extra="forbid")

    person_ids: PersonIds | None = Field(None, min_length=1, description="The cohort (None: everyone genotyped)")
    selection: VariantSelection = Field(default_factory=VariantSelection)
    kind: Literal["wgs", "array"] = "wgs"


@functools.cache
def request_model(kind: str) -> type[BaseModel]:
    """The request model of ``kind``. A GWAS's is ``gwas_run.GwasSpec`` itself, imported on first use: it brings
    SciPy's statistics, which a web server should not load before anyone asks for a GWAS. (Its ``pcs`` is a file on
    the server: the workspace layer sets it, from a PCA job of the same workspace, never a caller.)"""
    if kind == "gwas":
        from .gwas_run import GwasSpec

        return GwasSpec
    return {"extract": ExtractJob, "pca": PcaJob, "phewas": PhewasJob, "frequencies": FrequenciesJob}[kind]


def _where(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(request)"


def validate(kind: str, request: Mapping[str, Any] | BaseModel) -> BaseModel:
    """The request as its kind's model; GenomicsError naming every bad field by its path (``selection.min_af: …``)."""
    if kind not in JOB_KINDS:
        raise GenomicsError([f"kind: {kind!r} is not one of {', '.join(JOB_KINDS)}"])
    model = request_model(kind)
    if isinstance(request, model):
        return request
    if isinstance(request, BaseModel):
        request = request.model_dump()
    if not isinstance(request, Mapping):
        raise GenomicsError([f"(request): a {kind} request is an object of fields, not {type(request).__name__}"])
    try:
        return model.model_validate(dict(request))
    except ValidationError as err:
        problems = []
        for e in err.errors():
            message = str(e.get("msg", "")).removeprefix("Value error, ")
            if e.get("type") == "literal_error":
                message += f" (got {e.get('input')!r})"
            problems.append(f"{_where(tuple(e.get('loc', ())))}: {message}")
        raise GenomicsError(problems) from None


# -- running -----------------------------------------------------------------------------------------------------

@contextmanager
def new_directory(out_dir: Path) -> Iterator[Path]:
    """A hidden sibling of ``out_dir`` to write into, renamed to ``out_dir`` when the block ends without error and
    removed whatever happens otherwise (KeyboardInterrupt and cancellation included)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise GenomicsError([f"out_dir: {out_dir} exists: a job writes a new directory"])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    try:
        yield work
        os.rename(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _reporter(progress: Progress | None, cancelled: Cancelled | None) -> Progress:
    def report(step: str, done: int, total: int) -> None:
        if progress is not None:
            progress(step, done, total)
        if cancelled is not None and cancelled():
            raise JobCancelled("cancelled")

    return report


def run_job(kind: str, index_dir: Path, request: Mapping[str, Any] | BaseModel, out_dir: Path, *,
            progress: Progress | None = None, cancelled: Cancelled | None = None) -> dict[str, Any]:
    """Validate ``request`` and run it on the index at ``index_dir``, writing the new directory ``out_dir``; the
    summary (JSON-ready: counts, file names, what the analysis reports). GenomicsError for a request the data cannot
    answer (naming the field); JobCancelled when ``cancelled()`` said stop."""
    job = validate(kind, request)
    index_dir, out_dir = Path(index_dir), Path(out_dir)
    if cancelled is not None and cancelled():
        raise JobCancelled("cancelled before it started")
    report = _reporter(progress, cancelled)
    return _RUNNERS[kind](index_dir, job, out_dir, report, cancelled)


def _run_extract(index_dir: Path, job: ExtractJob, out_dir: Path, report: Progress, cancelled: Cancelled | None):
    from .extract import ExtractCancelled, extract

    store = GenotypeStore.open(index_dir, job.kind)
    request = ExtractRequest.model_validate(job.model_dump(exclude={"person_ids"}))
    try:
        result = extract(store, job.person_ids, request, out_dir, progress=report, cancelled=cancelled)
    except ExtractCancelled:
        raise JobCancelled("cancelled") from None
    manifest = result.manifest
    return {"samples": result.samples, "variants": result.variants, "files": result.files,
            "manifest": "manifest.json", "persons_requested": manifest.get("persons_requested"),
            "variants_below_min_call_rate": manifest.get("variants_below_min_call_rate"),
            "selection": manifest.get("selection"), "formats": list(request.formats), "kind": request.kind,
            "seconds": round(result.seconds, 3)}


def _run_gwas(index_dir: Path, job, out_dir: Path, report: Progress, cancelled: Cancelled | None):
    from .gwas_run import run_gwas

    return run_gwas(index_dir, job, out_dir, progress=report)


def _run_pca(index_dir: Path, job: PcaJob, out_dir: Path, report: Progress, cancelled: Cancelled | None):
    from .pca import PruneSettings, run_pca

    prune = None if job.prune is None else PruneSettings(job.prune.window, job.prune.step, job.prune.r2)
    with new_directory(out_dir) as work:
        result = run_pca(index_dir, job.person_ids, work, job.k, kind=job.kind, selection=job.selection,
                         min_maf=job.min_maf, min_call_rate=job.min_call_rate, prune=prune, method=job.method,
                         seed=job.seed, power_iterations=job.power_iterations, oversample=job.oversample,
                         loadings=job.loadings, plots=True, progress=report)
        if cancelled is not None and cancelled():
            raise JobCancelled("cancelled")
    return {**result.summary(), "samples": int(len(result.person_ids)), "kind": job.kind,
            "selection": job.selection.describe()}


def _run_phewas(index_dir: Path, job: PhewasJob, out_dir: Path, report: Progress, cancelled: Cancelled | None):
    from .phewas import read_covariates, run_phewas

    covariates = read_covariates(Path(job.covariates)) if job.covariates else None
    with new_directory(out_dir) as work:
        result = run_phewas(index_dir, variant=job.variant, carriers=job.carriers, exposed=job.exposed,
                            population=job.population, out_dir=work, min_cases=job.min_cases,
                            max_levels=job.max_levels, covariates=covariates, kind=job.kind, progress=report)
        if cancelled is not None and cancelled():
            raise JobCancelled("cancelled")
    return {**result.summary(), "kind": job.kind}


def _run_frequencies(index_dir: Path, job: FrequenciesJob, out_dir: Path, report: Progress,
                     cancelled: Cancelled | None):
    from .ancestry_af import ANCESTRY_GROUPS, TOTAL, ancestry_frequencies, cohort_positions
    from .output_files import write_json, write_table

    table = ancestry_frequencies(index_dir, job.person_ids, job.selection, kind=job.kind, progress=report)
    samples = len(cohort_positions(GenotypeStore.open(index_dir, job.kind), job.person_ids))
    groups = [*ANCESTRY_GROUPS, TOTAL]
    summary = {"kind": job.kind, "selection": job.selection.describe(), "variants": table.num_rows // len(groups),
               "samples": samples, "groups": groups, "rows": table.num_rows}
    with new_directory(out_dir) as work:
        work.mkdir()
        files = write_table(table, work, FREQUENCIES_STEM)
        summary["files"] = files + ["summary.json"]
        write_json(summary, work / "summary.json")
        if cancelled is not None and cancelled():
            raise JobCancelled("cancelled")
    return summary


_RUNNERS = {"extract": _run_extract, "gwas": _run_gwas, "pca": _run_pca, "phewas": _run_phewas,
            "frequencies": _run_frequencies}


# -- who a job reads, and which of its files are participant-level ------------------------------------------------

def persons_read(kind: str, index_dir: Path, request: Mapping[str, Any] | BaseModel) -> np.ndarray:
    """The person ids (ascending) whose genotypes the job reads: the cohort's participants with genotypes, everyone
    genotyped when the cohort is everyone, and for a GWAS the samples of its analysis table (cases and controls, or
    the measured, with complete covariates). What the audit log records of a job."""
    job = validate(kind, request)
    store = GenotypeStore.open(Path(index_dir), getattr(job, "kind", "wgs"))
    if kind == "gwas":
        from .phenotypes import analysis_table

        table = analysis_table(Path(index_dir), store, job, job.pcs)
        return np.sort(np.asarray(table.person_ids, dtype=np.int64))
    if kind == "phewas":
        from .phewas import analysis_population, read_covariates

        covariates = read_covariates(Path(job.covariates)) if job.covariates else None
        return np.sort(analysis_population(Path(index_dir), store, job.population, covariates).person_ids)
    person_ids = getattr(job, "person_ids", None)
    if person_ids is None:
        return np.sort(store.samples)
    return np.sort(store.samples[store.sample_positions(person_ids)])


# Files that hold one row per participant (genotypes, principal components): reading them out of the Workbench is a
# download of participant-level data. Everything else a job writes is aggregate (statistics per variant, plots).
_PARTICIPANT_LEVEL = {"pca": frozenset({"pcs.parquet", "pcs.tsv"})}


def participant_level(kind: str, file_name: str) -> bool:
    """Whether ``file_name`` of a ``kind`` job holds participant-level data (an extract's files, except its
    manifest; a PCA's components)."""
    if kind == "extract":
        return file_name != "manifest.json"
    return file_name in _PARTICIPANT_LEVEL.get(kind, frozenset())
