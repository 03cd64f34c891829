"""Worker processes that die with their parent.

A long job (curation's genome rewrite, the synthetic program's chunks) runs part of its work in worker processes.
If the parent is killed (SIGKILL, an out-of-memory kill), a plain pool's workers carry on writing into a build
folder nobody will commit. Here every worker asks the kernel to send it SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)`` on Linux); where that is unavailable, a watchdog thread in the worker polls the parent
and exits when it is gone.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Runs first in each worker."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before the request took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def worker_pool(max_workers: int, context: str | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers exit when this process dies (``context``: a multiprocessing start method)."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context(context),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
