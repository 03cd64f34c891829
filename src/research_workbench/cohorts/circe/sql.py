"""The Circe compiler's own SQLGlot building blocks: date arithmetic, Circe's value filters, temp tables.

Identifiers, tables, columns, numbers, aliases and unions come from the one shared vocabulary, ``cdr.sql``
(a table or alias always by keyword: ``col("person_id", table="P")``); only what Circe alone needs is here.

Values from a definition reach SQL only as SQLGlot literals of validated, typed values (ints, floats, dates,
strings escaped by SQLGlot) or as bound parameters; nothing is formatted into SQL text.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
from sqlglot import exp

from ...cdr.engine import connect
from ...cdr.sql import col, date_literal, ident, num, table
from ...engines import portable
from .model import Concept, ConceptSetSelection, DateRange, NumericRange, TextFilter

DIALECT = "duckdb"
CODESETS = "circe_codesets"
TEMP_PREFIX = "circe_"  # every table and CTE the executor names; never a CDR table's name


def add_days(value: exp.Expression, days: int) -> exp.Expression:
    """The date ``days`` after ``value``, on every engine (``engines.portable``)."""
    if days == 0:
        return value
    return portable.add_days(value, num(days))


def days_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """Whole days from ``start`` to ``end``, on every engine (DATE − DATE is an INTERVAL on Spark, not days)."""
    return portable.days_between(start, end)


def earlier_of(value: exp.Expression, cap: exp.Expression) -> exp.Expression:
    """circe-be's ``CASE WHEN value > cap THEN cap ELSE value END``: unlike LEAST, a NULL value stays NULL."""
    return exp.Case(ifs=[exp.If(this=exp.GT(this=value, expression=cap), true=cap.copy())], default=value.copy())


def later_of(value: exp.Expression, floor: exp.Expression) -> exp.Expression:
    """circe-be's ``CASE WHEN value > floor THEN value ELSE floor END`` (the censor window's start)."""
    return exp.Case(ifs=[exp.If(this=exp.GT(this=value, expression=floor), true=value.copy())], default=floor.copy())


def _java_int(value: float) -> int:
    """Java's ``Number.intValue()``: the fraction dropped toward zero."""
    return int(value)


def _java_4f(value: float) -> float:
    """Java's ``%.4f``: rounded half up to four decimals."""
    return float(Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def range_clause(value: exp.Expression, rng: NumericRange | DateRange, *, decimal: bool = False) -> exp.Expression:
    """``Op`` of a NumericRange or DateRange applied to ``value`` (``bt`` is inclusive at both ends).

    A NumericRange's bounds are written into circe-be's SQL as integers (``intValue()``, the fraction dropped) for
    counts, days and ages, and with four decimals for the measured values (``decimal``): the same here, so "Age > 40.5"
    selects what circe-be's "> 40" selects."""
    if isinstance(rng, DateRange):
        lit: Callable = date_literal
    else:
        shape = _java_4f if decimal else _java_int
        lit = lambda v: num(shape(v))  # noqa: E731
    v = lit(rng.value)
    if rng.op in ("bt", "!bt"):
        between = exp.Between(this=value, low=v, high=lit(rng.extent))
        return exp.Not(this=exp.Paren(this=between)) if rng.op == "!bt" else between
    build = {"lt": exp.LT, "lte": exp.LTE, "eq": exp.EQ, "!eq": exp.NEQ, "gt": exp.GT, "gte": exp.GTE}[rng.op]
    return build(this=value, expression=v)


def text_clause(value: exp.Expression, text: TextFilter) -> exp.Expression:
    """Circe's TextFilter: SQL LIKE with the text as prefix, infix or suffix."""
    op = text.op.lstrip("!")
    pattern = {"startsWith": f"{text.text}%", "contains": f"%{text.text}%", "endsWith": f"%{text.text}"}[op]
    like = exp.Like(this=value, expression=exp.Literal.string(pattern))
    return exp.Not(this=exp.Paren(this=like)) if text.op.startswith("!") else like


def in_codeset(value: exp.Expression, codeset_id: int) -> exp.Expression:
    members = (
        exp.select(col("concept_id"), copy=False)
        .from_(table(CODESETS), copy=False)
        .where(exp.EQ(this=col("codeset_id"), expression=num(codeset_id)), copy=False)
    )
    return exp.In(this=value, query=exp.Subquery(this=members))


def concept_clause(
    value: exp.Expression, concepts: list[Concept] | None, selection: ConceptSetSelection | None, exclude: bool = False
) -> list[exp.Expression]:
    """A concept-array filter (negated by ``exclude``) and/or a concept-set selection (negated by IsExclusion)."""
    clauses: list[exp.Expression] = []
    if concepts:
        listed = exp.In(this=value, expressions=[num(c.concept_id) for c in concepts])
        clauses.append(exp.Not(this=exp.Paren(this=listed)) if exclude else listed)
    if selection is not None:
        member = in_codeset(value.copy(), selection.codeset_id)
        clauses.append(exp.Not(this=exp.Paren(this=member)) if selection.is_exclusion else member)
    return clauses


def row_number(partition: list[exp.Expression], order: list[exp.Expression], desc: bool | list[bool] = False) -> exp.Window:
    """ROW_NUMBER() over ``order``; ``desc`` for every column, or one flag per column."""
    flags = desc if isinstance(desc, list) else [desc] * len(order)
    return exp.Window(
        this=exp.func("ROW_NUMBER"),
        partition_by=partition,
        order=exp.Order(expressions=[exp.Ordered(this=o, desc=d) for o, d in zip(order, flags, strict=True)]),
    )


def subquery(query: exp.Expression, name: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=ident(name)))


