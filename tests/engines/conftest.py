"""The ``engine`` fixture: every test of this folder runs on DuckDB and on Spark (one Spark session per test run,
local[2], shared by the tests; each test's own tables dropped after it)."""

from __future__ import annotations

import shutil

import pytest

from ..conftest import need


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
    from research_workbench.engines.spark_engine import SparkEngine

    engine = SparkEngine(master="local[2]")
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
