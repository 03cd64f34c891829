"""A real cluster: a Spark standalone master and worker on 127.0.0.1, started from pyspark's own launcher
(``bin/spark-class``: the pip package ships no ``sbin/start-master.sh``), and two applications submitted to it with
``bin/spark-submit``:

- ``standalone_driver.py``, which runs a portable date query and the Cohort Builder's compiled SQL through
  ``SparkEngine.from_session``: its answers equal DuckDB's;
- the ``workbench`` command line itself (``workbench spark-app``) running ``curate --engine spark``: a whole curation,
  both tiers, on the cluster's executors, whose release equals the DuckDB release of the same raw CDR (the same
  private maps): every table's content hash in both tiers, every rule's effect, every sandbox file.

The daemons run in their own process groups and are killed in a finalizer, executors with them; the test checks
no JVM of theirs is left."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from research_workbench.cdr.store import Cdr
from research_workbench.cli.spark_app import SPARK_MAIN
from research_workbench.cohorts.builder.compile import compile_definition
from research_workbench.curation import curate
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.index.build import default_index_path

from ..cohort_builder import fixture, golden
from ..curation.fixtures import write_cdr
from ..curation.test_release import small_program
from ..conftest import need, spark_available
from ..helpers import free_port

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("standalone_driver.py")
# Criteria on events with a modifier, on the person table (current age: CURRENT_DATE), and variant carriers
# registered beside the SQL; each selects someone in the tiny index.
CASES = ("modifier_event_date", "person_current_age", "variant_parameters_or_in_one_item_and_items_or_in_a_group")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def wait_for(what: str, ready, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
    pytest.fail(f"{what} not ready after {timeout:.0f} s\n{tails}")


def master_state(web_port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return {}


class Daemons:
    """Spark daemons, each in its own process group (so its executors go with it)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, args: list[str], log: Path, env: dict) -> subprocess.Popen:
        out = open(log, "wb")
        process = subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
        out.close()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for process in self.processes:  # the whole group, executors included, is gone
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def alive(self, timeout: float = 15) -> list[str]:
        """The processes of the daemons' groups still running (zombies, dead but not yet reaped, do not count),
        after waiting up to ``timeout`` seconds for them to exit."""
        groups = {process.pid for process in self.processes}
        deadline = time.monotonic() + timeout
        while True:
            left = []
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # exited while we looked
                state, group = fields[0], int(fields[2])
                if group in groups and state != "Z":
                    left.append(f"{stat.parent.name} ({(stat.parent / 'comm').read_text().strip()})")
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.5)


def expected_answers(index_dir: Path, cases) -> dict[str, list[int]]:
    from research_workbench.engines.duckdb_engine import DuckDBEngine
    from research_workbench.index.layout import DATABASE_TABLES

    answers = {}
    with DuckDBEngine(threads=1) as engine:
        for name, file in DATABASE_TABLES.items():
            engine.register_parquet(name, index_dir / file)
        for case, query in cases:
            for table_name, carriers in query.tables.items():
                engine.register_arrow(table_name, carriers)
            answers[case.name] = sorted(engine.run(query.expression, query.params).column("person_id").to_pylist())
    return answers


def release_contents(release: Path) -> dict:
    """What must be equal between two releases of one raw CDR: each tier's tables (rows, content hash), each
    rule's effect, each sandbox file (rows)."""
    report = json.loads((release / "report.json").read_text())
    tiers = {tier: {name: (e.rows, e.content_hash) for name, e in Cdr(release / tier).manifest.tables.items()}
             for tier in ("registered", "controlled")}
    return {"tiers": tiers, "rules": [(r["name"], r["scope"], r["tables"]) for r in report["rules"]],
            "sandbox_files": report["sandbox_files"]}


