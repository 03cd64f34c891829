"""Every portable date builder gives the same answers on DuckDB and Spark, equal to a Python reference, at the
edges: month ends, 29 February, year boundaries, the same day, reversed order. And the traps they replace are
real: the raw constructs answer differently on the two engines."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlglot import exp

from research_workbench.cdr.facts import AGE_BANDS, UNKNOWN_AGE, age_at, age_band
from research_workbench.cdr.sql import col, table
from research_workbench.engines import QueryFailed, UnsupportedConstruct
from research_workbench.engines import portable as P
from research_workbench.engines.capabilities import check_portable
from research_workbench.engines.rendering import render

D = dt.date

# (start, end): month ends, 29 February, year boundaries, the same day, reversed order, long spans.
PAIRS = [
    (D(2020, 1, 31), D(2020, 2, 29)), (D(2020, 1, 31), D(2020, 3, 1)), (D(2020, 1, 31), D(2020, 2, 28)),
    (D(2019, 1, 31), D(2019, 2, 28)), (D(2020, 3, 31), D(2020, 4, 30)), (D(2020, 2, 29), D(2021, 2, 28)),
    (D(2020, 2, 29), D(2021, 3, 1)), (D(2020, 2, 29), D(2024, 2, 29)), (D(2020, 2, 28), D(2020, 2, 29)),
    (D(2019, 12, 31), D(2020, 1, 1)), (D(2019, 12, 31), D(2020, 12, 31)), (D(2019, 12, 31), D(2020, 12, 30)),
    (D(2020, 6, 15), D(2020, 6, 15)), (D(2020, 3, 1), D(2020, 1, 31)), (D(2021, 2, 28), D(2020, 2, 29)),
    (D(2021, 3, 1), D(2020, 2, 29)), (D(2020, 1, 1), D(2019, 12, 31)), (D(2020, 7, 15), D(2019, 7, 16)),
    (D(1990, 6, 1), D(2020, 5, 31)), (D(1990, 6, 1), D(2020, 6, 1)), (D(1900, 3, 1), D(2099, 2, 28)),
    (D(1969, 12, 31), D(1970, 1, 1)), (D(2000, 5, 31), D(2000, 6, 30)), (D(2000, 5, 30), D(2000, 6, 30)),
]
DAY_SHIFTS = [(D(2020, 2, 28), 1), (D(2020, 2, 28), 2), (D(2021, 2, 28), 1), (D(2019, 12, 31), 1), (D(2020, 3, 1), -1),
              (D(2020, 1, 1), -1), (D(2020, 6, 15), 0), (D(2000, 1, 1), 366), (D(2000, 1, 1), -36524)]
PARTS = [(2020, 2, 29), (2021, 2, 28), (1999, 12, 31), (2000, 1, 1), (1, 1, 1), (9999, 12, 31)]
IMPOSSIBLE = [(2021, 2, 29), (2020, 4, 31), (2020, 13, 1), (2020, 0, 10), (2020, 1, 0), (0, 1, 1), (10000, 1, 1),
              (-5, 1, 1), (None, 1, 1), (2020, None, 1)]


# -- the Python reference: whole units (Java's ChronoUnit.between on dates) -----------------------------------

def whole_months(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and end.day < start.day:
        return months - 1
    if months < 0 and end.day > start.day:
        return months + 1
    return months


def whole_years(start: dt.date, end: dt.date) -> int:
    return int(whole_months(start, end) / 12)  # truncated toward zero, as ChronoUnit.YEARS does


def python_age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def test_the_reference_is_the_documented_meaning():
    assert whole_months(D(2020, 1, 31), D(2020, 2, 29)) == 0 and whole_months(D(2020, 1, 31), D(2020, 3, 1)) == 1
    assert whole_years(D(2020, 2, 29), D(2021, 2, 28)) == 0 and whole_years(D(2020, 2, 29), D(2021, 3, 1)) == 1
    assert whole_months(D(2020, 3, 1), D(2020, 1, 31)) == -1 and whole_years(D(2021, 3, 1), D(2020, 2, 29)) == -1


# -- the builders on both engines ---------------------------------------------------------------------------

def pairs_table() -> pa.Table:
    return pa.table({"id": pa.array(range(len(PAIRS)), pa.int64()),
                     "start_date": pa.array([a for a, _ in PAIRS], pa.date32()),
                     "end_date": pa.array([b for _, b in PAIRS], pa.date32())})


def test_days_months_and_years_between_equal_the_reference_on_both_engines(engine):
    engine.register_arrow("pairs", pairs_table())
    start, end = col("start_date"), col("end_date")
    query = exp.select(
        col("id"), P.days_between(start, end).as_("days"), P.months_between(start, end).as_("months"),
        P.years_between(start, end).as_("years"),
    ).from_(table("pairs")).order_by(col("id"))
    result = engine.run(query)
    assert result.schema.field("days").type == result.schema.field("months").type == pa.int64()
    assert result.column("days").to_pylist() == [(b - a).days for a, b in PAIRS]
    assert result.column("months").to_pylist() == [whole_months(a, b) for a, b in PAIRS]
    assert result.column("years").to_pylist() == [whole_years(a, b) for a, b in PAIRS]


def test_years_between_is_cdr_facts_age_at_for_every_birth_before_the_day(engine):
    engine.register_arrow("pairs", pairs_table())
    start, end = col("start_date"), col("end_date")
    query = exp.select(col("id"), P.years_between(start, end).as_("years"), age_at(start, end).as_("age"),
                       age_band(age_at(start, end)).as_("band")).from_(table("pairs")).order_by(col("id"))
    rows = engine.run(query).to_pylist()
    for (birth, on), row in zip(PAIRS, rows):
        if birth <= on:
            assert row["years"] == row["age"] == python_age(birth, on), (birth, on)


def test_age_at_and_age_band_of_cdr_facts_equal_the_reference_on_both_engines(engine):
    births = [D(1990, 6, 1), D(2000, 2, 29), D(1930, 1, 1), D(2010, 12, 31), D(1960, 3, 15), None]
    on = D(2020, 5, 31)
    engine.register_arrow("people", pa.table({"id": pa.array(range(len(births)), pa.int64()), "birth": pa.array(births, pa.date32())}))
    cutoff = exp.Placeholder(this="cutoff")
    query = exp.select(col("id"), age_at(col("birth"), cutoff).as_("age"), age_band(age_at(col("birth"), cutoff)).as_("band")
                       ).from_(table("people")).order_by(col("id"))
    rows = engine.run(query, {"cutoff": on}).to_pylist()
    ages = [python_age(b, on) if b else None for b in births]
    assert [r["age"] for r in rows] == ages == [29, 20, 90, 9, 60, None]

    def band(age):
        if age is None:
            return UNKNOWN_AGE
        return next(label for label, low, high in AGE_BANDS if high is None or age <= high)

    assert [r["band"] for r in rows] == [band(a) for a in ages] == ["18-29", "18-29", "90+", "0-17", "60-69", "unknown"]


def test_adding_and_subtracting_days_crosses_month_and_year_ends_alike(engine):
    engine.register_arrow("shifts", pa.table({"id": pa.array(range(len(DAY_SHIFTS)), pa.int64()),
                                              "day": pa.array([d for d, _ in DAY_SHIFTS], pa.date32()),
                                              "n": pa.array([n for _, n in DAY_SHIFTS], pa.int64())}))
    query = exp.select(col("id"), P.add_days(col("day"), col("n")).as_("later"), P.subtract_days(col("day"), col("n")).as_("earlier")
                       ).from_(table("shifts")).order_by(col("id"))
    result = engine.run(query)
    assert result.schema.field("later").type == pa.date32()
    assert result.column("later").to_pylist() == [d + dt.timedelta(days=n) for d, n in DAY_SHIFTS]
    assert result.column("earlier").to_pylist() == [d - dt.timedelta(days=n) for d, n in DAY_SHIFTS]


def test_add_days_and_days_between_take_bound_parameters(engine):
    query = exp.select(P.add_days(exp.Placeholder(this="day"), exp.Placeholder(this="n")).as_("d"),
                       P.days_between(exp.Placeholder(this="day"), exp.Placeholder(this="other")).as_("gap"))
    row = engine.run(query, {"day": D(2020, 2, 28), "n": 2, "other": D(2019, 2, 28)}).to_pylist()[0]
    assert row == {"d": D(2020, 3, 1), "gap": -365}


def test_dates_from_parts_of_first_of_month_and_year(engine):
    engine.register_arrow("parts", pa.table({"id": pa.array(range(len(PARTS)), pa.int64()),
                                             "y": pa.array([p[0] for p in PARTS], pa.int64()),
                                             "m": pa.array([p[1] for p in PARTS], pa.int64()),
                                             "d": pa.array([p[2] for p in PARTS], pa.int64())}))
    made = P.date_from_parts(col("y"), col("m"), col("d"))
    query = exp.select(col("id"), made.as_("made"), P.try_date_from_parts(col("y"), col("m"), col("d")).as_("tried"),
                       P.first_of_month(made).as_("first"), P.year_of(made).as_("year")).from_(table("parts")).order_by(col("id"))
    result = engine.run(query)
    expected = [D(*p) for p in PARTS]
    assert result.column("made").to_pylist() == expected == result.column("tried").to_pylist()
    assert result.column("first").to_pylist() == [d.replace(day=1) for d in expected]
    assert result.column("year").to_pylist() == [d.year for d in expected]
    assert result.schema.field("first").type == pa.date32() and result.schema.field("year").type == pa.int64()


def test_impossible_parts_are_null_when_tried_and_fail_the_query_otherwise(engine):
    engine.register_arrow("bad", pa.table({"id": pa.array(range(len(IMPOSSIBLE)), pa.int64()),
                                           "y": pa.array([p[0] for p in IMPOSSIBLE], pa.int64()),
                                           "m": pa.array([p[1] for p in IMPOSSIBLE], pa.int64()),
                                           "d": pa.array([p[2] for p in IMPOSSIBLE], pa.int64())}))
    tried = exp.select(P.try_date_from_parts(col("y"), col("m"), col("d")).as_("d")).from_(table("bad"))
    assert engine.run(tried).column("d").to_pylist() == [None] * len(IMPOSSIBLE)
    made = exp.select(P.date_from_parts(col("y"), col("m"), col("d"))).from_(table("bad")).where(
        exp.EQ(this=col("id"), expression=exp.Literal.number(0)))
    with pytest.raises(QueryFailed):
        engine.run(made)


def test_timestamps_count_by_their_calendar_date(engine):
    engine.register_arrow("times", pa.table({"a": pa.array([dt.datetime(2020, 1, 1, 23, 0)], pa.timestamp("us")),
                                             "b": pa.array([dt.datetime(2020, 1, 2, 1, 0)], pa.timestamp("us"))}))
    row = engine.run(exp.select(P.days_between(col("a"), col("b")).as_("days"), P.add_days(col("a"), exp.Literal.number(1)).as_("next")
                                ).from_(table("times"))).to_pylist()[0]
    assert row == {"days": 1, "next": D(2020, 1, 2)}


@pytest.mark.parametrize("builder", ["days_between", "months_between", "years_between"])
def test_every_builder_passes_the_portability_check_on_both_engines(builder):
    tree = getattr(P, builder)(col("a"), col("b"))
    for engine_name in ("duckdb", "spark"):
        assert check_portable(tree, engine_name) == render(tree, engine_name)[0]
    for tree in (P.add_days(col("a"), col("n")), P.subtract_days(col("a"), col("n")), P.first_of_month(col("a")),
                 P.year_of(col("a")), P.try_date_from_parts(col("y"), col("m"), col("d"))):
        for engine_name in ("duckdb", "spark"):
            check_portable(tree, engine_name)


# -- the traps are real ---------------------------------------------------------------------------------------

def native(engine, sql_by_dialect: str):
    """Run SQL on the engine's own handle, bypassing the boundary (to show what the boundary refuses)."""
    if engine.name == "duckdb":
        return engine.con.execute(sql_by_dialect).fetchall()[0][0]
    return engine.spark.sql(sql_by_dialect).collect()[0][0]


