"""DDL for DuckDB, PostgreSQL and Spark SQL, generated from the one model, runs on each engine."""

from __future__ import annotations

import uuid

import duckdb
import pytest
import sqlglot

from research_workbench.cdr.ddl import DIALECTS, ddl
from research_workbench.cdr.model import cdm

from ..conftest import need


def test_duckdb_runs_the_ddl_and_enforces_keys_and_required_columns():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA cdm")
    for statement in ddl("duckdb", schema="cdm"):
        con.execute(statement)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'cdm'").fetchall()}
    assert tables == set(cdm().tables)
    con.execute("INSERT INTO cdm.person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) VALUES (1, 8507, 1950, 0, 0)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO cdm.person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) VALUES (1, 8532, 1960, 0, 0)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO cdm.person (person_id, gender_concept_id, race_concept_id, ethnicity_concept_id) VALUES (2, 8532, 0, 0)")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_ddl_parses_back_in_its_own_dialect_with_every_column(dialect):
    for table, statement in zip(cdm().tables.values(), ddl(dialect)):
        parsed = sqlglot.parse_one(statement, dialect=dialect)
        columns = [c.name for c in parsed.find_all(sqlglot.exp.ColumnDef)]
        assert columns == table.column_names


@pytest.mark.postgres
def test_postgres_runs_the_ddl(pg_url, pg_schema):
    import psycopg

    schema = pg_schema()
    with psycopg.connect(pg_url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        for statement in ddl("postgres", schema=schema):
            conn.execute(statement)
        found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [schema]).fetchone()[0]
        keys = conn.execute(
            "SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = %s AND constraint_type = 'PRIMARY KEY'", [schema]
        ).fetchone()[0]
        conn.commit()
    assert found == len(cdm().tables)
    assert keys == sum(1 for t in cdm().tables.values() if t.primary_key)


def test_spark_runs_the_ddl(spark_engine):
    spark = spark_engine.spark  # the session every test of this process shares
    schema = f"cdm_ddl_{uuid.uuid4().hex[:8]}"
    try:
        spark.sql(f"CREATE DATABASE {schema}")
        for statement in ddl("spark", schema=schema):
            spark.sql(statement)
        tables = {row.tableName for row in spark.sql(f"SHOW TABLES IN {schema}").collect()}
        assert tables == set(cdm().tables)
        assert [f.name for f in spark.table(f"{schema}.sleep_level").schema.fields] == cdm().table("sleep_level").column_names
    finally:
        spark.sql(f"DROP DATABASE IF EXISTS {schema} CASCADE")