def test_a_standalone_cluster_runs_the_engine_and_a_curation_through_spark_submit(tmp_path, request):
    why = spark_available()
    need(why is None, why or "")
    index_dir = default_index_path(fixture.build(tmp_path / "cdr_src"))
    chosen = [c for c in golden.parse(golden.FIXTURE.read_text(encoding="utf-8"))[1] if c.name in CASES]
    assert sorted(c.name for c in chosen) == sorted(CASES)
    cases = [(c, compile_definition(parse_definition(c.definition), golden.fake_expand, "persons", golden.fake_carriers)) for c in chosen]
    job = {"index_dir": str(index_dir), "cases": [
        {"name": c.name, "sql_tree": q.expression.dump(), "params": json.loads(golden.params_text(q.params)),
         "tables": {n: t["person_id"].to_pylist() for n, t in q.tables.items()}} for c, q in cases]}
    (tmp_path / "job.json").write_text(json.dumps(job))
    # The curation's raw CDR and its DuckDB release (whose private maps the cluster's run reuses).
    raw = write_cdr(tmp_path / "raw", small_program([101, 102, 103, 104], [0, 40, 80, 400]))
    config = tmp_path / "curation.toml"
    config.write_text('cutoff_date = "2024-06-30"\n')
    releases = tmp_path / "releases"
    curate(raw, "duck", releases, config=config)

    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SPARK_LOG_DIR": str(tmp_path), "SPARK_WORKER_DIR": str(tmp_path / "work")}
    for name in ("RW_ENGINE", "RW_SPARK_MASTER"):
        env.pop(name, None)
    port, web, worker_port, worker_web = free_port(), free_port(), free_port(), free_port()
    daemons = Daemons()
    request.addfinalizer(daemons.stop)
    logs = [tmp_path / "master.log", tmp_path / "worker.log"]
    started = time.monotonic()
    daemons.start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web)],
                  logs[0], env)
    wait_for("the master", lambda: master_state(web).get("status") == "ALIVE", 60, logs)
    daemons.start(["org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                   "--port", str(worker_port), "--webui-port", str(worker_web), "--cores", "2", "--memory", "1g",
                   "--work-dir", str(tmp_path / "work")], logs[1], env)
    wait_for("the worker", lambda: len(master_state(web).get("workers", [])) == 1
             and master_state(web)["workers"][0]["state"] == "ALIVE", 60, logs)
    cluster_up = time.monotonic() - started

    def submit(*application: str, name: str, timeout: float) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [str(spark_home() / "bin" / "spark-submit"), "--master", f"spark://127.0.0.1:{port}", "--name", name,
             "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
             "--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=2",
             "--conf", "spark.sql.shuffle.partitions=2", *application],
            env=env, capture_output=True, text=True, timeout=timeout)
        assert completed.returncode == 0, completed.stderr[-4000:]
        return completed

    submit(str(DRIVER), str(tmp_path / "job.json"), str(tmp_path / "result.json"), name="rw-standalone-test", timeout=240)
    result = json.loads((tmp_path / "result.json").read_text())
    submitted = time.monotonic() - started - cluster_up

    assert result["master"] == f"spark://127.0.0.1:{port}"
    assert result["dates"] == [{"months": 0, "years": 0, "days": 29}, {"months": 12, "years": 1, "days": 366}]
    assert result["cases"] == expected_answers(index_dir, cases)
    assert any(result["cases"].values())

    curation = submit(str(SPARK_MAIN), "curate", str(raw), "--release", "spark", "--out", str(releases), "--config", str(config),
                      "--engine", "spark", "--json", name="rw-curation", timeout=600)
    summary = json.loads(curation.stdout)  # spark-submit merges the application's stderr into stdout: nothing else
    curated = time.monotonic() - started - cluster_up - submitted
    new_ids = json.loads((releases / "spark" / "report.json").read_text())["new_private_ids"]
    assert summary["scan"]["ok"] and new_ids and set(new_ids.values()) == {0}  # the DuckDB run's maps, reused
    on_cluster, on_duckdb = release_contents(releases / "spark"), release_contents(releases / "duck")
    assert sum(rows for rows, _ in on_duckdb["tiers"]["registered"].values()) > 0
    assert on_cluster == on_duckdb
    finished = sorted(app["name"] for app in master_state(web).get("completedapps", []))
    assert finished == ["rw-curation", "rw-standalone-test"]  # both ran on this cluster, and ended

    daemons.stop()
    assert daemons.alive() == [], "Spark daemons (or their executors) are still running"
    print(f"standalone: cluster up in {cluster_up:.1f} s, the engine's application ran in {submitted:.1f} s, "
          f"the curation in {curated:.1f} s, at {dt.datetime.now():%H:%M}")
