"""Column frames: the in-memory form of one chunk's table before it becomes Arrow.

A frame is a plain ``dict`` of column name → numpy array (numbers, dates as int32 days since 1970, datetimes as
int64 microseconds) or pyarrow array (strings). Nulls: ``NULL_INT`` in integer and date columns, NaN in float
columns, None in string arrays. Internal columns start with ``_`` (``_defect``: defect code of the row) and are
dropped on conversion. Primary keys and references to other tables hold *local* row numbers (0-based within the
chunk); the writer turns them into global ids.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..cdr.model import cdm

NULL_INT = np.iinfo(np.int64).min
NULL_DATE = np.iinfo(np.int32).min

Frame = dict[str, object]


def nrows(frame: Frame) -> int:
    for value in frame.values():
        return len(value)
    return 0


def take(frame: Frame, index: np.ndarray) -> Frame:
    out: Frame = {}
    for k, v in frame.items():
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            out[k] = v.take(pa.array(index, type=pa.int64()))
        else:
            out[k] = v[index]
    return out


def concat(frames: list[Frame]) -> Frame:
    frames = [f for f in frames if f and nrows(f) > 0]
    if not frames:
        return {}
    keys = list(frames[0])
    for f in frames[1:]:
        for k in f:
            if k not in keys:
                keys.append(k)
    out: Frame = {}
    for k in keys:
        parts = []
        for f in frames:
            n = nrows(f)
            v = f.get(k)
            if v is None:
                v = _null_like(_template(frames, k), n)
            parts.append(v)
        if isinstance(parts[0], (pa.Array, pa.ChunkedArray)) or any(isinstance(p, (pa.Array, pa.ChunkedArray)) for p in parts):
            arrays = []
            for p in parts:
                if isinstance(p, pa.ChunkedArray):
                    arrays.extend(p.chunks)
                elif isinstance(p, pa.Array):
                    arrays.append(p)
                else:
                    arrays.append(pa.array(p))
            out[k] = pa.concat_arrays([a.cast(pa.string()) if pa.types.is_dictionary(a.type) else a for a in arrays])
        else:
            out[k] = np.concatenate(parts)
    return out


def _template(frames: list[Frame], key: str):
    for f in frames:
        if key in f:
            return f[key]
    raise KeyError(key)


def _null_like(template, n: int):
    if isinstance(template, (pa.Array, pa.ChunkedArray)):
        return pa.nulls(n, template.type if not pa.types.is_dictionary(template.type) else pa.string())
    t = np.asarray(template)
    if t.dtype.kind == "f":
        return np.full(n, np.nan)
    if t.dtype == np.int32:
        return np.full(n, NULL_DATE, dtype=np.int32)
    if t.dtype.kind in "iu":
        return np.full(n, NULL_INT, dtype=np.int64)
    if t.dtype.kind == "b":
        return np.zeros(n, dtype=bool)
    raise TypeError(f"cannot make nulls like {t.dtype}")


def sort(frame: Frame, *keys: str) -> Frame:
    """Rows ordered by the given columns (first key is the primary order)."""
    if nrows(frame) == 0:
        return frame
    order = np.lexsort(tuple(np.asarray(frame[k]) for k in reversed(keys)))
    return take(frame, order)


def strings(values: np.ndarray, dictionary: list[str] | np.ndarray) -> pa.Array:
    """Strings by index into a small dictionary (vectorised; index -1 = null)."""
    values = np.asarray(values)
    mask = values < 0
    indices = pa.array(np.where(mask, 0, values).astype(np.int32), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(dictionary), type=pa.string())).cast(pa.string())


def lookup_strings(ids: np.ndarray, mapping: dict[int, str]) -> pa.Array:
    """Map integer ids to strings via a dict (vectorised through the distinct ids)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        return pa.array([], type=pa.string())
    uniq, inverse = np.unique(ids, return_inverse=True)
    dictionary = [mapping.get(int(u)) for u in uniq]
    codes = np.array([i if d is not None else -1 for i, d in enumerate(dictionary)], dtype=np.int64)[inverse]
    return strings(codes, [d if d is not None else "" for d in dictionary])


def to_arrow(table_name: str, frame: Frame, n: int | None = None) -> pa.Table:
    """The frame as an Arrow table with the model's full schema (absent columns are null)."""
    model_table = cdm().table(table_name)
    schema = model_table.arrow_schema()
    n = nrows(frame) if n is None else n
    arrays = []
    for fld in schema:
        value = frame.get(fld.name)
        if value is None:
            arrays.append(pa.nulls(n, fld.type))
            continue
        if isinstance(value, pa.ChunkedArray):
            value = pa.concat_arrays(value.chunks) if value.num_chunks else pa.array([], type=fld.type)
        if isinstance(value, pa.Array):
            arrays.append(value.cast(fld.type))
            continue
        v = np.asarray(value)
        if pa.types.is_date32(fld.type):
            v = v.astype(np.int32)
            mask = v == NULL_DATE
            arrays.append(pa.array(v, type=pa.int32(), mask=mask if mask.any() else None).cast(pa.date32()))
        elif pa.types.is_timestamp(fld.type):
            v = v.astype(np.int64)
            mask = v == NULL_INT
            arrays.append(pa.array(v, type=pa.int64(), mask=mask if mask.any() else None).cast(fld.type))
        elif pa.types.is_floating(fld.type):
            v = v.astype(np.float64)
            mask = np.isnan(v)
            arrays.append(pa.array(v, type=pa.float64(), mask=mask if mask.any() else None))
        elif pa.types.is_integer(fld.type):
            v = v.astype(np.int64)
            mask = v == NULL_INT
            arrays.append(pa.array(v, type=pa.int64(), mask=mask if mask.any() else None))
        elif pa.types.is_boolean(fld.type):
            arrays.append(pa.array(v.astype(bool)))
        elif pa.types.is_string(fld.type):
            arrays.append(pa.array(v.tolist(), type=pa.string()))
        else:
            raise TypeError(f"{table_name}.{fld.name}: unsupported type {fld.type}")
    return pa.Table.from_arrays(arrays, schema=schema)
