"""The current time, in UTC, timezone-aware: the one clock services use when a caller gives no ``now``."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
