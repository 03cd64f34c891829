"""Table versions kept as files (``engines.lineage.FileVersions``), on both engines: row counts from footers, names
sharing a version, parts read as one table, empty versions planned not run, and files removed once no name holds
them. Also the engine methods under it: ``materialise_files``, ``result_schema`` and the row index of
``register_parquet``."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp

from research_workbench.engines.errors import EngineError
from research_workbench.engines.lineage import FileVersions


def _ids(engine, name: str) -> list[int]:
    return sorted(engine.run(exp.select("id").from_(name)).column("id").to_pylist())


@pytest.fixture
def versions(engine, tmp_path):
    engine.register_arrow("src", pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "v": ["a", "b", "c", "d"]}))
    held = FileVersions(engine, tmp_path / "tables")
    yield held
    for name in list(held.current):
        held.drop(name)
    engine.drop("src")


def test_each_version_counts_its_rows_from_its_files_and_replaces_the_last(versions, engine, tmp_path):
    versions.materialise("t", exp.select("*").from_("src").where("id > 1"))
    first = versions.current["t"].paths[0]
    versions.materialise("t", exp.select("*").from_("t").where("id > 2"))  # reads the version it replaces
    assert versions.rows("t") == 2 and _ids(engine, "t") == [3, 4]
    assert not first.exists()  # nobody holds the first version any more
    assert versions.rows("src") is None  # not held here: unknown


def test_a_shared_version_outlives_the_name_that_wrote_it(versions, engine):
    versions.materialise("clean", exp.select("*").from_("src"))
    versions.share("tier", "clean")
    path = versions.current["clean"].paths[0]
    versions.materialise("clean", exp.select("*").from_("clean").where("id = 1"))
    assert path.exists() and _ids(engine, "tier") == [1, 2, 3, 4] and versions.rows("tier") == 4
    versions.drop("tier")
    assert not path.exists()
    assert _ids(engine, "clean") == [1]


def test_parts_are_read_as_one_table_and_parts_of_other_types_are_left_to_sql(versions, engine):
    versions.materialise("sb", exp.select("*").from_("src").where("id = 1"))
    versions.materialise("sb_part1", exp.select("*").from_("src").where("id > 5"))  # no rows
    versions.materialise("sb_part2", exp.select("*").from_("src").where("id >= 3"))
    assert versions.concat("sb", ["sb", "sb_part1", "sb_part2"])
    for part in ("sb_part1", "sb_part2"):
        versions.drop(part)
    assert _ids(engine, "sb") == [1, 3, 4] and versions.rows("sb") == 3
    versions.materialise("other", exp.select(exp.cast(exp.column("id"), "VARCHAR").as_("id"), "v").from_("src"))
    assert not versions.concat("sb", ["sb", "other"])
    assert _ids(engine, "sb") == [1, 3, 4]


def test_an_empty_version_has_the_querys_columns_and_no_job_runs_for_it(versions, engine):
    query = exp.select("id", exp.cast(exp.column("v"), "DATE").as_("d")).from_("src").where("id > 9")
    versions.empty("e", query)  # the cast of text to a date would fail if the query ran on these rows
    assert versions.rows("e") == 0
    assert engine.schema("e").names == ["id", "d"] and engine.schema("e").field("d").type == pa.date32()
    assert engine.run(exp.select("*").from_("e")).num_rows == 0
    versions.share("e2", "e")
    assert engine.run(exp.select("*").from_("e2")).num_rows == 0


def test_result_schema_plans_a_query_without_its_rows(engine):
    engine.register_arrow("r", pa.table({"x": pa.array([1], pa.int64())}))
    try:
        schema = engine.result_schema(exp.select(exp.column("x"), exp.cast(exp.column("x"), "DOUBLE").as_("y")).from_("r"))
    finally:
        engine.drop("r")
    assert [(f.name, f.type) for f in schema] == [("x", pa.int64()), ("y", pa.float64())]


def test_a_row_index_numbers_one_files_rows_from_a_start_and_refuses_more_files(engine, tmp_path):
    pq.write_table(pa.table({"v": [7, 8, 9]}), tmp_path / "one.parquet", row_group_size=2)
    engine.register_parquet("n", tmp_path / "one.parquet", row_index="rid", row_index_start=1 << 40)
    try:
        rows = engine.run(exp.select("v", "rid").from_("n").order_by("rid")).to_pylist()
        assert rows == [{"v": 7, "rid": (1 << 40)}, {"v": 8, "rid": (1 << 40) + 1}, {"v": 9, "rid": (1 << 40) + 2}]
        assert engine.schema("n").field("rid").type == pa.int64()
    finally:
        engine.drop("n")
    (tmp_path / "two").mkdir()
    for part in ("part-0.parquet", "part-1.parquet"):
        pq.write_table(pa.table({"v": [1]}), tmp_path / "two" / part)
    with pytest.raises(EngineError, match="a row index numbers the rows of one Parquet file; .* holds 2"):
        engine.register_parquet("n", tmp_path / "two", row_index="rid")
