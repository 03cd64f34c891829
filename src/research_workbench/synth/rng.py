"""Deterministic random streams: every draw comes from numpy's PCG64 seeded by (seed, purpose, chunk...).

A stream is a pure function of the run's seed and a key path such as ``("people", chunk)``, so any part of
the program (a chunk in a worker process, the genome writer) can recreate exactly the draws it needs without
sharing state, and the output does not depend on how work is scheduled.
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(part: int | str) -> int:
    if isinstance(part, str):
        return zlib.crc32(part.encode("utf-8"))
    return int(part)


def stream(seed: int, *keys: int | str) -> np.random.Generator:
    """A ``Generator(PCG64)`` for ``seed`` and a key path (strings are hashed with CRC-32)."""
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_key(k) for k in keys))
    return np.random.Generator(np.random.PCG64(sequence))
