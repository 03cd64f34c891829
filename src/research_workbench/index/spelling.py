"""Spelling correction for the criteria search: the indexed words within one or two edits of a typed word.

SQLite has no edit-distance index (spellfix1 is an extension we do not ship), so the search database keeps a
deletion neighbourhood (the SymSpell idea): for every word of the full-text index made of 4 or more letters, the
word itself and each string made by deleting one of its letters, in ``spelling(variant, term)``. A typed word is
looked up by its own deletions (one, or up to two for long words) in one indexed ``IN`` query, and the candidates
are kept when their true distance (optimal string alignment: insertion, deletion, substitution, or two neighbouring
letters swapped, each one edit) is within ``allowed_edits``. Every term within one edit is found; a term two edits
away is found when at least one of the two edits is a letter typed too many (the index stores single deletions
only, which keeps it to about nine rows per word).

Why not trigrams: FTS5's trigram tokenizer finds substrings, not misspellings; ranking candidates by shared
trigrams needs a threshold that is wrong for short words and finds whole families of unrelated words sharing
"tion" or "ate". The deletion lookup is exact about what it finds and costs one B-tree probe per variant
(a few dozen), well under a millisecond.

Words with a digit or fewer than 4 letters (codes, abbreviations) are never corrected: a code one edit from
another code is another code.
"""

from __future__ import annotations

import re
import sqlite3

MIN_LETTERS = 4
TWO_EDITS_FROM = 8  # words of this many letters or more may be two edits from the term
MAX_CORRECTIONS = 5  # per typed word, closest first
_WORD = re.compile(r"[a-z]+")
_TABLE = "spelling"


def allowed_edits(word: str) -> int:
    """How many edits a typed word may be from a term: 0 (not corrected), 1, or 2 for long words."""
    if len(word) < MIN_LETTERS or not _WORD.fullmatch(word):
        return 0
    return 2 if len(word) >= TWO_EDITS_FROM else 1


def deletions(word: str, depth: int) -> set[str]:
    """``word`` and every string made by deleting up to ``depth`` of its letters."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps, one edit each."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def build_spelling(con: sqlite3.Connection, fts: str) -> int:
    """Fill ``spelling`` from the words of the FTS5 table ``fts`` (already built); returns how many words."""
    if not re.fullmatch(r"[a-z_]+", fts):
        raise ValueError(f"not a table name: {fts!r}")
    con.execute(f"CREATE VIRTUAL TABLE temp.{fts}_words USING fts5vocab(main, {fts}, 'row')")
    terms = [t for (t,) in con.execute(f"SELECT term FROM temp.{fts}_words") if allowed_edits(t)]
    con.execute(f"DROP TABLE temp.{fts}_words")
    con.execute(f"CREATE TABLE {_TABLE} (variant TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (variant, term)) "
                "WITHOUT ROWID")
    con.executemany(f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?)", ((v, t) for t in terms for v in deletions(t, 1)))
    return len(terms)


def corrections(con: sqlite3.Connection, word: str) -> list[str]:
    """Indexed terms within ``allowed_edits`` of ``word`` (never ``word`` itself), closest first, then by spelling."""
    word = word.lower()
    edits = allowed_edits(word)
    if not edits:
        return []
    variants = sorted(deletions(word, edits))
    marks = ", ".join("?" * len(variants))
    candidates = {t for (t,) in con.execute(f"SELECT DISTINCT term FROM {_TABLE} WHERE variant IN ({marks})", variants)}
    scored = sorted((d, t) for t in candidates if t != word and (d := distance(word, t)) <= edits)
    return [t for _, t in scored[:MAX_CORRECTIONS]]
