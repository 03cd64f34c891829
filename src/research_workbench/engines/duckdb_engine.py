"""The embedded engine: DuckDB, on a connection from ``cdr.engine.connect`` (bounded memory, spilling to disk)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from ..cdr.engine import connect
from ..cdr.problems import Problem
from .base import Engine, check_compression, check_row_group_size, table_name
from .capabilities import builtin_function
from .errors import EngineError, QueryFailed
from .files import PathLike, atomic_directory, check_one_file, is_url, parquet_files
from .schemas import nullable, refuse_nanoseconds

PART_FILE = "part-00000.parquet"  # DuckDB writes a dataset directory of one file


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


class DuckDBEngine(Engine):
    """DuckDB behind the boundary. ``DuckDBEngine()`` opens its own in-memory connection (``memory_limit``,
    ``temp_dir`` for spilling, ``threads``: see ``cdr.engine.connect``); ``DuckDBEngine.from_connection(con)``
    wraps one the caller owns. Either way the connection's time zone is set to UTC."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, *, temp_dir: Path | None = None, memory_limit: str | None = None, threads: int | None = None,
                 _connection: duckdb.DuckDBPyConnection | None = None):
        super().__init__()
        self._owned = _connection is None
        self.con = _connection if _connection is not None else connect(temp_dir, memory_limit, threads)
        # TIMESTAMPTZ values cast to DATE, and CURRENT_DATE, follow the time zone: the same as Spark's session.
        self.con.execute("SET TimeZone = 'UTC'")
        self._kinds: dict[str, str] = {}  # name → "VIEW" (Parquet), "ARROW" (registered) or "TABLE" (materialised)
        self._macros: set[str] = set()
        self._serial = 0

    @classmethod
    def from_connection(cls, con: duckdb.DuckDBPyConnection) -> DuckDBEngine:
        """An engine on a connection the caller keeps (``close()`` leaves it open)."""
        return cls(_connection=con)

    # -- functions --------------------------------------------------------------------------------------------
    def has_function(self, name: str) -> bool:
        if builtin_function("duckdb", name):
            return True
        rows = self.con.execute("SELECT count(*) FROM duckdb_functions() WHERE lower(function_name) = lower($name)",
                                {"name": name}).fetchall()
        return rows[0][0] > 0

    # -- tables -----------------------------------------------------------------------------------------------
    def _forget(self, name: str) -> None:
        kind = self._kinds.pop(name, None)
        self._schemas.pop(name, None)
        if kind == "ARROW":
            self.con.unregister(name)
        elif kind is not None:
            self.con.execute(f"DROP {kind} IF EXISTS {_quoted(name)}")

    def _remember(self, name: str, kind: str) -> None:
        self._kinds[name] = kind
        schema = self.con.sql(f"SELECT * FROM {_quoted(name)} LIMIT 0").to_arrow_table().schema
        self._schemas[name] = schema

    def register_parquet(self, name: str, paths: PathLike | Sequence[PathLike], *, row_index: str | None = None,
                         row_index_start: int = 0) -> None:
        name = table_name(name)
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        remote = [str(p) for p in items if is_url(p)]
        if remote:
            raise EngineError([Problem(f"{remote[0]}: DuckDB here reads local files only (no extension is ever "
                                       "installed); object storage is read by the Spark engine", where="paths")])
        files = parquet_files(paths)
        if row_index is None:
            relation = self.con.read_parquet(files)
        else:  # DuckDB numbers each file's rows from 0 (file_row_number), across its row groups
            check_one_file(files, paths)
            relation = self.con.read_parquet(files[0], file_row_number=True).project(
                f"* EXCLUDE (file_row_number), CAST(file_row_number AS BIGINT) + {int(row_index_start)} AS {_quoted(row_index)}")
        self._forget(name)
        relation.create_view(name, replace=True)
        self._remember(name, "VIEW")

    def register_arrow(self, name: str, table: pa.Table) -> None:
        name = table_name(name)
        if not isinstance(table, pa.Table):
            raise EngineError([Problem(f"expected a pyarrow.Table, got {type(table).__name__}", where="table")])
        refuse_nanoseconds(table.schema, f"table {name}")
        self._forget(name)
        self.con.register(name, table)
        self._remember(name, "ARROW")

    def materialise(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        name = table_name(name)
        sql, values = self._compile(expression, params)
        # Built under a fresh name, then renamed: the query may read the table it replaces, and a view and a
        # temporary table of one name would otherwise live side by side in two catalogs.
        self._serial += 1
        staging = f"__rw_materialising_{self._serial}"
        self._execute(f"CREATE TEMP TABLE {_quoted(staging)} AS {sql}", values)
        self._forget(name)
        self.con.execute(f"ALTER TABLE {_quoted(staging)} RENAME TO {_quoted(name)}")
        self._remember(name, "TABLE")

    def drop(self, name: str) -> None:
        self._forget(table_name(name))

    # -- running ----------------------------------------------------------------------------------------------
    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> duckdb.DuckDBPyRelation:
        try:
            return self.con.sql(sql, params=dict(params) if params else None)
        except duckdb.Error as err:
            raise QueryFailed(self.name, str(err).splitlines()[0], sql) from err

    def run(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> pa.Table:
        sql, values = self._compile(expression, params)
        relation = self._execute(sql, values)
        if relation is None:  # a statement with no result (DuckDB's DDL and DML)
            return pa.table({})
        try:
            return nullable(relation.to_arrow_table())
        except duckdb.Error as err:
            raise QueryFailed(self.name, str(err).splitlines()[0], sql) from err

    def write_parquet(self, expression: exp.Expression, path: PathLike, *, params: Mapping[str, Any] | None = None,
                      row_group_size: int | None = None, overwrite: bool = False, compression: str = "snappy") -> Path:
        check_row_group_size(row_group_size)
        check_compression(compression)
        if is_url(path):
            raise EngineError([Problem(f"{path}: DuckDB here writes local files only", where="path")])
        sql, values = self._compile(expression, params)
        with atomic_directory(path, overwrite=overwrite) as temporary:
            temporary.mkdir()
            relation = self._execute(sql, values)
            try:
                relation.write_parquet(str(temporary / PART_FILE), compression=compression, row_group_size=row_group_size)
            except duckdb.Error as err:
                raise QueryFailed(self.name, str(err).splitlines()[0], sql) from err
        return Path(path)

    def close(self) -> None:
        if self._owned:
            self.con.close()
