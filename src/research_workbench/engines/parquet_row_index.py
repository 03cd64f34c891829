"""Register a Parquet file with each row's position in it: the same number on every engine.

Curation names every working row by its table and its row number in the raw file (``_rid``); rules rely on it
(duplicates keep the lowest, sandboxes name exactly the row they came from), so both engines must number rows
identically. Each engine has the exact number built in, but not through SQL on a registered view, so this is an
engine-level addition (a candidate for ``Engine.register_parquet(..., row_index=…)``):

- DuckDB: ``read_parquet(…, file_row_number=True)``;
- Spark: the Parquet source's hidden ``_metadata.row_index`` column (Spark 4), selected through the DataFrame API
  (a temporary view hides the ``_metadata`` columns from SQL). Both count from 0 within each file, across row
  groups, whatever the file's layout or Spark's splitting of it into tasks.
"""

from __future__ import annotations

from pathlib import Path

from ..cdr.problems import Problem
from .base import Engine, table_name
from .errors import EngineError
from .files import parquet_files


def register_parquet_with_row_index(engine: Engine, name: str, path: Path, column: str) -> None:
    """Name the one Parquet file at ``path`` with an extra BIGINT ``column``: the row's position in the file (from 0)."""
    name = table_name(name)
    files = parquet_files(path)
    if len(files) != 1:  # a row number means a position in one file
        raise EngineError([Problem(f"expected one Parquet file, found {len(files)}", where=str(path))])
    if engine.name == "duckdb":
        relation = engine.con.read_parquet(files[0], file_row_number=True)  # type: ignore[attr-defined]
        relation = relation.project(f'* EXCLUDE (file_row_number), CAST(file_row_number AS BIGINT) AS "{column}"')
        engine._forget(name)  # type: ignore[attr-defined]
        relation.create_view(name, replace=True)
        engine._remember(name, "VIEW")  # type: ignore[attr-defined]
    elif engine.name == "spark":
        from pyspark.sql import functions as F

        frame = engine.spark.read.parquet(files[0])  # type: ignore[attr-defined]
        frame = frame.select("*", F.col("_metadata.row_index").cast("bigint").alias(column))
        engine._name(name, frame)  # type: ignore[attr-defined]
    else:  # pragma: no cover - the two engines are the only ones
        raise EngineError([Problem(f"no row index for engine {engine.name}", where="engine")])
