"""The cohort engines the Workbench's pages and API run definitions on: one per (thread, data version index).

A ``CohortEngine`` holds a DuckDB connection and a SQLite handle on the concept bitmaps, neither of which may be
used from two threads at once; handlers run in the threadpool, so each thread keeps its own engine per index
(DuckDB shares one database instance per file inside a process, so a further engine costs a connection, not a
copy). An engine is opened only once its index is shown to match its CDR (``index.freshness``); a data version
whose index is missing or stale answers ``EngineUnavailable`` with the reason, which pages show as it is.

With ``engine = "spark"`` in the config the server starts one Spark session (``server_engine``) and keeps it for its
life: every thread's cohort engines run participants' SQL there (counts, ids, results, datasets, Circe cohorts),
each index's and CDR's tables registered once; the pool closes it when the server stops.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..cdr.store import CdrFileError
from ..cohorts.builder.engine import CohortEngine
from ..index.freshness import StaleIndexError
from ..state.models import DataVersion

if TYPE_CHECKING:
    from ..accounts.config import WorkbenchConfig
    from ..engines.base import Engine


def server_engine(config: WorkbenchConfig) -> Engine | None:
    """The server's boundary engine: None for the embedded default (each cohort engine's DuckDB path), else a Spark
    engine on ``spark_master`` (or on the process's Spark session when it has one and no master is set). A session
    that cannot start stops the server's start with the reason (``EngineError``, naming the master)."""
    if config.engine == "duckdb":
        return None
    from ..engines.spark_engine import SparkEngine

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return SparkEngine()  # refuses, naming what to install
    active = SparkSession.getActiveSession()
    if active is not None and config.spark_master is None:
        return SparkEngine.from_session(active)
    return SparkEngine(master=config.spark_master or "local[2]")


class EngineUnavailable(RuntimeError):
    """The data version has no usable index: the message says why and how to rebuild it."""


class EnginePool:
    def __init__(self, engine: Engine | None = None) -> None:
        """``engine``: the server's boundary engine, which the pool owns and closes (None: the embedded path)."""
        self._local = threading.local()
        self.sql_engine = engine

    def close(self) -> None:
        """Stop the server's boundary engine (a Spark session it started; one it was given is left running)."""
        if self.sql_engine is not None:
            self.sql_engine.close()
            self.sql_engine = None

    def engine(self, version: DataVersion) -> CohortEngine:
        """This thread's engine over ``version``'s index (opened on first use)."""
        if not version.index_path:
            raise EngineUnavailable(f"data version {version.name} ({version.tier}) has no search index")
        engines: dict[str, CohortEngine] = getattr(self._local, "engines", None) or {}
        self._local.engines = engines
        key = f"{version.index_path}\0{version.cdr_path}"
        if key not in engines:
            try:
                engines[key] = CohortEngine(Path(version.index_path), cdr_dir=Path(version.cdr_path),
                                            engine=self.sql_engine)
            except (StaleIndexError, FileNotFoundError, CdrFileError) as err:
                raise EngineUnavailable(str(err)) from None
        return engines[key]
