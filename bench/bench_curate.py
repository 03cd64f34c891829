"""Benchmark: curate a synthetic program of N participants into both tiers; prints one JSON document.

    python bench/bench_curate.py [--participants 100000] [--seed 1] [--keep DIR] [--raw EXISTING_RAW_CDR]
                                 [--memory-limit 2GB]

The 1M figure: ``workbench synth -n 1000000 -s 7 --out RAW`` once, then ``python bench/bench_curate.py --raw RAW``.
The JSON gives the seconds of each phase (load, clean rules, each tier's copy / rules / write, the wait for the
Controlled Tier genomes) and the slowest rules.

Generation (research_workbench.synth) is timed separately from curation; peak RSS is the process's maximum
resident set size (generation included, reported separately with ru_maxrss sampled after each phase).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the raw CDR and release here")
    parser.add_argument("--raw", type=Path, default=None, help="Curate this existing raw CDR instead of generating one")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory cap for the curation workspace (default: RW_DUCKDB_MEMORY_LIMIT or 2GB)")
    args = parser.parse_args()

    from research_workbench.cdr.store import Cdr
    from research_workbench.curation import curate, load_config
    from research_workbench.synth import generate

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_curate_"))
    try:
        raw_dir = args.raw or root / "raw"
        t0 = time.perf_counter()
        if args.raw is None:
            generate(args.participants, args.seed, raw_dir, replace=True)
        generate_seconds = time.perf_counter() - t0
        rss_after_generate = peak_rss_mb()
        raw = Cdr(raw_dir).manifest
        raw_rows = sum(e.rows for n, e in raw.tables.items() if not n.startswith("concept") and n not in ("vocabulary", "domain", "relationship", "drug_strength"))
        from research_workbench.cdr.engine import DEFAULT_MEMORY_LIMIT

        memory_limit = args.memory_limit or DEFAULT_MEMORY_LIMIT
        config = load_config().model_copy(update={"cutoff_date": date(2024, 6, 30)})
        t1 = time.perf_counter()
        result = curate(raw_dir, "bench", root / "releases", config=config, replace=True, memory_limit=memory_limit)
        curate_seconds = time.perf_counter() - t1
        report = result.report
        print(json.dumps({
            "participants": raw.person_count,
            "raw_rows": raw_rows,
            "generate_seconds": None if args.raw else round(generate_seconds, 1),
            "curate_seconds": round(curate_seconds, 1),
            "rows_per_second": round(raw_rows / curate_seconds),
            "peak_rss_mb_after_generate": round(rss_after_generate),
            "peak_rss_mb": round(peak_rss_mb()),
            "tiers": {t: {"participants": v["persons"], "rows": v["rows"]} for t, v in report["tiers"].items()},
            "balanced": report["balanced"],
            "scan": result.scan,
            "residual_risk_unique_share": report["residual_risk"]["unique_share"],
            "memory_limit": memory_limit,
            "phase_seconds": result.phases,
            "slowest_rules": sorted(({"rule": r["name"], "scope": r["scope"], "seconds": r["seconds"]} for r in report["rules"]), key=lambda r: -r["seconds"])[:15],
        }, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
