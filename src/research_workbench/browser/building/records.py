"""Rows of a DuckDB query read by column name, never by position.

Every column of a query read here needs a name that is a Python identifier (``count(*) AS participant_count``):
a query that leaves one unnamed fails at once instead of being read into the wrong field.
"""

from __future__ import annotations

from collections import namedtuple
from functools import lru_cache
from typing import Any

import duckdb


@lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type:
    return namedtuple("Row", names)  # type: ignore[misc]


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[Any]:
    """The rows of ``sql`` as named tuples whose fields are the query's column names."""
    cursor = con.execute(sql, params) if params is not None else con.execute(sql)
    row = _row_type(tuple(d[0] for d in cursor.description))
    return [row._make(r) for r in cursor.fetchall()]


def record(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The single row of ``sql``, by name (read to the end: DuckDB keeps a half-read result open)."""
    rows = records(con, sql, params)
    if len(rows) != 1:
        raise ValueError(f"expected one row, got {len(rows)}")
    return rows[0]
