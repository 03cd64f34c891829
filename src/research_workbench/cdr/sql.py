"""The one vocabulary of SQLGlot building blocks every stage builds its SQL with.

Identifiers are always quoted (a column named like a keyword, ``value`` or ``date``, works everywhere); a table or
alias is always given by keyword (``col("person_id", table="p")``), so no call can swap table and column. Values
from users never go through ``lit``: they are bound as parameters by the caller.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table(name: str, *, alias: str | None = None) -> exp.Table:
    """A table reference, optionally aliased: ``"person" AS "p"``."""
    return exp.Table(this=ident(name), alias=exp.TableAlias(this=ident(alias)) if alias else None)


def col(name: str, *, table: str | None = None) -> exp.Column:
    """A column, optionally qualified by a table or alias: ``"p"."person_id"``."""
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def lit(value: str) -> exp.Literal:
    """A string literal that is part of the code (a relationship id, a domain name), never a user's value."""
    return exp.Literal.string(value)


def num(value: int | float) -> exp.Expression:
    """A number literal; negative numbers are a negation (SQLGlot renders a negative literal unparenthesised)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value < 0:
        return exp.Neg(this=exp.Literal.number(-value))
    return exp.Literal.number(value)


def date_literal(value: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(value.isoformat()), "DATE")


def alias(expression: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=expression, alias=ident(name))


def union(parts: list[exp.Expression], *, distinct: bool) -> exp.Expression:
    """Left-deep UNION [ALL] of ``parts``, linked without copying (``exp.union`` deep-copies the union built so far
    at each step, which made an expression of n parts cost n² node copies)."""
    result = parts[0]
    for part in parts[1:]:
        result = exp.Union(this=result, expression=part, distinct=distinct)
    return result


def union_all(parts: list[exp.Expression]) -> exp.Expression:
    return union(parts, distinct=False)
