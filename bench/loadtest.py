"""What the HTTP benchmarks share: a free loopback port for the server under test, timed requests, and the latency summary
(percentiles by the standard library: ``statistics.quantiles``, inclusive method, i.e. linear interpolation)."""

from __future__ import annotations

import socket
import statistics
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(values: list[float], errors: int, digits: int = 2) -> dict:
    """Request count, errors, p50/p95/p99, max and mean of ``values`` (milliseconds)."""
    if len(values) >= 2:
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    else:
        p50 = p95 = p99 = values[0] if values else float("nan")
    return {"requests": len(values), "errors": errors, "p50_ms": round(p50, digits), "p95_ms": round(p95, digits),
            "p99_ms": round(p99, digits), "max_ms": round(max(values), digits) if values else None,
            "mean_ms": round(statistics.fmean(values), digits) if values else None}


class Timings:
    """Latencies (milliseconds) and errors per kind of request, for ``summary``."""

    def __init__(self, kinds: list[str]):
        self.times: dict[str, list[float]] = {k: [] for k in kinds}
        self.errors: dict[str, int] = {k: 0 for k in kinds}

    async def timed(self, kind: str, call, ok=lambda response: True):
        """Await the request ``call`` and record how long it took; a transport error, or an answer ``ok`` refuses,
        counts as an error. The response, or None after a transport error."""
        import httpx

        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError:
            self.errors[kind] += 1
            return None
        self.times[kind].append((time.perf_counter() - started) * 1000)
        if not ok(response):
            self.errors[kind] += 1
        return response

    def summaries(self, digits: int = 1) -> dict:
        return {k: summary(v, self.errors[k], digits=digits) for k, v in self.times.items()}
