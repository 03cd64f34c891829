"""Cohort genotype extracts: a cohort's genotypes for chosen variants, from an index's genotype store, as VCF,
PLINK 1, PLINK 2 and BGEN files with a manifest (the Researcher Workbench's "extract genomic data" step).

``plan`` says what would be extracted (the cohort's samples that have genotypes, the variants the selection
means) and refuses what cannot be: a cohort without genomes, a selection that matches nothing, an unknown format.
``extract`` writes the files, reading the store a chunk of variants at a time (memory is bounded by chunk ×
samples, whatever the cohort's size) and feeding every requested format from the same read. Everything is written
in a hidden sibling of the output directory, renamed into place at the end: an error or a cancellation leaves
nothing behind.

Every format holds the same matrix: samples are the person ids in ascending order, variants are in genome order
(chromosomes as they come in the store, then position), and genotypes count ALT alleles.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import __version__
from ..cdr.store import sha256_file
from ..index.layout import INDEX_MANIFEST
from ..index.variant_query import VariantSelection, select_variants
from ._extract_bgen import BgenWriter
from ._extract_plink import PgenWriter, Plink1Writer
from ._extract_vcf import VcfWriter
from .store import GenomicsError, GenotypeStore

FORMATS = ("vcf", "plink1", "pgen", "bgen")
Format = Literal["vcf", "plink1", "pgen", "bgen"]
WRITERS = {"vcf": VcfWriter, "plink1": Plink1Writer, "pgen": PgenWriter, "bgen": BgenWriter}
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "research-workbench genotype extract"
MANIFEST_VERSION = 1
# A chunk holds at most this many genotypes (variants × samples): about 8 MB of int8 calls, 32 MB of VCF text.
CHUNK_CELLS = 8_000_000
MAX_CHUNK_VARIANTS = 2000
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class ExtractCancelled(Exception):
    """The caller's ``cancelled()`` said stop; nothing was left behind."""


class ExtractRequest(BaseModel):
    """Which variants, in which formats, from which store."""

    model_config = ConfigDict(extra="forbid")

    selection: VariantSelection = Field(description="The variants (index.variant_query); empty: every variant")
    formats: list[Format] = Field(default_factory=lambda: list(FORMATS), min_length=1,
                                  description="Any of vcf, plink1, pgen, bgen")
    kind: Literal["wgs", "array"] = "wgs"
    min_call_rate: float | None = Field(None, ge=0, le=1,
                                        description="Keep variants called in at least this share of the samples")
    name: str = Field("extract", pattern=_NAME, description="File name stem: NAME.vcf.gz, NAME.bed…")

    @field_validator("formats")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # a format asked for twice is written once


def parse_request(document: ExtractRequest | Mapping[str, Any]) -> ExtractRequest:
    """A request from JSON-like data; GenomicsError naming each bad field by its path (``formats[1]: …``)."""
    if isinstance(document, ExtractRequest):
        return document
    if not isinstance(document, Mapping):
        raise GenomicsError(["(request): must be an object with selection, formats, kind, min_call_rate, name"])
    try:
        return ExtractRequest.model_validate(dict(document))
    except ValidationError as err:
        raise GenomicsError([_problem(e) for e in err.errors()]) from None


def _problem(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error.get("loc", ()):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if error.get("type") == "literal_error":
        message += f" (got {error.get('input')!r})"
    return f"{path or '(request)'}: {message}"


@dataclass
class ExtractPlan:
    """What ``extract`` would write: ``samples`` (person ids, ascending) read from the store's
    ``sample_positions`` (ascending) and reordered by ``sample_order``; ``variant_indices`` in output order."""

    store: GenotypeStore
    request: ExtractRequest
    persons_requested: int
    sample_positions: np.ndarray
    sample_order: np.ndarray | None  # None: store order is already person-id order
    samples: np.ndarray
    variant_indices: np.ndarray
    selected_variants: int  # before the call-rate filter
    contigs: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"kind": self.request.kind, "selection": self.request.selection.describe(),
                "formats": list(self.request.formats), "persons_requested": self.persons_requested,
                "samples": len(self.samples), "variants": len(self.variant_indices),
                "variants_selected": self.selected_variants,
                "variants_below_min_call_rate": self.selected_variants - len(self.variant_indices)}


@dataclass
class ExtractResult:
    path: Path
    files: dict[str, list[str]]  # format → file names in ``path`` (manifest.json aside)
    samples: int
    variants: int
    manifest: dict[str, Any]
    seconds: float

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "samples": self.samples, "variants": self.variants, "files": self.files,
                "manifest": MANIFEST, "seconds": round(self.seconds, 3)}


