"""The participants: the ``people`` table every aggregate is stratified by, and their demographics.

Age is the one rule of ``cdr.facts``: the birth date prefers ``birth_datetime`` (else year, month and day of
birth), ages are whole years, birthday-aware, and age groups are ``facts.AGE_BANDS``. A participant's age group in
the demographics (and in the wearable and genome strata) is their age at the release's cut-off date.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from sqlglot import exp

from ...cdr.facts import age_at, age_band, birth_date
from ...cdr.sql import col, date_literal
from ..schema import spec
from .protect import RawTable
from .session import CdrSession
from .strata import ConceptName, concept_names, strata_rows

# The band of a column named ``age`` (queries compute the age first, then band it: the age is computed once).
AGE_BAND_SQL = age_band(col("age")).sql("duckdb")
# How each person-level dimension reads from ``people p``.
PERSON_DIM_SQL = {
    "total": "'all'",
    "gender": "CAST(p.gender AS VARCHAR)",
    "sex_at_birth": "CAST(p.sex_at_birth AS VARCHAR)",
    "race": "CAST(p.race AS VARCHAR)",
    "ethnicity": "CAST(p.ethnicity AS VARCHAR)",
    "state": "CAST(p.state AS VARCHAR)",
    "age": "p.age_now",
}
# The columns of a tier's people that genome strata use (``genomes.py``).
REGISTERED_PEOPLE_COLUMNS = ("person_id", "gender", "sex_at_birth", "age_now")


def age_sql(birth: exp.Expression, on: exp.Expression) -> str:
    """DuckDB SQL of the age in whole years at ``on`` of someone born at ``birth``."""
    return age_at(birth, on).sql("duckdb")


def first_occurrence_strata_sql(source: str, keys: list[str]) -> list[str]:
    """Participants per key by gender, by sex at birth and by age band at their first occurrence, as three SELECTs
    over ``source`` (alias ``f``: the ``keys``, ``person_id`` and ``first_d``) joined to ``people p``. ``keys`` are
    SELECT items over ``f`` (``f.module AS module_concept_id``); the strata come out after them."""
    selected = ", ".join(keys)
    names = ", ".join(k.rsplit(" AS ", 1)[-1].removeprefix("f.") for k in keys)
    by_person = [
        f"SELECT {selected}, '{dim}' AS dimension, CAST(p.{dim} AS VARCHAR) AS stratum, count(*) AS participant_count "
        f"FROM {source} f JOIN people p ON p.person_id = f.person_id GROUP BY ALL"
        for dim in ("gender", "sex_at_birth")
    ]
    first_age = age_sql(col("birth_date", table="p"), col("first_d", table="f"))
    by_age = (f"SELECT {names}, 'age' AS dimension, {AGE_BAND_SQL} AS stratum, count(*) AS participant_count "
              f"FROM (SELECT {selected}, {first_age} AS age FROM {source} f JOIN people p ON p.person_id = f.person_id) "
              f"AS aged GROUP BY ALL")
    return [*by_person, by_age]


def people_table(s: CdrSession, cutoff: date) -> None:
    """``people``: one row per participant with the stratifying facts, the birth date and the age group at the
    cut-off (``age_now``)."""
    s.materialise(
        "people",
        f"""
        WITH ext AS (
            SELECT person_id, min(sex_at_birth_concept_id) AS sex_at_birth, min(state_of_residence_concept_id) AS state
            FROM person_ext GROUP BY person_id
        ),
        born AS (
            SELECT p.person_id,
                   COALESCE(p.gender_concept_id, 0) AS gender,
                   COALESCE(e.sex_at_birth, 0) AS sex_at_birth,
                   COALESCE(p.race_concept_id, 0) AS race,
                   COALESCE(p.ethnicity_concept_id, 0) AS ethnicity,
                   COALESCE(e.state, 0) AS state,
                   {birth_date(table="p").sql("duckdb")} AS birth_date
            FROM person p LEFT JOIN ext e ON e.person_id = p.person_id
        ),
        aged AS (SELECT *, {age_sql(col("birth_date"), date_literal(cutoff))} AS age FROM born)
        SELECT * EXCLUDE (age), {AGE_BAND_SQL} AS age_now FROM aged
        """
    )


def demographics(s: CdrSession) -> RawTable:
    """Participants in total and by each person-level dimension."""
    parts = [
        f"SELECT '{dim}' AS dimension, {expr} AS stratum, count(*) AS participant_count FROM people p GROUP BY ALL"
        for dim, expr in PERSON_DIM_SQL.items()
    ]
    return RawTable.from_records(spec("demographics"), strata_rows(s, " UNION ALL ".join(parts)))


def registered_demographics(s: CdrSession) -> tuple[pa.Table, dict[int, ConceptName]]:
    """The Registered Tier's people (the columns genome strata use) and the names of their concept values, for
    the genome aggregates computed on the Controlled Tier's tables."""
    people = s.run(f"SELECT {', '.join(REGISTERED_PEOPLE_COLUMNS)} FROM people")
    ids = [r.id for r in s.records("SELECT DISTINCT gender AS id FROM people UNION SELECT DISTINCT sex_at_birth FROM people")]
    return people, concept_names(s, ids)
