"""``search_all_events``: a row per event and concept, standard and source rows both.

Condition, procedure, measurement and observation rows appear twice (source concept, ``is_standard`` false, and
standard concept, true); drug, device and visit rows once (standard). Survey answers are observation rows with a
questionnaire response: the question (source concept) with the answer in ``value_source_concept_id`` and the
module in ``survey_concept_id``. Physical measurements are measurement rows whose source concept is in the PPI
vocabulary. Systolic and diastolic blood pressure taken together are paired on each of their rows.

The event tables' columns, the domains, the PPI vocabulary, the blood-pressure concepts, the birth date and the age
rule all come from ``cdr.facts``; the statement below is a template they are rendered into.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..cdr.facts import (
    DIASTOLIC,
    PPI_VOCABULARY,
    SYSTOLIC,
    Domain,
    EventTable,
    age_at,
    birth_date,
    event_table,
    event_table_of,
    event_tables,
)
from ..cdr.sql import alias, col, lit, table
from .templates import literals, render

# The index's rule, stated once: the domains whose events are indexed under their source concept as well as their
# standard one. Drug, device and visit events are indexed once, under their standard concept.
SOURCE_ROW_DOMAINS: frozenset[Domain] = frozenset({Domain.CONDITION, Domain.PROCEDURE, Domain.MEASUREMENT, Domain.OBSERVATION})
# Measurement and observation rows have CTEs of their own below (values, blood pressure, physical measurements,
# surveys); every other event table is a plain SELECT of the ``basic`` shape.
MEASUREMENT_TABLE, OBSERVATION_TABLE = event_table("measurement"), event_table("observation")
BASIC_TABLES: tuple[EventTable, ...] = tuple(t for t in event_tables().values() if t not in (MEASUREMENT_TABLE, OBSERVATION_TABLE))

# The whole event table as one statement over the CDR's tables, portable (``engines.capabilities``): every CTE that
# is unioned has the columns of ``_basic_select`` in its order (unions are positional: Spark has no UNION BY NAME). It holds no user value: the blood-pressure concepts are ``cdr.facts``' own constants.
EVENTS_SQL = """
WITH birth AS (
    SELECT person_id, {birth_date} AS birth_date FROM person
),
visits AS (SELECT {visit_t.id} AS visit_occurrence_id, {visit_t.concept} AS visit_concept_id FROM {visit_t.table}),
basic AS (
    SELECT 1  -- replaced by events_query(): one SELECT per BASIC_TABLES entry
),
meas AS (
    SELECT m.person_id, m.{meas_t.start_date} AS entry_date, m.{meas_t.start_datetime} AS entry_datetime,
           m.{meas_t.concept} AS standard_concept_id, m.{meas_t.source_concept} AS source_concept_id,
           m.{meas_t.visit} AS visit_occurrence_id, m.{meas_t.value_as_number} AS value_as_number,
           m.{meas_t.value_as_concept} AS value_as_concept_id, CAST(NULL AS BIGINT) AS value_source_concept_id,
           CASE WHEN c.vocabulary_id = {ppi} THEN {PHYSICAL_MEASUREMENT} ELSE {MEASUREMENT} END AS domain,
           m.{meas_t.concept} IN ({systolic}) OR m.{meas_t.source_concept} IN ({systolic}) AS is_sys,
           m.{meas_t.concept} IN ({diastolic}) OR m.{meas_t.source_concept} IN ({diastolic}) AS is_dia
    FROM {meas_t.table} m LEFT JOIN concept c ON c.concept_id = m.{meas_t.source_concept}
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
    SELECT m.person_id, m.entry_date, m.entry_datetime, m.standard_concept_id, m.source_concept_id,
           m.visit_occurrence_id, m.value_as_number, m.value_as_concept_id, m.value_source_concept_id, m.domain,
           CASE WHEN m.is_sys OR m.is_dia THEN bp.systolic END AS systolic,
           CASE WHEN m.is_sys OR m.is_dia THEN bp.diastolic END AS diastolic
    FROM meas m LEFT JOIN bp
      ON (m.is_sys OR m.is_dia) AND bp.person_id = m.person_id AND bp.entry_date = m.entry_date
     AND bp.entry_datetime IS NOT DISTINCT FROM m.entry_datetime AND bp.visit_occurrence_id IS NOT DISTINCT FROM m.visit_occurrence_id
),
obs AS (
    SELECT o.person_id, o.{obs_t.start_date} AS entry_date, o.{obs_t.start_datetime} AS entry_datetime,
           o.{obs_t.concept} AS standard_concept_id, o.{obs_t.source_concept} AS source_concept_id,
           o.{obs_t.visit} AS visit_occurrence_id, o.{obs_t.value_as_number} AS value_as_number,
           o.{obs_t.value_as_concept} AS value_as_concept_id, o.{obs_t.value_source_concept} AS value_source_concept_id,
           CASE WHEN o.questionnaire_response_id IS NOT NULL THEN {SURVEY} ELSE {OBSERVATION} END AS domain,
           CAST(NULL AS DOUBLE) AS systolic, CAST(NULL AS DOUBLE) AS diastolic,
           sc.survey_concept_id, o.questionnaire_response_id
    FROM {obs_t.table} o LEFT JOIN survey_conduct sc ON sc.survey_conduct_id = o.questionnaire_response_id
),
two_sided AS (
    SELECT * FROM (
        SELECT *, CAST(NULL AS BIGINT) AS survey_concept_id, CAST(NULL AS BIGINT) AS questionnaire_response_id FROM meas_bp
        UNION ALL SELECT * FROM obs
        UNION ALL SELECT * FROM basic WHERE domain IN ({two_sided_domains})
    )
),
one_sided AS (
    SELECT * FROM basic WHERE domain IN ({one_sided_domains})
),
unified AS (
    -- Survey answers are source rows only: their "standard" concept is a generic observation concept.
    SELECT *, false AS is_standard, source_concept_id AS concept_id FROM two_sided WHERE source_concept_id IS NOT NULL AND source_concept_id <> 0
    UNION ALL
    SELECT *, true AS is_standard, standard_concept_id AS concept_id FROM two_sided WHERE domain <> {SURVEY}
    UNION ALL
    SELECT *, true AS is_standard, standard_concept_id AS concept_id FROM one_sided
)
SELECT u.person_id, u.entry_date, u.entry_datetime, u.is_standard, u.concept_id, u.domain,
       CAST({age_at_event} AS INTEGER) AS age_at_event,
       u.visit_occurrence_id, v.visit_concept_id,
       u.value_as_number, u.value_as_concept_id, u.value_source_concept_id, u.systolic, u.diastolic,
       u.survey_concept_id, u.questionnaire_response_id
