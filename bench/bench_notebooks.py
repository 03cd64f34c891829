"""How long a notebook server takes to start: from "Open in JupyterLab" to JupyterLab answering (target ≤ 10 s).

Starts the spawner's JupyterLab server for one (user, workspace) N times, each from nothing (a new process, new
runtime folders) and stopped before the next, timing ``Spawner.start`` up to its ``/api/status`` answering with
the token; and, as the baseline measured in the same run, ``python -c "import jupyterlab"`` in a fresh process
(the floor no JupyterLab server can go under). Prints one JSON document with the median and the worst.

    python bench/bench_notebooks.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0


def summary(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "runs": len(times)}


def main() -> None:
    from research_workbench.workbench.notebooks.spawner import Spawner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    baseline = []
    for _ in range(args.runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import jupyterlab, jupyter_server.serverapp"], check=True)
        baseline.append(time.perf_counter() - began)
    starts = []
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as root:
        spawner = Spawner(Path(root), idle_minutes=5, workbench_url="http://127.0.0.1:8001")
        try:
            for _ in range(args.runs):
                began = time.perf_counter()
                server, started = spawner.start(1, "bench")
                starts.append(time.perf_counter() - began)
                assert started and server.alive()
                spawner.stop(1, "bench")
        finally:
            spawner.stop_all()
    result = {"import_jupyterlab": summary(baseline), "server_start": summary(starts), "target_s": TARGET_SECONDS}
    result["meets_target"] = result["server_start"]["median_s"] <= TARGET_SECONDS
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
