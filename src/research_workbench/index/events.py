"""``search_all_events``: a row per event and concept, standard and source rows both.

Condition, procedure, measurement and observation rows appear twice (source concept, ``is_standard`` false, and
standard concept, true); drug, device and visit rows once (standard). Survey answers are observation rows with a
questionnaire response: the question (source concept) with the answer in ``value_source_concept_id`` and the
module in ``survey_concept_id``. Physical measurements are measurement rows whose source concept is in the PPI
vocabulary. Systolic and diastolic blood pressure taken together are paired on each of their rows.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

# Blood-pressure concepts: EHR LOINC and program physical-measurement (PPI) codes.
SYSTOLIC = (3004249, 903118)
DIASTOLIC = (3012888, 903115)

# (domain, table, date, datetime, standard concept, source concept, value columns…) per OMOP event table.
EVENT_SOURCES = [
    ("CONDITION", "condition_occurrence", "condition_start_date", "condition_start_datetime", "condition_concept_id", "condition_source_concept_id"),
    ("PROCEDURE", "procedure_occurrence", "procedure_date", "procedure_datetime", "procedure_concept_id", "procedure_source_concept_id"),
    ("DRUG", "drug_exposure", "drug_exposure_start_date", "drug_exposure_start_datetime", "drug_concept_id", None),
    ("DEVICE", "device_exposure", "device_exposure_start_date", "device_exposure_start_datetime", "device_concept_id", None),
    ("VISIT", "visit_occurrence", "visit_start_date", "visit_start_datetime", "visit_concept_id", None),
]

# The whole event table as one statement over the CDR's views. It holds no user value: the only parameters are
# the blood-pressure concept lists above, bound at execution.
EVENTS_SQL = """
WITH birth AS (
    SELECT person_id,
           COALESCE(CAST(birth_datetime AS DATE), make_date(year_of_birth, COALESCE(month_of_birth, 1), COALESCE(day_of_birth, 1))) AS birth_date
    FROM person
),
visits AS (SELECT visit_occurrence_id, visit_concept_id FROM visit_occurrence),
basic AS (
    SELECT 1  -- replaced by events_query() with one SELECT per EVENT_SOURCES entry
),
meas AS (
    SELECT m.person_id, m.measurement_date AS entry_date, m.measurement_datetime AS entry_datetime,
           m.measurement_concept_id AS standard_concept_id, m.measurement_source_concept_id AS source_concept_id,
           m.visit_occurrence_id, m.value_as_number, m.value_as_concept_id, CAST(NULL AS BIGINT) AS value_source_concept_id,
           CASE WHEN c.vocabulary_id = 'PPI' THEN 'PHYSICAL_MEASUREMENT' ELSE 'MEASUREMENT' END AS domain,
           m.measurement_concept_id IN (SELECT unnest($systolic)) OR m.measurement_source_concept_id IN (SELECT unnest($systolic)) AS is_sys,
           m.measurement_concept_id IN (SELECT unnest($diastolic)) OR m.measurement_source_concept_id IN (SELECT unnest($diastolic)) AS is_dia
    FROM measurement m LEFT JOIN concept c ON c.concept_id = m.measurement_source_concept_id
),
bp AS (
    -- Readings of one person at one moment of one visit pair up.
    SELECT person_id, entry_date, entry_datetime, visit_occurrence_id,
           max(value_as_number) FILTER (WHERE is_sys) AS systolic,
           max(value_as_number) FILTER (WHERE is_dia) AS diastolic
    FROM meas WHERE is_sys OR is_dia
    GROUP BY ALL
),
meas_bp AS (
    SELECT m.* EXCLUDE (is_sys, is_dia),
           CASE WHEN m.is_sys OR m.is_dia THEN bp.systolic END AS systolic,
           CASE WHEN m.is_sys OR m.is_dia THEN bp.diastolic END AS diastolic
    FROM meas m LEFT JOIN bp
      ON (m.is_sys OR m.is_dia) AND bp.person_id = m.person_id AND bp.entry_date = m.entry_date
     AND bp.entry_datetime IS NOT DISTINCT FROM m.entry_datetime AND bp.visit_occurrence_id IS NOT DISTINCT FROM m.visit_occurrence_id
),
obs AS (
    SELECT o.person_id, o.observation_date AS entry_date, o.observation_datetime AS entry_datetime,
           o.observation_concept_id AS standard_concept_id, o.observation_source_concept_id AS source_concept_id,
           o.visit_occurrence_id, o.value_as_number, o.value_as_concept_id, o.value_source_concept_id,
           CASE WHEN o.questionnaire_response_id IS NOT NULL THEN 'SURVEY' ELSE 'OBSERVATION' END AS domain,
           CAST(NULL AS DOUBLE) AS systolic, CAST(NULL AS DOUBLE) AS diastolic,
           sc.survey_concept_id, o.questionnaire_response_id
    FROM observation o LEFT JOIN survey_conduct sc ON sc.survey_conduct_id = o.questionnaire_response_id
),
two_sided AS (
    SELECT * FROM (
        SELECT *, CAST(NULL AS BIGINT) AS survey_concept_id, CAST(NULL AS BIGINT) AS questionnaire_response_id FROM meas_bp
        UNION ALL BY NAME SELECT * FROM obs
        UNION ALL BY NAME SELECT * FROM basic WHERE source_concept_id IS NOT NULL OR domain IN ('CONDITION', 'PROCEDURE')
    )
),
one_sided AS (
    SELECT * FROM basic WHERE domain IN ('DRUG', 'DEVICE', 'VISIT')
),
unified AS (
    -- Survey answers are source rows only: their "standard" concept is a generic observation concept.
    SELECT *, false AS is_standard, source_concept_id AS concept_id FROM two_sided WHERE source_concept_id IS NOT NULL AND source_concept_id <> 0
    UNION ALL BY NAME
    SELECT *, true AS is_standard, standard_concept_id AS concept_id FROM two_sided WHERE domain <> 'SURVEY'
    UNION ALL BY NAME
    SELECT *, true AS is_standard, standard_concept_id AS concept_id FROM one_sided
)
SELECT u.person_id, u.entry_date, u.entry_datetime, u.is_standard, u.concept_id, u.domain,
       CAST(date_sub('year', b.birth_date, u.entry_date) AS INTEGER) AS age_at_event,
       u.visit_occurrence_id, v.visit_concept_id,
       u.value_as_number, u.value_as_concept_id, u.value_source_concept_id, u.systolic, u.diastolic,
       u.survey_concept_id, u.questionnaire_response_id
