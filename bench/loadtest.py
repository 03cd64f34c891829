"""What the HTTP benchmarks share: a free loopback port for the server under test, and the latency summary
(percentiles by the standard library: ``statistics.quantiles``, inclusive method, i.e. linear interpolation)."""

from __future__ import annotations

import socket
import statistics


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
