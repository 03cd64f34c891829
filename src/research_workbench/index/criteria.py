"""Criteria trees per domain with participant counts per concept and rolled up over descendants.

A node is a concept that has data, or a standard ancestor of one (via concept_ancestor). ``item_count`` is the
number of distinct participants with that very concept, ``rollup_count`` those with it or any descendant (drugs
roll up from clinical drugs to their ingredients this way). Survey trees come from the data: module → question
→ answer, counted per participant.

Built in three steps on the engine (``build.py``): the counts (``COUNTS_SQL``, the one scan of the events,
materialised as ``COUNTS_TABLE``); each standard node's parents with data (``PARENT_PAIRS_SQL``, sorted pairs
assembled into lists by ``engine_io.grouped_lists`` and named ``PARENTS_TABLE``: no aggregate that builds a list
answers alike on DuckDB and Spark); then the nodes (``CRITERIA_SQL``).
"""

from __future__ import annotations

from .templates import render

COUNTS_TABLE = "criteria_counts"
PARENTS_TABLE = "criteria_parent_ids"

# Templates: the domains are rendered in from ``cdr.facts`` (criteria_sql, survey_tree_sql).
COUNTS_SQL = """
WITH pairs AS (
    SELECT DISTINCT domain, is_standard, concept_id, person_id FROM events
),
items AS (
    SELECT domain, is_standard, concept_id, count(*) AS item_count FROM pairs GROUP BY ALL
),
ancestry AS (
    -- Each standard concept with data counts towards itself and every standard ancestor in its domain.
    SELECT p.domain, a.ancestor_concept_id AS concept_id, p.person_id
    FROM (SELECT DISTINCT domain, concept_id, person_id FROM pairs WHERE is_standard) p
    JOIN concept_ancestor a ON a.descendant_concept_id = p.concept_id
    UNION
    SELECT domain, concept_id, person_id FROM pairs WHERE is_standard
),
rollups AS (
    SELECT domain, concept_id, count(DISTINCT person_id) AS rollup_count FROM ancestry GROUP BY ALL
)
SELECT 'item' AS kind, domain, is_standard, concept_id, item_count AS participants FROM items
UNION ALL
SELECT 'rollup' AS kind, domain, true AS is_standard, concept_id, rollup_count AS participants FROM rollups
"""

PARENT_PAIRS_SQL = """
WITH rollups AS (SELECT domain, concept_id FROM criteria_counts WHERE kind = 'rollup'),
parents AS (
    SELECT descendant_concept_id AS concept_id, ancestor_concept_id AS parent_id
    FROM concept_ancestor WHERE min_levels_of_separation = 1 AND ancestor_concept_id <> descendant_concept_id
)
SELECT DISTINCT rr.domain, pa.concept_id, pa.parent_id
FROM parents pa JOIN rollups rr ON rr.concept_id = pa.parent_id
ORDER BY rr.domain, pa.concept_id, pa.parent_id
"""

CRITERIA_SQL = """
WITH items AS (
    SELECT domain, is_standard, concept_id, participants AS item_count FROM criteria_counts WHERE kind = 'item'
),
rollups AS (
    SELECT domain, concept_id, participants AS rollup_count FROM criteria_counts WHERE kind = 'rollup'
),
nodes AS (
    SELECT domain, true AS is_standard, concept_id FROM rollups
    UNION
    SELECT domain, is_standard, concept_id FROM items
)
SELECT n.domain, n.is_standard, n.concept_id, c.concept_name AS name, c.vocabulary_id, c.concept_code AS code,
       c.concept_class_id, COALESCE(i.item_count, 0) AS item_count,
       CASE WHEN n.is_standard THEN COALESCE(r.rollup_count, i.item_count, 0) ELSE COALESCE(i.item_count, 0) END AS rollup_count,
       CASE WHEN n.is_standard THEN COALESCE(pl.parent_ids, CAST([] AS BIGINT[])) END AS parent_ids
FROM nodes n
LEFT JOIN items i ON i.domain = n.domain AND i.is_standard = n.is_standard AND i.concept_id = n.concept_id
LEFT JOIN rollups r ON n.is_standard AND r.domain = n.domain AND r.concept_id = n.concept_id
LEFT JOIN concept c ON c.concept_id = n.concept_id
LEFT JOIN criteria_parent_ids pl ON n.is_standard AND pl.domain = n.domain AND pl.concept_id = n.concept_id
WHERE n.domain <> {SURVEY}
ORDER BY n.domain, n.is_standard, n.concept_id
"""

SURVEY_TREE_SQL = """
WITH answers AS (
    SELECT DISTINCT survey_concept_id, concept_id AS question_concept_id, value_source_concept_id AS answer_concept_id, person_id
    FROM events WHERE domain = {SURVEY}
)
SELECT 'module' AS level, survey_concept_id AS concept_id, CAST(NULL AS BIGINT) AS parent_id, count(DISTINCT person_id) AS participant_count
FROM answers GROUP BY ALL
UNION ALL
SELECT 'question', question_concept_id, survey_concept_id, count(DISTINCT person_id) FROM answers GROUP BY ALL
UNION ALL
SELECT 'answer', answer_concept_id, question_concept_id, count(DISTINCT person_id) FROM answers WHERE answer_concept_id IS NOT NULL GROUP BY ALL
"""


def counts_sql() -> str:
    return render(COUNTS_SQL)


def parent_pairs_sql() -> str:
    return render(PARENT_PAIRS_SQL)


def criteria_sql() -> str:
    return render(CRITERIA_SQL)


def survey_tree_sql() -> str:
    return render(SURVEY_TREE_SQL)
