"""Ranked full-text search over criteria names, codes and synonyms (SQLite FTS5 through ``index.fts``), with each
source concept's standard mapping inline and spelling correction when the words as typed find little.

The search database (``layout.SEARCH_DB``) holds:

- ``criteria``: one row per search entry (every criteria node, and every survey module, question and answer) with
  its name, code, synonyms and participant count, and ``criteria_fts`` over them;
- ``criteria_maps_to``: the "Maps to" standard concepts of each source entry (ICD10CM E11.9 → SNOMED 44054006),
  copied from the CDR's ``concept_relationship`` at build time for the entries only, so it stays small;
- ``spelling``: the deletion neighbourhood of the indexed words (``index.spelling``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from ..cdr.store import CdrFileError
from .freshness import check_index, rebuild_command
from .fts import alternatives_expression, create_fts, match_expression, search_params, search_sql, words
from .layout import SEARCH_DB
from .spelling import build_spelling, corrections
from .templates import render

if TYPE_CHECKING:
    import pyarrow as pa

    from ..engines.base import Engine

SEARCH_LIMIT = 250
COLUMNS = ("concept_id", "domain", "is_standard", "name", "code", "vocabulary_id", "count")
# Fewer hits than this for the words as typed, and the words are spelling-corrected for more (marked "fuzzy").
FEW_HITS = 5
MAPS_TO = "Maps to"  # the OMOP relationship from a source concept to its standard concept(s)

# The index's own tables the search entries are read from, named on the engine by the builder (``build.py``).
CRITERIA_TABLE, SURVEY_TREE_TABLE = "criteria_nodes", "survey_tree"

# The entries of the search: every criteria node, and every survey module, question and answer (one per concept,
# with its largest participant count), with the concept's name, code and synonyms; in a stable order (the search
# database's row ids, which break ranking ties, follow it). A template: the domain is rendered in from ``cdr.facts``.
ROWS_SQL = """
WITH synonyms AS (
    SELECT concept_id, string_agg(concept_synonym_name, ' | ' ORDER BY concept_synonym_name) AS synonyms
    FROM concept_synonym GROUP BY concept_id
),
survey AS (
    SELECT concept_id, max(participant_count) AS participant_count FROM survey_tree GROUP BY concept_id
),
nodes AS (
    SELECT concept_id, domain, is_standard, rollup_count AS count FROM criteria_nodes
    UNION ALL
    SELECT concept_id, {SURVEY}, false, participant_count FROM survey
)
SELECT n.concept_id, n.domain, CAST(n.is_standard AS INTEGER) AS is_standard, COALESCE(c.concept_name, '') AS name,
       COALESCE(c.concept_code, '') AS code, c.vocabulary_id, COALESCE(s.synonyms, '') AS synonyms, n.count
FROM nodes n LEFT JOIN concept c ON c.concept_id = n.concept_id LEFT JOIN synonyms s ON s.concept_id = n.concept_id
ORDER BY n.domain, n.is_standard, n.concept_id, n.count
"""

# The valid "Maps to" targets (other than itself) of every source entry, with the target's name, vocabulary, code
# and its participant count as a standard criterion (NULL when it has no data). Parameter: the relationship id.
MAPS_TO_SQL = """
WITH sources AS (
    SELECT concept_id FROM criteria_nodes WHERE NOT is_standard
    UNION
    SELECT concept_id FROM survey_tree
),
standard_counts AS (
    SELECT concept_id, max(rollup_count) AS count FROM criteria_nodes WHERE is_standard GROUP BY concept_id
)
SELECT DISTINCT r.concept_id_1, r.concept_id_2, COALESCE(c.concept_name, '') AS name,
       COALESCE(c.vocabulary_id, '') AS vocabulary_id, COALESCE(c.concept_code, '') AS code, k.count
