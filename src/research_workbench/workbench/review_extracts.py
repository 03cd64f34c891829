"""Review sets' participant extracts (``cohorts.participant_extract``), built in the background for the server.

Drawing a review set asks for its extract; the participant page uses it once it is there and reads the CDR until
then (the same rows, only slower), so no page ever waits for a build. Builds run one at a time on one thread with one
DuckDB thread: they share the server's two cores with its requests. A build that fails is logged and not retried
for ten minutes (the pages keep reading the CDR). Extracts are shared between the server's processes through the
directory; two processes asking for one at the same moment may both build it, and one rename wins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..cdr.store import Cdr
from ..cohorts import participant_extract as extract
from ..state.models import DataVersion

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 600


class ReviewExtracts:
    def __init__(self, root: Path, *, unused_days: float = 30):
        self.root = Path(root)
        self.unused_days = unused_days
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}
        self._failed: dict[str, float] = {}
        self._executor: ThreadPoolExecutor | None = None

    def _key(self, version: DataVersion, person_ids: Sequence[int]) -> tuple[Cdr, str]:
        cdr = Cdr(Path(version.cdr_path))
        return cdr, extract.extract_key(cdr, person_ids)

    def ready(self, version: DataVersion, person_ids: Sequence[int]) -> Path | None:
        """The finished extract of ``person_ids`` on ``version``'s CDR, or None (its build is then started, unless
        one is running or failed lately)."""
        cdr, key = self._key(version, person_ids)
        found = extract.find(self.root, key)
        if found is None:
            self._start(cdr, key, person_ids)
        return found

    def prepare(self, version: DataVersion, person_ids: Sequence[int]) -> None:
        """Start building the extract unless it exists (a review set was just drawn). Never raises: a CDR that cannot
        be read is reported by the pages that read it."""
        try:
            self.ready(version, person_ids)
        except (OSError, ValueError) as err:  # CdrFileError is a ValueError; a manifest gone is an OSError
            log.warning("review extract not started for %s: %s", version.cdr_path, err)

    def _start(self, cdr: Cdr, key: str, person_ids: Sequence[int]) -> None:
        with self._lock:
            if key in self._pending or time.monotonic() - self._failed.get(key, -RETRY_AFTER_SECONDS) < RETRY_AFTER_SECONDS:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-extract")
            future = self._executor.submit(self._build, cdr, key, list(person_ids))
            self._pending[key] = future

    def _build(self, cdr: Cdr, key: str, person_ids: list[int]) -> None:
        started = time.perf_counter()
        try:
            extract.prune(self.root, unused_days=self.unused_days)
            path = extract.build(self.root, cdr, person_ids)
            log.info("review extract %s: %d participants in %.1f s", path.name, len(set(person_ids)),
                     time.perf_counter() - started)
        except Exception:
            log.exception("review extract %s of %s failed: participant pages read the CDR", key, cdr.path)
            with self._lock:
                self._failed[key] = time.monotonic()
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def wait(self, timeout: float | None = None) -> None:
        """Until the builds started so far have finished (tests; a server's shutdown)."""
        with self._lock:
            futures = list(self._pending.values())
        for future in futures:
            future.exception(timeout=timeout)

    def close(self) -> None:
        """Stop taking builds; one running finishes (its files are written whole or not at all)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
