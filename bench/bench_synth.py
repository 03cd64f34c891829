"""Benchmark: the synthetic program generator; prints participants/s, rows/s and peak RSS as one JSON document.

    python bench/bench_synth.py                          # 10k and 100k participants
    python bench/bench_synth.py --participants 1000000   # one size

Each run is its own process (``workbench synth`` via ``research_workbench.cli``) writing to a temporary
directory. Peak memory is measured two ways: ``peak_rss_mb`` is the largest resident set of any single process
(the kernel's rusage of finished children: the maximum so far, so run sizes in increasing order), ``peak_tree_rss_mb`` the largest sum over the process tree
(main process + chunk workers), sampled every 0.2 s from /proc. Peak memory that stays flat from 10k to 100k
shows the generator streams.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tree_rss_kb(pid: int) -> int:
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(participants: int, seed: int, workdir: Path) -> dict:
    out = workdir / f"cdr_{participants}"
    code = (
        "import sys; from research_workbench.cli import app; "
        "sys.argv=['workbench', 'synth', *sys.argv[1:]]; app()"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--participants", str(participants), "--seed", str(seed), "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    peak_tree = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_tree[0] = max(peak_tree[0], _tree_rss_kb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"synth failed ({process.returncode}):\n{stderr.decode()[-4000:]}")
    summary = json.loads(stdout)
    import resource

    maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return {
        "participants": participants,
        "seconds": round(seconds, 2),
        "rows": summary["rows"],
        "participants_per_second": round(participants / seconds, 1),
        "rows_per_second": round(summary["rows"] / seconds),
        "peak_rss_mb": round(maxrss_kb / 1024, 1),
        "peak_tree_rss_mb": round(peak_tree[0] / 1024, 1),
        "output_mb": round(size / 2**20, 1),
        "genome_samples": summary["synth"].get("genomics", {}).get("samples"),
        "largest_tables": dict(sorted(summary["tables"].items(), key=lambda kv: -kv[1])[:6]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, action="append", help="sizes to run (default 10000 and 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    sizes = args.participants or [10_000, 100_000]
    workdir = Path(tempfile.mkdtemp(prefix="bench_synth_", dir=args.workdir))
    try:
        results = [run(n, args.seed, workdir) for n in sizes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"benchmark": "synth", "cpu_count": os.cpu_count(), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
