"""Data Browser latency: 50 concurrent clients against a 100k-participant release's results store.

    python bench/bench_browser.py [--workdir DIR] [--participants 100000] [--clients 50] [--client wrk|httpx] [--seconds 10]

Builds (or reuses, from --workdir) a synthetic program and its results store, starts the app with uvicorn on
127.0.0.1 in a separate process, first times one cold request per URL (nothing cached yet), then runs the clients
(asyncio + httpx, loopback only, a bounded number of requests each, no pause between requests) over the search,
concept and survey-question endpoints, and stops the server. Prints one JSON document: p50/p95 per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from loadtest import free_port, summary  # bench/loadtest.py: run as `python bench/…`

TARGET_P95_MS = 50.0


def prepare(workdir: Path, participants: int, seed: int, rebuild: bool) -> tuple[Path, dict]:
    from research_workbench.browser.building.writer import build_store
    from research_workbench.browser.serving.store import Store
    from research_workbench.synth import generate

    workdir.mkdir(parents=True, exist_ok=True)
    cdr = workdir / f"cdr-{participants}-seed{seed}"
    store = workdir / f"store-{participants}-seed{seed}.sqlite"
    facts: dict = {}
    if not (cdr / "manifest.json").is_file():
        started = time.perf_counter()
        generate(participants, seed, cdr, replace=True)
        facts["generate_seconds"] = round(time.perf_counter() - started, 1)
    if not rebuild and store.is_file():
        try:
            Store(store)  # a store of an older format, or of a CDR that has changed since, is rebuilt
        except ValueError:
            rebuild = True
    if rebuild or not store.is_file():
        result = build_store(cdr, store, replace=True)
        facts["store_build_seconds"] = round(result.seconds, 1)
    facts["store_bytes"] = store.stat().st_size
    return store, facts


def targets(store: Path, rng: random.Random) -> dict[str, list[str]]:
    """URLs per endpoint, drawn from the store: search words, concepts, survey questions."""
    con = sqlite3.connect(store)
    try:
        words: set[str] = set()
        for name, code in con.execute("SELECT name, code FROM search_item ORDER BY participant_count DESC LIMIT 300"):
            parts = [w for w in name.replace(",", " ").split() if len(w) >= 3]
            if parts:
                words.add(parts[0][: rng.randint(3, max(3, len(parts[0])))].lower())
            if len(parts) >= 2:
                words.add(f"{parts[0]} {parts[1][:3]}".lower())
            if code:
                words.add(code)
        concepts = con.execute("SELECT domain, concept_id FROM concept ORDER BY participant_count DESC LIMIT 300").fetchall()
        questions = con.execute("SELECT module_concept_id, question_concept_id FROM survey_question").fetchall()
    finally:
        con.close()
    from urllib.parse import quote

    return {
        "search": [f"/api/search?q={quote(w)}" for w in sorted(words)],
        "concept": [f"/api/concepts/{c}?domain={d}" for d, c in concepts],
        "survey": [f"/api/surveys/{m}/questions/{q}" for m, q in questions],
    }


def start_server(store: Path, port: int, workers: int, cache: bool = True) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "research_workbench", "browser", "serve", str(store), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, **({} if cache else {"RW_BROWSER_CACHE_SIZE": "0"})}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("the server did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def cold_pass(base: str, urls: dict[str, list[str]], per_endpoint: int) -> dict:
    """One request per URL, one at a time, before anything is cached."""
    import httpx

    out = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for kind, items in urls.items():
            times, errors = [], 0
            for url in items[:per_endpoint]:
                started = time.perf_counter()
                r = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                errors += r.status_code != 200
            out[kind] = summary(times, errors)
    return out


async def load(base: str, urls: dict[str, list[str]], clients: int, per_client: int, seed: int) -> tuple[dict, float]:
    import httpx

    latencies: dict[str, list[float]] = {k: [] for k in urls}
    errors = dict.fromkeys(urls, 0)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        async def client(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            kinds = list(urls)
            for _ in range(per_client):
                kind = rng.choice(kinds)
                url = rng.choice(urls[kind])
                started = time.perf_counter()
                try:
                    r = await http.get(url)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[kind].append((time.perf_counter() - started) * 1000)
                errors[kind] += not ok

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return {k: summary(v, errors[k]) for k, v in latencies.items()}, elapsed


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "errors": %%d, "p50_ms": %%.2f, "p95_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f}\\n',
    summary.requests, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def wrk_load(base: str, urls: dict[str, list[str]], clients: int, seconds: int) -> tuple[dict, float, float]:
    """Each endpoint in turn under ``clients`` open connections for ``seconds``, driven by wrk (C, Debian's wrk).

    wrk costs the shared cores far less than a Python client, so the latencies are the server's. Loopback only,
    a fixed duration, and it stops by itself.
    """
    import resource
    import tempfile

    endpoints: dict[str, dict] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, items in urls.items():
            script = Path(tmp) / f"{kind}.lua"
            script.write_text(WRK_SCRIPT % ",".join(json.dumps(u) for u in items))
            out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), base],
                                 capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
            endpoints[kind] = json.loads(out.strip().splitlines()[-1])
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return endpoints, elapsed, client_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "rw-bench-browser")
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests-per-client", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn server processes (one per core here)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the results store even if cached")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto",
                        help="load generator: wrk (apt-get install wrk) when present, else Python httpx")
    parser.add_argument("--seconds", type=int, default=10, help="wrk: seconds of load per endpoint")
    parser.add_argument("--no-cache", action="store_true", help="turn the server's response cache off (worst case)")
    args = parser.parse_args()

    store, facts = prepare(args.workdir, args.participants, args.seed, args.rebuild)
    urls = targets(store, random.Random(args.seed))
    port = free_port()
    load_before = os.getloadavg()
    proc = start_server(store, port, args.workers, cache=not args.no_cache)
    try:
        base = f"http://127.0.0.1:{port}"
        cold = cold_pass(base, urls, per_endpoint=40)
        client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
        if client == "wrk":
            endpoints, elapsed, client_cpu = wrk_load(base, urls, args.clients, args.seconds)
        else:
            client_cpu = time.process_time()
            endpoints, elapsed = asyncio.run(load(base, urls, args.clients, args.requests_per_client, args.seed))
            client_cpu = time.process_time() - client_cpu
    finally:
        stop_server(proc)
    total = sum(e["requests"] for e in endpoints.values())
    document = {
        "benchmark": "data browser API latency",
        "participants": args.participants,
        "seed": args.seed,
        **facts,
        "server": {"uvicorn_workers": args.workers, "host": "127.0.0.1", "response_cache": not args.no_cache},
        "clients": args.clients,
        "load_generator": client,
        "requests": total,
        "distinct_urls": {k: len(v) for k, v in urls.items()},
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "client_cpu_seconds": round(client_cpu, 2),  # the load generator's own CPU: it shares the cores with the server
        "endpoints": endpoints,
        "cold_first_request_per_url": cold,
        "target_p95_ms": TARGET_P95_MS,
        "target_met": all(e["p95_ms"] <= TARGET_P95_MS and e["errors"] == 0 for e in endpoints.values()),
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
