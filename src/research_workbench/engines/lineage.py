"""``materialise`` for a long chain of rewrites of one table: keep the rows, forget how they were computed.

Curation rewrites each table statement after statement (on Spark each DELETE/UPDATE/INSERT is a ``materialise`` of
the table's next version, reading the previous one). ``SparkEngine.materialise`` persists the result but keeps its
lineage, so after a few hundred statements each version's plan holds every earlier one: planning slows down and the
driver runs out of heap keeping the plans of past queries (seen: ``OutOfMemoryError`` in the status listener of a
1 GB driver while curating a tiny CDR). Local checkpoints cut the lineage but keep the old plan's output ordering,
which a self-union then fails to remap (``NoSuchElementException: key not found``). So each version is written as
Parquet in a working directory and read back: its plan is a file scan, it lives on disk (not in executors' memory),
and a cluster reads it from shared storage (give a directory every executor sees). A candidate for
``Engine.materialise(..., directory=…)``; on DuckDB a materialised table has no lineage, so it is ``materialise``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlglot import exp

from .base import Engine, table_name
from .files import is_url


class FileVersions:
    """Versions of tables written under ``directory``: ``materialise`` writes the next, forgets the previous."""

    def __init__(self, engine: Engine, directory: Path):
        self.engine = engine
        self.directory = directory
        self.current: dict[str, Path] = {}
        self.serial = 0

    def materialise(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        if self.engine.name != "spark":
            self.engine.materialise(name, expression, params)
            return
        name = table_name(name)
        self.serial += 1
        path = self.directory / f"{name}.v{self.serial}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.engine.write_parquet(expression, path, params=params)
        self.engine.register_parquet(name, path)
        old = self.current.get(name)
        self.current[name] = path
        if old is not None and not is_url(old):
            shutil.rmtree(old, ignore_errors=True)

    def rows(self, name: str) -> int | None:
        """Rows of the version last written under ``name``, from its files' footers (no job); None when unknown
        (another engine, or a version on object storage)."""
        path = self.current.get(table_name(name))
        if path is None or is_url(path):
            return None
        return sum(pq.ParquetFile(part).metadata.num_rows for part in Path(path).glob("*.parquet")
                   if not part.name.startswith((".", "_")))

    def drop(self, name: str) -> None:
        self.engine.drop(name)
        old = self.current.pop(table_name(name), None)
        if old is not None and not is_url(old):
            shutil.rmtree(old, ignore_errors=True)
