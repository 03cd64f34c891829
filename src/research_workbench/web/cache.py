"""A response cache bounded in bytes and in entries (least recently used out first).

Callers key it by what the answer depends on: the route and its *validated, normalised* parameters (never the raw
query string), so ``?q=a&junk=1``, ``?junk=2&q=a`` and ``?q=a`` share one entry, and a request that fails
validation never reaches the cache. Each entry costs its body plus its key plus a fixed overhead; the total never
exceeds ``max_bytes``, and a body larger than ``max_bytes`` is not kept at all. A budget or entry limit of 0 turns
the cache off.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

ENTRY_OVERHEAD = 240  # dict slot, tuple, bytes object headers: a conservative round figure


def key_bytes(key: Hashable) -> int:
    if isinstance(key, tuple):
        return 56 + sum(key_bytes(k) for k in key)
    if isinstance(key, (str, bytes)):
        return 49 + len(key) * (1 if isinstance(key, bytes) or key.isascii() else 4)
    return 32


class ResponseCache:
    def __init__(self, max_bytes: int, max_entries: int = 1_000_000):
        if max_bytes < 0 or max_entries < 0:
            raise ValueError("cache limits cannot be negative")
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self.items: OrderedDict[Hashable, tuple[bytes, int]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    @classmethod
    def from_env(cls, bytes_variable: str, entries_variable: str, *, max_bytes: int, max_entries: int) -> ResponseCache:
        """A cache sized by two environment variables (whole numbers; either 0: no cache), else the defaults."""
        return cls(max_bytes=_env_int(bytes_variable, max_bytes, "bytes"),
                   max_entries=_env_int(entries_variable, max_entries, "entries"))

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self.items)

    def lookup(self, key: Hashable) -> bytes | None:
        """The cached body for ``key``, or None (a miss computes nothing)."""
        if not self.enabled:
            return None
        with self.lock:
            hit = self.items.get(key)
            if hit is None:
                return None
            self.items.move_to_end(key)
            return hit[0]

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The cached body for ``key``, or ``make()`` (kept if it fits). An exception in ``make`` caches nothing."""
        if not self.enabled:
            return make()
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
                return hit[0]
        value = make()
        cost = len(value) + key_bytes(key) + ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return value
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self.items[key] = (value, cost)
            self.bytes += cost
            while self.bytes > self.max_bytes or len(self.items) > self.max_entries:
                _, (_, freed) = self.items.popitem(last=False)
                self.bytes -= freed
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.bytes = 0


def _env_int(name: str, default: int, unit: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number of {unit}, not {raw!r}")
    return int(raw)
