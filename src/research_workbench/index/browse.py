"""The Cohort Builder's browse tree: a node's children with item and roll-up counts, one level at a time.

Standard concepts form the tree of ``criteria.parquet`` (a node's ``parent_ids`` are its parents with data; the roots
have none). Source concepts (ICD9CM, ICD10CM, CPT4 …) have no hierarchy here: they are one flat level, ordered by
code. Surveys come from ``survey_tree.parquet``: module → question → answer. Each level is read on demand (the
page opens a node, then asks for its children), at most ``BROWSE_LIMIT`` nodes at a time, so the first paint of a
domain with thousands of concepts reads only its roots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..cdr.facts import Domain
from .layout import CRITERIA_FILE, SURVEY_TREE_FILE

BROWSE_LIMIT = 500
_SURVEY_LEVELS = {None: "module", "module": "question", "question": "answer"}


@dataclass
class Node:
    concept_id: int
    name: str
    code: str
    vocabulary_id: str
    is_standard: bool
    item_count: int  # participants with this very concept
    rollup_count: int  # participants with it or a descendant
    has_children: bool
    level: str = ""  # surveys: module, question or answer


def children(con: duckdb.DuckDBPyConnection, index_dir: Path, domain: Domain, parent: int | None = None, *,
             standard: bool = True, parent_level: str | None = None, offset: int = 0,
             limit: int = BROWSE_LIMIT) -> tuple[list[Node], int]:
    """(the nodes under ``parent`` — the roots when None — and how many there are in all), most participants
    first. ``con``: any DuckDB connection (it reads the index's Parquet files)."""
    limit = max(1, min(limit, BROWSE_LIMIT))
    if domain is Domain.SURVEY:
        return _survey(con, Path(index_dir) / SURVEY_TREE_FILE, parent, parent_level, offset, limit)
    path = str(Path(index_dir) / CRITERIA_FILE)
    if standard:
        where = "len(parent_ids) = 0" if parent is None else "list_contains(parent_ids, $parent)"
        order = "rollup_count DESC, name, concept_id"
    else:  # source concepts: a flat list
        if parent is not None:
            return [], 0
        where, order = "true", "vocabulary_id, code, concept_id"
    sql = f"""
        WITH nodes AS (SELECT * FROM read_parquet($path) WHERE domain = $domain AND is_standard = $standard),
        level AS (SELECT * FROM nodes WHERE {where})
        SELECT l.concept_id, COALESCE(l.name, ''), COALESCE(l.code, ''), COALESCE(l.vocabulary_id, ''), l.is_standard,
               l.item_count, l.rollup_count,
               l.is_standard AND EXISTS (SELECT 1 FROM nodes c WHERE list_contains(c.parent_ids, l.concept_id)),
               count(*) OVER ()
        FROM level l ORDER BY {order} LIMIT $limit OFFSET $offset
    """  # the two fragments above are fixed text chosen here, never a caller's value; values are bound
    params = {"path": path, "domain": domain.value, "standard": standard, "limit": limit, "offset": offset}
    if standard and parent is not None:
        params["parent"] = parent
    rows = con.execute(sql, params).fetchall()
    total = rows[0][8] if rows else 0
    return [Node(*row[:8]) for row in rows], total


def _survey(con, path: Path, parent: int | None, parent_level: str | None, offset: int,
            limit: int) -> tuple[list[Node], int]:
    level = _SURVEY_LEVELS.get(parent_level if parent is not None else None)
    if level is None:
        return [], 0
    rows = con.execute(
        """WITH tree AS (SELECT * FROM read_parquet($path)),
           level AS (SELECT * FROM tree WHERE level = $level AND parent_id IS NOT DISTINCT FROM $parent)
           SELECT l.concept_id, l.participant_count,
                  EXISTS (SELECT 1 FROM tree c WHERE c.parent_id = l.concept_id AND c.level = $child), count(*) OVER ()
           FROM level l ORDER BY l.participant_count DESC, l.concept_id LIMIT $limit OFFSET $offset""",
        {"path": str(path), "level": level, "parent": parent, "child": _SURVEY_LEVELS.get(level, ""),
         "limit": limit, "offset": offset}).fetchall()
    total = rows[0][3] if rows else 0
    return [Node(concept_id=r[0], name="", code="", vocabulary_id="PPI", is_standard=False, item_count=r[1],
                 rollup_count=r[1], has_children=bool(r[2]), level=level) for r in rows], total
