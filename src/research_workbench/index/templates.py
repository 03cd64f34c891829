"""The index's SQL templates: DuckDB text with the data model's facts rendered into it from ``cdr.facts``.

A template names a domain as ``{SURVEY}``, and the builder of each template passes its other pieces (a birth date,
an age, an event table's columns) as SQLGlot expressions or ``EventTable`` objects; nothing in the text spells a
domain, a vocabulary, a blood-pressure concept or an age rule of its own. Every piece is code, never a user's value.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..cdr.facts import Domain
from ..cdr.sql import lit

# ``{CONDITION}`` … ``{ARRAY_DATA}``: each domain's value as a DuckDB string literal.
DOMAINS: dict[str, str] = {d.name: lit(d.value).sql(dialect="duckdb") for d in Domain}


def sql(expression: exp.Expression) -> str:
    """An expression as DuckDB SQL text."""
    return expression.sql(dialect="duckdb")


def literals(values: Any) -> str:
    """A comma-separated list of string literals (for ``IN (…)``)."""
    return ", ".join(sql(lit(str(v.value if isinstance(v, Domain) else v))) for v in values)


def render(template: str, **pieces: Any) -> str:
    """``template`` with its ``{NAME}`` domains and ``pieces`` filled in (expressions rendered as DuckDB SQL)."""
    return template.format(**DOMAINS, **{k: sql(v) if isinstance(v, exp.Expression) else v for k, v in pieces.items()})
