"""Ranked full-text search over criteria names, codes and synonyms (SQLite FTS5, from the standard library)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from ..cdr.store import CdrFileError
from .freshness import check_index, rebuild_command

SEARCH_LIMIT = 250
SEARCH_DB = "criteria_search.sqlite"

_TOKEN = re.compile(r"[\w.]+", re.UNICODE)


def build_search_db(path: Path, rows: list[tuple]) -> None:
    """rows: (concept_id, domain, is_standard, name, code, vocabulary_id, synonyms, count)."""
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            CREATE TABLE criteria (concept_id INTEGER, domain TEXT, is_standard INTEGER, name TEXT, code TEXT,
                                   vocabulary_id TEXT, synonyms TEXT, count INTEGER);
            CREATE VIRTUAL TABLE criteria_fts USING fts5(name, code, synonyms, content='criteria', content_rowid='rowid',
                                                         tokenize="unicode61 tokenchars '.'");
            CREATE INDEX criteria_code ON criteria (code COLLATE NOCASE);
            """
        )
        con.executemany("INSERT INTO criteria VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("INSERT INTO criteria_fts(criteria_fts) VALUES ('rebuild')")
        con.commit()
    finally:
        con.close()


def _match_expression(term: str) -> str | None:
    """An FTS5 query in which every word of the term must prefix-match; words are quoted, so no syntax leaks."""
    tokens = _TOKEN.findall(term)
    if not tokens:
        return None
    return " AND ".join('"' + t.replace('"', '""') + '"*' for t in tokens)


def search_criteria(index_dir: Path, term: str, *, domain: str | None = None, standard: bool | None = None,
                    limit: int = SEARCH_LIMIT, cdr_dir: Path | None = None, check: bool = True) -> list[dict]:
    """Concepts matching ``term`` by name, code or synonym, best first (at most ``limit``, never more than 250).

    Ranking: an exact code match first, then FTS5's bm25 relevance, then participant count. The index is first
    shown to match its CDR (``cdr_dir``, by default the one it was built from; see ``index.freshness``) unless
    ``check`` is false (a caller that has just checked it).
    """
    manifest = check_index(Path(index_dir), cdr_dir) if check else {}
    limit = max(1, min(limit, SEARCH_LIMIT))
    match = _match_expression(term)
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
        sql = (
            "SELECT c.concept_id, c.domain, c.is_standard, c.name, c.code, c.vocabulary_id, c.count "
            "FROM criteria_fts f JOIN criteria c ON c.rowid = f.rowid "
            "WHERE criteria_fts MATCH ? AND (? IS NULL OR c.domain = ?) AND (? IS NULL OR c.is_standard = ?) "
            "ORDER BY (lower(c.code) = lower(?)) DESC, bm25(criteria_fts, 10.0, 5.0, 1.0), c.count DESC, c.concept_id "
            "LIMIT ?"
        )
        std = None if standard is None else int(standard)
        rows = con.execute(sql, [match, domain, domain, std, std, term.strip(), limit]).fetchall()
    finally:
        con.close()
    keys = ("concept_id", "domain", "is_standard", "name", "code", "vocabulary_id", "count")
    return [dict(zip(keys, row)) | {"is_standard": bool(row[2])} for row in rows]
