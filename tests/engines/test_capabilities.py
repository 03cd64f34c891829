"""The capability table tells the truth, and ``check_portable`` refuses each trap naming the construct and the
engine (and only the engines it should)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from research_workbench.cdr.sql import col, lit, table
from research_workbench.engines import UnsupportedConstruct
from research_workbench.engines.capabilities import (
    CAPABILITIES,
    ENGINE_NAMES,
    capabilities_of,
    check_portable,
    findings,
    supports,
)
from research_workbench.engines.rendering import render
from research_workbench.engines.spark_catalogue import SPARK_FUNCTIONS

DATES = {"t": {"a": "DATE", "b": "DATE", "ts": "TIMESTAMP", "tz": "TIMESTAMPTZ", "s": "TEXT", "l": "ARRAY<BIGINT>"}}
BOTH, SPARK, DUCKDB = {"duckdb", "spark"}, {"spark"}, {"duckdb"}


def duck(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def diff(unit: str, a: str = "a", b: str = "b") -> exp.Expression:
    return exp.select(exp.DateDiff(this=col(b), expression=col(a), unit=exp.var(unit))).from_(table("t"))


# (what, tree, the construct named, the engines refusing it)
TRAPS = [
    ("date_diff month", diff("MONTH"), "DATE_DIFF in MONTH", BOTH),
    ("date_diff year", diff("YEAR"), "DATE_DIFF in YEAR", BOTH),
    ("date_diff quarter", diff("QUARTER"), "DATE_DIFF in QUARTER", BOTH),
    ("date_diff week", diff("WEEK"), "DATE_DIFF in WEEK", BOTH),
    ("duckdb date_diff parsed", duck("SELECT date_diff('month', a, b) FROM t"), "DATE_DIFF in MONTH", BOTH),
    ("duckdb datediff parsed", duck("SELECT datediff('year', a, b) FROM t"), "DATE_DIFF in YEAR", BOTH),
    ("date_diff day on timestamps", diff("DAY", "ts", "ts"), "DATE_DIFF in DAY on TIMESTAMP", BOTH),
    ("date_diff day on instants", diff("DAY", "a", "tz"), "DATE_DIFF in DAY on TIMESTAMPTZ", BOTH),
    ("date_diff day on unknown", exp.select(exp.DateDiff(this=col("x"), expression=col("y"), unit=exp.var("DAY"))).from_(table("u")),
     "DATE_DIFF in DAY on an expression of unknown type", BOTH),
    ("date_diff with the part as an argument", exp.select(exp.func("date_diff", lit("month"), col("a"), col("b"))).from_(table("t")),
     "DATE_DIFF(part, start, end) built as a function call", BOTH),
    ("duckdb date_sub(part) parsed", duck("SELECT date_sub('year', a, b) FROM t"), "DATE_SUB(part, …)", BOTH),
    ("duckdb date_sub(part) built", exp.select(exp.func("date_sub", lit("year"), col("a"), col("b"))).from_(table("t")),
     "DATE_SUB(part, start, end)", BOTH),
    ("date plus interval", duck("SELECT a + INTERVAL 3 DAY FROM t"), "DATE ± INTERVAL", BOTH),
    ("to_days", exp.select(exp.Add(this=col("a"), expression=exp.func("to_days", exp.Literal.number(3)))).from_(table("t")),
     "DATE ± INTERVAL", BOTH),
    ("to_years", exp.select(exp.Add(this=col("a"), expression=exp.func("to_years", exp.Literal.number(3)))).from_(table("t")),
     "function TO_YEARS", BOTH),
    ("macro", duck("CREATE MACRO plus_one(a) AS a + 1"), "CREATE MACRO", SPARK),
    ("temp function", duck("CREATE TEMP FUNCTION plus_one(a) AS a + 1"), "CREATE FUNCTION", SPARK),
    ("try", duck("SELECT TRY(make_date(y, m, d)) FROM t"), "TRY(…)", SPARK),
    ("list_distinct", exp.select(exp.func("list_distinct", col("l"))).from_(table("t")), "function LIST_DISTINCT", SPARK),
    ("list_sort", exp.select(exp.func("list_sort", col("l"))).from_(table("t")), "function LIST_SORT", SPARK),
    ("list_has_any built", exp.select(exp.func("list_has_any", col("l"), col("l"))).from_(table("t")), "function LIST_HAS_ANY", SPARK),
    ("list_has_any parsed", duck("SELECT list_has_any(l, l) FROM t"), "LIST_HAS_ANY / &&", SPARK),
    ("list aggregate built", exp.select(exp.func("list", col("a"))).from_(table("t")), "function LIST", SPARK),
    ("list aggregate parsed", duck("SELECT list(a) FROM t"), "LIST / ARRAY_AGG", BOTH),
    ("len of a list", exp.select(exp.func("len", col("l"))).from_(table("t")), "LEN of a list", SPARK),
    ("regexp_full_match", exp.select(exp.func("regexp_full_match", col("s"), lit("[0-9]+"))).from_(table("t")),
     "function REGEXP_FULL_MATCH", SPARK),
    ("regexp_matches", exp.select(exp.func("regexp_matches", col("s"), lit("^[0-9]"))).from_(table("t")), "function REGEXP_MATCHES", SPARK),
    ("strftime", exp.select(exp.func("strftime", col("a"), lit("%Y"))).from_(table("t")), "function STRFTIME", SPARK),
    ("try_strptime", duck("SELECT try_strptime(s, '%Y-%m-%d') FROM t"), "function TRY_STRPTIME", SPARK),
    ("error", exp.select(exp.func("error", lit("boom"))), "function ERROR", SPARK),
    ("epoch", duck("SELECT epoch(ts) FROM t"), "function EPOCH", BOTH),
    ("quantile_cont", duck("SELECT quantile_cont(a, 0.5) FROM t"), "QUANTILE / PERCENTILE", BOTH),
    ("percentile within group", duck("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FROM t"), "QUANTILE / PERCENTILE", BOTH),
    ("quantile", duck("SELECT quantile(a, 0.5) FROM t"), "QUANTILE / PERCENTILE", BOTH),
    ("isfinite", duck("SELECT isfinite(a) FROM t"), "function ISFINITE", SPARK),
    ("hash", exp.select(exp.func("hash", col("s"))).from_(table("t")), "function HASH", BOTH),
    ("random", exp.select(exp.func("random")), "RANDOM()", BOTH),
    ("uuid", exp.select(exp.func("gen_random_uuid")), "a random UUID", BOTH),
    ("read_parquet", duck("SELECT * FROM read_parquet('x.parquet')"), "READ_PARQUET(…) in FROM", SPARK),
    ("copy to", duck("COPY (SELECT 1) TO 'x.parquet' (FORMAT parquet)"), "COPY … TO", SPARK),
    ("delete", duck("DELETE FROM t WHERE a IS NULL"), "DELETE", SPARK),
    ("update", duck("UPDATE t SET s = 'x'"), "UPDATE", SPARK),
    ("insert", duck("INSERT INTO t SELECT * FROM t"), "INSERT", SPARK),
    ("create table", duck("CREATE TEMP TABLE x AS SELECT 1"), "CREATE TABLE", SPARK),
    ("drop", duck("DROP TABLE x"), "DROP statement", SPARK),
    ("star replace", duck("SELECT * REPLACE (a AS b) FROM t"), "SELECT * REPLACE", SPARK),
    ("nanosecond cast", duck("SELECT CAST(ts AS TIMESTAMP_NS) FROM t"), "type TIMESTAMP_NS", SPARK),
    ("unsigned cast", duck("SELECT CAST(1 AS UBIGINT)"), "type UBIGINT", SPARK),
    ("positional parameter", duck("SELECT ? FROM t"), "positional parameter", BOTH),
    ("median passes", duck("SELECT median(a) FROM t"), "", set()),
    ("group by all passes", duck("SELECT a, count(*) FILTER (WHERE b > a) FROM t GROUP BY ALL QUALIFY a > 1"), "", set()),
    ("spark-only function", exp.select(exp.Anonymous(this="format_number", expressions=[col("a"), exp.Literal.number(2)])).from_(table("t")),
     "function FORMAT_NUMBER", DUCKDB),
]


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("what,tree,construct,refusing", TRAPS, ids=[t[0] for t in TRAPS])
def test_each_trap_is_refused_naming_the_construct_and_the_engine(what, tree, construct, refusing, engine_name):
    if engine_name not in refusing:
        check_portable(tree, engine_name, schema=DATES)
        return
    with pytest.raises(UnsupportedConstruct) as refused:
        check_portable(tree, engine_name, schema=DATES)
    error = refused.value
    assert error.engine == engine_name
    assert construct in error.constructs, error.constructs
    text = str(error)
    assert f"{engine_name}: {construct}" in text and f"is not portable to {engine_name}" in text


def test_a_refusal_says_why_and_what_to_use_instead():
    with pytest.raises(UnsupportedConstruct) as refused:
        check_portable(diff("MONTH"), "spark", schema=DATES)
    (problem,) = refused.value.problems
    assert str(problem) == (
        'spark: DATE_DIFF in MONTH: DATE_DIFF in MONTH in `DATE_DIFF(\'MONTH\', t."a", t."b")` is not portable '
        "to spark: DuckDB counts month boundaries crossed, Spark whole months elapsed; use engines.portable.months_between "
        "or years_between (whole units, birthday-aware)")
    assert refused.value.as_json()["error"] == "SQL not portable to this engine"


def test_every_construct_of_a_tree_is_reported_at_once():
    tree = exp.select(exp.func("date_diff", lit("year"), col("a"), col("b")), exp.func("list_distinct", col("l")),
                      exp.func("hash", col("s"))).from_(table("t"))
    with pytest.raises(UnsupportedConstruct) as refused:
        check_portable(tree, "spark", schema=DATES)
    built_with_part = "DATE_DIFF(part, start, end) built as a function call"
    assert refused.value.constructs == [built_with_part, "function LIST_DISTINCT", "function HASH"]
    assert [f.construct for f in findings(tree, schema=DATES, engines=["duckdb"])] == [built_with_part, "function HASH"]


def test_day_differences_between_dates_pass_and_the_tree_is_left_unchanged():
    tree = diff("DAY")
    before = tree.sql()
    for engine_name in ENGINE_NAMES:
        assert check_portable(tree, engine_name, schema=DATES) == render(tree, engine_name)[0]
    assert tree.sql() == before and tree.find(exp.DateDiff).type is None
    casts = exp.select(exp.DateDiff(this=exp.cast(col("x"), "DATE"), expression=exp.cast(col("y"), "DATE"), unit=exp.var("DAY")))
    check_portable(casts, "spark")  # a cast shows the type without any schema
    bound = exp.select(exp.DateDiff(this=exp.Placeholder(this="d"), expression=col("a"), unit=exp.var("DAY"))).from_(table("t"))
    import datetime as dt
    check_portable(bound, "spark", schema=DATES, params={"d": dt.date(2020, 1, 1)})  # a bound date is a DATE
    with pytest.raises(UnsupportedConstruct, match="DATE_DIFF in DAY on TIMESTAMP"):
        check_portable(bound, "spark", schema=DATES, params={"d": dt.datetime(2020, 1, 1)})


def test_timestamps_and_try_cast_are_written_with_their_meaning_for_spark():
    tree = exp.select(exp.cast(col("s"), "TIMESTAMP"), exp.cast(col("s"), "TIMESTAMPTZ"),
                      exp.TryCast(this=col("s"), to=exp.DataType.build("DATE"))).from_(table("t"))
    assert check_portable(tree, "spark") == (
        "SELECT CAST(`s` AS TIMESTAMP_NTZ), CAST(`s` AS TIMESTAMP_LTZ), TRY_CAST(`s` AS DATE) FROM `t`")
    assert check_portable(tree, "duckdb") == 'SELECT CAST("s" AS TIMESTAMP), CAST("s" AS TIMESTAMPTZ), TRY_CAST("s" AS DATE) FROM "t"'
    # SQLGlot alone writes both as Spark's TIMESTAMP, whose meaning depends on spark.sql.timestampType, and the
    # TRY_CAST as a CAST (which fails under ANSI mode); the caller's tree is left as it was.
    assert tree.sql(dialect="spark") == "SELECT CAST(`s` AS TIMESTAMP), CAST(`s` AS TIMESTAMP), CAST(`s` AS DATE) FROM `t`"


def test_the_capability_table_has_one_row_per_key_and_answers_by_engine():
    keys = [c.key for c in CAPABILITIES]
    assert len(keys) == len(set(keys))
    assert supports("duckdb", "macros") and not supports("spark", "macros")
    assert {"qualify", "star_exclude", "group_by_all", "window_frames", "spilling", "named_parameters"} <= capabilities_of("spark")
    assert capabilities_of("duckdb") == frozenset(keys)
    with pytest.raises(KeyError, match="unknown capability 'x'"):
        supports("spark", "x")
    with pytest.raises(KeyError, match="unknown engine 'oracle'"):
        capabilities_of("oracle")
    with pytest.raises(KeyError, match="unknown engine 'oracle'"):
        check_portable(exp.select(exp.Literal.number(1)), "oracle")


PROBED = [c for c in CAPABILITIES if c.probe]


@pytest.mark.parametrize("capability", PROBED, ids=[c.key for c in PROBED])
def test_the_capability_table_tells_the_truth(capability, engine):
    """Each probe, rendered for the engine and run on its own handle (no check), runs exactly where the table says."""
    sql, _ = render(duck(capability.probe), engine.dialect)
    try:
        if engine.name == "duckdb":
            engine.con.execute(sql).fetchall()
        else:
            engine.spark.sql(sql).collect()
        ran = True
    except Exception:
        ran = False
    assert ran == capability.supported_by(engine.name), f"{capability.key} on {engine.name}: {sql}"
    assert engine.supports(capability.key) == capability.supported_by(engine.name)


def test_the_stored_spark_catalogue_is_the_running_sparks(spark_engine):
    running = {row[0] for row in spark_engine.spark.sql("SHOW SYSTEM FUNCTIONS").collect()}
    assert running == SPARK_FUNCTIONS, (sorted(running - SPARK_FUNCTIONS)[:20], sorted(SPARK_FUNCTIONS - running)[:20])


def test_an_engine_checks_functions_against_its_own_session(engine):
    """A function defined in the session (a DuckDB macro; a Spark SQL function) passes on that engine only."""
    if engine.name == "duckdb":
        engine.con.execute("CREATE OR REPLACE TEMP MACRO rw_session_fn(a) AS a + 1")
    else:
        engine.spark.sql("CREATE OR REPLACE TEMPORARY FUNCTION rw_session_fn(a INT) RETURNS INT RETURN a + 1")
    tree = exp.select(exp.Anonymous(this="rw_session_fn", expressions=[exp.Literal.number(1)]).as_("v"))
    assert engine.scalar(tree) == 2
    other = "spark" if engine.name == "duckdb" else "duckdb"
    with pytest.raises(UnsupportedConstruct, match=rf"function RW_SESSION_FN .* is not portable to {other}"):
        check_portable(tree, other)


def test_the_engines_refuse_before_running(engine):
    with pytest.raises(UnsupportedConstruct, match=rf"CREATE MACRO.*not portable to spark") if engine.name == "spark" else _nothing():
        engine.run(duck("CREATE TEMP MACRO rw_refused(a) AS a + 1"))
    with pytest.raises(UnsupportedConstruct, match=rf"function HASH .* is not portable to {engine.name}"):
        engine.run(exp.select(exp.func("hash", exp.Literal.number(1))))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
