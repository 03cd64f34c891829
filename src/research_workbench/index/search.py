"""Ranked full-text search over criteria names, codes and synonyms (SQLite FTS5 through ``index.fts``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..cdr.store import CdrFileError
from .freshness import check_index, rebuild_command
from .fts import create_fts, match_expression, search_params, search_sql
from .layout import SEARCH_DB
from .templates import render

SEARCH_LIMIT = 250
COLUMNS = ("concept_id", "domain", "is_standard", "name", "code", "vocabulary_id", "count")

# The entries of the search: every criteria node, and every survey module, question and answer (one per concept,
# with its largest participant count), with the concept's name, code and synonyms. Parameters: the survey tree
# file, then the criteria file. A template: the domain is rendered in from ``cdr.facts``.
ROWS_SQL = """
WITH synonyms AS (
    SELECT concept_id, string_agg(concept_synonym_name, ' | ' ORDER BY concept_synonym_name) AS synonyms
    FROM concept_synonym GROUP BY concept_id
),
survey AS (
    SELECT concept_id, max(participant_count) AS participant_count FROM read_parquet(?) GROUP BY concept_id
),
nodes AS (
    SELECT concept_id, domain, is_standard, rollup_count AS count FROM read_parquet(?)
    UNION ALL
    SELECT concept_id, {SURVEY}, false, participant_count FROM survey
)
SELECT n.concept_id, n.domain, n.is_standard::INTEGER, COALESCE(c.concept_name, ''), COALESCE(c.concept_code, ''),
       c.vocabulary_id, COALESCE(s.synonyms, ''), n.count
FROM nodes n LEFT JOIN concept c USING (concept_id) LEFT JOIN synonyms s USING (concept_id)
"""


def search_rows(con, survey_tree: Path, criteria: Path) -> list[tuple]:
    """The search entries of an index being built (``con``: a DuckDB connection over its CDR)."""
    return con.execute(render(ROWS_SQL), [str(survey_tree), str(criteria)]).fetchall()


def build_search_db(path: Path, rows: list[tuple]) -> None:
    """rows: (concept_id, domain, is_standard, name, code, vocabulary_id, synonyms, count)."""
    con = sqlite3.connect(path)
    try:
        con.execute(
            "CREATE TABLE criteria (concept_id INTEGER, domain TEXT, is_standard INTEGER, name TEXT, code TEXT, "
            "vocabulary_id TEXT, synonyms TEXT, count INTEGER)"
        )
        con.executemany("INSERT INTO criteria VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        create_fts(con, "criteria_fts", "criteria", "rowid")
        con.commit()
    finally:
        con.close()


def search_criteria(index_dir: Path, term: str, *, domain: str | None = None, standard: bool | None = None,
                    limit: int = SEARCH_LIMIT, cdr_dir: Path | None = None, check: bool = True) -> list[dict]:
    """Concepts matching ``term`` by name, code or synonym, best first (at most ``limit``, never more than 250).

    Ranking (``index.fts``): an exact code match first, then FTS5's bm25 relevance, then participant count, then
    concept id. The index is first shown to match its CDR (``cdr_dir``, by default the one it was built from; see
    ``index.freshness``) unless ``check`` is false (a caller that has just checked it).
    """
    manifest = check_index(Path(index_dir), cdr_dir) if check else {}
    limit = max(1, min(limit, SEARCH_LIMIT))
    match = match_expression(term)
    if match is None:
        return []
    path = Path(index_dir) / SEARCH_DB
    try:
        return _search(path, match, term, domain, standard, limit)
    except sqlite3.DatabaseError as err:
        cdr = cdr_dir or manifest.get("cdr") or "CDR_DIR"
        raise CdrFileError(path, f"index file not readable: {err}",
                           f"the index at {index_dir} is damaged; rebuild it with `{rebuild_command(cdr, Path(index_dir))}`") from None


def _search(path: Path, match: str, term: str, domain: str | None, standard: bool | None, limit: int) -> list[dict]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        sql = search_sql("criteria_fts", "criteria", "rowid", list(COLUMNS), "count", ["domain", "is_standard"], tiebreak="concept_id")
        std = None if standard is None else int(standard)
        rows = con.execute(sql, search_params(match, [domain, std], term, limit)).fetchall()
    finally:
        con.close()
    return [dict(zip(COLUMNS, row)) | {"is_standard": bool(row[2])} for row in rows]
