"""Dataset Builder: preview latency and Parquet export time on a synthetic program of 1M participants.

    python bench/bench_dataset.py [--participants 1000000] [--previews 20] [--workdir DIR]

Uses the program and index of bench_cohort_builder (made when missing). Preview: the Dataset Builder's 20-row tab
per domain (person, conditions, drugs, measurements) of a dataset on the suite's cohorts, each concept set one of
the suite's concepts with its descendants, on a warm cohort engine (the server keeps one per thread); p50/p95 per
domain and over all. Export: the conditions and measurements (every row, the domains taken whole) of the smallest
suite cohort of at least --export-participants, written as the Parquet snapshot with its manifest. Baseline in the
same run: a bare count of the domain's table for the same participants (the scan a preview cannot avoid).
Prints one JSON document; targets: preview p95 ≤ 1 s, export of a 100k-participant cohort ≤ 30 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_cohort_builder import program  # bench/: run as `python bench/…`
from bench_cohorts import HBA1C, METFORMIN, SUITE, T2DM

TARGETS = {"preview_p95_ms": 1000, "export_seconds": 30}


def main() -> None:
    import numpy as np
    import pyarrow as pa

    from research_workbench.cdr.facts import Domain
    from research_workbench.cdr.store import Cdr
    from research_workbench.cohorts.builder.model import parse_definition
    from research_workbench.cohorts.builder.engine import CohortEngine
    from research_workbench.datasets import extract as dx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--previews", type=int, default=20, help="previews per domain and cohort")
    parser.add_argument("--export-participants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cdr, index, took = program(workdir, args.participants, args.seed)
    engine = CohortEngine(index, cdr_dir=cdr)
    concept_sets = [{"domain": "CONDITION", "concepts": [{"conceptId": T2DM, "standard": True}]},
                    {"domain": "DRUG", "concepts": [{"conceptId": METFORMIN, "standard": True}]},
                    {"domain": "MEASUREMENT", "concepts": [{"conceptId": HBA1C, "standard": True}]}]
    values = {Domain.PERSON: ["person_id", "date_of_birth", "gender", "race", "ethnicity", "sex_at_birth"],
              Domain.CONDITION: ["person_id", "standard_concept_name", "source_concept_code", "start_date", "age_at_event",
                                 "visit_concept_name"],
              Domain.DRUG: ["person_id", "standard_concept_name", "start_date", "end_date"],
              Domain.MEASUREMENT: ["person_id", "standard_concept_name", "start_date", "value_as_number",
                                   "unit_concept_name"]}
    previews: dict[str, list[float]] = {d.value: [] for d in values}
    baseline: list[float] = []
    sizes = []
    for name, document, _, _ in SUITE[:4]:
        plan = dx.plan(engine, dx.DatasetRequest(cohorts=[document], concept_sets=concept_sets, values=values))
        sizes.append((name, len(plan.persons)))
        for domain in values:
            dx.preview(engine, plan, domain)  # warm (the page's first look at the cohort)
            for _ in range(args.previews):
                started = time.perf_counter()
                table = dx.preview(engine, plan, domain)
                previews[domain.value].append((time.perf_counter() - started) * 1000)
                assert table.num_rows <= dx.PREVIEW_ROWS
        started = time.perf_counter()
        engine.con.register("bench_persons", pa.table({"person_id": np.asarray(plan.persons.to_array(), dtype=np.int64)}))
        engine.con.execute("SELECT count(*) FROM read_parquet(?) WHERE person_id IN (SELECT person_id FROM bench_persons)",
                           [str(Cdr(cdr).table_file("condition_occurrence"))]).fetchall()
        engine.con.unregister("bench_persons")
        baseline.append((time.perf_counter() - started) * 1000)

    def summary(times: list[float]) -> dict:
        ordered = sorted(times)
        return {"runs": len(times), "p50_ms": round(statistics.median(ordered), 1),
                "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1), "max_ms": round(ordered[-1], 1)}

    every = [t for times in previews.values() for t in times]
    # Export: the smallest suite cohort of at least the size asked for, conditions and measurements whole.
    candidates = []
    for name, document, _, _ in SUITE:
        count = len(engine.cohort_persons(parse_definition(document)))
        if count >= args.export_participants:
            candidates.append((count, name, document))
    count, name, document = min(candidates)
    plan = dx.plan(engine, dx.DatasetRequest(cohorts=[document], whole_domains=[Domain.CONDITION, Domain.MEASUREMENT],
                                             values={Domain.CONDITION: values[Domain.CONDITION],
                                                     Domain.MEASUREMENT: values[Domain.MEASUREMENT]}))
    target = Path(tempfile.mkdtemp(prefix="export-", dir=workdir)) / "snapshot"
    started = time.perf_counter()
    manifest = dx.export(engine, plan, target, about={"dataset": {"name": "bench"}})
    export_seconds = time.perf_counter() - started
    shutil.rmtree(target.parent)
    engine.close()
    result = {
        "benchmark": "dataset builder", "participants": args.participants, **took, "targets": TARGETS,
        "cohorts": dict(sizes),
        "preview": {"all_domains": summary(every), **{d: summary(t) for d, t in previews.items()}},
        "baseline_condition_scan_for_cohort": summary(baseline),
        "export": {"cohort": name, "participants": count, "seconds": round(export_seconds, 1),
                   "rows": {d: v["rows"] for d, v in manifest["domains"].items()}},
        "met": {"preview_p95_ms": summary(every)["p95_ms"] <= TARGETS["preview_p95_ms"],
                "export_seconds": export_seconds <= TARGETS["export_seconds"]},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
