"""The engine a cohort or dataset command runs on: None for the embedded default, whose stages keep their own DuckDB
path (the index's database and bitmaps, Circe's kept DuckDB database), else the boundary engine of ``--engine`` and
``--spark-master`` (``engine_options.open_engine``: it refuses an unknown engine or a master without Spark, naming the
option)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Optional

from .engine_options import open_engine

if TYPE_CHECKING:
    from ..engines.base import Engine


@contextmanager
def stage_engine(engine: str, spark_master: Optional[str]) -> Iterator[Engine | None]:
    """None for ``--engine duckdb`` (nothing opened), else the engine, closed when the block ends."""
    if (engine or "duckdb").strip().lower() == "duckdb" and not spark_master:
        yield None
        return
    with open_engine(engine, spark_master) as opened:
        yield None if opened.name == "duckdb" else opened
