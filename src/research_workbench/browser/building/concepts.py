"""Participants per concept: conditions, drugs rolled up to their ingredients, procedures, labs and measurements,
observations; by gender, sex at birth, age at first occurrence and calendar year; and the source concepts behind
each. Each event table's concept, source concept and date columns are ``cdr.facts.event_tables()``'s."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlglot import exp

from ...cdr.facts import PPI_VOCABULARY, Domain, event_table_of
from ...cdr.sql import alias, col, lit, table, union_all
from ..schema import spec
from .people import first_occurrence_strata_sql
from .protect import RawTable
from .session import CdrSession
from .strata import strata_rows


class ConceptTables(NamedTuple):
    concept: RawTable
    stratum: RawTable
    source: RawTable


def _events(domain: Domain, concept: exp.Expression | None = None) -> exp.Select:
    """(domain, concept_id, source_concept_id, person_id, d) of a domain's event table ``x``."""
    t = event_table_of(domain)
    return exp.select(
        alias(lit(domain.slug), "domain"),
        alias(concept if concept is not None else col(t.concept, table="x"), "concept_id"),
        alias(col(t.source_concept, table="x"), "source_concept_id"),
        alias(col("person_id", table="x"), "person_id"),
        alias(exp.cast(col(t.start_date, table="x"), "DATE"), "d"),
    ).from_(table(t.table, alias="x"))


def _in(column: exp.Expression, cte: str) -> exp.Expression:
    return exp.In(this=column, query=exp.select(col("concept_id")).from_(table(cte)).subquery())


def events_sql() -> str:
    """``ev``: every (domain, concept, source concept, person, date) of the concept domains, for people of the tier."""
    drug, measurement = event_table_of(Domain.DRUG), event_table_of(Domain.MEASUREMENT)
    ancestor = col("ancestor_concept_id", table="a")
    parts = [
        _events(Domain.CONDITION),
        # a drug counts for each ingredient it contains, and an ingredient for itself
        _events(Domain.DRUG, ancestor)
        .join(table("concept_ancestor", alias="a"),
              on=exp.EQ(this=col("descendant_concept_id", table="a"), expression=col(drug.concept, table="x")))
        .where(_in(ancestor.copy(), "ingredient")),
        _events(Domain.DRUG).where(_in(col(drug.concept, table="x"), "ingredient")),
        _events(Domain.PROCEDURE),
        # physical measurements (PPI source concepts) have pages of their own
        _events(Domain.MEASUREMENT).where(exp.or_(
            exp.Is(this=col(measurement.source_concept, table="x"), expression=exp.Null()),
            exp.Not(this=_in(col(measurement.source_concept, table="x"), "ppi")))),
        # survey answers are observations with a questionnaire response: surveys have pages of their own
        _events(Domain.OBSERVATION).where(exp.Is(this=col("questionnaire_response_id", table="x"), expression=exp.Null())),
    ]
    return f"""
    WITH ppi AS (SELECT concept_id FROM concept WHERE vocabulary_id = '{PPI_VOCABULARY}'),
    ingredient AS (SELECT concept_id FROM concept WHERE concept_class_id = 'Ingredient' AND domain_id = 'Drug'),
    raw AS ({union_all(parts).sql("duckdb")})
    SELECT DISTINCT r.domain, r.concept_id, COALESCE(r.source_concept_id, 0) AS source_concept_id, r.person_id, r.d
    FROM raw r JOIN people p ON p.person_id = r.person_id
    WHERE r.concept_id IS NOT NULL AND r.concept_id <> 0
    """


def _strata_sql() -> str:
    """Participants per concept by gender, sex at birth, age at first occurrence (``pc``) and year (``ev``)."""
    parts = first_occurrence_strata_sql("pc", ["f.domain", "f.concept_id"])
    parts.append(
        "SELECT domain, concept_id, 'year' AS dimension, CAST(year(d) AS VARCHAR) AS stratum, "
        "count(DISTINCT person_id) AS participant_count FROM ev WHERE d IS NOT NULL GROUP BY ALL")
    return " UNION ALL ".join(parts)


def concepts(s: CdrSession) -> tuple[ConceptTables, dict[str, Any]]:
    """The concept, concept_stratum and concept_source tables, and per domain its participants and concepts
    (named rows: ``domain``, ``participants``, ``concepts``)."""
    s.materialise("ev", events_sql())
    s.materialise("pc", "SELECT domain, concept_id, person_id, min(d) AS first_d FROM ev GROUP BY ALL")
    totals = s.records(
        """
        WITH syn AS (SELECT concept_id, string_agg(DISTINCT concept_synonym_name, ' | ' ORDER BY concept_synonym_name) AS synonyms
                     FROM concept_synonym GROUP BY concept_id)
        SELECT f.domain, f.concept_id, COALESCE(c.concept_name, 'Concept ' || f.concept_id) AS name,
               COALESCE(c.vocabulary_id, '') AS vocabulary_id, COALESCE(c.concept_code, '') AS code,
               COALESCE(c.concept_class_id, '') AS concept_class_id, COALESCE(s.synonyms, '') AS synonyms,
               count(*) AS participant_count
        FROM pc f LEFT JOIN concept c ON c.concept_id = f.concept_id LEFT JOIN syn s ON s.concept_id = f.concept_id
        GROUP BY ALL ORDER BY f.domain, f.concept_id
        """,
    )
    strata = strata_rows(s, _strata_sql())
    sources = s.records(
        """
        SELECT e.domain, e.concept_id, e.source_concept_id, COALESCE(c.concept_name, 'Concept ' || e.source_concept_id) AS name,
               COALESCE(c.vocabulary_id, '') AS vocabulary_id, COALESCE(c.concept_code, '') AS code,
               count(DISTINCT e.person_id) AS participant_count
        FROM ev e LEFT JOIN concept c ON c.concept_id = e.source_concept_id
        WHERE e.source_concept_id <> 0 GROUP BY ALL ORDER BY ALL
        """,
    )
    summary = {r.domain: r for r in s.records(
        "SELECT domain, count(DISTINCT person_id) AS participants, count(DISTINCT concept_id) AS concepts "
             "FROM pc GROUP BY domain")}
    return ConceptTables(
        RawTable.from_records(spec("concept"), [r._asdict() for r in totals]),
        RawTable.from_records(spec("concept_stratum"), strata),
        RawTable.from_records(spec("concept_source"), [r._asdict() for r in sources]),
    ), summary