FROM unified u
JOIN birth b USING (person_id)
LEFT JOIN visits v ON v.visit_occurrence_id = u.visit_occurrence_id
WHERE u.concept_id IS NOT NULL
ORDER BY u.concept_id, u.person_id, u.entry_date
"""


def _basic_select(t: EventTable) -> exp.Select:
    """One event table in the shape of the event rows (value columns NULL; no source concept unless its domain is
    indexed by source concept too)."""
    def typed_null(sql_type: str) -> exp.Expression:
        return exp.cast(exp.Null(), sql_type)

    return exp.select(
        col("person_id"),
        alias(col(t.start_date), "entry_date"),
        alias(col(t.start_datetime), "entry_datetime"),
        alias(col(t.concept), "standard_concept_id"),
        alias(col(t.source_concept) if t.domain in SOURCE_ROW_DOMAINS else typed_null("BIGINT"), "source_concept_id"),
        alias(col(t.visit), "visit_occurrence_id"),
        alias(typed_null("DOUBLE"), "value_as_number"),
        alias(typed_null("BIGINT"), "value_as_concept_id"),
        alias(typed_null("BIGINT"), "value_source_concept_id"),
        alias(lit(t.domain.value), "domain"),
        alias(typed_null("DOUBLE"), "systolic"),
        alias(typed_null("DOUBLE"), "diastolic"),
        alias(typed_null("BIGINT"), "survey_concept_id"),
        alias(typed_null("BIGINT"), "questionnaire_response_id"),
    ).from_(table(t.table))


def events_sql() -> str:
    """The event-table template with the facts rendered in (its ``basic_*`` CTEs still placeholders)."""
    assert {MEASUREMENT_TABLE.domain, OBSERVATION_TABLE.domain} <= SOURCE_ROW_DOMAINS  # two_sided holds their CTEs
    return render(
        EVENTS_SQL,
        birth_date=birth_date(table=None),
        age_at_event=age_at(col("birth_date", table="b"), col("entry_date", table="u")),
        ppi=lit(PPI_VOCABULARY),
        meas_t=MEASUREMENT_TABLE,
        obs_t=OBSERVATION_TABLE,
        visit_t=event_table_of(Domain.VISIT),
        systolic=", ".join(str(int(c)) for c in SYSTOLIC),
        diastolic=", ".join(str(int(c)) for c in DIASTOLIC),
        two_sided_domains=literals(t.domain for t in BASIC_TABLES if t.domain in SOURCE_ROW_DOMAINS),
        one_sided_domains=literals(t.domain for t in BASIC_TABLES if t.domain not in SOURCE_ROW_DOMAINS),
    )


def events_query() -> exp.Expression:
    """The event-table query: the template with the facts rendered in and its ``basic`` CTE built from BASIC_TABLES.

    One ``basic`` CTE read twice (split by SOURCE_ROW_DOMAINS where it is used), its SELECTs in one UNION ALL: DuckDB
    plans this shape within the 2 GB cap at 1M participants, where two separate CTEs ran out of memory."""
    tree = sqlglot.parse_one(events_sql(), dialect="duckdb")
    for cte in tree.find_all(exp.CTE):
        if cte.alias == "basic":
            selects = [_basic_select(t) for t in BASIC_TABLES]
            union = selects[0]
            for select in selects[1:]:
                union = exp.Union(this=union, expression=select, distinct=False)
            cte.set("this", union)
            return tree
    raise AssertionError("the event template lost its basic CTE")

