"""A CDR on disk: one Parquet file per table plus ``manifest.json``, written atomically and read with DuckDB."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from sqlglot import exp

from .engine import connect, one_row
from .manifest import CONTENT_HASH_ALGORITHM, FileEntry, Manifest, TableEntry
from .model import SQL_TYPES, Table, cdm


class CdrExistsError(FileExistsError):
    pass


class CdrFileError(ValueError):
    """A data file of a CDR (or of an index) that is missing, truncated or not readable: the message names the file."""

    def __init__(self, path: Path, problem: str, hint: str = ""):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" + (f"; {hint}" if hint else ""))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    # Anonymous: SQLGlot would wrap a typed CONCAT_WS in a CASE that tests every part for NULL first, computing
    # every cast twice; no part can be NULL here, and CONCAT_WS means the same in every engine we target.
    return exp.Anonymous(this="CONCAT_WS", expressions=[exp.Literal.string("\x1f"), *parts])


def content_hash(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, table: Table) -> tuple[int, str]:
    """Row count and an order-independent hash of a relation's rows.

    Sum of 128-bit MD5s of each row's canonical text (as two 64-bit halves so the sum cannot overflow): the
    same rows in any order, file layout or engine give the same hash, and a duplicated row changes it.
    """
    # One MD5 per row (an unsigned 128-bit number), split into the halves MD5_NUMBER_LOWER and MD5_NUMBER_UPPER
    # give: computing those two functions separately costs two MD5s per row, and hashing is most of the time it
    # takes to write or verify a CDR.
    h = exp.column("h")
    halves = {
        "lower": exp.BitwiseRightShift(this=h, expression=exp.Literal.number(64)),
        "upper": exp.BitwiseAnd(this=h.copy(), expression=exp.Literal.number((1 << 64) - 1)),
    }
    query = exp.select(
        exp.func("COUNT", exp.Star()),
        *[exp.func("SUM", exp.cast(half, "UBIGINT", dialect="duckdb")) for half in halves.values()],
    )
    with temporary_view(con, relation) as view:
        hashed = exp.select(exp.alias_(exp.func("MD5_NUMBER", canonical_row_text(table)), "h")).from_(view).subquery("r")
        count, lower, upper = one_row(con, query.from_(hashed).sql(dialect="duckdb"))
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


@dataclass(frozen=True)
class CdrProblem:
    """One way a CDR differs from its manifest: which table (or other file), which check, expected and found."""

    table: str  # table name, a non-table file's path relative to the CDR, or "(manifest)"
    file: str  # relative to the CDR directory
    check: str  # missing, bytes, sha256, rows, content_hash, unreadable, content_hash_algorithm
    expected: str | int | None
    found: str | int | None
    kind: str = "table"  # table, file (a genome or other non-table file) or manifest

    @property
    def message(self) -> str:
        if self.check == "content_hash_algorithm":
            return (f"content hashes were computed with {self.expected}, this version computes {self.found}: "
                    "contents not checked")
        if self.check == "missing":
            return f"file {self.file} is missing"
        if self.check == "unreadable":
            return f"file {self.file} is not a readable Parquet file ({self.found})"
        what = {"bytes": "size in bytes", "sha256": "SHA-256", "rows": "row count", "content_hash": "content hash"}.get(self.check, self.check)
        return f"file {self.file}: {what} differs from the manifest: expected {self.expected}, found {self.found}"

    def __str__(self) -> str:
        return f"{self.table}: {self.message}"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "table": self.table, "file": self.file, "check": self.check, "expected": self.expected,
                "found": self.found, "message": str(self)}


class Cdr:
    """An existing CDR directory, queried through DuckDB views named after its tables.

    Opening reads only the manifest, so that a damaged CDR can still be verified. Every table file is checked
    (present, size as in the manifest, a readable Parquet file) when it is handed out (``table_file``) or put
    behind a view (``connect``): a missing or truncated file is a CdrFileError naming it, never a DuckDB error.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest = Manifest.read(self.path)
        self.model = cdm()

    def _damaged(self, path: Path, problem: str) -> CdrFileError:
        return CdrFileError(path, problem, f"the CDR at {self.path} is damaged (see `workbench cdr verify {self.path}`)")

    def check_file(self, name: str) -> Path:
        """The file of table ``name`` if it is there with the manifest's size; CdrFileError otherwise."""
        entry = self.manifest.tables[name]
        path = self.path / entry.file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise self._damaged(path, f"table file missing (table {name})") from None
        if size != entry.bytes:
            what = "truncated" if size < entry.bytes else "altered"
            raise self._damaged(path, f"table file {what}: {size:,} bytes, the manifest says {entry.bytes:,} (table {name})")
        return path

    def table_file(self, name: str) -> Path:
        return self.check_file(name)

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        con = con or connect()
        for name in self.manifest.tables:
            path = self.check_file(name)
            try:
                con.read_parquet(str(path)).create_view(name, replace=True)
            except duckdb.Error as err:
                raise self._damaged(path, f"not a readable Parquet file (table {name}): {_first_line(err)}") from None
        return con

    @contextmanager
    def query_errors(self) -> Iterator[None]:
        """Turn a DuckDB error caused by a table file that went missing or changed after ``connect`` into a
        CdrFileError naming the file; other errors pass through unchanged."""
        try:
            yield
        except duckdb.Error as err:
            text = str(err)
            for name, entry in self.manifest.tables.items():
                if str(self.path / entry.file) in text:
                    self.check_file(name)
                    raise self._damaged(self.path / entry.file, f"could not be read (table {name}): {_first_line(err)}") from None
            raise

    def check(self, content: bool = True, con: duckdb.DuckDBPyConnection | None = None) -> list[CdrProblem]:
        """Every way the CDR differs from its manifest, each located (table, file, check, expected, found).

        Per table: the file exists; its size in bytes, its SHA-256 and its row count (Parquet metadata) match; and
        with ``content`` its content hash, recomputed from the rows with ``content_hash``, matches (this reads every
        row). Then every other file (genomes) is checked for presence, size and SHA-256.
        """
        import pyarrow.parquet as pq

        problems: list[CdrProblem] = []
        own = con is None and content
        if content and self.manifest.content_hash_algorithm != CONTENT_HASH_ALGORITHM:
            problems.append(CdrProblem("(manifest)", "manifest.json", "content_hash_algorithm", self.manifest.content_hash_algorithm,
                                       CONTENT_HASH_ALGORITHM, kind="manifest"))
            content = False
        con = connect() if own else con
        try:
            for name, entry in self.manifest.tables.items():
                path = self.path / entry.file
                add = lambda check, expected, found: problems.append(CdrProblem(name, entry.file, check, expected, found))  # noqa: E731
                if not path.is_file():
                    add("missing", entry.file, None)
                    continue
                size = path.stat().st_size
                if size != entry.bytes:
                    add("bytes", entry.bytes, size)
                digest = sha256_file(path)
                if digest != entry.file_sha256:
                    add("sha256", entry.file_sha256, digest)
                try:
                    rows = pq.read_metadata(path).num_rows
                except Exception as err:  # pyarrow raises ArrowInvalid, OSError … for a damaged footer
                    add("unreadable", "a Parquet file", _first_line(err))
                    continue
                if rows != entry.rows:
                    add("rows", entry.rows, rows)
                if content and name in self.model.tables:
                    try:
                        found = EMPTY_CONTENT_HASH if rows == 0 else content_hash(con, con.read_parquet(str(path)), self.model.table(name))[1]
                    except duckdb.Error as err:
                        add("unreadable", "a Parquet file", _first_line(err))
                        continue
                    if found != entry.content_hash:
                        add("content_hash", entry.content_hash, found)
        finally:
            if own:
                con.close()
        for relative, entry in self.manifest.files.items():
            path = self.path / relative
            add = lambda check, expected, found: problems.append(CdrProblem(relative, relative, check, expected, found, kind="file"))  # noqa: E731
            if not path.is_file():
                add("missing", relative, None)
                continue
            if path.stat().st_size != entry.bytes:
                add("bytes", entry.bytes, path.stat().st_size)
            digest = sha256_file(path)
            if digest != entry.sha256:
                add("sha256", entry.sha256, digest)
        return problems

    def verify(self, content: bool = False) -> list[str]:
        """One line per table or file that differs from the manifest (empty when the CDR is intact).

        The located problems behind each line are ``check(content)``; ``content=True`` also recomputes every
        table's content hash.
        """
        return summarize(self.check(content=content))


def summarize(problems: list[CdrProblem]) -> list[str]:
    """One line per table or file with problems: "is missing", or "differs from the manifest"."""
    lines: dict[str, str] = {}
    for problem in problems:
        if problem.table in lines:
            continue
        if problem.kind == "table":
            state = "is missing" if problem.check == "missing" else "differs from the manifest"
            lines[problem.table] = f"{problem.table}: file {problem.file} {state}"
        elif problem.kind == "file":
            lines[problem.table] = f"{problem.table}: missing or differs from the manifest"
        else:
            lines[problem.table] = str(problem)
    return list(lines.values())
