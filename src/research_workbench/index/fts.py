"""Full-text search over concept names, codes and synonyms: SQLite FTS5, one implementation for every search box.

The Cohort Builder's criteria search (``index.search``) and the Data Browser's search (``browser``) both build
their table with ``create_fts`` and query it with ``search_sql`` and ``match_expression``. The term a user types is
a security boundary: ``match_expression`` turns it into an FTS5 query of quoted prefix words, so no FTS5 syntax
(``NEAR``, ``*``, column filters, unbalanced quotes) can reach the engine, and it is then bound as a parameter.

Ranking is the same everywhere: an exact code match first (a user typing ``E11.9`` wants that code), then bm25
relevance weighting name over code over synonyms, then participants, then the row id (a stable order).
"""

from __future__ import annotations

import re
import sqlite3

# Words are letters, digits, underscores and dots (codes such as E11.9 are one word).
TOKENIZE = "unicode61 tokenchars '.'"
_TOKEN = re.compile(r"[\w.]+", re.UNICODE)
MAX_WORDS = 12  # more words than any name needs; bounds the work one query can ask of FTS5
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")  # table and column names are the code's own, checked all the same


def match_expression(term: str) -> str | None:
    """An FTS5 query in which every word of ``term`` must prefix-match, or None when it has no word.

    Each word is double-quoted (a quote inside doubled), so the words are matched as text and never parsed as
    FTS5 query syntax.
    """
    tokens = _TOKEN.findall(term)[:MAX_WORDS]
    if not tokens:
        return None
    return " AND ".join('"' + t.replace('"', '""') + '"*' for t in tokens)


def words(term: str) -> list[str]:
    """The words of ``term`` as ``match_expression`` sees them (at most MAX_WORDS)."""
    return _TOKEN.findall(term)[:MAX_WORDS]


def alternatives_expression(choices: list[list[str]]) -> str | None:
    """An FTS5 query in which every entry of ``choices`` must match: its first word as a prefix or any of its other
    words whole (the spelling corrections of a typed word). Quoted as ``match_expression`` quotes."""
    parts = []
    for typed, *alternatives in (c for c in choices if c):
        quoted = ['"' + typed.replace('"', '""') + '"*'] + ['"' + a.replace('"', '""') + '"' for a in alternatives]
        parts.append(quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")")
    return " AND ".join(parts) if parts else None


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a table or column name: {name!r}")
    return name


def create_fts(con: sqlite3.Connection, fts: str, content: str, rowid: str) -> None:
    """Index ``content``'s name, code and synonyms columns in the FTS5 table ``fts`` (external content, so the text
    is stored once) and a case-insensitive index on code for exact-code matches."""
    fts, content, rowid = _name(fts), _name(content), _name(rowid)
    con.executescript(
        f"""
        CREATE VIRTUAL TABLE {fts} USING fts5(name, code, synonyms, content='{content}', content_rowid='{rowid}',
                                               tokenize="{TOKENIZE}");
        INSERT INTO {fts}({fts}) VALUES ('rebuild');
        CREATE INDEX {content}_code_nocase ON {content} (code COLLATE NOCASE);
        """
    )


def search_sql(fts: str, content: str, rowid: str, columns: list[str], count: str, filters: list[str],
               tiebreak: str | None = None) -> str:
    """A ranked search: ``columns`` of ``content`` (alias ``c``) whose text matches the first parameter.

    Parameters, in order: the match expression, then two per filter column (the value, or NULL for any; bound
    twice), then the typed term (for the exact-code match), then the limit. Ties are broken by ``tiebreak``
    (default: the row id).
    """
    fts, content, rowid, count = _name(fts), _name(content), _name(rowid), _name(count)
    tiebreak = _name(tiebreak or rowid)
    where = [f"{fts} MATCH ?"] + [f"(? IS NULL OR c.{_name(f)} = ?)" for f in filters]
    return (
        f"SELECT {', '.join('c.' + _name(c) for c in columns)} "
        f"FROM {fts} f JOIN {content} c ON c.{rowid} = f.rowid "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY (lower(c.code) = lower(?)) DESC, bm25({fts}, 10.0, 5.0, 1.0), c.{count} DESC, c.{tiebreak} "
        "LIMIT ?"
    )


def search_params(match: str, filter_values: list[object], term: str, limit: int) -> list[object]:
    """The parameters of ``search_sql`` in its order."""
    params: list[object] = [match]
    for value in filter_values:
        params += [value, value]
    return params + [term.strip(), limit]
