"""The data model's derived facts (``cdr.facts``): event-table roles agree with the model; birth date, age and age
band are one rule, the same in SQL (DuckDB and PostgreSQL) as in Python."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from sqlglot import exp

from research_workbench.cdr import facts
from research_workbench.cdr.model import cdm


def test_every_column_an_event_table_names_exists_in_the_model():
    model = cdm()
    for table in facts.event_tables().values():
        columns = {c.name for c in model.table(table.table).columns}
        named = {v for k, v in vars(table).items() if k not in ("table", "domain") and v is not None}
        assert named <= columns, (table.table, sorted(named - columns))
        assert model.table(table.table).event_date_column == table.start_date


def test_each_event_table_has_its_own_domain_and_every_event_domain_has_a_table():
    domains = [t.domain for t in facts.event_tables().values()]
    assert len(domains) == len(set(domains))
    assert {facts.event_table_of(d).table for d in facts.EVENT_DOMAINS} == set(facts.event_tables())
    assert facts.event_table_of(facts.Domain.SURVEY).table == "observation"
    assert facts.event_table_of(facts.Domain.PHYSICAL_MEASUREMENT).table == "measurement"


def test_domain_slugs_round_trip():
    assert facts.Domain.PHYSICAL_MEASUREMENT.slug == "physical_measurement"
    assert all(facts.Domain(d.slug.upper()) is d for d in facts.Domain)
    assert facts.Domain.CONDITION.label == "Conditions"
    assert facts.Domain("ZIP_CODE_SOCIOECONOMIC").label == "Zip code socioeconomic status"
    assert facts.Domain.ZIP_CODE_SOCIOECONOMIC not in facts.EVENT_DOMAINS  # a dataset domain, not an event one


AGES = [  # (birth, on, whole years)
    ("1990-06-01", "2020-06-01", 30),  # birthday on the day
    ("1990-06-02", "2020-06-01", 29),  # birthday tomorrow
    ("1990-05-31", "2020-06-01", 30),
    ("2000-02-29", "2021-02-28", 20),  # a leap-day birthday falls after 28 February
    ("2000-02-29", "2021-03-01", 21),
    ("2000-02-29", "2024-02-29", 24),
    ("2020-06-01", "2020-06-01", 0),
]


@pytest.mark.parametrize("birth,on,years", AGES)
def test_age_is_whole_years_birthday_aware_in_duckdb(birth, on, years):
    sql = facts.age_at(exp.cast(exp.Literal.string(birth), "DATE"), exp.cast(exp.Literal.string(on), "DATE")).sql("duckdb")
    assert duckdb.connect().execute(f"SELECT {sql}").fetchall() == [(years,)]


@pytest.mark.postgres
def test_age_is_the_same_in_postgresql(pg_url):
    import psycopg

    with psycopg.connect(pg_url) as con:
        for birth, on, years in AGES:
            sql = facts.age_at(exp.cast(exp.Literal.string(birth), "DATE"), exp.cast(exp.Literal.string(on), "DATE")).sql("postgres")
            assert con.execute(f"SELECT {sql}").fetchall() == [(years,)], (birth, on)


def test_age_bands_at_every_edge():
    ages = [None, -1, 0, 17, 18, 29, 30, 39, 40, 89, 90, 91, 130]
    con = duckdb.connect()
    band = facts.age_band(exp.column("a")).sql("duckdb")
    rows = con.execute(f"SELECT a, {band} FROM unnest(?) AS t(a) ORDER BY a NULLS FIRST", [ages]).fetchall()
    assert [b for _, b in rows] == ["unknown", "0-17", "0-17", "0-17", "18-29", "18-29", "30-39", "30-39", "40-49",
                                    "80-89", "90+", "90+", "90+"]


def test_birth_date_prefers_birth_datetime_then_year_month_day():
    con = duckdb.connect()
    con.execute("CREATE TABLE person (person_id INT, year_of_birth INT, month_of_birth INT, day_of_birth INT, birth_datetime TIMESTAMP)")
    con.execute("""INSERT INTO person VALUES
        (1, 1990, 1, 1, TIMESTAMP '1990-06-01 08:00'),  -- the datetime wins
        (2, 1990, 6, 15, NULL),
        (3, 1990, NULL, NULL, NULL),                     -- year only (the Registered Tier): 1 January
        (4, 1990, 2, 30, NULL),                          -- an impossible day: 1 January of the year
        (5, NULL, NULL, NULL, NULL)""")
    sql = facts.birth_date("p").sql("duckdb")
    assert con.execute(f'SELECT person_id, {sql} FROM person AS "p" ORDER BY 1').fetchall() == [
        (1, dt.date(1990, 6, 1)), (2, dt.date(1990, 6, 15)), (3, dt.date(1990, 1, 1)), (4, dt.date(1990, 1, 1)), (5, None)]
