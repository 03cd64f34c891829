"""The engine boundary: one interface over DuckDB and Spark, after ibis's shape.

An engine holds named tables (Parquet files or Arrow tables registered under a name, and results materialised
under a name), runs SQLGlot trees over them, and gives results as Arrow. Every tree goes through
``capabilities.check_portable`` first, so a construct the engine cannot run, or that would answer differently on
the other engine, fails loudly naming it instead of giving another answer. Values are never formatted into SQL:
they are named parameters (``exp.Placeholder(this="name")``), bound by the engine (DuckDB ``$name``, Spark
``:name`` through ``spark.sql(sql, args=…)``).

What is the same on every engine, so results and files move between them unchanged:
- the session time zone is UTC;
- ``TIMESTAMP`` is the time-zone-less timestamp (the CDR's ``datetime``: Arrow ``timestamp[us]``, Parquet
  ``isAdjustedToUTC=false``), ``TIMESTAMPTZ`` an instant (Arrow ``timestamp[us, tz=UTC]``); both in microseconds;
- nanosecond timestamps are refused on the way in (``schemas.refuse_nanoseconds``);
- ``write_parquet`` writes a dataset directory (``files``), which ``register_parquet`` of either engine reads;
- every column of a result is nullable (Spark marks some NOT NULL where DuckDB marks none).
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from ..cdr.problems import Problem
from .capabilities import capabilities_of, check_portable
from .errors import EngineError
from .files import PathLike
from .schemas import sql_types

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SCALARS = (bool, int, float, Decimal, str, dt.date)  # dt.datetime is a dt.date


def table_name(name: object, argument: str = "name") -> str:
    """A table name both engines accept unquoted alike: letters, digits and _, not starting with a digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise EngineError([Problem(f"{name!r} is not a table name (letters, digits and _, starting with a letter or _, "
                                   "at most 128 characters)", where=argument)])
    return name.lower()  # both engines fold unquoted names; schemas are kept under one spelling


def _check_value(name: str, value: object, problems: list[Problem]) -> None:
    where = f"params.{name}"
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (list, tuple)):
                problems.append(Problem("nested lists are not supported as parameters", where=where))
                return
            _check_value(name, item, problems)
        return
    if value is None or isinstance(value, _SCALARS):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            problems.append(Problem("a time-zone-aware datetime: give it in UTC without tzinfo (TIMESTAMP is "
                                    "time-zone-less on every engine)", where=where))
        if isinstance(value, float) and value != value:
            problems.append(Problem("NaN is not a parameter value (use None for NULL)", where=where))
        return
    problems.append(Problem(f"a {type(value).__name__} cannot be bound (give None, a bool, number, str, date, datetime "
                            "or a list of them)", where=where))


def named_placeholder(node: exp.Placeholder) -> bool:
    """A placeholder with a name (not ``?`` or ``$1``): the only kind the engines bind."""
    this = node.args.get("this")
    return isinstance(this, str) and bool(_NAME.fullmatch(this))


