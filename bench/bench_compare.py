"""Benchmark: comparing two cohorts (``cohorts.compare``), prevalences by concept bitmaps against one SQL query.

    python bench/bench_compare.py                        # 100k and 1M synthetic participants
    python bench/bench_compare.py --participants 20000   # a quick run

For each size: generate the synthetic program and build its index (cached in --workdir), then compare two cohorts
(type 2 diabetes with its descendants, and essential hypertension, each with about a third of the participants;
and all participants against a random tenth): the prevalence counts of every standard concept both ways (each 3
times, warm, checked equal), and the whole comparison (overlap, demographics, top 10 per domain). Prints one JSON
document: per size the cohorts' sizes, concepts compared, and the median seconds of each step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pyroaring import BitMap

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.cohorts.compare import (
    COMPARED_DOMAINS,
    compare_cohorts,
    demographic_counts,
    prevalence_by_bitmaps,
    prevalence_by_sql,
)
from research_workbench.index import build_index
from research_workbench.index.freshness import StaleIndexError

T2DM, HTN = 201826, 320128


def condition(concept: int) -> dict:
    return {"includes": [{"id": "g", "items": [{"id": "i", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "conceptId": concept, "group": True}]}]}]}


def median_seconds(run, times: int = 3) -> tuple[float, object]:
    run()  # warm
    timings, result = [], None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings), 3), result


def run_size(participants: int, workdir: Path, seed: int) -> dict:
    from research_workbench.synth import generate

    cdr = workdir / f"synth-{participants}"
    if not (cdr / "manifest.json").is_file():
        generate(participants, seed, cdr)
    index_dir = workdir / f"synth-{participants}.index"
    try:
        engine = CohortEngine(index_dir)
    except (FileNotFoundError, StaleIndexError):  # none yet, or one of an older format or CDR: built again
        build_index(cdr, index_dir, replace=True)
        engine = CohortEngine(index_dir)
    everyone = engine.all_persons()
    rng = np.random.default_rng(seed)
    tenth = BitMap(rng.choice(np.frombuffer(everyone.to_array(), dtype=np.uint32), len(everyone) // 10, replace=False))
    pairs = {
        "t2dm_vs_hypertension": (engine.cohort_persons(parse_definition(condition(T2DM))),
                                 engine.cohort_persons(parse_definition(condition(HTN)))),
        "everyone_vs_random_tenth": (everyone, tenth),
    }
    out = {"participants": len(everyone), "pairs": {}}
    for name, (a, b) in pairs.items():
        bitmaps_s, by_bitmaps = median_seconds(lambda: prevalence_by_bitmaps(engine, a, b, COMPARED_DOMAINS))
        sql_s, by_sql = median_seconds(lambda: prevalence_by_sql(engine, a, b, COMPARED_DOMAINS))
        assert by_bitmaps == by_sql, f"{name}: the two ways disagree"
        demographics_s, _ = median_seconds(lambda: demographic_counts(engine, a, b))
        whole_s, _ = median_seconds(lambda: compare_cohorts(engine, a, b))
        out["pairs"][name] = {"size_a": len(a), "size_b": len(b), "concepts": len(by_bitmaps),
                              "prevalence_bitmaps_s": bitmaps_s, "prevalence_sql_s": sql_s,
                              "demographics_s": demographics_s, "compare_cohorts_s": whole_s}
    engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, action="append", help="sizes (default: 100000 and 1000000)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rw-bench-compare",
                        help="cache of generated programs and their indexes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = args.participants or [100_000, 1_000_000]
    print(json.dumps({"benchmark": "cohort comparison", "runs": [run_size(n, args.workdir, args.seed) for n in sizes]},
                     indent=2))


if __name__ == "__main__":
    main()
