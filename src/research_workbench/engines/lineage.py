"""Versions of tables kept as files: for a long chain of rewrites on an engine without DML (Spark).

Curation rewrites each table statement after statement; without DML each DELETE/UPDATE/INSERT is the table's next
version, reading the previous one. ``SparkEngine.materialise`` persists a result but keeps its lineage, so after a
few hundred statements each version's plan holds every earlier one: planning slows down and the driver runs out of
heap keeping the plans of past queries (seen: ``OutOfMemoryError`` in the status listener of a 1 GB driver while
curating a tiny CDR). Local checkpoints cut the lineage but keep the old plan's output ordering, which a self-union
then fails to remap (``NoSuchElementException: key not found``). So each version is written as Parquet in a
working directory and read back (``Engine.materialise_files``): its plan is a file scan, it lives on disk (not in
executors' memory), and a cluster reads it from shared storage (give a directory every executor sees).

What this adds to the engine's methods is bookkeeping that spares jobs:
- each version's row count, read from its files' footers (no job): curation counts every table before and after
  every rule, which on Spark was half of a run's time as queries;
- names sharing one version (``share``: a tier starts as a copy of the cleaned CDR, and nothing is copied),
  versions over files someone else owns (``register``: a raw table read in place, numbered by its row index),
  versions made of others' files (``concat``: a sandbox written part by part), and empty versions known to be
  empty without a job (``empty``); a directory is removed once no name holds it.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlglot import exp

from .base import Engine, table_name
from .files import data_file, is_url


@dataclass(frozen=True)
class Version:
    """One version's files: dataset directories written here (``owned``), or files read in place; none for an
    empty version."""

    paths: tuple[Path | str, ...]
    rows: int | None  # from the footers; None on object storage (not read from the driver)
    owned: bool
    row_index: tuple[str, int] | None = None  # (column, start) the files were registered with


def footer_rows(path: Path | str) -> int | None:
    """Rows of a Parquet file or dataset directory from its footers (no engine job); None for a URL."""
    if is_url(path):
        return None
    path = Path(path)
    files = sorted(p for p in path.iterdir() if data_file(p)) if path.is_dir() else [path]
    return sum(pq.ParquetFile(file).metadata.num_rows for file in files)


class FileVersions:
    """Tables whose every version is files under ``directory`` (or files read in place); see the module."""

    def __init__(self, engine: Engine, directory: Path):
        self.engine = engine
        self.directory = directory
        self.current: dict[str, Version] = {}
        self._holders: Counter[Path | str] = Counter()  # version path → names holding it
        self._serial = 0

    def materialise(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        """Write the query's rows as ``name``'s next version (the query may read the previous one)."""
        name = table_name(name)
        self._serial += 1
        path = self.directory / f"{name}.v{self._serial}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.engine.materialise_files(name, expression, path, params)
        self._hold(name, Version((path,), footer_rows(path), owned=True))

    def empty(self, name: str, expression: exp.Expression, params: Mapping[str, Any] | None = None) -> None:
        """``name``: the query's columns and no rows, for a query known to return none (planned, not run)."""
        name = table_name(name)
        self.engine.register_arrow(name, self.engine.result_schema(expression, params).empty_table())
        self._hold(name, Version((), 0, owned=False))

    def concat(self, name: str, parts: list[str]) -> bool:
        """``name``: the rows of every one of ``parts`` (versions held here) one after another, without a job:
        their files read as one table. False (nothing done) when the parts' columns differ, or a part is not a
        version of files: the caller unions them in SQL (which casts)."""
        name = table_name(name)
        versions = [self.current.get(table_name(part)) for part in parts]
        if any(v is None or v.row_index is not None for v in versions):
            return False
        types = [[(f.name, f.type) for f in self.engine.schema(part)] for part in parts]
        if any(t != types[0] for t in types):
            return False
        kept = [v for v in versions if v.rows != 0]  # type: ignore[union-attr]
        if not kept:
            self.engine.register_arrow(name, self.engine.schema(parts[0]).empty_table())
            self._hold(name, Version((), 0, owned=False))
            return True
        paths = tuple(path for v in kept for path in v.paths)  # type: ignore[union-attr]
        self.engine.register_parquet(name, list(paths))
        counts = [v.rows for v in kept]  # type: ignore[union-attr]
        self._hold(name, Version(paths, None if None in counts else sum(counts),  # type: ignore[arg-type]
                                 owned=all(v.owned for v in kept)))  # type: ignore[union-attr]
        return True

    def register(self, name: str, path: Path | str, *, row_index: str | None = None, row_index_start: int = 0) -> None:
        """Name files this does not own (never removed), read in place: a raw table, numbered by ``row_index``."""
        name = table_name(name)
        self.engine.register_parquet(name, path, row_index=row_index, row_index_start=row_index_start)
        self._hold(name, Version((path,), footer_rows(path), owned=False,
                                 row_index=None if row_index is None else (row_index, row_index_start)))

    def share(self, name: str, source: str) -> None:
        """``name`` holds the rows ``source`` holds now (its current version; no copy). Either may then be
        rewritten on its own: versions are never changed, only replaced."""
        name = table_name(name)
        version = self.current[table_name(source)]
        if not version.paths:
            self.engine.register_arrow(name, self.engine.schema(source).empty_table())
        else:
            column, start = version.row_index or (None, 0)
            self.engine.register_parquet(name, list(version.paths), row_index=column, row_index_start=start)
        self._hold(name, version)

    def rows(self, name: str) -> int | None:
        """Rows of ``name``'s current version from its footers; None when unknown (not held here, or on object
        storage)."""
        version = self.current.get(table_name(name))
        return None if version is None else version.rows

    def drop(self, name: str) -> None:
        name = table_name(name)
        self.engine.drop(name)
        self._release(self.current.pop(name, None))

    def _hold(self, name: str, version: Version) -> None:
        old = self.current.get(name)
        self.current[name] = version
        for path in version.paths:
            self._holders[path] += 1
        self._release(old)

    def _release(self, version: Version | None) -> None:
        if version is None:
            return
        for path in version.paths:
            self._holders[path] -= 1
            if self._holders[path] <= 0:
                del self._holders[path]
                if version.owned and not is_url(path):
                    shutil.rmtree(path, ignore_errors=True)