FROM concept_relationship r
JOIN sources s ON s.concept_id = r.concept_id_1
LEFT JOIN concept c ON c.concept_id = r.concept_id_2
LEFT JOIN standard_counts k ON k.concept_id = r.concept_id_2
WHERE r.relationship_id = $relationship AND r.invalid_reason IS NULL AND r.concept_id_1 <> r.concept_id_2
ORDER BY r.concept_id_1, r.concept_id_2
"""


def search_queries() -> tuple:
    """The trees of ``search_rows`` and ``maps_to_rows``."""
    import sqlglot  # the builder's only: searching an index needs neither SQLGlot nor an engine

    return sqlglot.parse_one(render(ROWS_SQL), read="duckdb"), sqlglot.parse_one(MAPS_TO_SQL, read="duckdb")


def _rows(table: pa.Table) -> list[tuple]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns))


def search_rows(engine: Engine) -> list[tuple]:
    """The search entries of an index being built (``engine``: its CDR's tables, and the index's criteria and
    survey tree as CRITERIA_TABLE and SURVEY_TREE_TABLE)."""
    return _rows(engine.run(search_queries()[0]))


def maps_to_rows(engine: Engine) -> list[tuple]:
    """(source concept, standard concept, its name, vocabulary, code, participant count) of an index being built
    (``engine`` as for ``search_rows``)."""
    return _rows(engine.run(search_queries()[1], {"relationship": MAPS_TO}))


def build_search_db(path: Path, rows: list[tuple], maps_to: list[tuple] = ()) -> dict[str, int]:
    """rows: (concept_id, domain, is_standard, name, code, vocabulary_id, synonyms, count); maps_to: see
    ``maps_to_rows``. Returns the counts of what was written (entries, mappings, spelling words)."""
    con = sqlite3.connect(path)
    try:
        con.execute(
            "CREATE TABLE criteria (concept_id INTEGER, domain TEXT, is_standard INTEGER, name TEXT, code TEXT, "
            "vocabulary_id TEXT, synonyms TEXT, count INTEGER)"
        )
        con.executemany("INSERT INTO criteria VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("CREATE INDEX criteria_concept_id ON criteria (concept_id)")
        create_fts(con, "criteria_fts", "criteria", "rowid")
        con.execute(
            "CREATE TABLE criteria_maps_to (concept_id INTEGER NOT NULL, standard_concept_id INTEGER NOT NULL, "
            "name TEXT, vocabulary_id TEXT, code TEXT, count INTEGER, PRIMARY KEY (concept_id, standard_concept_id)) "
            "WITHOUT ROWID"
        )
        con.executemany("INSERT INTO criteria_maps_to VALUES (?, ?, ?, ?, ?, ?)", maps_to)
        spelled = build_spelling(con, "criteria_fts")
        con.commit()
    finally:
        con.close()
    return {"search_entries": len(rows), "search_mappings": len(maps_to), "spelling_words": spelled}


def search_criteria(index_dir: Path, term: str, *, domain: str | None = None, standard: bool | None = None,
                    limit: int = SEARCH_LIMIT, cdr_dir: Path | None = None, check: bool = True) -> list[dict]:
    """Concepts matching ``term`` by name, code or synonym, best first (at most ``limit``, never more than 250).

    Each hit: ``concept_id, domain, is_standard, name, code, vocabulary_id, count`` (participants), ``maps_to`` (a
    source concept's standard concepts: ``[{concept_id, name, vocabulary_id, code, count}]``, empty for a standard
    one) and ``fuzzy`` (found only through a spelling correction of the words typed).

    Ranking (``index.fts``): an exact code match first, then FTS5's bm25 relevance, then participant count, then
    concept id. When the words as typed (each a prefix) find fewer than FEW_HITS entries, each word of 4+ letters
    is also allowed its spelling corrections (``index.spelling``) and the further hits follow, marked fuzzy.
    The index is first shown to match its CDR (``cdr_dir``, by default the one it was built from; see
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
        raise _damaged(path, index_dir, cdr_dir, manifest, err) from None


def _damaged(path: Path, index_dir: Path, cdr_dir: Path | None, manifest: dict, err: Exception) -> CdrFileError:
    cdr = cdr_dir or manifest.get("cdr") or "CDR_DIR"
    return CdrFileError(path, f"index file not readable: {err}",
                        f"the index at {index_dir} is damaged or older than this version; rebuild it with "
                        f"`{rebuild_command(cdr, Path(index_dir))}`")


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():  # SQLite would otherwise report "unable to open", naming no file
        raise sqlite3.DatabaseError("missing")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _search(path: Path, match: str, term: str, domain: str | None, standard: bool | None, limit: int) -> list[dict]:
    con = _connect(path)
    try:
        sql = search_sql("criteria_fts", "criteria", "rowid", ["rowid", *COLUMNS], "count", ["domain", "is_standard"],
                         tiebreak="concept_id")
        std = None if standard is None else int(standard)
        rows = con.execute(sql, search_params(match, [domain, std], term, limit)).fetchall()
        hits = [_hit(row[1:], fuzzy=False) for row in rows]
        if len(rows) < FEW_HITS:
            typed = words(term)
            corrected = [[w, *corrections(con, w)] for w in typed]
            if any(len(c) > 1 for c in corrected):
                seen = {row[0] for row in rows}
                more = con.execute(sql, search_params(alternatives_expression(corrected), [domain, std], term,
                                                      limit)).fetchall()
                hits += [_hit(row[1:], fuzzy=True) for row in more if row[0] not in seen][: limit - len(hits)]
        _add_mappings(con, hits)
    finally:
        con.close()
    return hits


def _hit(row: tuple, *, fuzzy: bool) -> dict:
    return dict(zip(COLUMNS, row)) | {"is_standard": bool(row[2]), "maps_to": [], "fuzzy": fuzzy}


def _add_mappings(con: sqlite3.Connection, hits: list[dict]) -> None:
    sources = sorted({h["concept_id"] for h in hits if not h["is_standard"]})
    if not sources:
        return
    found = mappings(con, sources)
    for hit in hits:
        if not hit["is_standard"]:
            hit["maps_to"] = found.get(hit["concept_id"], [])


def mappings(con: sqlite3.Connection, concept_ids: list[int]) -> dict[int, list[dict]]:
    """The "Maps to" standard concepts of source entries, by source concept id (``con``: the search database)."""
    out: dict[int, list[dict]] = {}
    for start in range(0, len(concept_ids), 500):  # within SQLite's bound-parameter limit
        chunk = concept_ids[start:start + 500]
        rows = con.execute(
            f"SELECT concept_id, standard_concept_id, name, vocabulary_id, code, count FROM criteria_maps_to "
            f"WHERE concept_id IN ({', '.join('?' * len(chunk))}) ORDER BY concept_id, standard_concept_id", chunk)
        for source, target, name, vocabulary, code, count in rows:
            out.setdefault(source, []).append({"concept_id": target, "name": name, "vocabulary_id": vocabulary,
                                               "code": code, "count": count})
    return out


def concept_entries(index_dir: Path, concept_ids: list[int]) -> list[dict]:
    """The search entries of these concepts (a concept of two domains has two), with ``maps_to``, by concept id and
    domain; for pages that show concepts chosen earlier (a concept set's tray). The caller checked the index."""
    path = Path(index_dir) / SEARCH_DB
    ids = sorted({int(i) for i in concept_ids})
    out: list[dict] = []
    try:
        con = _connect(path)
        try:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM criteria WHERE concept_id IN "
                                   f"({', '.join('?' * len(chunk))}) ORDER BY concept_id, domain, is_standard", chunk)
                out += [_hit(row, fuzzy=False) for row in rows]
            _add_mappings(con, out)
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise _damaged(path, index_dir, None, {}, err) from None
    return out


def concept_counts(index_dir: Path, keys: list[tuple[int, bool]]) -> dict[tuple[int, bool], int]:
    """Participants per (concept id, standard?) as the search shows them (a standard concept's count rolls up its
    descendants; a concept in two domains: the larger), for the keys the index has. The caller checked the index."""
    wanted = set(keys)
    return {(e["concept_id"], e["is_standard"]): e["count"]
            for e in sorted(concept_entries(index_dir, [k[0] for k in wanted]), key=lambda e: e["count"] or 0)
            if (e["concept_id"], e["is_standard"]) in wanted}
