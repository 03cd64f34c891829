"""Date arithmetic that means the same on every engine: SQLGlot builders that replace the traps.

Each builder returns a tree made only of constructs both dialects write and answer alike (YEAR, MONTH, DAY,
CASE, CAST, ``DATE ± INTEGER``, DATE_DIFF in days between DATEs, TRY_CAST), so ``check_portable`` passes it
and DuckDB and Spark give equal answers (``tests/engines/test_portable.py`` checks every builder on both, at
month ends, 29 February, year boundaries, the same day and reversed order, against a Python reference).
Integer results are BIGINT on both engines.

**Whole units** are the one meaning of "months / years between" everywhere: a unit is complete on its
anniversary, the same day of the month (and month of the year) as the start; where the end month has no such
day (31 April, 29 February in a common year) it completes on the first of the next month. So 2020-01-31 →
2020-02-29 is 0 months and → 2020-03-01 is 1; 2020-02-29 → 2021-02-28 is 0 years and → 2021-03-01 is 1. Reversed
order gives the negated count. This is ``cdr.facts.age_at`` (age in whole years, birthday-aware, whose rule this
generalises: ``years_between(birth, day) == age_at(birth, day)`` for every birth ≤ day), Java's
``ChronoUnit.MONTHS/YEARS.between`` on dates, and so Spark's own ``DATEDIFF(MONTH, …)`` on DATEs. It is what an
age, an "at least N months after" or a follow-up period means to a researcher. It is not DuckDB's
``date_diff('month', …)`` (month boundaries crossed: 2020-01-31 → 2020-02-01 is 1) nor DuckDB's
``date_sub('month', …)`` (whole months, but 2020-01-31 → 2020-02-29 is 1: the month's last day completes it).

Arguments are cast to DATE first: a timestamp counts by its calendar date (the session time zone is UTC on both
engines). Each builder copies its argument trees, so the caller may reuse them.
"""

from __future__ import annotations

from sqlglot import exp

from ..cdr.facts import date_or_null
from ..cdr.sql import num


def _date(value: exp.Expression) -> exp.Expression:
    return exp.cast(value.copy(), "DATE")


def _bigint(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "BIGINT")


def _parts(value: exp.Expression) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
    return exp.Year(this=_date(value)), exp.Month(this=_date(value)), exp.Day(this=_date(value))


def days_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """Whole days from ``start`` to ``end`` (negative when ``end`` is earlier), by calendar date."""
    return _bigint(exp.DateDiff(this=_date(end), expression=_date(start), unit=exp.var("DAY")))


def _whole(count: exp.Expression, end_before_anniversary: exp.Expression,
           start_before_anniversary: exp.Expression) -> exp.Expression:
    """``count`` units minus the last one when it is not complete: forward, when the end falls before the start's
    anniversary; backward (negative count), when the start does."""
    return _bigint(exp.Case(
        ifs=[exp.If(this=exp.and_(exp.GT(this=count.copy(), expression=num(0)), end_before_anniversary),
                    true=exp.Sub(this=count.copy(), expression=num(1))),
             exp.If(this=exp.and_(exp.LT(this=count.copy(), expression=num(0)), start_before_anniversary),
                    true=exp.Add(this=count.copy(), expression=num(1)))],
        default=count.copy(),
    ))


def months_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """Whole months elapsed from ``start`` to ``end`` (see the module's docstring for the meaning)."""
    y1, m1, d1 = _parts(start)
    y2, m2, d2 = _parts(end)
    count = exp.Add(this=exp.Mul(this=exp.Paren(this=exp.Sub(this=y2, expression=y1)), expression=num(12)),
                    expression=exp.Paren(this=exp.Sub(this=m2, expression=m1)))
    return _whole(exp.Paren(this=count), exp.LT(this=d2.copy(), expression=d1.copy()),
                  exp.GT(this=d2.copy(), expression=d1.copy()))


def _before(month_a: exp.Expression, day_a: exp.Expression, month_b: exp.Expression, day_b: exp.Expression) -> exp.Expression:
    """(month_a, day_a) falls before (month_b, day_b) in a year."""
    return exp.Paren(this=exp.or_(
        exp.LT(this=month_a.copy(), expression=month_b.copy()),
        exp.and_(exp.EQ(this=month_a.copy(), expression=month_b.copy()), exp.LT(this=day_a.copy(), expression=day_b.copy())),
    ))


def years_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """Whole years elapsed from ``start`` to ``end``: an age when ``start`` is a birth date."""
    y1, m1, d1 = _parts(start)
    y2, m2, d2 = _parts(end)
    count = exp.Paren(this=exp.Sub(this=y2, expression=y1))
    return _whole(count, _before(m2, d2, m1, d1), _before(m1, d1, m2, d2))


def add_days(value: exp.Expression, days: exp.Expression) -> exp.Expression:
    """The date ``days`` after ``value`` (before it when negative). ``days`` must fit 32 bits: both engines add an
    INTEGER to a DATE and refuse a BIGINT."""
    return exp.Add(this=_date(value), expression=exp.cast(days.copy(), "INT"))


def subtract_days(value: exp.Expression, days: exp.Expression) -> exp.Expression:
    """The date ``days`` before ``value``."""
    return exp.Sub(this=_date(value), expression=exp.cast(days.copy(), "INT"))


def date_from_parts(year: exp.Expression, month: exp.Expression, day: exp.Expression) -> exp.Expression:
    """The date of valid parts; an impossible date (2021-02-29, month 13) fails the query on both engines."""
    return exp.DateFromParts(year=exp.cast(year.copy(), "INT"), month=exp.cast(month.copy(), "INT"),
                             day=exp.cast(day.copy(), "INT"))


def try_date_from_parts(year: exp.Expression, month: exp.Expression, day: exp.Expression) -> exp.Expression:
    """The date of the parts, or NULL when they are not a date (2021-02-29, month 13, a NULL part, a year outside
    1–9999): ``cdr.facts``' builder (a TRY_CAST of ``YYYY-MM-DD`` text, which both engines parse strictly; DuckDB's
    ``TRY(make_date(…))`` has no Spark spelling), defined there because the data model's birth date needs it."""
    return date_or_null(year, month, day)


def first_of_month(value: exp.Expression) -> exp.Expression:
    """The first day of the month of ``value``, a DATE."""
    y, m, _ = _parts(value)
    return date_from_parts(y, m, num(1))


def year_of(value: exp.Expression) -> exp.Expression:
    """The calendar year of ``value``, BIGINT."""
    return _bigint(exp.Year(this=_date(value)))
