"""Participants per concept as compressed bitmaps (roaring), for criteria that need no event detail.

For each (domain, standard or source, concept) with data, the set of participants with at least one such event.
A criterion with no values, modifiers or temporal relation is then a union of these sets, and a cohort count is
set algebra over a few of them: microseconds instead of a scan. Bitmaps hold 32-bit ids; a CDR whose person ids
do not fit gets none, and every criterion then runs as SQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import numpy as np
from pyroaring import BitMap

MAX_PERSON_ID = 2**32 - 1
STREAM_ROWS = 1_000_000


def build_concept_bitmaps(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Write one bitmap per (domain, is_standard, concept_id) of the ``events`` view into SQLite; returns how many."""
    db = sqlite3.connect(path)
    try:
        db.execute(
            "CREATE TABLE concept_persons (domain TEXT, is_standard INTEGER, concept_id INTEGER, participants INTEGER, "
            "persons BLOB, PRIMARY KEY (domain, is_standard, concept_id))"
        )
        (low, high) = con.execute("SELECT min(person_id), max(person_id) FROM events").fetchall()[0]
        if low is None or low < 0 or high > MAX_PERSON_ID:
            db.commit()
            return 0
        # Distinct (key, person) pairs, ordered by key, streamed in Arrow batches, one range of concepts at a time:
        # the events file is sorted by concept, so each range reads only its own row groups, and each range's
        # aggregate and sort stay well under DuckDB's memory cap (one query over all events ran out of memory at
        # 1M participants under a 2 GB cap, its sorted result pinned while Python read it).
        reader = (batch for lo, hi in _concept_ranges(con) for batch in con.sql(
            "SELECT domain, is_standard, concept_id, person_id FROM events WHERE concept_id BETWEEN $lo AND $hi "
            "GROUP BY ALL ORDER BY domain, is_standard, concept_id",
            params={"lo": lo, "hi": hi},
        ).to_arrow_reader(STREAM_ROWS))
        written = 0
        key, bitmap = None, BitMap()

        def flush() -> None:
            nonlocal written
            if key is not None:
                db.execute("INSERT INTO concept_persons VALUES (?, ?, ?, ?, ?)",
                           (key[0], int(key[1]), key[2], len(bitmap), bitmap.serialize()))
                written += 1

        for batch in reader:
            domains = batch.column("domain").to_pylist()
            standard = batch.column("is_standard").to_numpy(zero_copy_only=False)
            concepts = batch.column("concept_id").to_numpy(zero_copy_only=False)
            persons = batch.column("person_id").to_numpy(zero_copy_only=False).astype(np.uint32)
            # Start of each run of one key inside the batch.
            change = np.flatnonzero((concepts[1:] != concepts[:-1]) | (standard[1:] != standard[:-1])
                                    | np.array([a != b for a, b in zip(domains[1:], domains[:-1])], dtype=bool)) + 1
            for start, stop in zip(np.concatenate(([0], change)), np.concatenate((change, [len(concepts)]))):
                run_key = (domains[start], bool(standard[start]), int(concepts[start]))
                if run_key != key:
                    flush()
                    key, bitmap = run_key, BitMap()
                bitmap.update(persons[start:stop])
        flush()
        db.commit()
        return written
    finally:
        db.close()


RANGE_EVENTS = 20_000_000  # events per range of concepts (a range holds at least one concept, however many it has)


def _concept_ranges(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    """Consecutive concept id ranges of at most RANGE_EVENTS events each (or one concept)."""
    counts = con.execute("SELECT concept_id, count(*) FROM events GROUP BY concept_id ORDER BY concept_id").fetchall()
    ranges: list[list[int]] = []  # [first concept, last concept, events]
    for concept, n in counts:
        if ranges and ranges[-1][2] + n <= RANGE_EVENTS:
            ranges[-1][1:] = [concept, ranges[-1][2] + n]
        else:
            ranges.append([concept, concept, n])
    return [(first, last) for first, last, _ in ranges]


class ConceptBitmaps:
    """Read side: bitmaps by key, cached."""

    def __init__(self, path: Path):
        self.available = path.is_file()
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False) if self.available else None
        self._cache: dict[tuple[str, bool, int], BitMap] = {}
        if self._db is not None:
            (n,) = self._db.execute("SELECT count(*) FROM concept_persons").fetchone()
            self.available = n > 0

    def get(self, domain: str, is_standard: bool, concept_id: int) -> BitMap:
        key = (domain, is_standard, concept_id)
        if key not in self._cache:
            row = self._db.execute(
                "SELECT persons FROM concept_persons WHERE domain = ? AND is_standard = ? AND concept_id = ?",
                [domain, int(is_standard), concept_id],
            ).fetchone()
            self._cache[key] = BitMap.deserialize(row[0]) if row else BitMap()
        return self._cache[key]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
