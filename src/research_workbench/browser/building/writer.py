"""Writing a results store: one SQLite file of published (rounded) aggregates, built atomically.

``build_store`` computes the raw aggregates of a release (``aggregates.py``), passes them through the one
disclosure pass (``protect.py``) and writes them, with the FTS5 search index (``index.fts``) and a manifest
(``meta``: release, the source CDRs and their manifest hashes, bin size, build time), to a hidden file beside the
target that is renamed into place when complete. ``store_columns`` records every column's role, so every count
column can be checked. The serving side reads it (``serving.store``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import __version__
from ...index.fts import create_fts
from ..disclosure import DEFAULT_BIN
from ..schema import TABLES, TableSpec
from ..store_format import SEARCH_CONTENT, SEARCH_FTS, SEARCH_ROWID, STORE_FORMAT, STORE_FORMAT_VERSION
from . import aggregates
from .protect import PublishedTable, protect
from .source import open_source

if TYPE_CHECKING:
    from ...engines.base import Engine

Progress = Callable[[str, int, int], None]
BATCH_ROWS = 10_000


class StoreExistsError(FileExistsError):
    pass


def default_store_path(release_dir: Path) -> Path:
    release_dir = Path(release_dir).absolute()
    return release_dir.parent / f"{release_dir.name}.browser.sqlite"


@dataclass
class BuildResult:
    path: Path
    meta: dict[str, Any]
    rows: dict[str, int]
    seconds: float


def _create_sql(table: TableSpec) -> list[str]:
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    pk = f', PRIMARY KEY ({", ".join(table.primary_key)})' if table.primary_key else ""
    sql = [f'CREATE TABLE "{table.name}" ({cols}{pk})']
    for i, index in enumerate(table.indexes):
        sql.append(f'CREATE INDEX "{table.name}_ix{i}" ON "{table.name}" ({", ".join(index)})')
    return sql


def _write_table(con: sqlite3.Connection, table: PublishedTable) -> int:
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
        if len(batch) >= BATCH_ROWS:
            con.executemany(insert, batch)
            n += len(batch)
            batch.clear()
    con.executemany(insert, batch)
    return n + len(batch)


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
            counts[table.spec.name] = _write_table(con, table)
        create_fts(con, SEARCH_FTS, SEARCH_CONTENT, SEARCH_ROWID)
        con.executescript(
            """
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


def build_store(release_dir: Path, out: Path | None = None, *, bin_size: int = DEFAULT_BIN, replace: bool = False,
                progress: Progress | None = None, memory_limit: str | None = None,
                engine: Engine | None = None) -> BuildResult:
    """Build the results store of a release (or a single CDR) at ``out``, atomically. ``engine``: where the
    aggregates' SQL runs (default: an embedded DuckDB); the disclosure pass and the store are the same whatever
    it is."""
    started = time.perf_counter()
    if isinstance(bin_size, bool) or not isinstance(bin_size, int) or bin_size < 1:
        raise ValueError(f"bin size must be a positive whole number, not {bin_size!r}")
    source = open_source(Path(release_dir))
    target = Path(out).absolute() if out else default_store_path(Path(release_dir))
    if target.exists() and not replace:
        raise StoreExistsError(f"{target} already exists (use --replace to rebuild it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    building = target.parent / f".{target.name}.building-{tag}"
    scratch = target.parent / f".{target.name}.scratch-{tag}"
    scratch.mkdir()
    try:
        raw = aggregates.compute(source, scratch=scratch, progress=progress, memory_limit=memory_limit, engine=engine)
        published = protect(raw, bin_size)
        meta = {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "release": source.name,
            "source_kind": source.kind,
            "source_path": str(Path(release_dir).absolute()),
            "source_manifest_sha256": source.manifest_sha256,
            "sources": [c.as_dict() for c in source.cdrs],
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
