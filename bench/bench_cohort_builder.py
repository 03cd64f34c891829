"""Cohort Builder over HTTP: 20 researchers editing cohorts at once on a synthetic program of 1M participants.

    python bench/bench_cohort_builder.py [--participants 1000000] [--clients 20] [--rounds 3] [--think-ms 1000]
                                         [--keystroke-ms 150] [--workdir DIR]

Generates the synthetic program and its index (cached in --workdir; the index is rebuilt only when stale), sets up a
Workbench (SQLite state) with one Registered Tier researcher per client, all Writers of one workspace on that data
version, and starts it with uvicorn (one worker) in a separate process. Every client signs in, then edits: for each
definition of bench_cohorts' suite (started at a different one per client), it counts the definition as it grows
group by group — what the page sends on every change (``POST …/cohort-builder/results``, demographics included) —
and types a search term letter by letter (``GET /api/workspaces/…/criteria/search``, from the third letter, as the
page does). Like people, clients pause between actions: ``--think-ms`` between two edits or two participant pages
(a researcher reads the count before the next change), ``--keystroke-ms`` between two letters,
``--review-think-ms`` on a participant's page (a reviewer reads it before marking it); with zeros the clients fire
back to back, a stress test rather than 20 people. Then, for the participant page, one client saves the first cohort and draws a review set of 200 from it
(the review page's form) and every client opens participants' pages (``GET …/reviews/{id}/participants/{person}``;
the first one untimed, as the Cohort Builder page's own load warms the count), once the server has copied the set's
participants' rows into their extract (the time that took is printed). The server is `workbench serve` with
``--workers`` processes (default: one per core). Baseline in the same run: the public home
page at the same concurrency. Prints one JSON document with p50/p95/p99 per request kind and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cohorts import SEARCH_TERMS, SUITE  # bench/: run as `python bench/…`
from bench_workbench import PASSWORD, prepare, wait_up
from loadtest import Timings, free_port

TARGETS_MS = {"count_update": 250, "search": 100, "participant_page": 300}


def program(workdir: Path, participants: int, seed: int) -> tuple[Path, Path, dict]:
    """The synthetic CDR and its index (made when missing or stale) and how long each took."""
    from research_workbench.index import build_index
    from research_workbench.index.freshness import StaleIndexError, check_index
    from research_workbench.synth import generate

    cdr, index = workdir / f"synth-{participants}", workdir / f"synth-{participants}.index"
    took = {}
    if not (cdr / "manifest.json").is_file():
        started = time.perf_counter()
        generate(participants, seed, cdr)
        took["synth_seconds"] = round(time.perf_counter() - started, 1)
    try:
        check_index(index, cdr)
    except (StaleIndexError, FileNotFoundError, ValueError):
        started = time.perf_counter()
        build_index(cdr, index, replace=True)
        took["index_seconds"] = round(time.perf_counter() - started, 1)
    return cdr, index, took


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # every client's: tier data needs a sign-in with two steps


def workspace(config_path: Path, cdr: Path, index: Path, clients: int, participants: int) -> None:
    """One data version on the program, one workspace whose Writers are all the clients, and their TOTP."""
    from sqlalchemy import select

    from research_workbench.accounts.clock import utcnow
    from research_workbench.accounts.config import Keys, load_workbench_config
    from research_workbench.accounts.totp import TotpSecrets
    from research_workbench.state import Database
    from research_workbench.state.models import DataVersion, User, Workspace, WorkspaceMember

    config = load_workbench_config(config_path)
    db = Database(config.resolved_database_url)
    sealed = TotpSecrets(Keys(config.secret()).fernet).seal(TOTP_SECRET)
    now = utcnow()
    with db.session() as session:
        dv = DataVersion(name="BENCH", tier="registered", release_number=1, cdr_path=str(cdr), index_path=str(index),
                         aggregates_path=None, manifest_sha256="0" * 64, participant_count=participants, data_types=[],
                         is_default=True, created_at=now, archived_at=None)
        session.add(dv)
        session.flush()
        users = session.scalars(select(User).where(User.email.like("r%@bench.edu"))).all()
        ws = Workspace(namespace="bench", name="Bench", tier="registered", data_version_id=dv.id, purpose={}, etag=1,
                       created_by=users[0].id, created_at=now, updated_by=users[0].id, updated_at=now)
        session.add(ws)
        session.flush()
        for i, user in enumerate(users):
            user.totp_secret, user.totp_enabled_at = sealed, now
            session.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role="OWNER" if i == 0 else "WRITER",
                                        added_at=now, added_by=users[0].id))
    db.dispose()


def growing(document: dict) -> list[dict]:
    """A definition as the page sends it while it is built: one more group each time (includes, then excludes)."""
    steps, current = [], {"includes": [], "excludes": []}
    for side in ("includes", "excludes"):
        for n, group in enumerate(document.get(side, [])):
            group = {**group, "id": f"{side[0]}{n}",
                     "items": [{**it, "id": f"{side[0]}{n}i{k}"} for k, it in enumerate(group["items"])]}
            current = {**current, side: current[side] + [group]}
            steps.append(current)
    return steps


async def run_clients(port: int, clients: int, rounds: int, config_path: Path, think: float, keystroke: float,
                      review_think: float) -> dict:
    import re

    import httpx
    import pyotp

    base = f"http://127.0.0.1:{port}"
    timings = Timings(["home", "count_update", "search", "participant_page"])
    times = timings.times

    def timed(kind: str, call):
        return timings.timed(kind, call, ok=lambda r: r.status_code == 200)

    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as c:
        for _ in range(clients):
            await timed("home", c.get("/"))
    sessions = [httpx.AsyncClient(base_url=base, limits=limits, timeout=300) for _ in range(clients)]

    async def sign_in(i: int, client: httpx.AsyncClient) -> None:
        page = await client.get("/signin")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        r = await client.post("/signin", data={"csrftoken": token, "email": f"r{i}@bench.edu", "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/signin/second-step", r.text[:300]
        r = await client.post("/signin/second-step", data={"csrftoken": client.cookies.get("csrftoken"),
                                                           "code": pyotp.TOTP(TOTP_SECRET).now()})
        assert r.status_code == 303, r.text[:300]
        await client.get("/workspaces/bench/cohorts/new")  # the page's own load: engines warm per server thread

    async def edit(i: int, client: httpx.AsyncClient) -> None:
        headers = {"x-csrftoken": client.cookies.get("csrftoken")}
        for r in range(rounds):
            for k in range(len(SUITE)):
                _, document, _, _ = SUITE[(i + k + r) % len(SUITE)]
                for definition in growing(document):
                    await timed("count_update", client.post("/workspaces/bench/cohort-builder/results",
                                                            json={"definition": definition}, headers=headers))
                    await asyncio.sleep(think * random.random() * 2)  # on average ``think``
                term = SEARCH_TERMS[(i + k + r) % len(SEARCH_TERMS)]
                for end in range(3, len(term) + 1):
                    await timed("search", client.get("/api/workspaces/bench/criteria/search", params={"q": term[:end]}))
                    await asyncio.sleep(keystroke)

    try:
        await asyncio.gather(*(sign_in(i, c) for i, c in enumerate(sessions)))
        started = time.perf_counter()
        await asyncio.gather(*(edit(i, c) for i, c in enumerate(sessions)))
        editing_seconds = time.perf_counter() - started
        participant_pages = await review_pages(sessions, timed, rounds, config_path, review_think)
    finally:
        await asyncio.gather(*(c.aclose() for c in sessions))
    out = timings.summaries()
    out["count_update"]["requests_per_second"] = round(len(times["count_update"]) / editing_seconds, 1)
    out["participant_page"]["note"] = participant_pages
    return out


async def review_pages(sessions, timed, rounds: int, config_path: Path, think: float) -> str:
    """Every client opens participant pages of one review set, drawn (random, 200) by the first client from the first
    cohort of the suite through the review page's form."""
    import re

    first = sessions[0]
    headers = {"x-csrftoken": first.cookies.get("csrftoken")}
    _, document, _, _ = SUITE[0]
    saved = await first.post("/workspaces/bench/cohort-builder/save", json={"name": "Bench cohort", "definition": document},
                             headers=headers)
    if saved.status_code != 200:
        return f"no cohort saved ({saved.status_code})"
    cohort = saved.json()["cohort"]
    form = await first.get(f"/workspaces/bench/reviews/new?cohort={cohort}")
    token = re.search(r'name="csrftoken" value="([^"]+)"', form.text).group(1)
    made = await first.post("/workspaces/bench/reviews", data={
        "csrftoken": token, "cohort": str(cohort), "name": "Bench review", "description": "", "size": "200",
        "method": "random", "stratify_by": "", "seed": "1"})
    if made.status_code != 303:
        return f"no review set drawn ({made.status_code}: {made.text[:200]})"
    review = int(made.headers["location"].rstrip("/").rsplit("/", 1)[1])
    drawn = time.perf_counter()
    persons = participants_of(config_path, review)
    ready = await extract_ready(config_path, persons)
    extract_seconds = time.perf_counter() - drawn

    async def browse(i: int, client) -> None:
        await client.get(f"/workspaces/bench/reviews/{review}/participants/{persons[i % len(persons)]}")  # warm, untimed
        await asyncio.sleep(think * random.random() * 2)  # read like any other page (not 20 clicks in one instant)
        for k in range(rounds * 5):
            person = persons[(i * 7 + k) % len(persons)]
            await timed("participant_page", client.get(f"/workspaces/bench/reviews/{review}/participants/{person}"))
            await asyncio.sleep(think * random.random() * 2)

    await asyncio.gather(*(browse(i, c) for i, c in enumerate(sessions)))
    where = (f"its participants' extract ready {extract_seconds:.1f} s after the draw" if ready
             else "no extract within 10 minutes: pages read the CDR")
    return f"review set {review} of {len(persons)} participants; {where}"


