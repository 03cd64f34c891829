"""The results store: one SQLite file of published (rounded) aggregates, built atomically, read concurrently.

``build_store`` computes the raw aggregates of a release (``aggregates.py``, ``genomes.py``), passes them through
the one disclosure pass (``protect.py``) and writes them, with an FTS5 search table and a manifest (``meta``:
release, source manifest hash, bin size, build time), to a hidden file beside the target that is renamed into
place when complete. ``store_columns`` records every column's role, so every count column can be checked.

``Store`` opens the file read-only and immutable (it never changes after the rename) with one connection per
thread; when a rebuild replaces the file, the next query reopens it.

Nothing stale is served: the store records every CDR it was built from (``meta.sources``: role, absolute path,
SHA-256 of its ``manifest.json``). Opening a store to serve it re-hashes each source's manifest and refuses the
store (``StaleStoreError``, with the exact rebuild command) when one has changed, or when the store predates
these records. A source directory that does not exist on this machine (a store deployed alone on a public host)
cannot be checked: the store is served and a warning logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .disclosure import DEFAULT_BIN
from .projects import ResearchProject, read_projects
from .protect import PublishedTable, RawTable, protect
from .schema import TABLES, spec
from .source import manifest_sha256, open_source

STORE_FORMAT = "research-workbench-browser"
STORE_FORMAT_VERSION = 2  # 2: meta.sources records each source CDR's manifest hash
Progress = Callable[[str, int, int], None]
log = logging.getLogger(__name__)
ROLE_NAMES = {"registered": "the Registered Tier", "controlled": "the Controlled Tier", "cdr": "the CDR"}


class StoreExistsError(FileExistsError):
    pass


class StaleStoreError(ValueError):
    """The store's aggregates no longer match the CDRs they were computed from (or cannot be checked)."""


def default_store_path(release_dir: Path) -> Path:
    release_dir = Path(release_dir).absolute()
    return release_dir.parent / f"{release_dir.name}.browser.sqlite"


@dataclass
class BuildResult:
    path: Path
    meta: dict[str, Any]
    rows: dict[str, int]
    seconds: float


def _create_sql(table) -> list[str]:
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    pk = f', PRIMARY KEY ({", ".join(table.primary_key)})' if table.primary_key else ""
    sql = [f'CREATE TABLE "{table.name}" ({cols}{pk})']
    for i, index in enumerate(table.indexes):
        sql.append(f'CREATE INDEX "{table.name}_ix{i}" ON "{table.name}" ({", ".join(index)})')
    return sql


def write_store(path: Path, tables: list[PublishedTable], meta: dict[str, Any]) -> dict[str, int]:
    """Write published tables to a new SQLite file (not atomic by itself: ``build_store`` renames it into place)."""
    names = {t.spec.name for t in tables}
    missing = [t.name for t in TABLES if t.name not in names]
    if missing:
        raise ValueError(f"tables missing from the store: {missing}")
    con = sqlite3.connect(path)
    counts: dict[str, int] = {}
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("CREATE TABLE store_columns (table_name TEXT, column_name TEXT, type TEXT, role TEXT, "
                    "PRIMARY KEY (table_name, column_name))")
        for table in tables:
            if not isinstance(table, PublishedTable):  # only the disclosure pass makes these
                raise TypeError(f"{table!r} did not go through protect()")
            s = table.spec
            for statement in _create_sql(s):
                con.execute(statement)
            con.executemany("INSERT INTO store_columns VALUES (?, ?, ?, ?)", [(s.name, c.name, c.type, c.role) for c in s.columns])
            insert = f'INSERT INTO "{s.name}" VALUES ({", ".join("?" for _ in s.columns)})'
            n = 0
            batch: list[tuple] = []
            rows = table.rows
            if isinstance(rows, list) and s.primary_key:  # key order: no order of stored rows comes from the counts
                at = [s.index(c) for c in s.primary_key]
                rows = sorted(rows, key=lambda r: tuple((r[i] is None, r[i]) for i in at))
            for row in rows:
                batch.append(row)
                if len(batch) >= 10_000:
                    con.executemany(insert, batch)
                    n += len(batch)
                    batch.clear()
            con.executemany(insert, batch)
            counts[s.name] = n + len(batch)
        con.executescript(
            """
            CREATE VIRTUAL TABLE search_fts USING fts5(name, code, synonyms, content='search_item', content_rowid='item_id',
                                                       tokenize="unicode61 tokenchars '.'");
            INSERT INTO search_fts(search_fts) VALUES ('rebuild');
            CREATE INDEX search_item_code ON search_item (code COLLATE NOCASE);
            CREATE INDEX variant_rsid_nocase ON variant (rsid COLLATE NOCASE);
            CREATE INDEX variant_gene_nocase ON variant (gene COLLATE NOCASE, chrom, pos);
            """
        )
        meta = {**meta, "rows": counts}
        con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()
    return counts


def project_table(projects: list[ResearchProject]) -> RawTable:
    rows = [(p.project_id, p.name, p.access_tier, p.created.isoformat(), p.model_dump_json()) for p in projects]
    return RawTable(spec("research_project"), rows)


