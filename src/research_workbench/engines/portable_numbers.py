"""Numeric builders that answer alike on DuckDB and Spark: a finite-number test and exact quantiles.

``check_portable`` refuses DuckDB's ``isfinite`` (Spark has no such function) and every quantile function
(DuckDB's ``quantile_cont(x, q)`` is written ``PERCENTILE_CONT(x, q)``, which Spark cannot run; the ``WITHIN GROUP``
form becomes Spark's approximate ``PERCENTILE_APPROX``). These builders use only comparisons, window functions
and arithmetic both engines have (``tests/browser/test_spark_numbers.py`` checks them on both, against numpy).

A new module of the engines layer (not ``portable.py``, which the lead owns) so that every stage can reuse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from ..cdr.sql import alias, col


def is_finite(value: exp.Expression) -> exp.Expression:
    """True for a finite number; false for NaN, +∞ and -∞; NULL for NULL. Both engines order NaN above every
    number (and make NaN = NaN true, so ``x = x`` would not do): ``|x| < +∞`` is false for NaN and for either
    infinity."""
    infinity = exp.cast(exp.Literal.string("Infinity"), "DOUBLE")
    return exp.LT(this=exp.Abs(this=value.copy()), expression=infinity)


def _double(value: float) -> exp.Expression:
    """A DOUBLE constant (a bare 0.1 is a DECIMAL on both engines; quantile positions are computed in doubles, as
    DuckDB's quantile_cont and numpy compute them)."""
    return exp.cast(exp.Literal.number(repr(float(value))), "DOUBLE")


def exact_quantiles(source: exp.Expression, keys: Sequence[str], value: str,
                    quantiles: Mapping[str, float]) -> exp.Select:
    """One row per group of ``keys`` over ``source`` (a table name's tree or a query), with a column per entry of
    ``quantiles`` (name → q in [0, 1]): the q-quantile of ``value``, interpolated linearly between the two nearest
    ranks as DuckDB's ``quantile_cont`` and numpy's ``quantile(method="linear")`` do. With the group's n non-NULL
    values sorted, x[0] … x[n-1], and h = (n - 1)·q: x[⌊h⌋] + (x[⌈h⌉] - x[⌊h⌋])·(h - ⌊h⌋). NULL values are left
    out; a group with none has no row. Exact: every value is ranked (ROW_NUMBER over the group), not sampled."""
    for name, q in quantiles.items():
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise ValueError(f"quantile {name}: {q!r} is not a number from 0 to 1")
    partition = [col(k) for k in keys]
    rank = exp.Window(this=exp.RowNumber(), partition_by=[p.copy() for p in partition],
                      order=exp.Order(expressions=[exp.Ordered(this=col(value), nulls_first=True)]))
    size = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[p.copy() for p in partition])
    source_query = source if isinstance(source, exp.Query) else exp.select(exp.Star()).from_(source)
    ranked = (exp.select(*[col(k) for k in keys], alias(col(value), "v"),
                         alias(exp.cast(exp.Sub(this=rank, expression=exp.Literal.number(1)), "DOUBLE"), "i"),
                         alias(exp.cast(exp.Sub(this=size, expression=exp.Literal.number(1)), "DOUBLE"), "last"))
              .from_(source_query.subquery("s"))
              .where(exp.Not(this=exp.Is(this=col(value), expression=exp.Null()))))

    def at(position: exp.Expression) -> exp.Expression:
        """The value of the group's row ranked ``position`` (one row has it: MAX picks it out)."""
        return exp.Max(this=exp.Case(ifs=[exp.If(this=exp.EQ(this=col("i"), expression=position), true=col("v"))]))

    columns = []
    for name, q in quantiles.items():
        h = exp.Mul(this=col("last"), expression=_double(q))
        low, high = at(exp.Floor(this=h.copy())), at(exp.Ceil(this=h.copy()))
        group_h = exp.Mul(this=exp.Max(this=col("last")), expression=_double(q))
        fraction = exp.Sub(this=group_h, expression=exp.Floor(this=group_h.copy()))
        columns.append(alias(exp.Add(this=low, expression=exp.Mul(
            this=exp.Paren(this=exp.Sub(this=high, expression=low.copy())), expression=exp.Paren(this=fraction))), name))
    return (exp.select(*[col(k) for k in keys], *columns).from_(ranked.subquery("ranked"))
            .group_by(*[col(k) for k in keys]))

