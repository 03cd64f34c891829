"""The cohort engines the Workbench's pages and API run definitions on: one per (thread, data version index).

A ``CohortEngine`` holds a DuckDB connection and a SQLite handle on the concept bitmaps, neither of which may be
used from two threads at once; handlers run in the threadpool, so each thread keeps its own engine per index
(DuckDB shares one database instance per file inside a process, so a further engine costs a connection, not a
copy). An engine is opened only once its index is shown to match its CDR (``index.freshness``); a data version
whose index is missing or stale answers ``EngineUnavailable`` with the reason, which pages show as it is.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..cdr.store import CdrFileError
from ..cohorts.builder.engine import CohortEngine
from ..index.freshness import StaleIndexError
from ..state.models import DataVersion


class EngineUnavailable(RuntimeError):
    """The data version has no usable index: the message says why and how to rebuild it."""


class EnginePool:
    def __init__(self) -> None:
        self._local = threading.local()

    def engine(self, version: DataVersion) -> CohortEngine:
        """This thread's engine over ``version``'s index (opened on first use)."""
        if not version.index_path:
            raise EngineUnavailable(f"data version {version.name} ({version.tier}) has no search index")
        engines: dict[str, CohortEngine] = getattr(self._local, "engines", None) or {}
        self._local.engines = engines
        key = f"{version.index_path}\0{version.cdr_path}"
        if key not in engines:
            try:
                engines[key] = CohortEngine(Path(version.index_path), cdr_dir=Path(version.cdr_path))
            except (StaleIndexError, FileNotFoundError, CdrFileError) as err:
                raise EngineUnavailable(str(err)) from None
        return engines[key]
