"""Benchmark: curate and index one synthetic program on DuckDB and on Spark, in one run; prints one JSON document.

    python bench/bench_engines.py --participants 100000             # generate, then both engines
    python bench/bench_engines.py --raw EXISTING_RAW --spark-master local[2]

Each stage runs as the command a steward types (``workbench curate … --engine E``, ``workbench index … --engine E``)
in its own process under ``/usr/bin/time``: wall seconds and peak RSS of that process (Spark's JVM is a child of
the driver process, so its RSS is counted by ``--spark-rss`` sampling of the process tree, not by ``time``). Both
releases go under one releases directory, so they share its private area: the person, response, device and site
maps are drawn by the first run and reused by the second, which is what makes the two releases comparable row for
row. The JSON gives, per engine and stage, the seconds and rows per second; the Spark/DuckDB ratio per stage; and
whether the two releases' manifests have equal content hashes, table by table, in both tiers, and whether the two
indexes hold the same counts. Per-stage throughput is the input of the scale model in docs/spark.md.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TIME = "/usr/bin/time"
ENGINES = ("duckdb", "spark")


def timed(command: list[str], log: Path) -> dict:
    """Run ``command`` under /usr/bin/time: wall seconds, peak RSS (MB) of the process, exit status."""
    stats = log.with_suffix(".time")
    started = time.perf_counter()
    with open(log, "w") as err:
        done = subprocess.run([TIME, "-f", "%e %M", "-o", str(stats), *command], stdout=subprocess.PIPE, stderr=err,
                              text=True)
    wall = time.perf_counter() - started
    seconds, kb = stats.read_text().split()[-2:]
    record = {"wall_s": round(wall, 1), "peak_rss_mb": round(int(kb) / 1024), "exit": done.returncode}
    if done.returncode:
        record["error"] = log.read_text()[-2000:]
    else:
        try:
            record["summary"] = json.loads(done.stdout)
        except json.JSONDecodeError:
            pass
    return record


def manifest_hashes(tier_dir: Path) -> dict[str, tuple[int, str]]:
    from research_workbench.cdr.store import Cdr

    return {name: (entry.rows, entry.content_hash) for name, entry in Cdr(tier_dir).manifest.tables.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--raw", type=Path, default=None, help="Use this raw CDR instead of generating one")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--keep", type=Path, default=None, help="Keep the raw CDR, releases and indexes here")
    args = parser.parse_args()

    from research_workbench.cdr.store import Cdr

    # (the work directory's name must not hold a digit run a raw id could match: the release scanner reads names)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_engines_"))
    root.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "research_workbench"]
    result: dict = {"spark_master": args.spark_master, "cores": os.cpu_count()}
    try:
        raw = args.raw
        if raw is None:
            raw = root / "raw"
            started = time.perf_counter()
            subprocess.run([*cli, "synth", "-n", str(args.participants), "-s", str(args.seed), "--out", str(raw),
                            "--replace", "--json"], check=True, stdout=subprocess.DEVNULL)
            result["generate_s"] = round(time.perf_counter() - started, 1)
        manifest = Cdr(raw).manifest
        raw_rows = sum(e.rows for n, e in manifest.tables.items()
                       if not n.startswith("concept") and n not in ("vocabulary", "domain", "relationship", "drug_strength"))
        result |= {"participants": manifest.person_count, "raw_rows": raw_rows, "stages": {}}
        releases = root / "releases"
        for engine in args.engines.split(","):
            extra = ["--engine", engine] + (["--spark-master", args.spark_master] if engine == "spark" else [])
            stages: dict = {}
            stages["curate"] = timed([*cli, "curate", str(raw), "--release", engine, "--out", str(releases),
                                      "--replace", "--json", *extra], root / f"curate_{engine}.log")
            stages["curate"]["rows_per_s"] = round(raw_rows / stages["curate"]["wall_s"]) if not stages["curate"]["exit"] else None
            tier = releases / engine / "registered"
            if not stages["curate"]["exit"]:
                stages["index"] = timed([*cli, "index", str(tier), "--out", str(root / f"index_{engine}"), "--replace",
                                         "--json", *extra], root / f"index_{engine}.log")
                events = (stages["index"].get("summary") or {}).get("events")
                if events and not stages["index"]["exit"]:
                    stages["index"]["events_per_s"] = round(events / stages["index"]["wall_s"])
            result["stages"][engine] = stages
        if set(ENGINES) <= set(result["stages"]) and all(not s["curate"]["exit"] for s in result["stages"].values()):
            same = {}
            for tier in ("registered", "controlled"):
                a, b = (manifest_hashes(releases / e / tier) for e in ENGINES)
                same[tier] = {"equal": a == b, "differing_tables": sorted(t for t in a.keys() | b.keys() if a.get(t) != b.get(t))}
            result["same_release"] = same
            result["ratio_spark_to_duckdb"] = {
                stage: round(result["stages"]["spark"][stage]["wall_s"] / result["stages"]["duckdb"][stage]["wall_s"], 2)
                for stage in ("curate", "index")
                if stage in result["stages"]["spark"] and stage in result["stages"]["duckdb"]
            }
            index_counts = [{k: v for k, v in (result["stages"][e].get("index", {}).get("summary") or {}).items()
                             if k not in ("path", "seconds")} for e in ENGINES]
            result["same_index_counts"] = index_counts[0] == index_counts[1] and bool(index_counts[0])
        print(json.dumps(result, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
