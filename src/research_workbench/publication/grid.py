"""Every input the checker reads — Arrow and pandas tables, Python rows, CSV files, notebook outputs — becomes one
shape, a ``Grid`` of named columns and plain Python values, so the disclosure rules are written once.

Neither pandas nor numpy is imported: a pandas object is recognised by its type's module, and numpy scalars by
their ``item()``, so the check runs where neither is installed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass
class Grid:
    """Columns by name, and rows exactly as long, holding None (missing), int, float, or anything else as given."""

    columns: list[str]
    rows: list[list[Any]]


# Text a table shows for a missing value (pandas prints NaN and <NA>; CSVs write NA or nothing).
_MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>", "nat"})
_INTEGER_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """A value as the rules see it: None when missing, an int or float when it is a number (the text ``1,234``
    too), anything else unchanged. ``True`` stays a bool: a yes is not one participant."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _MISSING_TEXT:
            return None
        if _INTEGER_TEXT.fullmatch(text):
            return int(text.replace(",", ""))
        if _DECIMAL_TEXT.fullmatch(text):
            return float(text.replace(",", ""))
        return value
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return None
    item = getattr(value, "item", None)  # a numpy scalar
    if callable(item) and type(value).__module__ == "numpy":
        return cell(item())
    return value


def whole(value: Any) -> int | None:
    """The value as a whole number, if it is one: 7 and 7.0 are, 7.5, True and "7 people" are not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def column_name(name: Any) -> str:
    """pandas column labels may be numbers or tuples (a MultiIndex); a finding names a column by text."""
    if isinstance(name, tuple):
        return " ".join(str(part) for part in name if str(part))
    return str(name)


def grid_of(table: Any, name: str) -> Grid:
    """A pyarrow Table or RecordBatch, a pandas DataFrame or Series, a list of dicts, or a list of rows whose first
    row is the header."""
    module = type(table).__module__.split(".")[0]
    if module == "pyarrow" and hasattr(table, "num_columns"):
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return Grid([str(n) for n in table.schema.names],
                    [[cell(column[r]) for column in columns] for r in range(table.num_rows)])
    if module == "pandas" and type(table).__name__ in ("DataFrame", "Series"):
        return _pandas_grid(table)
    if isinstance(table, Sequence) and not isinstance(table, (str, bytes)):
        rows = list(table)
        if not rows:
            return Grid([], [])
        if all(isinstance(row, Mapping) for row in rows):
            return dicts_grid(rows)
        if all(isinstance(row, Sequence) and not isinstance(row, (str, bytes)) for row in rows):
            return _rows_grid(rows, name)
    raise TypeError(f"{name}: cannot check a {type(table).__name__}; give a pyarrow Table, a pandas DataFrame, a list "
                    "of dicts, or a list of rows whose first row is the header")


def dicts_grid(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> Grid:
    """Rows as dicts; columns in the order given, then in the order keys first appear. A missing key is missing."""
    names = list(columns)
    seen = set(names)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                names.append(key)
    return Grid([column_name(n) for n in names], [[cell(row.get(n)) for n in names] for row in rows])


def _rows_grid(rows: list[Sequence[Any]], name: str) -> Grid:
    header = [column_name(n) for n in rows[0]]
    body = []
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise ValueError(f"{name}: row {number} has {len(row)} cells where the header has {len(header)}")
        body.append([cell(v) for v in row])
    return Grid(header, body)


def _pandas_grid(table: Any) -> Grid:
    frame = table.to_frame() if type(table).__name__ == "Series" else table
    # A default 0..n-1 index says nothing; any other index (a groupby's keys, value_counts' labels) holds the row
    # labels, "Total" among them, so it becomes columns.
    if type(frame.index).__name__ != "RangeIndex":
        frame = frame.reset_index()
    columns = [column_name(c) for c in frame.columns]
    return Grid(columns, [[cell(v) for v in row] for row in frame.astype(object).values.tolist()])
