"""One SQLGlot tree, rendered as each engine's SQL text.

SQLGlot writes most of the tree correctly for each dialect. Two things are fixed here, because the tree means one
thing and the default rendering would mean another on Spark:

- ``TIMESTAMP`` is DuckDB's time-zone-less timestamp (the CDR model's ``datetime``, Arrow ``timestamp[us]``); on
  Spark it is written ``TIMESTAMP_NTZ``. ``TIMESTAMPTZ`` (an instant) is written ``TIMESTAMP_LTZ``: SQLGlot writes
  both as plain ``TIMESTAMP``, whose meaning on Spark depends on ``spark.sql.timestampType``.
- ``TRY_CAST`` is written ``CAST`` for Spark unless the node says ``safe`` (SQLGlot assumes Spark's legacy
  mode, where CAST gives NULL on bad input); under ANSI mode, which the boundary keeps on, CAST fails instead.
- What SQLGlot itself reports it cannot write for a dialect (it drops DuckDB's ``TRY`` for Spark, with only a
  warning) is returned with the SQL, so the caller refuses it instead of running something else.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel

_SPARK_TYPES = {
    exp.DataType.Type.TIMESTAMP: exp.DataType.Type.TIMESTAMPNTZ,
    exp.DataType.Type.TIMESTAMPTZ: exp.DataType.Type.TIMESTAMPLTZ,
}


def _spark_changes(node: exp.Expression) -> bool:
    return (isinstance(node, exp.DataType) and node.this in _SPARK_TYPES
            or isinstance(node, exp.TryCast) and not node.args.get("safe"))


def _for_spark(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this in _SPARK_TYPES:
        return exp.DataType(this=_SPARK_TYPES[node.this], expressions=node.expressions, nested=node.args.get("nested"))
    if isinstance(node, exp.TryCast) and not node.args.get("safe"):
        node.set("safe", True)  # node is already the transform's copy
    return node


def dialect_tree(expression: exp.Expression, dialect: str) -> exp.Expression:
    """The tree as the dialect should see it (a copy when anything changes; the caller's tree is never modified)."""
    if dialect == "spark" and any(_spark_changes(n) for n in expression.walk()):
        return expression.transform(_for_spark)
    return expression


def render(expression: exp.Expression, dialect: str, *, pretty: bool = False) -> tuple[str, list[str]]:
    """(SQL text for ``dialect``, what SQLGlot reported it could not render)."""
    generator = Dialect.get_or_raise(dialect).generator(unsupported_level=ErrorLevel.IGNORE, pretty=pretty)
    sql = generator.generate(dialect_tree(expression, dialect))
    return sql, list(generator.unsupported_messages)
