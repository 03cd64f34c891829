"""``search_person``: one row per participant with demographics, ages and has-data flags.

Flags let "has X" criteria and data filters read one small table: EHR data, each survey module (a list of the
module concepts answered), physical measurements, each wearable type, whole genome and array data.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..cdr.model import cdm

PERSONS_SQL = """
WITH birth AS (
    SELECT p.person_id, p.gender_concept_id, p.race_concept_id, p.ethnicity_concept_id,
           COALESCE(CAST(p.birth_datetime AS DATE), make_date(p.year_of_birth, COALESCE(p.month_of_birth, 1), COALESCE(p.day_of_birth, 1))) AS birth_date
    FROM person p
),
cdr_date AS (SELECT max(entry_date) AS d FROM events),
flags AS (
    SELECT person_id,
           bool_or(domain IN ('CONDITION', 'PROCEDURE', 'DRUG', 'DEVICE', 'VISIT', 'MEASUREMENT', 'OBSERVATION')) AS has_ehr_data,
           bool_or(domain = 'SURVEY') AS has_ppi_survey_data,
           bool_or(domain = 'PHYSICAL_MEASUREMENT') AS has_physical_measurement_data,
           list(DISTINCT survey_concept_id ORDER BY survey_concept_id) FILTER (WHERE survey_concept_id IS NOT NULL) AS survey_modules
    FROM events GROUP BY person_id
)
SELECT b.person_id, b.gender_concept_id, pe.sex_at_birth_concept_id, b.race_concept_id, b.ethnicity_concept_id,
       pe.state_of_residence_concept_id AS state_concept_id, b.birth_date,
       CAST(date_sub('year', b.birth_date, ps.primary_consent_date) AS INTEGER) AS age_at_consent,
       CAST(date_sub('year', b.birth_date, (SELECT d FROM cdr_date)) AS INTEGER) AS age_at_cdr,
       EXISTS (SELECT 1 FROM death d WHERE d.person_id = b.person_id) AS is_deceased,
       COALESCE(f.has_ehr_data, false) AS has_ehr_data,
       COALESCE(f.has_ppi_survey_data, false) AS has_ppi_survey_data,
       COALESCE(f.survey_modules, []) AS survey_modules,
       COALESCE(f.has_physical_measurement_data, false) AS has_physical_measurement_data,
       EXISTS (SELECT 1 FROM genomic_sample g WHERE g.person_id = b.person_id AND g.data_type = 'wgs') AS has_whole_genome_variant,
       EXISTS (SELECT 1 FROM genomic_sample g WHERE g.person_id = b.person_id AND g.data_type = 'array') AS has_array_data
FROM birth b
LEFT JOIN person_ext pe USING (person_id)
LEFT JOIN participant_status ps USING (person_id)
LEFT JOIN flags f USING (person_id)
ORDER BY b.person_id
"""


def wearable_flag(table: str) -> exp.Expression:
    """``has_<table>``: the person has at least one row in that wearable table."""
    exists = exp.Exists(
        this=exp.select(exp.Literal.number(1))
        .from_(exp.alias_(exp.to_table(table), "w", table=True))
        .where(exp.EQ(this=exp.column("person_id", table="w"), expression=exp.column("person_id", table="b")))
    )
    return exp.alias_(exists, f"has_{table}")


def persons_query() -> exp.Expression:
    """The person query with a has-flag per wearable table of the model, and has_fitbit for any of them."""
    tree = sqlglot.parse_one(PERSONS_SQL, dialect="duckdb")
    wearables = [t.name for t in cdm().by_category("wearable")]
    flags = [wearable_flag(t) for t in wearables]
    any_wearable = exp.alias_(exp.or_(*[f.this.copy() for f in flags]), "has_fitbit")
    tree.select(any_wearable, *flags, copy=False)
    return tree


WEARABLE_FLAGS = ["has_fitbit"] + [f"has_{t.name}" for t in cdm().by_category("wearable")]