def test_the_traps_the_builders_replace_answer_differently_on_the_two_engines(duckdb_engine, spark_engine):
    month_diff = exp.DateDiff(this=exp.cast(exp.Literal.string("2020-02-01"), "DATE"),
                              expression=exp.cast(exp.Literal.string("2020-01-31"), "DATE"), unit=exp.var("MONTH"))
    query = exp.select(month_diff)
    answers = {e.name: native(e, render(query, e.name)[0]) for e in (duckdb_engine, spark_engine)}
    assert answers == {"duckdb": 1, "spark": 0}  # month boundaries crossed vs whole months elapsed
    for engine in (duckdb_engine, spark_engine):
        with pytest.raises(UnsupportedConstruct, match=rf"DATE_DIFF in MONTH .* is not portable to {engine.name}"):
            engine.run(query)
        assert engine.scalar(exp.select(P.months_between(exp.cast(exp.Literal.string("2020-01-31"), "DATE"),
                                                         exp.cast(exp.Literal.string("2020-02-01"), "DATE")))) == 0
    # On timestamps even days differ: DuckDB counts midnights crossed, Spark whole 24-hour periods.
    day_diff = exp.select(exp.DateDiff(this=exp.cast(exp.Literal.string("2020-01-02 01:00:00"), "TIMESTAMP"),
                                       expression=exp.cast(exp.Literal.string("2020-01-01 23:00:00"), "TIMESTAMP"),
                                       unit=exp.var("DAY")))
    assert {e.name: native(e, render(day_diff, e.name)[0]) for e in (duckdb_engine, spark_engine)} == {"duckdb": 1, "spark": 0}
