"""Arrow arrays from NumPy arrays and Python strings without ``pa.array``.

``pa.array`` imports pandas on its first call in a process (to ask whether the input is a pandas object): 0.2–0.5 s,
as long as a whole 10k-sample × 10k-variant association. The command-line analyses build their result tables here
instead, from the arrays' own buffers (no copy for contiguous numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32(), np.dtype(np.float64): pa.float64(),
          np.dtype(np.uint32): pa.uint32()}


def numbers(values: np.ndarray) -> pa.Array:
    """A null-free Arrow array of int64/int32/uint32/float64 values (NaN stays a NaN value, as ``pa.array`` does)."""
    array = np.ascontiguousarray(values)
    try:
        kind = _TYPES[array.dtype]
    except KeyError:
        raise TypeError(f"numbers(): {array.dtype} is not one of {', '.join(str(t) for t in _TYPES)}") from None
    return pa.Array.from_buffers(kind, len(array), [None, pa.py_buffer(array)])


def strings(values: Sequence[str]) -> pa.Array:
    """A null-free Arrow string array of ``values``."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))
