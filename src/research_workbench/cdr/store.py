"""A CDR on disk: one Parquet file per table plus ``manifest.json``, written atomically and read with DuckDB."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from sqlglot import exp

from .engine import connect, one_row
from .manifest import FileEntry, Manifest, TableEntry
from .model import SQL_TYPES, Table, cdm


class CdrExistsError(FileExistsError):
    pass


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def temporary_view(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation) -> Iterator[exp.Table]:
    """Expose a relation under a fresh view name for SQL built with SQLGlot; dropped afterwards."""
    name = f"_rel_{uuid.uuid4().hex}"
    relation.create_view(name)
    view = exp.Table(this=exp.to_identifier(name, quoted=True))
    try:
        yield view
    finally:
        con.execute(exp.Drop(kind="VIEW", tables=[view], exists=True).sql(dialect="duckdb"))


def canonical_row_text(table: Table) -> exp.Expression:
    """One VARCHAR per row that any engine would agree on: the values in schema order, NULL as ``\\N``.

    Values are cast to the model's types first, so a table read from CSV, Parquet or PostgreSQL hashes alike.
    """
    parts: list[exp.Expression] = []
    for col in table.columns:
        typed = exp.cast(exp.column(col.name, quoted=True), SQL_TYPES[col.type])
        parts.append(exp.func("COALESCE", exp.cast(typed, "VARCHAR"), exp.Literal.string("\\N")))
    return exp.func("CONCAT_WS", exp.Literal.string("\x1f"), *parts)


def content_hash(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, table: Table) -> tuple[int, str]:
    """Row count and an order-independent hash of a relation's rows.

    Sum of 128-bit MD5s of each row's canonical text (as two 64-bit halves so the sum cannot overflow): the
    same rows in any order, file layout or engine give the same hash, and a duplicated row changes it.
    """
    row = exp.Paren(this=canonical_row_text(table))
    query = exp.select(
        exp.func("COUNT", exp.Star()),
        exp.func("SUM", exp.func("MD5_NUMBER_LOWER", row)),
        exp.func("SUM", exp.func("MD5_NUMBER_UPPER", row)),
    )
    with temporary_view(con, relation) as view:
        count, lower, upper = one_row(con, query.from_(view).sql(dialect="duckdb"))
    digest = hashlib.sha256(f"{count}:{lower or 0}:{upper or 0}".encode()).hexdigest()
    return int(count), digest


EMPTY_CONTENT_HASH = hashlib.sha256(b"0:0:0").hexdigest()


def typed_select(table: Table, source: exp.Table, available: set[str] | None = None) -> exp.Select:
    """SELECT every model column of ``table`` cast to its type from ``source``.

    Columns missing from ``available`` become typed NULLs, so every table file has the full model schema.
    """
    projections = []
    for col in table.columns:
        if available is None or col.name in available:
            value: exp.Expression = exp.column(col.name, quoted=True)
        else:
            value = exp.Null()
        projections.append(exp.alias_(exp.cast(value, SQL_TYPES[col.type]), col.name, quoted=True))
    return exp.select(*projections).from_(source)


class CdrBuilder:
    """Builds a CDR in a temporary directory beside the target and renames it into place on ``commit``.

    Until ``commit`` succeeds the target is untouched; on any error the temporary directory is removed.
    """

    def __init__(self, target: Path, *, replace: bool = False, memory_limit: str | None = None):
        self.target = Path(target).absolute()
        if self.target.exists() and any(self.target.iterdir()) and not replace:
            raise CdrExistsError(f"{self.target} already exists and is not empty (use --replace to overwrite it)")
        self.replace = replace
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.work = self.target.parent / f".{self.target.name}.building-{uuid.uuid4().hex[:8]}"
        self.work.mkdir()
        self.scratch = self.work / ".scratch"
        self.con = connect(temp_dir=self.scratch / "duckdb", memory_limit=memory_limit)
        self.tables: dict[str, TableEntry] = {}
        self.files: dict[str, FileEntry] = {}
        self.model = cdm()
        self._committed = False

    def __enter__(self) -> CdrBuilder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.abort()

    def abort(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def table_path(self, name: str) -> Path:
        return self.work / f"{name}.parquet"

    def scratch_path(self, name: str) -> Path:
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch / name

    def write_table(self, name: str, relation: duckdb.DuckDBPyRelation, available: set[str] | None = None) -> TableEntry:
        """Write ``relation`` (with model column names) as table ``name``, cast to the model's types."""
        table = self.model.table(name)
        with temporary_view(self.con, relation) as view:
            query = typed_select(table, view, available).sql(dialect="duckdb")
            self.con.sql(query).write_parquet(str(self.table_path(name)), compression="zstd")
        return self.register_table(name)

    def write_empty(self, name: str) -> TableEntry:
        """An empty table file with the model's full schema (written by Arrow: no query needed)."""
        import pyarrow.parquet as pq

        table = self.model.table(name)
        pq.write_table(table.arrow_schema().empty_table(), self.table_path(name), compression="zstd")
        return self.register_table(name)

    def register_table(self, name: str) -> TableEntry:
        """Record a table file already written to ``table_path(name)`` (row count and hashes)."""
        import pyarrow.parquet as pq

        table = self.model.table(name)
        path = self.table_path(name)
        if pq.ParquetFile(path).metadata.num_rows == 0:
            rows, digest = 0, EMPTY_CONTENT_HASH
        else:
            rows, digest = content_hash(self.con, self.con.read_parquet(str(path)), table)
        entry = TableEntry(
            file=path.name, rows=rows, content_hash=digest, file_sha256=sha256_file(path), bytes=path.stat().st_size
        )
        self.tables[name] = entry
        return entry

    def add_file(self, relative: str, description: str = "") -> Path:
        """Reserve a path for a non-table file (a genome, say); it is hashed at commit."""
        path = self.work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files[relative] = FileEntry(sha256="", bytes=0, description=description)
        return path

    def commit(self, **manifest_fields: Any) -> Manifest:
        for name in self.model.tables:
            if name not in self.tables:
                self.write_empty(name)
        for relative, entry in self.files.items():
            path = self.work / relative
            self.files[relative] = FileEntry(sha256=sha256_file(path), bytes=path.stat().st_size, description=entry.description)
        manifest = Manifest(
            created_at=manifest_fields.pop("created_at", None) or datetime.now(timezone.utc),
            tables=dict(sorted(self.tables.items())),
            files=self.files,
            **manifest_fields,
        )
        manifest.write(self.work)
        self.con.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        swap_into_place(self.work, self.target)
        self._committed = True
        return manifest


def swap_into_place(built: Path, target: Path) -> None:
    """Rename ``built`` to ``target``; an existing target is moved aside first and removed afterwards."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(built, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class Cdr:
    """An existing CDR directory, queried through DuckDB views named after its tables."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest = Manifest.read(self.path)
        self.model = cdm()

    def table_file(self, name: str) -> Path:
        return self.path / self.manifest.tables[name].file

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        con = con or connect()
        for name in self.manifest.tables:
            con.read_parquet(str(self.table_file(name))).create_view(name, replace=True)
        return con

    def verify(self) -> list[str]:
        """Problems found when re-hashing every file against the manifest (empty when the CDR is intact)."""
        problems = []
        for name, entry in self.manifest.tables.items():
            path = self.path / entry.file
            if not path.is_file():
                problems.append(f"{name}: file {entry.file} is missing")
            elif sha256_file(path) != entry.file_sha256:
                problems.append(f"{name}: file {entry.file} differs from the manifest")
        for relative, entry in self.manifest.files.items():
            path = self.path / relative
            if not path.is_file() or sha256_file(path) != entry.sha256:
                problems.append(f"{relative}: missing or differs from the manifest")
        return problems
