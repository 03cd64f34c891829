"""The embedded engine: DuckDB connections configured for bounded memory."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = os.environ.get("RW_DUCKDB_MEMORY_LIMIT", "2GB")


def connect(temp_dir: Path | None = None, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose working memory is capped.

    Past the cap DuckDB spills to ``temp_dir``, which is what keeps a load's peak memory flat as inputs grow.
    No extension is ever installed: the wheel's built-in parquet, json and icu are all we use.
    """
    config: dict[str, str | int | bool] = {
        "memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT,
        "threads": threads or os.cpu_count() or 1,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    try:
        con = duckdb.connect(config=config)
    except duckdb.ParserException:  # DuckDB parses the size (512MB, 8GB, 1.5GiB, 80%); the other keys are ours
        raise ValueError(f"memory limit {config['memory_limit']!r}: expected a size such as 512MB or 8GB") from None
    # DuckDB would otherwise draw its own progress bar on stdout during long queries, breaking --json output.
    con.execute("SET enable_progress_bar = false")
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    return con


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> tuple:
    """The single row of a query, read to the end (DuckDB keeps a half-read result open on the connection)."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    if len(rows) != 1:
        raise ValueError(f"expected one row, got {len(rows)}")
    return rows[0]