def build_store(release_dir: Path, out: Path | None = None, *, bin_size: int = DEFAULT_BIN, projects: Path | None = None,
                replace: bool = False, progress: Progress | None = None, memory_limit: str | None = None) -> BuildResult:
    """Build the results store of a release (or a single CDR) at ``out``, atomically."""
    started = time.perf_counter()
    if isinstance(bin_size, bool) or not isinstance(bin_size, int) or bin_size < 1:
        raise ValueError(f"bin size must be a positive whole number, not {bin_size!r}")
    source = open_source(Path(release_dir))
    target = Path(out).absolute() if out else default_store_path(Path(release_dir))
    if target.exists() and not replace:
        raise StoreExistsError(f"{target} already exists (use --replace to rebuild it)")
    project_list = read_projects(projects) if projects else []
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    building = target.parent / f".{target.name}.building-{tag}"
    scratch = target.parent / f".{target.name}.scratch-{tag}"
    scratch.mkdir()
    try:
        from .aggregates import compute

        raw = compute(source, scratch=scratch, progress=progress, memory_limit=memory_limit)
        raw.append(project_table(project_list))
        published = protect(raw, bin_size)
        meta = {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "release": source.name,
            "source_kind": source.kind,
            "source_path": str(Path(release_dir).absolute()),
            "source_manifest_sha256": source.manifest_sha256,
            "sources": [c.as_dict() for c in source.cdrs],
            "projects_path": str(Path(projects).absolute()) if projects else None,
            "registered_manifest_created_at": source.registered.manifest.created_at.isoformat(),
            "genomes_from": "controlled" if source.kind == "release" else "cdr",
            "bin_size": bin_size,
            "cutoff_date": source.cutoff.isoformat(),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "generator_version": __version__,
        }
        rows = write_store(building, published, meta)
        with open(building, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(building, target)
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BuildResult(target, meta, rows, time.perf_counter() - started)


# ---- staleness -------------------------------------------------------------------------------------------------
def rebuild_command(meta: dict[str, Any], store_path: Path) -> str:
    """The exact ``workbench browser build`` command that rebuilds this store in place with the same options."""
    source = meta.get("source_path") or "RELEASE_DIR"
    words = ["workbench", "browser", "build", str(source), "--out", str(Path(store_path).absolute())]
    if meta.get("bin_size") not in (None, DEFAULT_BIN):
        words += ["--bin-size", str(meta["bin_size"])]
    if meta.get("projects_path"):
        words += ["--projects", str(meta["projects_path"])]
    words.append("--replace")
    return " ".join(shlex.quote(w) for w in words)


def verify_sources(meta: dict[str, Any], store_path: Path) -> list[str]:
    """Refuse a stale store (``StaleStoreError``); return warnings for sources that cannot be checked here.

    Each recorded source CDR's ``manifest.json`` is hashed again and compared with the hash recorded at build time.
    """
    store_path = Path(store_path).absolute()
    sources = meta.get("sources")
    command = rebuild_command(meta, store_path)
    if not isinstance(sources, list) or not sources:
        raise StaleStoreError(
            f"{store_path}: this results store was built before stores recorded the manifest hash of the CDRs they "
            f"come from, so whether it is stale cannot be checked. Rebuild it:\n  {command}")
    warnings = []
    for source in sources:
        role, path, recorded = source.get("role", "cdr"), Path(str(source.get("path"))), source.get("manifest_sha256")
        what = f"{ROLE_NAMES.get(role, role)} of {meta.get('release', '?')} ({path})" if role != "cdr" \
            else f"the CDR {path}"
        if not path.is_dir():
            warnings.append(f"{store_path}: cannot check that the store is current: {what} is not on this machine; "
                            f"serving the aggregates as built at {meta.get('built_at', '?')}")
            continue
        try:
            current = manifest_sha256(path)
        except FileNotFoundError:
            current = None
        if current != recorded:
            now = "has no manifest.json any more" if current is None else \
                f"its manifest.json has changed (sha256 {str(recorded)[:12]}… when built, {current[:12]}… now)"
            raise StaleStoreError(
                f"{store_path}: stale results store: {what} {now} since the store was built at "
                f"{meta.get('built_at', '?')}. Its aggregates may not match the data any more. Rebuild it:\n  {command}")
    return warnings


# ---- reading ---------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[\w.]+", re.UNICODE)


def match_expression(term: str) -> str | None:
    """An FTS5 query in which every word prefix-matches; words are quoted, so no query syntax leaks in."""
    tokens = _TOKEN.findall(term)[:12]
    if not tokens:
        return None
    return " AND ".join('"' + t.replace('"', '""') + '"*' for t in tokens)


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

    # -- queries used by the API (every value is a bound parameter) --
    def search(self, term: str, domain: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        match = match_expression(term)
        if match is None:
            return []
        return self.rows(
            "SELECT s.item_id, s.kind, s.domain, s.concept_id, s.parent_id, s.name, s.code, s.vocabulary_id, "
            "s.participant_count FROM search_fts f JOIN search_item s ON s.item_id = f.rowid "
            "WHERE search_fts MATCH ? AND (? IS NULL OR s.domain = ?) "
            "ORDER BY (lower(s.code) = lower(?)) DESC, bm25(search_fts, 10.0, 5.0, 1.0), s.participant_count DESC, s.item_id "
            "LIMIT ?",
            (match, domain, domain, term.strip(), limit),
        )
