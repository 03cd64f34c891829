"""One GWAS from request to files: the entry point the CLI, the SDK and the web page share.

``run_gwas(index_dir, spec, out_dir)`` assembles the analysis table (``phenotypes``), selects the variants
(``index.variant_query``), runs the association (``gwas``) and writes, all or nothing (a temporary sibling
directory renamed into place; removed on any error or interruption):

- ``results.parquet``, ``results.tsv``: one row per tested variant (``gwas.RESULT_SCHEMA``);
- ``filtered.parquet``: the variants not tested and why (``gwas.FILTERED_SCHEMA``);
- ``manhattan.png/.svg``, ``qq.png/.svg``;
- ``summary.json``: samples (cases and controls), who was left out and why, variants tested and filtered, λGC,
  the top hits, the data version (the index and its CDR) and the code version.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import Field, ValidationError

from .. import __version__
from ..index.layout import INDEX_MANIFEST
from ..index.variant_query import VariantSelection, select_variants
from .gwas import Association, ExactRule, Filters, Progress, associate
from .phenotypes import AnalysisTable, PhenotypeSpec, analysis_table
from .store import GenomicsError, GenotypeStore

TOP_HITS = 20  # rows of summary.json's top_hits
OUTPUT_FILES = ("results.parquet", "results.tsv", "filtered.parquet", "manhattan.png", "manhattan.svg", "qq.png",
                "qq.svg", "summary.json")


class GwasSpec(PhenotypeSpec):
    """A GWAS request: the phenotype and covariates (``PhenotypeSpec``), the genotypes, the model and the filters."""

    kind: Literal["wgs", "array"] = Field("wgs", description="Which genotype store")
    pcs: str | None = Field(None, description="Parquet file of principal components (person_id, PC1..PCk)")
    model: Literal["linear", "logistic"] | None = Field(None, description="Default: logistic for a case cohort, "
                                                                          "linear for a measurement")
    min_maf: float = Field(0.01, ge=0, le=0.5, description="Variants with a minor-allele frequency below this (over "
                                                           "the analysed samples) are not tested")
    min_call_rate: float = Field(0.95, ge=0, le=1, description="Variants called in fewer than this share of the "
                                                               "analysed samples are not tested")
    selection: VariantSelection = Field(default_factory=VariantSelection)
    exact_test: Literal["firth", "wald"] = Field("firth", description="Logistic: how the strongest score-test rows are "
                                                 "re-tested: Firth (plink2 --glm firth) or maximum-likelihood Wald "
                                                 "(plink2 --glm no-firth)")
    top: int = Field(100, ge=0, description="Logistic: re-test exactly the variants with the smallest score p …")
    exact_below: float = Field(1e-5, ge=0, le=1, description="… and every variant with a score p below this …")
    max_exact: int = Field(5000, ge=0, description="… at most this many")
    chunk_size: int | None = Field(None, ge=1, le=100_000, description="Variants read at a time (default: about "
                                                                          "10 million genotypes a chunk)")


def parse_spec(document: dict[str, Any] | GwasSpec) -> GwasSpec:
    """A spec from a decoded JSON object; GenomicsError naming every bad field by its path."""
    if isinstance(document, GwasSpec):
        return document
    try:
        return GwasSpec.model_validate(document)
    except ValidationError as err:
        raise GenomicsError([f"{'.'.join(str(p) for p in e['loc']) or '(spec)'}: {e['msg']}" for e in err.errors()]) from None


def run_gwas(index_dir: Path, spec: dict[str, Any] | GwasSpec, out_dir: Path, progress: Progress | None = None,
             pcs: Any = None, replace: bool = False, threads: int | None = None) -> dict[str, Any]:
    """Run the GWAS ``spec`` on the index at ``index_dir`` and write its outputs to ``out_dir`` (refused if it holds
    anything, unless ``replace``); ``pcs`` (an Arrow table or DataFrame) overrides ``spec.pcs``; ``threads`` share
    each chunk (default: one per core). Returns the summary (also written as summary.json)."""
    started = time.perf_counter()
    spec = parse_spec(spec)
    index_dir, out_dir = Path(index_dir), Path(out_dir)
    _check_out(out_dir, replace)
    store = GenotypeStore.open(index_dir, spec.kind)
    variants = select_variants(store.variants, spec.selection)
    if len(variants) == 0:
        raise GenomicsError([f"selection: no variant of the {spec.kind} store matches {spec.selection.describe()}"])
    if progress:
        progress("phenotype and covariates", 0, 1)
    table = analysis_table(index_dir, store, spec, pcs if pcs is not None else spec.pcs)
    model = spec.model or ("logistic" if table.binary else "linear")
    if model == "logistic" and not table.binary:
        raise GenomicsError(["model: logistic regression needs a case/control phenotype (cases), not a measurement"])
    association = associate(store, table.positions, table.y, table.covariates, variants, model,
                            Filters(spec.min_maf, spec.min_call_rate),
                            ExactRule(spec.top, spec.exact_below, spec.max_exact, spec.exact_test), spec.chunk_size, progress,
                            threads=threads)
    summary = _summary(index_dir, spec, model, table, association, time.perf_counter() - started)
    _write_atomically(out_dir, replace, lambda work: _write_outputs(work, association, summary, progress))
    return summary


def _check_out(out_dir: Path, replace: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise GenomicsError([f"out: {out_dir} exists and is not a directory"])
    if out_dir.is_dir() and any(out_dir.iterdir()) and not replace:
        raise GenomicsError([f"out: {out_dir} is not empty (choose another directory, or replace it)"])


def _write_atomically(out_dir: Path, replace: bool, write) -> None:
    """Write into a temporary sibling of ``out_dir``, then rename it into place: readers see all the files or none."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:12]}"
    work.mkdir()
    try:
        write(work)
        _check_out(out_dir, replace)
        if out_dir.is_dir():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:12]}"
            os.rename(out_dir, old)
            os.rename(work, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _write_outputs(work: Path, association: Association, summary: dict, progress: Progress | None) -> None:
    from .plots import manhattan, qq

    if progress:
        progress("writing results and plots", 0, 1)
    results = association.results
    pq.write_table(results, work / "results.parquet", compression="zstd")
    pacsv.write_csv(results, work / "results.tsv",
                    pacsv.WriteOptions(delimiter="\t", quoting_style="needed"))
    pq.write_table(association.filtered, work / "filtered.parquet", compression="zstd")
    title = summary["phenotype"]["description"]
    manhattan(results, work / "manhattan", title=title)
    qq(results["log10p"].to_numpy(zero_copy_only=False), association.lambda_gc, work / "qq", title=title)
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    if progress:
        progress("", 1, 1)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    return str(value)


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _summary(index_dir: Path, spec: GwasSpec, model: str, table: AnalysisTable, association: Association,
             seconds: float) -> dict[str, Any]:
    results = association.results
    log10p = results["log10p"].to_numpy(zero_copy_only=False)
    order = np.argsort(-np.nan_to_num(log10p, nan=-1.0), kind="stable")[:TOP_HITS]
    top = results.take(pa.array(order, pa.int64())).to_pylist() if len(order) else []
    for row in top:
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = _finite(value)
    try:
        manifest = json.loads((index_dir / INDEX_MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    counts = association.counts
    if spec.cases is not None:
        description = "case cohort vs " + ("control cohort" if spec.controls is not None else "everyone else genotyped")
    else:
        description = f"measurement concept {spec.measurement_concept_id} ({spec.measurement_summary} value)"
    return {
        "created_at": datetime.now(timezone.utc).isoformat(),
        "seconds": round(seconds, 3),
        "model": model,
        "phenotype": {"description": description, "binary": table.binary},
        "samples": table.n,
        "cases": table.counts.get("cases"),
        "controls": table.counts.get("controls"),
        "participants": table.counts,
        "covariates": table.covariate_names,
        "variants": {
            "selection": spec.selection.describe(),
            "selected": counts["variants_requested"],
            "tested": counts["variants_tested"],
            "filtered": counts["variants_filtered"],
            "filtered_by_reason": {k.removeprefix("filtered_"): v for k, v in counts.items() if k.startswith("filtered_")},
            "exact_tests": counts.get("exact_tests", 0),
            "exact_failed": counts.get("exact_failed", 0),
        },
        "filters": {"min_maf": spec.min_maf, "min_call_rate": spec.min_call_rate},
        "exact_rule": {"test": spec.exact_test, "top": spec.top, "below": spec.exact_below,
                       "limit": spec.max_exact} if model == "logistic" else None,
        "lambda_gc": _finite(association.lambda_gc),
        "top_hits": top,
        "data_version": {"index": str(index_dir.absolute()), "kind": spec.kind, "cdr": manifest.get("cdr"),
                         "cdr_manifest_sha256": manifest.get("cdr_manifest_sha256"),
                         "index_created_at": manifest.get("created_at")},
        "code_version": __version__,
        "spec": json.loads(spec.model_dump_json(exclude={"cases", "controls"})) | {
            "cases": spec.cases, "controls": spec.controls},
    }