async def extract_ready(config_path: Path, persons: list[int], timeout: float = 600) -> bool:
    """Wait until the server has built the review set's extract (the pages' steady state); False after ``timeout``."""
    from sqlalchemy import select

    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.cdr.store import Cdr
    from research_workbench.cohorts import participant_extract as pe
    from research_workbench.state import Database
    from research_workbench.state.models import DataVersion

    config = load_workbench_config(config_path)
    db = Database(config.resolved_database_url)
    with db.reading() as session:
        cdr = Path(session.scalar(select(DataVersion.cdr_path).where(DataVersion.name == "BENCH")))
    db.dispose()
    root, key = config.resolve(config.review_extracts_dir), pe.extract_key(Cdr(cdr), persons)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if pe.find(root, key) is not None:
            return True
        await asyncio.sleep(0.5)
    return False


def participants_of(config_path: Path, review: int) -> list[int]:
    from sqlalchemy import select

    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database
    from research_workbench.state.models import Resource, ResourceVersion

    db = Database(load_workbench_config(config_path).resolved_database_url)
    with db.reading() as session:
        version = session.scalar(select(Resource.version).where(Resource.id == review))
        content = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == review,
                                                                       ResourceVersion.version == version))
    db.dispose()
    return list(content["participants"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server processes (default: one per core)")
    parser.add_argument("--think-ms", type=float, default=1000, help="mean pause between edits (0: back to back)")
    parser.add_argument("--keystroke-ms", type=float, default=150, help="pause between letters typed")
    parser.add_argument("--review-think-ms", type=float, default=5000,
                        help="mean time a reviewer spends on a participant's page before the next (0: back to back)")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-cohort-builder-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cdr, index, took = program(workdir, args.participants, args.seed)
    state = Path(tempfile.mkdtemp(prefix="state-", dir=workdir))
    env = {**os.environ, "RW_WORKBENCH_SECRET": secrets.token_urlsafe(48)}
    os.environ.update(env)
    config_path, _ = prepare(state, args.clients, "sqlite")
    # every client signs in from 127.0.0.1 at once: the second step's per-address limit is lifted like sign-in's
    config_path.write_text(config_path.read_text().replace("[limits]\n", '[limits]\ntotp = "100000/minute"\n'))
    workspace(config_path, cdr, index, args.clients, args.participants)
    port = free_port()
    # As a program would run it on this machine: `workbench serve` with one server process per core.
    proc = subprocess.Popen([sys.executable, "-m", "research_workbench", "serve", "--config", str(config_path),
                             "--port", str(port), "--workers", str(args.workers), "--no-mail"], env=env)
    try:
        wait_up(port, proc)
        random.seed(args.seed)
        results = asyncio.run(run_clients(port, args.clients, args.rounds, config_path, args.think_ms / 1000,
                                          args.keystroke_ms / 1000, args.review_think_ms / 1000))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    print(json.dumps({"benchmark": "cohort builder over HTTP", "participants": args.participants,
                      "clients": args.clients, "rounds": args.rounds, "think_ms": args.think_ms,
                      "keystroke_ms": args.keystroke_ms, "review_think_ms": args.review_think_ms, "workers": args.workers,
                      "cpu_count": os.cpu_count(), **took,
                      "targets_p95_ms": TARGETS_MS, "baseline_home": results["home"],
                      "count_update": results["count_update"], "search": results["search"],
                      "participant_page": results["participant_page"],
                      "met": {k: results[k]["p95_ms"] <= v for k, v in TARGETS_MS.items() if results[k]["requests"]}},
                     indent=2))


if __name__ == "__main__":
    main()