FROM unified u
JOIN birth b USING (person_id)
LEFT JOIN visits v ON v.visit_occurrence_id = u.visit_occurrence_id
WHERE u.concept_id IS NOT NULL
ORDER BY u.concept_id, u.person_id, u.entry_date
"""


def _basic_select(domain: str, table: str, date: str, datetime: str, standard: str, source: str | None) -> exp.Select:
    """One OMOP event table in the shape of the event rows (value columns NULL)."""
    def typed_null(sql_type: str) -> exp.Expression:
        return exp.cast(exp.Null(), sql_type)

    col = lambda name: exp.column(name, quoted=True)  # noqa: E731
    return exp.select(
        col("person_id"),
        exp.alias_(col(date), "entry_date"),
        exp.alias_(col(datetime), "entry_datetime"),
        exp.alias_(col(standard), "standard_concept_id"),
        exp.alias_(col(source) if source else typed_null("BIGINT"), "source_concept_id"),
        col("visit_occurrence_id"),
        exp.alias_(typed_null("DOUBLE"), "value_as_number"),
        exp.alias_(typed_null("BIGINT"), "value_as_concept_id"),
        exp.alias_(typed_null("BIGINT"), "value_source_concept_id"),
        exp.alias_(exp.Literal.string(domain), "domain"),
        exp.alias_(typed_null("DOUBLE"), "systolic"),
        exp.alias_(typed_null("DOUBLE"), "diastolic"),
        exp.alias_(typed_null("BIGINT"), "survey_concept_id"),
        exp.alias_(typed_null("BIGINT"), "questionnaire_response_id"),
    ).from_(exp.to_identifier(table, quoted=True))


def events_query() -> exp.Expression:
    """The event-table query: the static template, with its ``basic`` CTE built from EVENT_SOURCES."""
    tree = sqlglot.parse_one(EVENTS_SQL, dialect="duckdb")
    selects = [_basic_select(*source) for source in EVENT_SOURCES]
    union: exp.Expression = selects[0]
    for select in selects[1:]:
        union = exp.Union(this=union, expression=select, distinct=False, by_name=True)
    for cte in tree.find_all(exp.CTE):
        if cte.alias == "basic":
            cte.set("this", union)
            return tree
    raise AssertionError("the event template lost its basic CTE")


def events_params() -> dict:
    return {"systolic": list(SYSTOLIC), "diastolic": list(DIASTOLIC)}
