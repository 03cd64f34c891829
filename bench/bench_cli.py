"""How long ``workbench --help`` takes: the start-up cost of every command (target ≤ 0.3 s).

Runs ``workbench --help`` and, as the baseline measured in the same run, a bare ``python -c pass`` and
``python -c "import typer"`` (the floor no CLI built on typer can go under), each N times in fresh processes, and
prints one JSON document with the median and the worst.

    python bench/bench_cli.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKBENCH = Path(sys.executable).with_name("workbench")
TARGET_SECONDS = 0.3


def timed(argv: list[str], runs: int) -> dict:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    result = {
        "python_pass": timed([sys.executable, "-c", "pass"], args.runs),
        "import_typer": timed([sys.executable, "-c", "import typer"], args.runs),
        "workbench_help": timed([str(WORKBENCH), "--help"], args.runs),
        "workbench_cohort_help": timed([str(WORKBENCH), "cohort", "count", "--help"], args.runs),
        "target_s": TARGET_SECONDS,
    }
    result["meets_target"] = result["workbench_help"]["median_s"] <= TARGET_SECONDS
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
