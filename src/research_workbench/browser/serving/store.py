"""Reading a results store: read-only SQLite, one connection per thread, every value a bound parameter.

The file never changes after ``workbench browser build`` renames it into place, so it is opened immutable; when a
rebuild replaces it, the next query on each thread reopens it (checked with one ``stat`` per query) and the meta
is read again. Serving refuses a stale store (``staleness.verify_sources``).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ...index import fts
from ..staleness import verify_sources
from ..store_format import SEARCH_CONTENT, SEARCH_FTS, SEARCH_ROWID, STORE_FORMAT

log = logging.getLogger(__name__)
SEARCH_COLUMNS = ["item_id", "kind", "domain", "concept_id", "parent_id", "name", "code", "vocabulary_id",
                  "participant_count"]
SEARCH_SQL = fts.search_sql(SEARCH_FTS, SEARCH_CONTENT, SEARCH_ROWID, SEARCH_COLUMNS, "participant_count", ["domain"])


class Store:
    """Read-only access to a results store, one SQLite connection per thread.

    ``check_sources`` (the default, for serving) refuses a stale store; tools that only inspect a store's
    contents may pass False.
    """

    def __init__(self, path: Path, *, check_sources: bool = True):
        self.path = Path(path).absolute()
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no results store (build one with `workbench browser build`)")
        self._local = threading.local()
        self._lock = threading.Lock()
        self.generation = 0
        self._ino = -1
        self.meta: dict[str, Any] = {}
        self._connection()
        self.generation = 0
        if self.meta.get("format") != STORE_FORMAT:
            raise ValueError(f"{self.path}: not a Data Browser results store")
        self.warnings: list[str] = []
        if check_sources:
            self.warnings = verify_sources(self.meta, self.path)
            for warning in self.warnings:
                log.warning(warning)

    def _open(self) -> tuple[sqlite3.Connection, int]:
        ino = os.stat(self.path).st_ino
        con = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        con.row_factory = sqlite3.Row
        return con, ino

    @staticmethod
    def _read_meta(con: sqlite3.Connection) -> dict[str, Any]:
        try:
            return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as err:
            raise ValueError(f"not a Data Browser results store: {err}") from None

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        con = getattr(local, "con", None)
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:  # being replaced: keep reading what we have
            current = None
        if con is not None and (current is None or current == local.ino):
            return con
        if con is not None:
            con.close()
        local.con, local.ino = self._open()
        if local.ino != self._ino:  # a rebuild replaced the file since the meta was read
            with self._lock:
                if local.ino != self._ino:
                    self.meta = self._read_meta(local.con)
                    self._ino = local.ino
                    self.generation += 1
        return local.con

    def rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._connection().execute(sql, params).fetchall()]

    def one(self, sql: str, params: tuple | list = ()) -> dict[str, Any] | None:
        row = self._connection().execute(sql, params).fetchone()
        return dict(row) if row else None

    def current_generation(self) -> int:
        """Bumped when a rebuild has replaced the file (checked with one stat call)."""
        self._connection()
        return self.generation

    @property
    def bin_size(self) -> int:
        return int(self.meta["bin_size"])

    def search(self, term: str, domain: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Search items whose name, code or synonym matches every word of ``term`` (``index.fts``'s ranking)."""
        match = fts.match_expression(term)
        if match is None:
            return []
        return self.rows(SEARCH_SQL, fts.search_params(match, [domain], term, limit))
