"""The public aggregates computed on Spark are the aggregates computed on DuckDB, raw and published, and the
small-count rule holds on both: a tiny release (``tiny.Program``) whose strata straddle the bin of 20, with lab
values that are NaN and infinite, survey answers, genomes and wearables."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from research_workbench.browser.building import aggregates
from research_workbench.browser.building.protect import protect
from research_workbench.browser.building.source import open_source
from research_workbench.browser.disclosure import DEFAULT_BIN

from .tiny import ANSWER_ALPHA, ANSWER_BETA, ASTHMA, FEMALE, MALE, SEX_FEMALE, SEX_MALE, T2DM, Program, release

PARTICIPANTS = 26


def _program(controlled: bool) -> Program:
    p = Program()
    for pid in range(1, PARTICIPANTS + 1):
        woman = pid <= 15
        p.person(pid, gender=FEMALE if woman else MALE, sex=SEX_FEMALE if woman else SEX_MALE, born=1940 + pid,
                 month=1 + pid % 12, day=1 + pid % 28)
        if pid <= 22:
            p.condition(pid, T2DM, on=date(2010 + pid % 5, 3, 1))
        if pid <= 3:
            p.condition(pid, ASTHMA)
        p.answer(pid, ANSWER_ALPHA if pid <= 20 else ANSWER_BETA)
        if pid <= 21:
            p.lab(pid, 5.0 + pid * 0.25)
        if pid <= 22 or controlled:
            p.genome(pid, ancestry=None if pid == 22 else ("eur" if pid % 2 else "afr"))
        if pid <= 5:
            p.add("steps_intraday", person_id=pid, datetime=datetime(2021, 7, 1, 10, pid), steps=50.0 + pid)
    p.lab(1, 6.5)  # a later measurement id: person 1's latest value
    p.lab(22, math.nan)
    p.lab(23, math.inf)
    p.lab(24, -math.inf)
    return p


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory):
    return release(tmp_path_factory.mktemp("spark-aggregates") / "release", _program(False), _program(True))


def _rows(table) -> list[tuple]:
    return sorted(table.rows, key=repr)


@pytest.fixture(scope="module")
def both(tiny_release, spark_engine, tmp_path_factory):
    """The raw aggregate tables, by name, computed on DuckDB and on Spark."""
    source = open_source(tiny_release)
    on_duckdb = aggregates.compute(source, scratch=tmp_path_factory.mktemp("duckdb-scratch"))
    on_spark = aggregates.compute(source, scratch=tmp_path_factory.mktemp("spark-scratch"), engine=spark_engine)
    return on_duckdb, on_spark


def test_spark_computes_the_same_raw_aggregates_as_duckdb(both):
    on_duckdb, on_spark = both
    assert [t.spec.name for t in on_spark] == [t.spec.name for t in on_duckdb]
    for duck, spark in zip(on_duckdb, on_spark):
        assert _rows(spark) == _rows(duck), duck.spec.name
    by_name = {t.spec.name: {tuple(r) for r in t.rows} for t in on_duckdb}
    stats = {r[:3]: r for r in by_name["measurement_stats"]}
    assert len(stats) == 3  # all, female, male: NaN and ±∞ are no values (21 participants with a finite one)
    everyone = next(r for k, r in stats.items() if k[2] == "all")
    assert everyone[5] == 21  # participant_count


def test_published_aggregates_are_the_same_and_no_count_is_below_the_bin_on_either_engine(both):
    on_duckdb, on_spark = both
    published_duckdb, published_spark = protect(on_duckdb, DEFAULT_BIN), protect(on_spark, DEFAULT_BIN)
    small = 0
    for duck, spark in zip(published_duckdb, published_spark):
        assert sorted(spark.rows, key=repr) == sorted(duck.rows, key=repr), duck.spec.name
        counts = [duck.spec.index(c) for c in duck.spec.role_columns("count")]
        for table in (duck, spark):
            for row in table.rows:
                for i in counts:
                    assert row[i] is None or row[i] == 0 or row[i] >= DEFAULT_BIN, (table.spec.name, row)
    raw = {t.spec.name: t for t in on_spark}
    for t in raw.values():  # the fixture does have true counts from 1 to 19 for the rule to round
        counts = [t.spec.index(c) for c in t.spec.role_columns("count")]
        small += sum(1 for row in t.rows for i in counts if row[i] is not None and 0 < row[i] < DEFAULT_BIN)
    assert small > 0
