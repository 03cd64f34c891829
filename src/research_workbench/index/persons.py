"""``search_person``: one row per participant with demographics, ages and has-data flags.

Flags let "has X" criteria and data filters read one small table: EHR data, each survey module (a list of the
module concepts answered), physical measurements, each wearable type, whole genome and array data.

The modules' lists are assembled from sorted (person, module) pairs (``survey_module_pairs``, then
``engine_io.grouped_lists``) and named ``SURVEY_MODULES_TABLE`` on the engine: no aggregate that builds a list answers
alike on DuckDB and Spark.
"""

from __future__ import annotations

from datetime import date

import sqlglot
from sqlglot import exp

from ..cdr.facts import Domain, age_at, birth_date, event_tables
from ..cdr.model import cdm
from ..cdr.sql import alias, col, date_literal, table
from .templates import literals, render

# EHR data: an event in any OMOP event table's own domain (a survey answer or a physical measurement is not EHR).
EHR_DOMAINS: tuple[Domain, ...] = tuple(dict.fromkeys(t.domain for t in event_tables().values()))

# A template: the birth date, the ages and the domains are rendered in from ``cdr.facts`` (see persons_query).
PERSONS_SQL = """
WITH birth AS (
    SELECT p.person_id, p.gender_concept_id, p.race_concept_id, p.ethnicity_concept_id, {birth_date} AS birth_date
    FROM person p
),
cdr_date AS (SELECT {cutoff} AS d),
flags AS (
    SELECT person_id,
           bool_or(domain IN ({ehr_domains})) AS has_ehr_data,
           bool_or(domain = {SURVEY}) AS has_ppi_survey_data,
           bool_or(domain = {PHYSICAL_MEASUREMENT}) AS has_physical_measurement_data
    FROM events GROUP BY person_id
)
SELECT b.person_id, b.gender_concept_id, pe.sex_at_birth_concept_id, b.race_concept_id, b.ethnicity_concept_id,
       pe.state_of_residence_concept_id AS state_concept_id, b.birth_date,
       CAST({age_at_consent} AS INTEGER) AS age_at_consent,
       CAST({age_at_cdr} AS INTEGER) AS age_at_cdr,
       EXISTS (SELECT 1 FROM death d WHERE d.person_id = b.person_id) AS is_deceased,
       COALESCE(f.has_ehr_data, false) AS has_ehr_data,
       COALESCE(f.has_ppi_survey_data, false) AS has_ppi_survey_data,
       COALESCE(sm.survey_modules, CAST([] AS BIGINT[])) AS survey_modules,
       COALESCE(f.has_physical_measurement_data, false) AS has_physical_measurement_data,
       EXISTS (SELECT 1 FROM genomic_sample g WHERE g.person_id = b.person_id AND g.data_type = 'wgs') AS has_whole_genome_variant,
       EXISTS (SELECT 1 FROM genomic_sample g WHERE g.person_id = b.person_id AND g.data_type = 'array') AS has_array_data
FROM birth b
CROSS JOIN cdr_date cd
LEFT JOIN person_ext pe USING (person_id)
LEFT JOIN participant_status ps USING (person_id)
LEFT JOIN flags f USING (person_id)
LEFT JOIN {survey_modules_table} sm USING (person_id)
ORDER BY b.person_id
"""


# The table of each person's survey modules (``person_id``, ``survey_modules``: sorted, distinct) the query joins.
SURVEY_MODULES_TABLE = "person_survey_modules"


def survey_module_pairs() -> exp.Expression:
    """(person, survey module) of every survey answer, distinct, sorted: the lists' contents."""
    person, module = col("person_id"), col("survey_concept_id")
    return (exp.select(person, module).distinct().from_(table("events"))
            .where(exp.Not(this=exp.Is(this=module.copy(), expression=exp.Null())))
            .order_by(person.copy(), module.copy()))


# The wearable tables of the model: a has-flag each, and has_fitbit for any of them.
WEARABLE_TABLES: tuple[str, ...] = tuple(t.name for t in cdm().by_category("wearable"))
WEARABLE_FLAGS = ["has_fitbit"] + [f"has_{t}" for t in WEARABLE_TABLES]


def wearable_flag(name: str) -> exp.Expression:
    """``has_<table>``: the person has at least one row in that wearable table."""
    person = cdm().table(name).person_column
    assert person is not None
    exists = exp.Exists(
        this=exp.select(exp.Literal.number(1))
        .from_(table(name, alias="w"))
        .where(col(person, table="w").eq(col("person_id", table="b")))
    )
    return alias(exists, f"has_{name}")


def persons_query(cutoff: date | None) -> exp.Expression:
    """The person query (facts rendered in) with a has-flag per wearable table of the model, and has_fitbit.

    ``cutoff`` is the CDR's cut-off (``cdr.info.cutoff_date``): ages at the CDR are taken at it."""
    born = col("birth_date", table="b")
    text = render(
        PERSONS_SQL,
        birth_date=birth_date(table="p"),
        ehr_domains=literals(EHR_DOMAINS),
        age_at_consent=age_at(born, col("primary_consent_date", table="ps")),
        age_at_cdr=age_at(born, col("d", table="cd")),
        cutoff=date_literal(cutoff) if cutoff else exp.cast(exp.Null(), "DATE"),
        survey_modules_table=SURVEY_MODULES_TABLE,
    )
    tree = sqlglot.parse_one(text, dialect="duckdb")
    flags = [wearable_flag(t) for t in WEARABLE_TABLES]
    any_wearable = alias(exp.or_(*[f.this.copy() for f in flags]), "has_fitbit")
    tree.select(any_wearable, *flags, copy=False)
    return tree
