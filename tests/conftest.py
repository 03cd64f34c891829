"""Shared fixtures: where the real datasets and PostgreSQL are, and how a test goes without them.

A test that needs ../shared/datasets, PostgreSQL or Chromium skips with a clear message when it is absent;
with RW_REQUIRE_ALL=1 (set by the test command in CI) it fails instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import re
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIRE_ALL = os.environ.get("RW_REQUIRE_ALL") == "1"


def need(condition: bool, why: str) -> None:
    if not condition:
        if REQUIRE_ALL:
            pytest.fail(f"{why} (RW_REQUIRE_ALL=1: required here)")
        pytest.skip(why)


def datasets_root() -> Path:
    return Path(os.environ.get("RW_DATASETS", REPO.parent / "shared" / "datasets"))


def readme_row_counts(dataset: Path) -> dict[str, int]:
    """Table → rows from the dataset README's '| file | rows | bytes |' table."""
    counts = {}
    for line in (dataset / "README.md").read_text().splitlines():
        match = re.match(r"\|\s*([a-z_0-9]+)\.csv(?:\.gz)?\s*\|\s*([\d,]+)\s*\|", line)
        if match:
            counts[match.group(1)] = int(match.group(2).replace(",", ""))
    return counts


@pytest.fixture(scope="session")
def gibleed_dir() -> Path:
    path = datasets_root() / "eunomia-gibleed"
    need(path.is_dir(), f"GiBleed dataset not found at {path} (set RW_DATASETS)")
    return path


@pytest.fixture(scope="session")
def synthea_dir() -> Path:
    path = datasets_root() / "synthea27nj"
    need(path.is_dir(), f"Synthea27Nj dataset not found at {path} (set RW_DATASETS)")
    return path


@pytest.fixture(scope="session")
def gibleed_cdr(gibleed_dir: Path, tmp_path_factory) -> Path:
    """GiBleed loaded once per session (its ids repeat in three tables, hence allow_duplicate_keys)."""
    from research_workbench.ingest import load_omop_folder

    out = tmp_path_factory.mktemp("gibleed") / "cdr"
    load_omop_folder(gibleed_dir, out, allow_duplicate_keys=True)
    return out


@pytest.fixture(scope="session")
def pg_url() -> str:
    import psycopg

    url = os.environ.get("RW_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except psycopg.Error as err:
        need(False, f"PostgreSQL not reachable at {url}: {str(err).strip().splitlines()[0]}")
    return url


@pytest.fixture
def pg_schema(pg_url: str):
    """A fresh schema name, dropped after the test."""
    import psycopg
    from psycopg import sql

    names: list[str] = []

    def make(prefix: str = "rwtest") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return name

    yield make
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_state_url(pg_url: str, pg_schema) -> str:
    """The URL of a fresh, empty PostgreSQL schema for application state (search_path set on every connection)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    schema = pg_schema("state")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


# --- engines: every test that takes ``engine`` runs on DuckDB and on Spark --------------------------------------
# One Spark session per test process (local[2]), shared by every folder's tests; each test's own tables are dropped
# after it. Spark's start-up (8 s) is paid once per xdist worker.


def spark_available() -> str | None:
    """Why Spark cannot run here, or None."""
    if shutil.which("java") is None:
        return "Java is not installed: Spark needs a Java 17+ runtime (scripts/test.sh installs default-jre-headless)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def spark_engine():
    why = spark_available()
    need(why is None, why or "")
    from pyspark.sql import SparkSession

    from research_workbench.engines.spark_engine import SparkEngine

    active = SparkSession.getActiveSession()  # a test may have started one; wrap it rather than refuse
    engine = SparkEngine.from_session(active) if active is not None else SparkEngine(master="local[2]")
    yield engine
    engine.close()


@pytest.fixture
def duckdb_engine():
    from research_workbench.engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(threads=2) as engine:
        yield engine


@pytest.fixture(params=["duckdb", "spark"])
def engine(request):
    if request.param == "duckdb":
        yield request.getfixturevalue("duckdb_engine")
        return
    spark = request.getfixturevalue("spark_engine")
    before = set(spark.schemas())
    yield spark
    for name in set(spark.schemas()) - before:  # what this test registered; module fixtures keep theirs
        spark.drop(name)
