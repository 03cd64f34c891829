"""The DuckDB connection the aggregates of one CDR are computed on."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ...cdr.ddl import create_table
from ...cdr.engine import connect
from ...cdr.store import Cdr


def connect_cdr(cdr: Cdr, temp_dir: Path | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB views over a CDR's tables; a model table the CDR lacks becomes an empty table of the right shape."""
    con = cdr.connect(connect(temp_dir=temp_dir, memory_limit=memory_limit))
    con.execute("SET enable_progress_bar = false")
    for name, table in cdr.model.tables.items():
        if name not in cdr.manifest.tables:
            con.execute(create_table(table, "duckdb", primary_key=False).sql(dialect="duckdb"))
    return con