def chunk_variants(samples: int) -> int:
    """Variants per chunk for this many samples: CHUNK_CELLS genotypes, at least one variant."""
    return max(1, min(MAX_CHUNK_VARIANTS, CHUNK_CELLS // max(samples, 1)))


def plan(store: GenotypeStore, person_ids: Iterable[int], request: ExtractRequest | Mapping[str, Any], *,
         chunk_size: int | None = None) -> ExtractPlan:
    """What would be extracted for ``person_ids`` (any order, repeats ignored); GenomicsError when nothing could be."""
    request = parse_request(request)
    if request.kind != store.kind:
        raise GenomicsError([f"kind: the request is for {request.kind} genotypes but the store read is {store.kind}"])
    persons = np.unique(np.fromiter((int(p) for p in person_ids), dtype=np.int64))
    if len(persons) == 0:
        raise GenomicsError(["persons: no participants given (the cohort is empty)"])
    positions = store.sample_positions(persons)
    if len(positions) == 0:
        raise GenomicsError([f"persons: none of the {len(persons):,} participants has {store.kind} genotypes"])
    ids = store.samples[positions]
    order = np.argsort(ids, kind="stable")
    sample_order = None if np.array_equal(order, np.arange(len(order))) else order

    variants = store.variants
    selected = _genome_order(variants, select_variants(variants, request.selection))
    if len(selected) == 0:
        raise GenomicsError([f"selection: the selection {request.selection.describe()} matches no variants "
                             f"in the {store.kind} store"])
    kept = selected
    if request.min_call_rate is not None:
        kept = _called_enough(store, selected, positions, request.min_call_rate,
                              chunk_size or chunk_variants(len(positions)))
        if len(kept) == 0:
            raise GenomicsError([f"min_call_rate: none of the {len(selected):,} selected variants is called in at "
                                 f"least {request.min_call_rate:g} of the {len(positions):,} samples"])
    chroms = variants["chrom"].take(pa.array(kept)).to_pylist()
    return ExtractPlan(store=store, request=request, persons_requested=len(persons), sample_positions=positions,
                       sample_order=sample_order, samples=ids[order], variant_indices=kept,
                       selected_variants=len(selected), contigs=list(dict.fromkeys(chroms)))


def _genome_order(variants: pa.Table, indices: np.ndarray) -> np.ndarray:
    """``indices`` sorted by chromosome (in the order the store first holds each) and position: the order a tabix
    index needs, and for a store written from a sorted VCF simply store order."""
    if len(indices) == 0:
        return indices.astype(np.int64)
    rank = variants["chrom"].combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    pos = variants["pos"].to_numpy()
    indices = np.asarray(indices, dtype=np.int64)
    return indices[np.lexsort((indices, pos[indices], rank[indices]))]


def _called_enough(store: GenotypeStore, variants: np.ndarray, positions: np.ndarray, min_rate: float,
                   size: int) -> np.ndarray:
    """Those of ``variants`` called in at least ``min_rate`` of the samples at ``positions`` (one streaming read)."""
    keep = np.zeros(len(variants), dtype=bool)
    start = 0
    for part, genotypes in store.chunks(variants, positions, size=size):
        called = (genotypes >= 0).sum(axis=1, dtype=np.int64)
        keep[start:start + len(part)] = called >= min_rate * len(positions)
        start += len(part)
    return variants[keep]


def extract(store: GenotypeStore, person_ids: Iterable[int], request: ExtractRequest | Mapping[str, Any],
            out_dir: Path, *, progress: Callable[[str, int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None, about: Mapping[str, Any] | None = None,
            chunk_size: int | None = None) -> ExtractResult:
    """Write the extract into the new directory ``out_dir`` (see the module's docstring). ``progress(step, done,
    total)`` is called before each chunk of variants and once when done; ``cancelled()`` is asked before each chunk
    and before the files are renamed into place (ExtractCancelled); ``about`` adds to the manifest what the caller
    knows (the data version's name, the cohort). ``progress`` may also raise to stop."""
    started = time.perf_counter()
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be 1 or more, not {chunk_size}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise GenomicsError([f"out_dir: {out_dir} exists: an extract writes a new directory"])
    the_plan = plan(store, person_ids, request, chunk_size=chunk_size)
    index_manifest = _index_manifest(store.index_dir)
    size = chunk_size or chunk_variants(len(the_plan.samples))
    n_variants = len(the_plan.variant_indices)
    n_chunks = -(-n_variants // size)
    report = progress or (lambda step, done, total: None)
    stop = cancelled or (lambda: False)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    writers: dict[str, Any] = {}
    try:
        for fmt in the_plan.request.formats:
            writers[fmt] = WRITERS[fmt](building, the_plan.request.name, the_plan.samples, n_variants,
                                        the_plan.contigs)
        chunks = store.chunks(the_plan.variant_indices, the_plan.sample_positions, size=size)
        for n, (part, genotypes) in enumerate(chunks):
            if stop():
                raise ExtractCancelled(f"extract into {out_dir} cancelled")
            start = n * size
            report(f"variants {start + 1:,}–{start + len(part):,} of {n_variants:,}", n, n_chunks + 1)
            if the_plan.sample_order is not None:
                genotypes = np.ascontiguousarray(genotypes[:, the_plan.sample_order])
            chunk = _variant_columns(store.variants, part)
            for writer in writers.values():
                writer.write(chunk, genotypes)
        report("closing and indexing files", n_chunks, n_chunks + 1)
        files: dict[str, list[str]] = {}
        for fmt in list(writers):
            files[fmt] = [p.name for p in writers.pop(fmt).close()]
        manifest = _manifest(the_plan, building, files, index_manifest, about)
        (building / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str) + "\n", encoding="utf-8")
        if stop():
            raise ExtractCancelled(f"extract into {out_dir} cancelled")
        building.rename(out_dir)
    except BaseException:
        for writer in writers.values():
            try:
                writer.abort()
            except Exception:  # already failing: the first error is the one to report
                pass
        shutil.rmtree(building, ignore_errors=True)
        raise
    report("", n_chunks + 1, n_chunks + 1)
    return ExtractResult(path=out_dir, files=files, samples=len(the_plan.samples), variants=n_variants,
                         manifest=manifest, seconds=time.perf_counter() - started)


def _variant_columns(variants: pa.Table, indices: np.ndarray) -> dict[str, list[Any]]:
    """The described columns of one chunk's variants as Python lists, in output order, plus ``id``: the variant's
    name in PLINK and BGEN files (its rsID, else CHROM-POS-REF-ALT), as in the store's .bim."""
    rows = variants.select(["variant_id", "chrom", "pos", "ref", "alt", "rsid", "gene"]).take(pa.array(indices))
    columns = {name: rows[name].to_pylist() for name in rows.column_names}
    columns["id"] = [rsid or vid for rsid, vid in zip(columns["rsid"], columns["variant_id"])]
    return columns


def _index_manifest(index_dir: Path) -> dict[str, Any]:
    """What the manifest records of the data: the index's ``index.json`` (its CDR and that CDR's manifest hash)
    and the SHA-256 of ``index.json`` itself."""
    path = Path(index_dir) / INDEX_MANIFEST
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise GenomicsError([f"index: {path} cannot be read ({err}); an extract records the index it came from, "
                             f"rebuild it with `workbench index`"]) from None
    if not isinstance(document, dict):
        raise GenomicsError([f"index: {path} is not an index manifest (not a JSON object)"])
    return {"path": str(Path(index_dir).absolute()), "index_manifest_sha256": sha256_file(path),
            "cdr": document.get("cdr"), "cdr_manifest_sha256": document.get("cdr_manifest_sha256"),
            "index_created_at": document.get("created_at")}


def _manifest(the_plan: ExtractPlan, directory: Path, files: dict[str, list[str]], index: dict[str, Any],
              about: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        **dict(about or {}),
        "request": the_plan.request.model_dump(mode="json"),
        "selection": the_plan.request.selection.describe(),
        "index": index,
        "kind": the_plan.request.kind,
        "persons_requested": the_plan.persons_requested,
        "samples": len(the_plan.samples),
        "variants": len(the_plan.variant_indices),
        "variants_below_min_call_rate": the_plan.selected_variants - len(the_plan.variant_indices),
        "orientation": "genotypes count ALT alleles; PLINK 1 A1 (.bim column 5) = ALT; BGEN alleles REF, ALT "
                       "(read with plink2 --bgen ref-first)",
        "files": {name: {"format": fmt, "bytes": (directory / name).stat().st_size,
                         "sha256": sha256_file(directory / name)}
                  for fmt, names in files.items() for name in names},
        "code_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
