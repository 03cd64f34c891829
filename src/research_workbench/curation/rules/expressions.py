"""Expressions several rules share, written with constructs DuckDB and Spark both run and answer alike.

Every rule's SQL goes through ``engines.capabilities.check_portable`` on both engines
(``tests/curation/test_rules_portable.py``); these builders are where a rule's need meets what both engines have
in common, so that a rule never spells a DuckDB-only function (``list_contains``, ``error``, ``to_days``…).
Dates between DATEs come from ``engines.portable`` (``add_days``, ``subtract_days``, ``years_between``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ...cdr.sql import lit
from ..rule import RuleContext


def is_one_of(ctx: RuleContext, value: exp.Expression, values: Sequence[Any]) -> exp.Expression:
    """``value`` is one of ``values`` (a config list, bound as one parameter): TRUE or FALSE, never NULL — a NULL
    ``value`` is in no list.

    ARRAY_CONTAINS of a NULL is NULL on both engines (hence the COALESCE), but of an empty array DuckDB answers
    FALSE where Spark answers NULL, and Spark cannot type an empty array parameter: an empty list is FALSE here,
    with no parameter."""
    if not values:
        return exp.false()
    return exp.func("COALESCE", exp.ArrayContains(this=ctx.list_param(values), expression=value), exp.false())


# A decimal number, as a participant writes one: digits with an optional sign, point and exponent, blanks around.
# Character classes are spelled out so that RE2 (DuckDB) and java.util.regex (Spark) read them alike.
_NUMBER = r"^[ \t\n\r]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?[ \t\n\r]*$"


def is_number_text(value: exp.Expression) -> exp.Expression:
    """``value`` (text) is a number written in decimal; NULL when ``value`` is NULL.

    Not ``TRY_CAST(value AS DOUBLE) IS NOT NULL``, which each engine answers its own way: Spark's cast (Java's
    ``Double.parseDouble``) reads '1d', '2f' and '0x1p3' as numbers, DuckDB's reads '1_000'; both read 'nan' and
    'inf'. A regular expression with only ASCII classes matches alike on both."""
    return exp.RegexpLike(this=value.copy(), expression=lit(_NUMBER))


def timestamp_days_earlier(value: exp.Expression, days: exp.Expression) -> exp.Expression:
    """The TIMESTAMP ``days`` days before ``value``, at the same time of day (``engines.portable.subtract_days``
    is for DATEs: it drops the time). TIMESTAMPADD in days is written ``value + INTERVAL (-days) DAY`` for DuckDB
    and ``DATE_ADD(DAY, -days, value)`` for Spark: on a TIMESTAMP both give a TIMESTAMP, the same one (a day is 24
    hours on the time-zone-less timestamp). ``days`` must fit 32 bits."""
    return exp.TimestampAdd(this=value.copy(), expression=exp.Neg(this=exp.cast(days.copy(), "INT")), unit=exp.var("DAY"))


def fail_when(condition: exp.Expression, message: str, detail: exp.Expression) -> exp.Expression:
    """NULL, or — when ``condition`` holds — an error that fails the query, with ``message`` and ``detail`` (an
    expression naming the offending value) in its text.

    The engines share no function that raises (DuckDB's ``error``, Spark's ``raise_error``), but both fail a query
    on a cast of malformed text to a number (Spark in ANSI mode, which the boundary keeps on), quoting the text:
    DuckDB ``Could not convert string '<message>: <detail>' to INT32``, Spark ``[CAST_INVALID_INPUT] The value
    '<message>: <detail>' …``. The text depends on the rows (``detail``), so neither optimiser folds the cast into
    a constant that would fail even when ``condition`` does not hold; CASE evaluates it only when it does.
    ``message`` is code, never user data."""
    text = exp.DPipe(this=lit(f"{message}: "), expression=exp.func("COALESCE", exp.cast(detail.copy(), "TEXT"), lit("NULL")),
                     safe=True)
    return exp.Case().when(condition, exp.cast(text, "INT"))
