"""The engine boundary on both engines: Parquet and Arrow in, Arrow and Parquet out, bound parameters, named tables.

Every test runs on DuckDB and on Spark (the ``engine`` fixture); the cross-engine file tests use both at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from research_workbench.cdr.sql import col, table
from research_workbench.engines import EngineError, QueryFailed, UnsupportedConstruct, create_engine

UTC = dt.timezone.utc

# One row of each kind a CDR holds, and NULLs: dates, wall-clock timestamps (the CDR's datetime), instants,
# decimals, doubles, unicode.
EXPECTED = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "day": pa.array([dt.date(2020, 2, 29), None, dt.date(1969, 12, 31)], pa.date32()),
    "at": pa.array([dt.datetime(2020, 2, 29, 23, 59, 59, 123456), dt.datetime(1999, 12, 31, 0, 0), None], pa.timestamp("us")),
    "instant": pa.array([dt.datetime(2021, 3, 28, 1, 30, tzinfo=UTC), None, dt.datetime(1970, 1, 1, tzinfo=UTC)],
                        pa.timestamp("us", tz="UTC")),
    "amount": pa.array([Decimal("12.50"), Decimal("-0.01"), None], pa.decimal128(10, 2)),
    "ratio": pa.array([0.1, None, -1e300], pa.float64()),
    "name": pa.array(["Zoë", "東京 ✓", None], pa.string()),
})


def select_all(name: str) -> exp.Expression:
    return exp.select(exp.Star()).from_(table(name)).order_by(col("id"))


def write_with_duckdb(path, data: pa.Table) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("data", data)
    con.sql("SELECT * FROM data").write_parquet(str(path))
    con.close()


# -- Parquet and Arrow in ------------------------------------------------------------------------------------

def test_parquet_written_by_duckdb_and_by_pyarrow_reads_as_the_same_arrow_table(engine, tmp_path):
    write_with_duckdb(tmp_path / "by_duckdb.parquet", EXPECTED)
    pq.write_table(EXPECTED, tmp_path / "by_pyarrow.parquet")
    engine.register_parquet("by_duckdb", tmp_path / "by_duckdb.parquet")
    engine.register_parquet("by_pyarrow", [tmp_path / "by_pyarrow.parquet"])
    assert engine.run(select_all("by_duckdb")).equals(EXPECTED)
    assert engine.run(select_all("by_pyarrow")).equals(EXPECTED)


def test_arrow_tables_register_and_read_back_unchanged(engine):
    engine.register_arrow("data", EXPECTED)
    assert engine.run(select_all("data")).equals(EXPECTED)
    assert engine.schema("data").equals(EXPECTED.schema)


def test_a_nanosecond_parquet_file_is_refused_naming_the_column_and_the_file(engine, tmp_path):
    nanos = pa.table({"id": [1], "measured_at": pa.array([dt.datetime(2020, 1, 1, 8)], pa.timestamp("ns")),
                      "device": pa.array([{"seen": dt.datetime(2020, 1, 1)}], pa.struct([("seen", pa.timestamp("ns"))]))})
    path = tmp_path / "pandas_default.parquet"
    pq.write_table(nanos, path, version="2.6")  # keeps nanoseconds, as pandas' default writer does
    with pytest.raises(EngineError) as refused:
        engine.register_parquet("wearables", path)
    text = str(refused.value)
    assert "column 'measured_at' holds nanosecond timestamps" in text
    assert "column 'device.seen' holds nanosecond timestamps" in text
    assert str(path) in text and "coerce_timestamps='us'" in text
    assert "wearables" not in engine.schemas()


def test_an_arrow_table_with_nanosecond_timestamps_is_refused_naming_the_column(engine):
    with pytest.raises(EngineError, match=r"table steps: column 'at' holds nanosecond timestamps"):
        engine.register_arrow("steps", pa.table({"at": pa.array([dt.datetime(2020, 1, 1)], pa.timestamp("ns"))}))


def test_microsecond_copies_of_nanosecond_data_are_accepted(engine, tmp_path):
    nanos = pa.table({"at": pa.array([dt.datetime(2020, 1, 1, 8, 0, 0, 5)], pa.timestamp("ns"))})
    pq.write_table(nanos, tmp_path / "fixed.parquet", coerce_timestamps="us", allow_truncated_timestamps=True)
    engine.register_parquet("fixed", tmp_path / "fixed.parquet")
    assert engine.run(exp.select(col("at")).from_(table("fixed"))).column("at").to_pylist() == [dt.datetime(2020, 1, 1, 8, 0, 0, 5)]


def test_bad_paths_and_names_are_refused_naming_the_argument(engine, tmp_path):
    with pytest.raises(EngineError, match=r"paths: .*missing\.parquet does not exist"):
        engine.register_parquet("t", tmp_path / "missing.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match=r"paths: .*empty holds no \*\.parquet data files"):
        engine.register_parquet("t", tmp_path / "empty")
    (tmp_path / "not.parquet").write_text("hello")
    with pytest.raises(EngineError, match=r"not\.parquet: not a readable Parquet file"):
        engine.register_parquet("t", tmp_path / "not.parquet")
    with pytest.raises(EngineError, match=r"paths: no Parquet path given"):
        engine.register_parquet("t", [])
    for bad in ("1st", "drop table x", "a-b", "", "x" * 129):
        with pytest.raises(EngineError, match=r"^name: .* is not a table name"):
            engine.register_arrow(bad, EXPECTED)
    with pytest.raises(EngineError, match=r"table: expected a pyarrow.Table, got dict"):
        engine.register_arrow("t", {"id": [1]})
    with pytest.raises(EngineError, match=r"name: no table 'nothing' is registered"):
        engine.schema("nothing")


# -- Parquet out, read by the other engine --------------------------------------------------------------------

@pytest.mark.parametrize("writer_name,reader_name", [("duckdb", "spark"), ("spark", "duckdb")])
def test_parquet_written_by_one_engine_reads_identically_on_the_other(writer_name, reader_name, duckdb_engine,
                                                                       spark_engine, tmp_path):
    engines = {"duckdb": duckdb_engine, "spark": spark_engine}
    writer, reader = engines[writer_name], engines[reader_name]
    writer.register_arrow("source", EXPECTED)
    out = writer.write_parquet(select_all("source"), tmp_path / "out")
    assert out == tmp_path / "out" and out.is_dir()
    parts = sorted(p.name for p in out.iterdir() if p.suffix == ".parquet")
    if writer_name == "duckdb":
        assert parts == ["part-00000.parquet"]
    else:
        assert parts and all(p.startswith("part-") for p in parts) and (out / "_SUCCESS").exists()
    reader.register_parquet("copied", out)
    assert reader.run(select_all("copied")).equals(EXPECTED)
    assert pq.read_table(out).sort_by("id").equals(EXPECTED)  # and plain pyarrow reads the directory too
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary left behind
    spark_engine.drop("source")
    spark_engine.drop("copied")


def test_write_parquet_bounds_the_rows_of_every_row_group(engine, tmp_path):
    engine.register_arrow("numbers", pa.table({"id": pa.array(range(10_000), pa.int64())}))
    out = engine.write_parquet(select_all("numbers"), tmp_path / "numbers", row_group_size=2048)
    groups = [pq.ParquetFile(p).metadata.row_group(i).num_rows
              for p in sorted(out.glob("*.parquet")) for i in range(pq.ParquetFile(p).num_row_groups)]
    assert sum(groups) == 10_000 and max(groups) <= 2048 and len(groups) >= 5
    assert pq.read_table(out).column("id").to_pylist() == list(range(10_000))  # in order, across part files
    for bad in (0, -2048, 3000, 2048.0, True):
        with pytest.raises(EngineError, match=r"row_group_size: .* give a positive multiple of 2,048 rows"):
            engine.write_parquet(select_all("numbers"), tmp_path / "bad", row_group_size=bad)


def test_write_parquet_refuses_an_existing_path_and_replaces_it_only_when_asked(engine, tmp_path):
    engine.register_arrow("numbers", pa.table({"id": pa.array([1, 2], pa.int64())}))
    target = tmp_path / "out"
    engine.write_parquet(select_all("numbers"), target)
    with pytest.raises(EngineError, match=r"path: .*out already exists \(pass overwrite=True"):
        engine.write_parquet(select_all("numbers"), target)
    engine.register_arrow("numbers", pa.table({"id": pa.array([7], pa.int64())}))
    engine.write_parquet(select_all("numbers"), target, overwrite=True)
    assert pq.read_table(target).column("id").to_pylist() == [7]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failing_write_leaves_nothing_behind(engine, tmp_path):
    engine.register_arrow("texts", pa.table({"id": pa.array([1], pa.int64()), "s": ["not a number"]}))
    failing = exp.select(exp.cast(col("s"), "INT").as_("n")).from_(table("texts"))
    with pytest.raises(QueryFailed, match=rf"^{engine.name} failed to run the query"):
        engine.write_parquet(failing, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# -- named tables -------------------------------------------------------------------------------------------

def test_materialise_keeps_a_result_that_may_replace_the_table_it_reads(engine):
    engine.register_arrow("counter", pa.table({"n": pa.array([1], pa.int64())}))
    step = exp.select(exp.Add(this=col("n"), expression=exp.Literal.number(1)).as_("n")).from_(table("counter"))
    engine.materialise("counter", step)
    engine.materialise("counter", step)
    assert engine.scalar(exp.select(col("n")).from_(table("counter"))) == 3
    assert engine.schema("counter").field("n").type in (pa.int64(),)
    engine.drop("counter")
    with pytest.raises(QueryFailed):
        engine.run(exp.select(col("n")).from_(table("counter")))
    engine.drop("counter")  # dropping what is not there is no error


def test_materialise_binds_parameters_and_computes_once(engine):
    engine.register_arrow("people", pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    chosen = exp.select(col("id")).from_(table("people")).where(exp.GTE(this=col("id"), expression=exp.Placeholder(this="low")))
    engine.materialise("chosen", chosen, {"low": 2})
    engine.register_arrow("people", pa.table({"id": pa.array([9], pa.int64())}))  # later changes do not reach it
    assert engine.run(select_all_ids("chosen")).column("id").to_pylist() == [2, 3]


def select_all_ids(name: str) -> exp.Expression:
    return exp.select(col("id")).from_(table(name)).order_by(col("id"))


def test_scalar_gives_one_value_and_refuses_anything_else(engine):
    engine.register_arrow("people", pa.table({"id": pa.array([1, 2], pa.int64())}))
    assert engine.scalar(exp.select(exp.func("COUNT", exp.Star())).from_(table("people"))) == 2
    with pytest.raises(EngineError, match=r"expression: expected one row of one column, got 2 rows of 1 columns"):
        engine.scalar(select_all_ids("people"))


# -- parameters ---------------------------------------------------------------------------------------------

def test_parameters_are_bound_never_formatted_into_the_sql(engine):
    hostile = "O'Brien\"; DROP TABLE people; -- \\' ''"
    engine.register_arrow("people", pa.table({"id": pa.array([1, 2], pa.int64()), "name": [hostile, "Ann"]}))
    query = exp.select(col("id")).from_(table("people")).where(exp.EQ(this=col("name"), expression=exp.Placeholder(this="who")))
    assert engine.run(query, {"who": hostile}).column("id").to_pylist() == [1]
    assert hostile not in engine.sql(query, {"who": hostile})
    assert engine.scalar(exp.select(exp.Placeholder(this="v")), {"v": hostile}) == hostile
    assert engine.run(select_all_ids("people")).num_rows == 2  # the table is still there


def test_parameters_of_every_kind_bind_alike(engine):
    engine.register_arrow("events", pa.table({"id": pa.array([1, 2, 3], pa.int64()),
                                              "day": pa.array([dt.date(2020, 1, 1), dt.date(2020, 2, 29), dt.date(2021, 1, 1)])}))
    query = (exp.select(col("id")).from_(table("events"))
             .where(exp.and_(exp.ArrayContains(this=exp.Placeholder(this="ids"), expression=col("id")),
                             exp.Between(this=col("day"), low=exp.Placeholder(this="start"), high=exp.Placeholder(this="end")),
                             exp.EQ(this=exp.Placeholder(this="flag"), expression=exp.true())))
             .order_by(col("id")))
    params = {"ids": [2, 3, 2**40], "start": dt.date(2020, 2, 29), "end": dt.date(2020, 12, 31), "flag": True}
    assert engine.run(query, params).column("id").to_pylist() == [2]
    values = exp.select(exp.Placeholder(this="f").as_("f"), exp.Placeholder(this="t").as_("t"), exp.Placeholder(this="n").as_("n"))
    row = engine.run(values, {"f": 1.5, "t": dt.datetime(2020, 1, 1, 12, 30), "n": None}).to_pylist()[0]
    assert row == {"f": 1.5, "t": dt.datetime(2020, 1, 1, 12, 30), "n": None}


def test_bad_parameters_are_refused_naming_each_one(engine):
    query = exp.select(exp.Placeholder(this="a"), exp.Placeholder(this="b"))
    with pytest.raises(EngineError) as refused:
        engine.run(query, {"a": dt.datetime(2020, 1, 1, tzinfo=UTC), "c": 1})
    problems = [str(p) for p in refused.value.problems]
    assert problems == [
        "params.b: the SQL uses this parameter but no value was given",
        "params.c: a value was given but the SQL has no such parameter",
        "params.a: a time-zone-aware datetime: give it in UTC without tzinfo (TIMESTAMP is time-zone-less on every engine)",
    ]
    with pytest.raises(EngineError, match=r"params.a: a set cannot be bound"):
        engine.run(exp.select(exp.Placeholder(this="a")), {"a": {1}})
    with pytest.raises(EngineError, match=r"params.a: nested lists are not supported"):
        engine.run(exp.select(exp.Placeholder(this="a")), {"a": [[1]]})
    with pytest.raises(UnsupportedConstruct, match=r"positional parameter"):
        engine.run(sqlglot.parse_one("SELECT ?", read="duckdb"))


# -- time zones ---------------------------------------------------------------------------------------------

def test_the_session_time_zone_is_utc_on_both_engines(engine):
    instant = exp.cast(exp.Literal.string("2020-01-01 23:30:00+00:00"), "TIMESTAMPTZ")
    row = engine.run(exp.select(exp.cast(instant, "DATE").as_("d"), exp.CurrentDate().as_("today"))).to_pylist()[0]
    assert row["d"] == dt.date(2020, 1, 1)
    assert row["today"] in {dt.datetime.now(UTC).date(), (dt.datetime.now(UTC) - dt.timedelta(minutes=1)).date()}


def test_a_query_the_engine_fails_to_run_is_reported_as_query_failed_with_its_sql(engine):
    engine.register_arrow("texts", pa.table({"s": ["x"]}))
    with pytest.raises(QueryFailed) as failed:
        engine.run(exp.select(exp.cast(col("s"), "INT")).from_(table("texts")))
    assert failed.value.engine == engine.name and "texts" in failed.value.sql


def test_create_engine_knows_both_engines_and_refuses_others():
    with pytest.raises(EngineError, match=r"engine: unknown engine 'postgres' \(one of duckdb, spark\)"):
        create_engine("postgres")
    with create_engine("duckdb") as engine:
        assert engine.name == "duckdb" and engine.scalar(exp.select(exp.Literal.number(1))) == 1


def test_duckdb_reads_local_files_only(duckdb_engine):
    with pytest.raises(EngineError, match=r"paths: s3a://bucket/x.parquet: DuckDB here reads local files only"):
        duckdb_engine.register_parquet("t", "s3a://bucket/x.parquet")


@pytest.mark.parametrize("compression", ["zstd", "uncompressed"])
def test_write_parquet_uses_the_codec_asked_for_and_refuses_an_unknown_one(engine, tmp_path, compression):
    engine.register_arrow("numbers", pa.table({"id": pa.array(range(100), pa.int64())}))
    out = engine.write_parquet(select_all("numbers"), tmp_path / compression, compression=compression)
    codecs = {pq.ParquetFile(part).metadata.row_group(0).column(0).compression
              for part in Path(out).glob("*.parquet")}
    assert codecs == {"ZSTD" if compression == "zstd" else "UNCOMPRESSED"}
    with pytest.raises(EngineError, match="compression"):
        engine.write_parquet(select_all("numbers"), tmp_path / "bad", compression="lz5")
