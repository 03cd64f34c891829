"""The dissemination rules on one table: which columns hold counts, and the three ways a count from 1 to
threshold − 1 can leave — shown in a cell, recovered from a margin by subtraction, or implied by a percentage.

Columns are told apart by their names and contents only; a table's layout is never guessed beyond a row or column
labelled as a total. Which rows are subsets of which (a "diabetes" row above a "type 2 diabetes" row) is out of
scope: labels cannot say it reliably.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .grid import Grid, is_number, whole
from .report import RECOVERABLE, SMALL_COUNT, SMALL_PERCENTAGE, Finding, Place, finding

COUNT_MODES = ("named", "all")

# A column whose name ends in one of these counts people (or things, which the policy treats alike)…
COUNT_WORDS = frozenset({
    "n", "count", "counts", "total", "totals", "participants", "persons", "people", "patients", "cases", "controls",
    "subjects", "individuals", "respondents", "members", "population", "numerator", "denominator", "freq", "frequency",
})
# …or starts with one of these (n_female, num_visits, number_of_cases, count_2020, total_persons, freq_male)…
COUNT_PREFIXES = frozenset({"n", "num", "nr", "number", "count", "freq", "frequency", "total"})
# …or names people anywhere (participants_at_site).
PEOPLE_WORDS = frozenset({"participants", "persons", "people", "patients", "cases", "controls", "subjects",
                          "individuals", "respondents"})

# Integer columns that are not counts, whatever the mode: identifiers and codes name something (person_id 7 is one
# person's number, not seven people; concept_id, zip3), calendar values are dates (a year of 2019, a month of 3),
# and ages, ranks and positions are measurements or orderings (an age of 7 is one child, not seven). A column is
# one of these when the last word of its name is: "age_group_count" is still a count, "year_of_birth" is not.
NOT_COUNTS = frozenset({
    "id", "ids", "key", "index", "idx", "code", "codes", "concept", "zip", "zip3", "zipcode",
    "year", "years", "yr", "yob", "birth", "quarter", "month", "months", "week", "day", "days", "date",
    "age", "ages", "rank", "order", "position", "seq", "sequence", "version",
})

TOTAL_WORDS = frozenset({"total", "totals"})
COUNT_ROW_LABELS = frozenset({"count", "counts"})  # not "n": a yes/no column holds it too
DENOMINATOR_WORDS = frozenset({"denominator", "denominators", "denom", "population"})

_TOTAL_LABEL = re.compile(
    r"(?:grand\s+)?(?:total|totals|overall|all|sum)"
    r"(?:\s+(?:participants|persons|people|patients|cases|count|counts|n))?\s*(?:\([^)]*\))?\s*:?",
    re.IGNORECASE,
)
# How a table shows a cell it hides: "<20", "≤20", "*", "-", "suppressed". A count column may hold them.
_HIDDEN = re.compile(r"(?:<=?|>=?|≤|≥)\s*\d[\d,]*(?:\.\d+)?|\*+|[-–—]|\.{1,3}|…|suppressed|redacted|masked|hidden|censored",
                     re.IGNORECASE)
_PERCENT_TEXT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%")


def words(name: str, *, breakdown: bool = False) -> list[str]:
    """The words of a column name (snake_case, camelCase, spaces). What follows "by" or "per" names a breakdown,
    not what is counted ("count_by_age"), so it is dropped unless ``breakdown``."""
    found = re.findall(r"[a-z]+[0-9]*|[0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower())
    if not breakdown:
        for i, word in enumerate(found):
            if i and word in ("by", "per"):
                return found[:i]
    return found


def is_percentage_name(name: str) -> bool:
    named = words(name, breakdown=True)
    return "%" in name or any(w == "pct" or w.startswith("percent") for w in named) or bool(named and named[-1] == "rate")


def is_not_count_name(name: str) -> bool:
    named = words(name)
    return bool(named) and named[-1] in NOT_COUNTS and named[-1] not in COUNT_WORDS


def is_count_name(name: str) -> bool:
    named = words(name)
    if not named or is_percentage_name(name) or is_not_count_name(name):
        return False
    first, last = named[0], named[-1]
    return (last in COUNT_WORDS or first in COUNT_PREFIXES or first.startswith(("number", "freq"))
            or any(w in PEOPLE_WORDS for w in named))


def is_total_label(text: str) -> bool:
    return bool(_TOTAL_LABEL.fullmatch(text.strip()))


def is_total_name(name: str) -> bool:
    named = words(name)
    return is_total_label(name) or bool(named and (named[0] in TOTAL_WORDS or named[-1] in TOTAL_WORDS))


def is_denominator_name(name: str) -> bool:
    return any(w in DENOMINATOR_WORDS for w in words(name, breakdown=True))


def _is_hidden(value: Any) -> bool:
    return isinstance(value, str) and bool(_HIDDEN.fullmatch(value.strip()))


def _integer_column(values: Iterable[Any]) -> bool:
    """Whole numbers, missing values and hidden-cell marks only, with at least one number."""
    numbers = 0
    for value in values:
        if value is None or _is_hidden(value):
            continue
        if whole(value) is None:
            return False
        numbers += 1
    return numbers > 0


def percent(value: Any) -> float | None:
    if is_number(value):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and (match := _PERCENT_TEXT.fullmatch(value.strip())):
        return float(match.group(1))
    return None


@dataclass
class Columns:
    counts: list[int]
    totals: list[int]
    percentages: list[int]
    denominators: list[int]
    total_rows: list[int]
    count_rows: list[int]  # rows labelled "count", as pandas' describe() prints the non-missing values


def classify(grid: Grid, counts: str) -> Columns:
    """Count columns are integer columns named like counts; with ``counts="all"``, or in a table with a total row
    or column (whose other integer columns are then what the total adds up), every integer column but the
    ``NOT_COUNTS`` ones."""
    names = grid.columns
    integer = [c for c in range(len(names)) if _integer_column(row[c] for row in grid.rows)]
    percentages = [c for c in range(len(names)) if is_percentage_name(names[c])]
    candidates = [c for c in integer if c not in percentages and not is_not_count_name(names[c])]
    totals = [c for c in candidates if is_total_name(names[c])]
    total_rows = [r for r, row in enumerate(grid.rows) if any(isinstance(v, str) and is_total_label(v) for v in row)]
    if counts == "all" or totals or total_rows:
        count_columns = candidates
    else:
        count_columns = [c for c in candidates if is_count_name(names[c])]
    denominators = [c for c in integer if c not in percentages and is_denominator_name(names[c])]
    count_rows = [r for r, row in enumerate(grid.rows)
                  if any(isinstance(v, str) and v.strip().lower() in COUNT_ROW_LABELS for v in row)]
    return Columns(count_columns, totals, percentages, denominators, total_rows, count_rows)


def table_findings(grid: Grid, place: Place, *, threshold: int, counts: str,
                   denominator: int | str | None = None) -> tuple[list[Finding], list[str]]:
    """The findings of one table, and the notes on what could not be checked."""
    columns = classify(grid, counts)
    found = _small_counts(grid, place, columns, threshold) + _margins(grid, place, columns, threshold)
    unchecked: list[str] = []
    found += _percentages(grid, place, columns, threshold, denominator, unchecked)
    return found, unchecked


def _small_counts(grid: Grid, place: Place, columns: Columns, threshold: int) -> list[Finding]:
    """Cells of count columns, and every number cell of a row labelled as counts (in such a row an "age" or a
    "pct" column holds how many values it has)."""
    cells = {(r, c) for c in columns.counts for r in range(len(grid.rows))}
    cells |= {(r, c) for r in columns.count_rows for c in range(len(grid.columns))}
    found = []
    for r, c in sorted(cells):
        value = whole(grid.rows[r][c])
        if value is not None and 1 <= value < threshold:
            found.append(finding(
                SMALL_COUNT, place, value,
                f"{value} is a count from 1 to {threshold - 1}; suppress it (show \"<{threshold}\") or combine "
                f"groups until every count is 0 or at least {threshold}",
                row=r + 1, column=grid.columns[c], column_index=c))
    return found


def _margins(grid: Grid, place: Place, columns: Columns, threshold: int) -> list[Finding]:
    """A total minus the other cells shown in its line: what that leaves is a hidden cell (or the sum of several),
    and anyone can work it out. A difference of 0 or below reveals nothing."""
    found = []

    def check(total: Any, parts: list[Any], line: str, r: int, c: int) -> None:
        total_value = whole(total)
        shown = [v for v in map(whole, parts) if v is not None]
        if total_value is None or not shown:
            return
        left = total_value - sum(shown)
        if 1 <= left < threshold:
            found.append(finding(
                RECOVERABLE, place, left,
                f"the total {total_value} minus the other cells shown in {line} ({sum(shown)}) leaves {left}, a count "
                f"from 1 to {threshold - 1} anyone can work out; suppress or round the total as well, or hide more "
                f"cells, until no difference is from 1 to {threshold - 1}",
                row=r + 1, column=grid.columns[c], column_index=c))

    body = [r for r in range(len(grid.rows)) if r not in columns.total_rows]
    for r in columns.total_rows:
        for c in columns.counts:
            check(grid.rows[r][c], [grid.rows[i][c] for i in body], f'column "{grid.columns[c]}"', r, c)
    parts = [c for c in columns.counts if c not in columns.totals]
    for c in columns.totals:
        for r, row in enumerate(grid.rows):
            check(row[c], [row[k] for k in parts], f"row {r + 1}", r, c)
    return found


def _percentages(grid: Grid, place: Place, columns: Columns, threshold: int, denominator: int | str | None,
                 unchecked: list[str]) -> list[Finding]:
    """A percentage of a known denominator is a count: denominator × percentage / 100, rounded half up. A rate
    whose values all lie between 0 and 1 is read as a fraction (what a pandas mean of a yes/no column gives)."""
    found = []
    for p in columns.percentages:
        values = [percent(row[p]) for row in grid.rows]
        if all(v is None for v in values):
            continue
        name = grid.columns[p]
        fraction = words(name, breakdown=True)[-1:] == ["rate"] and all(0 <= v <= 1 for v in values if v is not None)
        scale = 1.0 if fraction else 100.0
        of = _denominator(grid, columns, p, values, scale, denominator)
        if of is None:
            unchecked.append(f"{place.at(column=name, column_index=p)[0]}: percentages with no count, total or "
                             "denominator column beside them; not checked")
            continue
        for r, value in enumerate(values):
            base = whole(of(r))
            if value is None or base is None:
                continue
            implied = math.floor(base * value / scale + 0.5 + 1e-9)
            if 1 <= implied < threshold:
                shown = f"{value:g}" if fraction else f"{value:g}%"
                found.append(finding(
                    SMALL_PERCENTAGE, place, value,
                    f"{shown} of {base} is {implied}, a count from 1 to {threshold - 1}; suppress the percentage as "
                    f"you would the count, or combine groups until it stands for 0 or at least {threshold}",
                    row=r + 1, column=name, column_index=p))
    return found


def _denominator(grid: Grid, columns: Columns, p: int, values: list[float | None], scale: float,
                 given: int | str | None) -> Callable[[int], Any] | None:
    """What a percentage column is a percentage of, row by row: the ``denominator=`` given (a number or a column),
    else the nearest denominator column, else the nearest total column, else the count column beside it (left
    first). A count column the percentages are shares of (every percentage ≈ count / column total) gives the
    column total, taken from the total row when there is one; otherwise each row's count is the denominator."""
    rows = grid.rows
    if isinstance(given, int):
        return lambda r: given
    if isinstance(given, str):
        index = grid.columns.index(given)
        return lambda r: rows[r][index]
    for candidates in (columns.denominators, columns.totals):
        if candidates:
            nearest = min(candidates, key=lambda c: (abs(c - p), c > p))
            return lambda r: rows[r][nearest]
    left = [c for c in columns.counts if c < p]
    right = [c for c in columns.counts if c > p]
    if not left and not right:
        return None
    beside = max(left) if left else min(right)
    column_total = _share_total(grid, columns, beside, values, scale)
    if column_total is not None:
        return lambda r: column_total
    return lambda r: rows[r][beside]


def _share_total(grid: Grid, columns: Columns, c: int, values: list[float | None], scale: float) -> int | None:
    """The column total the percentages are shares of, if they are: every count / total matches its percentage to
    rounding. Estimated from the rows themselves, so a hidden cell does not break it."""
    body = [r for r in range(len(grid.rows)) if r not in columns.total_rows]
    pairs = [(n, values[r]) for r in body
             if (n := whole(grid.rows[r][c])) is not None and values[r] is not None and values[r] > 0]
    if len(pairs) < 2:
        return None
    estimates = sorted(n * scale / v for n, v in pairs)
    total = estimates[len(estimates) // 2]
    if columns.total_rows and (shown := whole(grid.rows[columns.total_rows[0]][c])) is not None:
        total = shown
    tolerance = 0.51 * scale / 100
    if total <= 0 or any(abs(v - n * scale / total) > tolerance for n, v in pairs):
        return None
    return round(total)
