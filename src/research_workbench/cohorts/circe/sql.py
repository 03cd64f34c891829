"""The Circe compiler's own SQLGlot building blocks: date arithmetic, Circe's value filters, temp tables.

Identifiers, tables, columns, numbers, aliases and unions come from the one shared vocabulary, ``cdr.sql``
(a table or alias always by keyword: ``col("person_id", table="P")``); only what Circe alone needs is here.

Values from a definition reach SQL only as SQLGlot literals of validated, typed values (ints, floats, dates,
strings escaped by SQLGlot) or as bound parameters; nothing is formatted into SQL text.
"""

from __future__ import annotations

import itertools
import time

import duckdb
from sqlglot import exp

from ...cdr.sql import col, date_literal, num, table
from .model import Concept, ConceptSetSelection, DateRange, NumericRange, TextFilter

DIALECT = "duckdb"
CODESETS = "circe_codesets"


def add_days(value: exp.Expression, days: int) -> exp.Expression:
    """DATE + INTEGER is a DATE in DuckDB."""
    if days == 0:
        return value
    return exp.Add(this=value, expression=num(days))


def days_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """DATE − DATE is the number of days in DuckDB."""
    return exp.Sub(this=end, expression=start)


def least(*values: exp.Expression) -> exp.Expression:
    return exp.func("LEAST", *values)


def range_clause(value: exp.Expression, rng: NumericRange | DateRange) -> exp.Expression:
    """``Op`` of a NumericRange or DateRange applied to ``value`` (``bt`` is inclusive at both ends)."""
    lit = date_literal if isinstance(rng, DateRange) else num
    v = lit(rng.value)  # type: ignore[arg-type]
    if rng.op in ("bt", "!bt"):
        between = exp.Between(this=value, low=v, high=lit(rng.extent))  # type: ignore[arg-type]
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
        exp.select(col("concept_id"))
        .from_(table(CODESETS))
        .where(exp.EQ(this=col("codeset_id"), expression=num(codeset_id)))
    )
    return value.isin(query=members)


def concept_clause(
    value: exp.Expression, concepts: list[Concept] | None, selection: ConceptSetSelection | None, exclude: bool = False
) -> list[exp.Expression]:
    """A concept-array filter (negated by ``exclude``) and/or a concept-set selection (negated by IsExclusion)."""
    clauses: list[exp.Expression] = []
    if concepts:
        listed = exp.In(this=value, expressions=[num(c.concept_id) for c in concepts])
        clauses.append(exp.Not(this=exp.Paren(this=listed)) if exclude else listed)
    if selection is not None:
        member = in_codeset(value, selection.codeset_id)
        clauses.append(exp.Not(this=exp.Paren(this=member)) if selection.is_exclusion else member)
    return clauses


def row_number(partition: list[exp.Expression], order: list[exp.Expression], desc: bool = False) -> exp.Window:
    return exp.Window(
        this=exp.func("ROW_NUMBER"),
        partition_by=partition,
        order=exp.Order(expressions=[exp.Ordered(this=o, desc=desc) for o in order]),
    )


class Session:
    """One DuckDB connection over a CDR, the temporary tables of one run, and how long each step took."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._names = itertools.count()
        self.timings: dict[str, float] = {}

    def sql(self, statement: exp.Expression) -> str:
        return statement.sql(dialect=DIALECT)

    def execute(self, statement: exp.Expression, params: list | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(self.sql(statement), params or [])

    def fetchall(self, query: exp.Expression) -> list[tuple]:
        return self.execute(query).fetchall()

    def materialize(self, query: exp.Expression, prefix: str) -> str:
        """CREATE TEMP TABLE from ``query``; returns the new table's name."""
        name = f"circe_{prefix}_{next(self._names)}"
        create = exp.Create(
            this=table(name), kind="TABLE", expression=query, properties=exp.Properties(expressions=[exp.TemporaryProperty()])
        )
        self.execute(create)
        return name

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