def bound_parameters(expression: exp.Expression, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` checked against the tree's placeholders: each named placeholder has a value, each value a
    placeholder, and every value is of a kind both engines bind alike. EngineError names each parameter."""
    params = dict(params or {})
    used = {p.name for p in expression.find_all(exp.Placeholder) if named_placeholder(p)}
    problems: list[Problem] = []
    for name in sorted(used - params.keys()):
        problems.append(Problem("the SQL uses this parameter but no value was given", where=f"params.{name}"))
    for name in sorted(params.keys() - used):
        problems.append(Problem("a value was given but the SQL has no such parameter", where=f"params.{name}"))
    for name, value in params.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(Problem(f"{name!r} is not a parameter name (letters, digits and _)", where="params"))
            continue
        _check_value(name, value, problems)
    if problems:
        raise EngineError(problems)
    return params


class Engine(ABC):
    """A SQL engine behind the boundary. Use as a context manager, or call ``close()``."""

    name: ClassVar[str]  # "duckdb" or "spark": the key of the capability table
    dialect: ClassVar[str]  # the SQLGlot dialect its SQL is rendered in

    def __init__(self) -> None:
        self._schemas: dict[str, pa.Schema] = {}

    # -- what it is -------------------------------------------------------------------------------------------
    @property
    def capabilities(self) -> frozenset[str]:
        """The keys of ``capabilities.CAPABILITIES`` this engine supports."""
        return capabilities_of(self.name)

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @abstractmethod
    def has_function(self, name: str) -> bool:
        """Whether the engine has a function of this name (built in, or defined in this session)."""

    # -- tables -----------------------------------------------------------------------------------------------
    @abstractmethod
    def register_parquet(self, name: str, paths: PathLike | Sequence[PathLike], *, row_index: str | None = None,
                         row_index_start: int = 0) -> None:
        """Name Parquet data: a file, a dataset directory (its ``*.parquet`` files, as ``write_parquet`` writes
        them), or a list of these; read when queried. Replaces an earlier table of that name.

        ``row_index``: add a BIGINT column of that name holding each row's position in the file plus
        ``row_index_start`` (the same number on every engine, whatever the file's row groups or the engine's
        splitting of it into tasks). A position means a position in one file, so ``paths`` must be one file."""

    @abstractmethod
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Name an Arrow table (the engine may keep a reference to it, or copy it). Replaces an earlier one."""

    @abstractmethod
    def materialise(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        """Run the query once and keep its rows under ``name`` (DuckDB: a temporary table; Spark: a persisted,
        eagerly computed temporary view). The query may read the table it replaces."""

    def materialise_files(self, name: str, expression: exp.Expression, path: PathLike,
                          params: Mapping[str, Any] | None = None) -> None:
        """Run the query once, write its rows as a dataset directory at ``path`` (``write_parquet``) and name
        them, read from there. For a long chain of rewrites of one table: the table is then a file scan, with no
        lineage (a Spark ``materialise`` keeps its query's plan, and a few hundred chained versions exhaust the
        driver), and it lives on storage every executor reads, not in executors' memory. The query may read the
        table it replaces. The caller owns ``path`` (removes it once the table is replaced or dropped)."""
        self.write_parquet(expression, path, params=params)
        self.register_parquet(name, path)

    @abstractmethod
    def drop(self, name: str) -> None:
        """Forget a named table (and release what the engine cached for it); no error if there is none."""

    def schema(self, name: str) -> pa.Schema:
        """The Arrow schema of a named table."""
        key = table_name(name)
        try:
            return self._schemas[key]
        except KeyError:
            raise EngineError([Problem(f"no table {name!r} is registered on this {self.name} engine", where="name")]) from None

    def schemas(self) -> dict[str, dict[str, str]]:
        """Table → column → SQLGlot type, for ``check_portable``."""
        return {name: sql_types(schema) for name, schema in self._schemas.items()}

    # -- running ----------------------------------------------------------------------------------------------
    def sql(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> str:
        """The SQL this engine runs for the tree, once the parameters and the portability check pass."""
        return self._compile(expression, params)[0]

    def _compile(self, expression: exp.Expression, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """(SQL, parameter values as the engine binds them), after the checks."""
        bound = bound_parameters(expression, params)
        prepared, values = self._bind(expression, bound)
        return check_portable(prepared, self, params=bound), values

    def _bind(self, expression: exp.Expression, params: dict[str, Any]) -> tuple[exp.Expression, dict[str, Any]]:
        """The tree and values as this engine binds them (an engine may rewrite what its binding cannot carry)."""
        return expression, params

    @abstractmethod
    def run(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The query's rows as an Arrow table (every column nullable)."""

    @abstractmethod
    def write_parquet(self, expression: exp.Expression, path: PathLike, *, params: Mapping[str, Any] | None = None,
                      row_group_size: int | None = None, overwrite: bool = False,
                      compression: str = "snappy") -> Path | str:
        """Write the query's rows as a dataset directory at ``path`` (``files``: ``part-*.parquet`` inside),
        atomically for local paths; ``row_group_size`` (a multiple of ``ROW_GROUP_UNIT``) bounds the rows of each
        row group; ``compression``: one of ``COMPRESSIONS`` (zstd: files about 0.6x snappy's, for what is kept).
        Returns the path."""

    def result_schema(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> pa.Schema:
        """The Arrow schema of the query's result, without computing its rows."""
        query = exp.select(exp.Star()).from_(exp.Subquery(this=expression.copy(), alias=exp.TableAlias(this=exp.to_identifier("_rw_q"))))
        return self.run(query.limit(0), params).schema

    def scalar(self, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> Any:
        """The one value of a one-row, one-column query, as a Python value."""
        table = self.run(expression, params)
        if table.num_rows != 1 or table.num_columns != 1:
            raise EngineError([Problem(f"expected one row of one column, got {table.num_rows} rows of "
                                       f"{table.num_columns} columns", where="expression")])
        return table.column(0)[0].as_py()

    @abstractmethod
    def close(self) -> None:
        """Release the engine (a session it started is stopped; one it was given is left running)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Parquet codecs both engines write (their own names for them agree).
COMPRESSIONS = ("snappy", "zstd", "gzip", "uncompressed")


def check_compression(compression: object) -> str:
    if compression not in COMPRESSIONS:
        raise EngineError([Problem(f"{compression!r}: give one of {', '.join(COMPRESSIONS)}", where="compression")])
    return str(compression)


# DuckDB writes row groups in whole vectors of 2,048 rows (a ROW_GROUP_SIZE of 3,000 gives groups of 4,096), so a
# bound that holds on both engines is a multiple of it.
ROW_GROUP_UNIT = 2048


def check_row_group_size(row_group_size: int | None) -> None:
    if row_group_size is not None and (isinstance(row_group_size, bool) or not isinstance(row_group_size, int)
                                       or row_group_size < 1 or row_group_size % ROW_GROUP_UNIT):
        raise EngineError([Problem(f"{row_group_size!r}: give a positive multiple of {ROW_GROUP_UNIT:,} rows (DuckDB "
                                   f"writes row groups in whole vectors of {ROW_GROUP_UNIT:,})", where="row_group_size")])
