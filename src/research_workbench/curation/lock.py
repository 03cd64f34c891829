"""One writer at a time: an exclusive lock on a releases folder for the whole of a curation.

Two curations into one folder would both read the private maps, each add its new participants, and the second to
save would drop the first one's entries: the same participant would then get two date shifts in two releases,
which narrows the true date. So ``curate`` holds ``RELEASES_DIR/.lock`` (an ``flock``, released by the kernel when
the process dies, so a killed run never leaves a stale lock) from before it reads the maps until the release is in
place. A second run fails at once, naming the holder that the lock file records (process, host, user, release,
start time); it does not wait, because a curation takes minutes to hours.

Under the lock, leftovers of killed runs (``.NAME.building-*``, ``.NAME.old-*``) can only be our own: they are
removed before the run starts.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shutil
import socket
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".lock"
STALE_PATTERNS = (".*.building-*", ".*.old-*")


class ReleasesLockedError(ValueError):
    """Another curation holds the releases folder (a ValueError: the request cannot be carried out now)."""


class ReleasesLock:
    """``with ReleasesLock(folder, release=…):`` holds the folder's lock for the block."""

    def __init__(self, folder: Path, *, release: str):
        self.folder = Path(folder)
        self.release = release
        self._fd: int | None = None

    def __enter__(self) -> ReleasesLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read_holder(fd))
            os.close(fd)
            raise ReleasesLockedError(
                f"{self.folder} is being written by another curation ({holder}); one curation at a time may write a "
                "releases folder: wait for it to finish, then run again"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": _user(),
            "release": self.release,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def remove_stale(self, folder: Path | None = None) -> list[str]:
        """Remove what killed runs left in ``folder`` (default: the locked folder), a folder only runs holding this
        lock write to; returns the names removed."""
        assert self._fd is not None, "removing stale builds needs the lock"
        removed = []
        for pattern in STALE_PATTERNS:
            for path in sorted(Path(folder or self.folder).glob(pattern)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name for this uid (a container)
        return str(os.getuid())


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (ValueError, OSError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "holder unknown"
    return (
        f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, user {holder.get('user', '?')}, "
        f"release {holder.get('release', '?')!r}, since {holder.get('started', '?')}"
    )