_DATABASES: dict[str | None, duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()


def run_connection(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A new connection for one run, to an in-memory DuckDB database kept for the process (one per memory limit).

    Starting a DuckDB database (buffer manager, thread pool) costs tens of milliseconds, more than a whole run on a
    small CDR; a connection to a started one costs well under one. A run keeps to its own connection: its temporary
    tables are the connection's, dropped when it closes, and it creates nothing else in the database."""
    with _DATABASES_LOCK:
        database = _DATABASES.get(memory_limit)
        if database is None:
            database = _DATABASES[memory_limit] = connect(memory_limit=memory_limit)
            # CDR files never change under a manifest; their footers are read once per process, not once per run
            database.execute("SET GLOBAL parquet_metadata_cache = true")
    return database.cursor()


class Aliases:
    """Fresh table aliases for nested subqueries, so a correlated reference never hits an inner alias by accident."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{next(self._next)}"


class Session:
    """One DuckDB connection over a CDR for one run, and how long each step took.

    A CDR table is read straight from its Parquet file: as a statement is run, each table it names that ``locate``
    knows (``locate`` gives a table's file, or None for a name that is not a CDR table) becomes
    ``read_parquet(file)`` under the table's name. Nothing is created for it, so a run costs nothing for the CDR
    tables it does not read."""

    def __init__(self, con: duckdb.DuckDBPyConnection, locate: Callable[[str], Path | None] | None = None):
        self.con = con
        self._locate = locate or (lambda name: None)
        self._files: dict[str, Path | None] = {}
        self.timings: dict[str, float] = {}

    def sql(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=DIALECT)

    def _read_files(self, statement: exp.Expression) -> None:
        for node in list(statement.find_all(exp.Table)):
            name = node.name
            if not name or node.args.get("db") or name.startswith(TEMP_PREFIX):
                continue
            if name not in self._files:
                self._files[name] = self._locate(name)
            path = self._files[name]
            if path is None:
                continue
            if node.args.get("alias") is None:
                node.set("alias", exp.TableAlias(this=ident(name)))
            node.set("this", exp.ReadParquet(expressions=[exp.Literal.string(str(path))]))

    def execute(self, statement: exp.Expression, params: list | None = None) -> duckdb.DuckDBPyConnection:
        self._read_files(statement)
        return self.con.execute(self.sql(statement), params or [])

    def fetchall(self, query: exp.Expression) -> list[tuple]:
        return self.execute(query).fetchall()

    def step(self, name: str):
        return _Timer(self.timings, name)


class _Timer:
    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.timings[self.name] = self.timings.get(self.name, 0.0) + (time.perf_counter() - self.start) * 1000
