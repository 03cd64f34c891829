"""Researcher Workbench latency: sign-in and the data access page at 50 concurrent clients.

    python bench/bench_workbench.py [--clients 50] [--rounds 3] [--views 20] [--database sqlite|postgresql]
                                    [--workdir DIR]

Creates a fresh application database (SQLite file by default, or a PostgreSQL schema at 127.0.0.1:5432) with one
Registered Tier researcher per client, starts the Workbench with uvicorn (one worker) on 127.0.0.1 in a separate
process with the production password hashing (argon2id, t=3, 64 MiB, p=4), then runs the clients (asyncio +
httpx in this process, loopback only). Per round, in phases so that one kind of request does not share the CPU
with another: every client fetches the sign-in page (its CSRF cookie) and signs in with its password at once;
then every client loads the data access page ``--views`` times; then every client signs out. Baseline in the same run: the public home
page at the same concurrency (what the framework, sessions and headers cost without a database read).
Prints one JSON document with p50/p95/p99 per request kind and the argon2id time of one hash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from loadtest import Timings, free_port  # bench/loadtest.py: run as `python bench/…`

PASSWORD = "benchmark passphrase for everyone"


def database_url(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/workbench.sqlite"
    import psycopg
    from sqlalchemy.engine import make_url

    base = os.environ.get("RW_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)


def prepare(workdir: Path, clients: int, kind: str) -> tuple[Path, float]:
    """A config file and a migrated database with ``clients`` Registered Tier researchers; one hash's time."""
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.accounts.documents import current_version
    from research_workbench.accounts.institutions import RuleSpec, save_institution
    from research_workbench.accounts.module_records import bypass, complete
    from research_workbench.accounts.modules import Module, Tier
    from research_workbench.accounts.passwords import Passwords
    from research_workbench.accounts.clock import utcnow
    from research_workbench.state import Database
    from research_workbench.state.models import User

    url = database_url(kind, workdir)
    config_path = workdir / "workbench.toml"
    config_path.write_text(f'database_url = "{url}"\nbase_url = "http://127.0.0.1"\n'
                           f'[limits]\nsignin = "100000/minute"\nforms = "100000/minute"\n')
    config = load_workbench_config(config_path)
    db = Database(config.resolved_database_url)
    db.upgrade()
    passwords = Passwords(config.passwords)
    started = time.perf_counter()
    password_hash = passwords.hash(PASSWORD)
    hash_seconds = time.perf_counter() - started
    now = utcnow()
    with db.session() as session:
        inst = save_institution(session, short_name="bench-u", display_name="Bench University", kind="academic",
                                signed_on=None, expires_on=None,
                                rules={Tier.REGISTERED: RuleSpec("domains", ("bench.edu",))}, now=now)
        admin = User(email="admin@bench.edu", given_name="A", family_name="Dmin", created_at=now, research_background="")
        session.add(admin)
        session.flush()
        for i in range(clients):
            user = User(email=f"r{i}@bench.edu", email_verified_at=now, institution_id=inst.id, role="faculty",
                        given_name="Researcher", family_name=f"No{i}", degrees=[], research_background="Benchmarks.",
                        address={"street1": "1 Main St", "city": "Springfield", "country": "US"},
                        terms_version=current_version("terms"), privacy_version=current_version("privacy"),
                        terms_accepted_at=now, created_at=now, password_hash=password_hash)
            session.add(user)
            session.flush()
            for module in (Module.IDENTITY, Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION,
                           Module.PUBLICATIONS):
                complete(session, user, module, now=now)
            bypass(session, user, Module.TWO_FACTOR, until=now + timedelta(days=30), reason="benchmark", by=admin)
    db.dispose()
    return config_path, hash_seconds


def start_server(config_path: Path, port: int, env: dict) -> subprocess.Popen:
    code = ("import uvicorn, sys\n"
            "from research_workbench.accounts.config import load_workbench_config\n"
            "from research_workbench.workbench.app import create_app\n"
            f"app = create_app(load_workbench_config({str(config_path)!r}))\n"
            f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)\n")
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def wait_up(port: int, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the Workbench did not start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the Workbench did not answer within 60 s")


async def run_clients(port: int, clients: int, rounds: int, views: int) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}"
    timings = Timings(["home", "signin", "access"])
    times, errors, timed = timings.times, timings.errors, timings.timed

    async def home(limits) -> None:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
            for _ in range(views):
                r = await timed("home", client.get("/"))
                if r is None or r.status_code != 200:
                    errors["home"] += r is not None

    async def sign_in(i: int, client: httpx.AsyncClient) -> bool:
        page = await client.get("/signin")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        r = await timed("signin", client.post("/signin", data={
            "csrftoken": token, "email": f"r{i}@bench.edu", "password": PASSWORD, "next": "/access"}))
        ok = r is not None and r.status_code == 303 and r.headers.get("location") == "/access"
        errors["signin"] += r is not None and not ok
        return ok

    async def view(client: httpx.AsyncClient) -> None:
        for _ in range(views):
            r = await timed("access", client.get("/access"))
            if r is not None and (r.status_code != 200 or "Registered Tier" not in r.text):
                errors["access"] += 1

    limits = httpx.Limits(max_connections=1)
    started = time.perf_counter()
    await asyncio.gather(*(home(limits) for _ in range(clients)))
    baseline_seconds = time.perf_counter() - started
    # Phases, so one kind of request does not share the CPU with the other: every client signs in at once, then
    # every client loads the access page, then every client signs out; ``rounds`` times.
    signin_seconds = access_seconds = 0.0
    clients_ = [httpx.AsyncClient(base_url=base, limits=limits, timeout=300) for _ in range(clients)]
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            signed = await asyncio.gather(*(sign_in(i, c) for i, c in enumerate(clients_)))
            signin_seconds += time.perf_counter() - started
            started = time.perf_counter()
            await asyncio.gather(*(view(c) for c, ok in zip(clients_, signed) if ok))
            access_seconds += time.perf_counter() - started
            await asyncio.gather(*(c.post("/signout", data={"csrftoken": c.cookies.get("csrftoken")})
                                   for c in clients_))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients_))
    out = timings.summaries()
    out["home"]["requests_per_second"] = round(len(times["home"]) / baseline_seconds, 1)
    out["signin"]["per_second"] = round(len(times["signin"]) / signin_seconds, 1)
    out["access"]["requests_per_second"] = round(len(times["access"]) / access_seconds, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-workbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RW_WORKBENCH_SECRET": secrets.token_urlsafe(48)}
    os.environ.update(env)
    config_path, hash_seconds = prepare(workdir, args.clients, args.database)
    port = free_port()
    proc = start_server(config_path, port, env)
    try:
        wait_up(port, proc)
        results = asyncio.run(run_clients(port, args.clients, args.rounds, args.views))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    print(json.dumps({"benchmark": "workbench sign-in and access page", "clients": args.clients,
                      "rounds": args.rounds, "views_per_round": args.views, "database": args.database,
                      "cpu_count": os.cpu_count(), "argon2id_hash_ms": round(hash_seconds * 1000, 1),
                      "baseline_home": results["home"], "signin": results["signin"],
                      "access_page": results["access"]}, indent=2))


if __name__ == "__main__":
    main()
