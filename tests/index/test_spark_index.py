"""The search index built on Spark is the index built on DuckDB: the same Parquet tables, search entries and
concept bitmaps, from the same tiny CDR (``test_index.write_tiny_cdr``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from research_workbench.index.layout import (
    ANCESTRY_FILE,
    BITMAPS_FILE,
    CRITERIA_FILE,
    EVENTS_FILE,
    PERSONS_FILE,
    SEARCH_DB,
    SURVEY_TREE_FILE,
)

from .test_index import write_tiny_cdr

PARQUET_FILES = (EVENTS_FILE, PERSONS_FILE, CRITERIA_FILE, ANCESTRY_FILE, SURVEY_TREE_FILE)


@pytest.fixture(scope="module")
def tiny_cdr(tmp_path_factory):
    src = tmp_path_factory.mktemp("spark-index") / "src"  # the CDR is written beside it, in a folder of its own
    src.mkdir()
    return write_tiny_cdr(src)


def _index(cdr, out, *options: str) -> dict:
    """``workbench index CDR --out OUT --json`` with ``options``: the summary it prints."""
    from typer.testing import CliRunner

    from research_workbench.cli import app

    built = CliRunner().invoke(app, ["index", str(cdr), "--out", str(out), "--json", *options])
    assert built.exit_code == 0, built.output
    return json.loads(built.stdout)


@pytest.fixture(scope="module")
def both_indexes(tiny_cdr, spark_engine, tmp_path_factory):
    """(the index built on DuckDB, the index built on Spark: their summaries), both by the CLI. With ``--engine
    spark`` and no master the command wraps the session this process has (the ``spark_engine`` fixture's)."""
    root = tmp_path_factory.mktemp("spark-index")
    return _index(tiny_cdr, root / "duckdb.index"), _index(tiny_cdr, root / "spark.index", "--engine", "spark")


def _sorted(table: pa.Table) -> pa.Table:
    """Rows in the order of every column that sorts (lists do not), so row order is not compared; every field
    nullable (Parquet's required/optional is not the content)."""
    keys = [(f.name, "ascending") for f in table.schema if not pa.types.is_list(f.type)]
    table = table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))
    return table.sort_by(keys).replace_schema_metadata(None)


def _sqlite_rows(path, sql):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("name", PARQUET_FILES)
def test_spark_writes_the_same_index_tables_as_duckdb(both_indexes, name):
    on_duckdb, on_spark = (Path(index["path"]) for index in both_indexes)
    duck, spark = pq.read_table(on_duckdb / name), pq.read_table(on_spark / name)
    assert duck.num_rows > 0
    assert spark.schema.names == duck.schema.names
    assert _sorted(spark).equals(_sorted(duck)), name


def test_spark_index_has_the_same_counts_search_entries_and_bitmaps(both_indexes):
    on_duckdb, on_spark = both_indexes
    counts = {k: v for k, v in on_duckdb.items() if k not in ("path", "seconds")}
    assert {k: v for k, v in on_spark.items() if k not in ("path", "seconds")} == counts
    assert counts["events"] == 11 and counts["persons"] == 3 and counts["search_entries"] == 14
    duckdb_dir, spark_dir = Path(on_duckdb["path"]), Path(on_spark["path"])
    for sql in ("SELECT * FROM criteria ORDER BY rowid", "SELECT * FROM criteria_maps_to ORDER BY 1, 2",
                "SELECT * FROM spelling ORDER BY 1, 2"):
        duck = _sqlite_rows(duckdb_dir / SEARCH_DB, sql)
        assert _sqlite_rows(spark_dir / SEARCH_DB, sql) == duck, sql
    bitmaps = "SELECT * FROM concept_persons ORDER BY domain, is_standard, concept_id"
    duck = _sqlite_rows(duckdb_dir / BITMAPS_FILE, bitmaps)
    assert duck and _sqlite_rows(spark_dir / BITMAPS_FILE, bitmaps) == duck


@pytest.mark.parametrize(("command", "options", "named"), [
    ("index", ["--engine", "oracle"], "--engine"),
    ("index", ["--spark-master", "local[2]"], "--spark-master"),  # with the default engine, DuckDB
    ("browser build", ["--engine", "oracle"], "--engine"),
    ("browser build", ["--engine", "duckdb", "--spark-master", "spark://head:7077"], "--spark-master"),
])
def test_engine_options_that_do_not_fit_are_refused_naming_the_option(tiny_cdr, tmp_path, command, options, named):
    from typer.testing import CliRunner

    from research_workbench.cli import app

    result = CliRunner().invoke(app, [*command.split(), str(tiny_cdr), "--out", str(tmp_path / "out"), "--json", *options])
    assert result.exit_code == 1, result.output
    assert named in result.output
    assert not (tmp_path / "out").exists()
