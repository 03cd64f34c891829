"""Disclosure control for public aggregates: one pass, applied when the aggregates are built.

The rule (All of Us Data Browser): a count above 0 and below the bin becomes the bin; any larger count is rounded
*up* to the next multiple of the bin; 0 stays 0. Default bin 20. Percentages and frequencies are then derived from
the rounded counts only, never from raw ones.

Why rounding up to multiples, not just suppressing small cells: every published count is a multiple of the bin,
so the difference of any two published counts (a total minus some of its strata, say) is a multiple of the bin
too and can never be a count from 1 to bin − 1. Suppression alone is defeated by subtraction.

Residual risk (stated in the README): a published value v > 0 says the true count lies in (v − bin, v]; sums
of strata may exceed the published total (each stratum is rounded up); and comparing two releases, or two
overlapping aggregates, narrows those intervals — it can show that a true count is small, never what it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

# SQLGlot is imported by ``round_count_sql`` only: the serving side reads DEFAULT_BIN (for the rebuild command it
# prints) and must not load the SQL machinery for it.

DEFAULT_BIN = 20


def round_count(count: int, bin_size: int = DEFAULT_BIN) -> int:
    """The published value of one count."""
    if bin_size < 1:
        raise ValueError(f"bin size must be a positive whole number, not {bin_size}")
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    if count == 0:
        return 0
    return -(-count // bin_size) * bin_size  # ceiling division


def round_counts(counts: Iterable[int], bin_size: int = DEFAULT_BIN) -> list[int]:
    return [round_count(c, bin_size) for c in counts]


def rounded_share(part: int, whole: int) -> float | None:
    """A percentage from two *published* counts; None when the whole is 0."""
    return None if whole == 0 else round(100.0 * part / whole, 2)


def round_count_sql(count: exp.Expression, bin_size: int = DEFAULT_BIN) -> exp.Expression:
    """The same rule as a SQL expression, for aggregate tables built in DuckDB.

    CEIL(count / bin) * bin is 0 for 0 and the next multiple of the bin otherwise.
    """
    from sqlglot import exp

    if bin_size < 1:
        raise ValueError(f"bin size must be a positive whole number, not {bin_size}")
    size = exp.Literal.number(bin_size)
    ratio = exp.Div(this=exp.cast(count, "DOUBLE"), expression=size)
    return exp.cast(exp.Mul(this=exp.func("CEIL", ratio), expression=size), "BIGINT")


def rounded_frequency(part: int, whole: int, digits: int = 6) -> float | None:
    """A frequency (an allele frequency, say) from two *published* counts; None when the whole is 0."""
    return None if whole == 0 else round(part / whole, digits)
