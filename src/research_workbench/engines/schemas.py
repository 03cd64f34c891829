"""Arrow schemas at the boundary: what crosses it (no nanosecond timestamps) and the SQL types they mean.

Every table an engine holds enters through ``register_parquet``, ``register_arrow`` or ``materialise``, and the
engine keeps its schema as Arrow. Two things follow from that schema:

- **Nanosecond timestamps are refused**, naming the column (and the file). Spark 4 cannot read them at all
  (``[PARQUET_TYPE_ILLEGAL] Illegal Parquet type: INT64 (TIMESTAMP(NANOS,false))``), while DuckDB reads them as
  ``TIMESTAMP_NS``: a file one engine reads and the other does not would break "files move between engines
  unchanged". They are refused rather than converted because converting a Parquet file means rewriting it on the
  driver (it does not scale and hides the writer's mistake); the fix is at the writer: pandas and pyarrow write
  microseconds with ``pq.write_table(..., coerce_timestamps="us", allow_truncated_timestamps=True)``, DuckDB with
  ``TIMESTAMP`` (never ``TIMESTAMP_NS``). Second and millisecond timestamps are widened by both engines and pass.
- **Column types for the portability check**: ``sql_types`` gives each column its SQLGlot type, so
  ``capabilities.check_portable`` can tell a DATE from a TIMESTAMP where the answers depend on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ..cdr.problems import Problem
from .errors import EngineError


def _nanosecond_columns(fields, prefix: str = "") -> Iterator[str]:
    for field in fields:
        name = f"{prefix}{field.name}"
        yield from _nanosecond_paths(field.type, name)


def _nanosecond_paths(kind: pa.DataType, name: str) -> Iterator[str]:
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        yield name
    elif pa.types.is_struct(kind):
        yield from _nanosecond_columns([kind.field(i) for i in range(kind.num_fields)], f"{name}.")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _nanosecond_paths(kind.value_type, f"{name}[]")
    elif pa.types.is_map(kind):
        yield from _nanosecond_paths(kind.key_type, f"{name}.key")
        yield from _nanosecond_paths(kind.item_type, f"{name}.value")


def refuse_nanoseconds(schema: pa.Schema, where: str) -> None:
    """EngineError naming every nanosecond-timestamp column of ``schema`` (nested ones by their path)."""
    columns = list(_nanosecond_columns(schema))
    if columns:
        raise EngineError([Problem(
            f"column {column!r} holds nanosecond timestamps, which Spark cannot read; write microseconds "
            "(pyarrow: coerce_timestamps='us', allow_truncated_timestamps=True; DuckDB: TIMESTAMP, not TIMESTAMP_NS)",
            where=where) for column in columns])


def sql_type(kind: pa.DataType) -> str | None:
    """The SQLGlot type name of an Arrow type, or None where the portability check needs no type."""
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}[kind.bit_width]
    if pa.types.is_floating(kind):
        return "FLOAT" if kind.bit_width == 32 else "DOUBLE"
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "TEXT"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "BLOB"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = sql_type(kind.value_type)
        return f"ARRAY<{inner}>" if inner else "ARRAY<UNKNOWN>"
    return None


def sql_types(schema: pa.Schema) -> dict[str, str]:
    """Column → SQLGlot type name, for the columns whose type the portability check can use."""
    types = {}
    for field in schema:
        kind = sql_type(field.type)
        if kind is not None:
            types[field.name] = kind
    return types


def nullable(table: pa.Table) -> pa.Table:
    """The table with every top-level column nullable. Spark marks literals and keys NOT NULL where DuckDB marks
    nothing; results compare equal across engines only once both say the same."""
    if all(field.nullable for field in table.schema):
        return table
    schema = pa.schema([field.with_nullable(True) for field in table.schema], metadata=table.schema.metadata)
    return table.cast(schema)
