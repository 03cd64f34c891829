"""Benchmark: load a generated OMOP CSV folder; print rows/s and peak RSS as JSON.

    python bench/bench_load.py                      # 1M and 10M rows
    python bench/bench_load.py --rows 2000000 --rows 20000000

Each load runs in its own process (``python -m research_workbench load omop``), so its peak RSS is its own,
read from the kernel's rusage of that child. Peak memory that stays flat from the small to the large input
shows the load streams (DuckDB's working memory is capped and spills to disk past the cap).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

# Share of the rows per table: a realistic mix of a wide event table, a narrow one, and persons.
MIX = {"person": 0.05, "condition_occurrence": 0.45, "measurement": 0.50}


def generate(folder: Path, rows: int) -> dict[str, int]:
    """An OMOP 5.4 CSV folder of about ``rows`` rows, made by DuckDB from ranges (deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    persons = max(1, int(rows * MIX["person"]))
    counts = {
        "person": persons,
        "condition_occurrence": int(rows * MIX["condition_occurrence"]),
        "measurement": int(rows * MIX["measurement"]),
    }
    queries = {
        "person": """
            SELECT i + 1 AS person_id, CASE WHEN i % 2 = 0 THEN 8507 ELSE 8532 END AS gender_concept_id,
                   1930 + i % 70 AS year_of_birth, 1 + i % 12 AS month_of_birth, 1 + i % 28 AS day_of_birth,
                   8527 AS race_concept_id, 38003564 AS ethnicity_concept_id, 'P' || i AS person_source_value
            FROM range($n) t(i)""",
        "condition_occurrence": """
            SELECT i + 1 AS condition_occurrence_id, 1 + i % $persons AS person_id,
                   (ARRAY[201826, 320128, 432867, 4329847, 255573])[1 + i % 5] AS condition_concept_id,
                   DATE '2000-01-01' + CAST(i % 8000 AS INTEGER) AS condition_start_date,
                   DATE '2000-01-01' + CAST(i % 8000 + i % 30 AS INTEGER) AS condition_end_date,
                   32817 AS condition_type_concept_id, 'E11.' || (i % 10) AS condition_source_value,
                   0 AS condition_source_concept_id
            FROM range($n) t(i)""",
        "measurement": """
            SELECT i + 1 AS measurement_id, 1 + i % $persons AS person_id, 3004410 AS measurement_concept_id,
                   DATE '2000-01-01' + CAST(i % 8000 AS INTEGER) AS measurement_date,
                   TIMESTAMP '2000-01-01 08:00:00' + to_minutes(i % 11520000) AS measurement_datetime,
                   32817 AS measurement_type_concept_id, round(4 + (i % 900) / 100.0, 2) AS value_as_number,
                   8554 AS unit_concept_id, 4.0 AS range_low, 5.6 AS range_high, '4548-4' AS measurement_source_value
            FROM range($n) t(i)""",
    }
    for table, query in queries.items():
        relation = con.sql(query, params={"n": counts[table], "persons": persons} if "$persons" in query else {"n": counts[table]})
        relation.write_csv(str(folder / f"{table}.csv"))
    con.close()
    return counts


def load(folder: Path, out: Path) -> dict:
    """Run the load in a child process; return its JSON summary, wall time and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "research_workbench", "load", "omop", str(folder), "--out", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"load failed: {stderr.decode()}")
    summary = json.loads(stdout)
    return {"summary": summary, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="input size in rows (repeatable)")
    parser.add_argument("--workdir", type=Path, help="where to write inputs and CDRs (default: a temporary directory)")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000, 10_000_000]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="rw-bench-load-"))
    runs = []
    try:
        for rows in sizes:
            folder, out = workdir / f"omop-{rows}", workdir / f"cdr-{rows}"
            counts = generate(folder, rows)
            input_bytes = sum(p.stat().st_size for p in folder.iterdir())
            result = load(folder, out)
            total = sum(counts.values())
            assert result["summary"]["rows"] == total, "the CDR must hold every generated row"
            runs.append({
                "rows": total,
                "input_mb": round(input_bytes / 1e6, 1),
                "seconds": round(result["seconds"], 2),
                "rows_per_second": round(total / result["seconds"]),
                "peak_rss_mb": round(result["peak_rss_mb"], 1),
            })
            shutil.rmtree(folder)
            shutil.rmtree(out)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "benchmark": "load_omop_csv",
        "machine": {"cpus": os.cpu_count()},
        "duckdb_memory_limit": os.environ.get("RW_DUCKDB_MEMORY_LIMIT", "2GB"),
        "runs": runs,
        "peak_rss_ratio_largest_to_smallest": round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2),
        "input_ratio_largest_to_smallest": round(runs[-1]["rows"] / runs[0]["rows"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
