"""The search index built on Spark is the index built on DuckDB: the same Parquet tables, search entries and
concept bitmaps, from the same tiny CDR (``test_index.write_tiny_cdr``)."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from research_workbench.index import build_index
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


@pytest.fixture(scope="module")
def both_indexes(tiny_cdr, spark_engine, tmp_path_factory):
    """(the DuckDB-built index, the Spark-built index, their counts)."""
    from research_workbench.engines.duckdb_engine import DuckDBEngine

    root = tmp_path_factory.mktemp("spark-index")
    with DuckDBEngine(threads=2) as duck:
        on_duckdb = build_index(tiny_cdr, root / "duckdb.index", engine=duck)
    on_spark = build_index(tiny_cdr, root / "spark.index", engine=spark_engine)
    return on_duckdb, on_spark


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
    on_duckdb, on_spark = both_indexes
    duck, spark = pq.read_table(on_duckdb.path / name), pq.read_table(on_spark.path / name)
    assert duck.num_rows > 0
    assert spark.schema.names == duck.schema.names
    assert _sorted(spark).equals(_sorted(duck)), name


def test_spark_index_has_the_same_counts_search_entries_and_bitmaps(both_indexes):
    on_duckdb, on_spark = both_indexes
    assert on_spark.counts == on_duckdb.counts
    assert on_duckdb.counts["events"] == 11 and on_duckdb.counts["persons"] == 3
    for sql in ("SELECT * FROM criteria ORDER BY rowid", "SELECT * FROM criteria_maps_to ORDER BY 1, 2",
                "SELECT * FROM spelling ORDER BY 1, 2"):
        duck = _sqlite_rows(on_duckdb.path / SEARCH_DB, sql)
        assert _sqlite_rows(on_spark.path / SEARCH_DB, sql) == duck, sql
    bitmaps = "SELECT * FROM concept_persons ORDER BY domain, is_standard, concept_id"
    duck = _sqlite_rows(on_duckdb.path / BITMAPS_FILE, bitmaps)
    assert duck and _sqlite_rows(on_spark.path / BITMAPS_FILE, bitmaps) == duck
