"""Rate limits (the ``limits`` library, moving windows in memory) on sign-in, sign-up, TOTP and every form.

Keys are ``<bucket>:<client address>``; sign-in and TOTP are also limited per account (``<bucket>:account:<id>``)
so that spreading attempts over many addresses does not help. Each worker process keeps its own counters; a
deployment with several workers points ``limits`` at Redis instead (same interface)."""

from __future__ import annotations

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..accounts.config import LimitSettings


class RateLimited(Exception):
    def __init__(self, bucket: str, retry_after: int):
        self.bucket, self.retry_after = bucket, retry_after
        super().__init__(f"Too many attempts. Wait {retry_after} seconds and try again.")


class RateLimits:
    def __init__(self, settings: LimitSettings):
        self.settings = settings
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = {name: parse(getattr(settings, name)) for name in ("signin", "signup", "totp", "forms")}

    def hit(self, bucket: str, *keys: str) -> None:
        """Count one attempt against ``bucket`` for each key; ``RateLimited`` once any is over its limit."""
        item = self._items[bucket]
        for key in keys:
            if not self._limiter.hit(item, bucket, key):
                reset = self._limiter.get_window_stats(item, bucket, key).reset_time
                import time

                raise RateLimited(bucket, max(1, int(reset - time.time()) + 1))

    def reset(self) -> None:
        self._limiter.storage.reset()
