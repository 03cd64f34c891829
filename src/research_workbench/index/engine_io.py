"""What the index's stages need around the engine boundary: a CDR's tables named on an engine, a dataset
directory the engine wrote turned into the one Parquet file of the index's layout, and list columns assembled from
sorted pairs (no aggregate that builds a list answers alike on both engines: ``capabilities`` refuses them).

Shared by the index build and the Data Browser's aggregates (``browser.building``).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from ..cdr.store import Cdr
from ..engines.files import join_parts

if TYPE_CHECKING:
    from ..engines.base import Engine


def tables_read(*trees: exp.Expression) -> set[str]:
    """The names of the tables the queries read (their CTEs' names left out)."""
    names: set[str] = set()
    for tree in trees:
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        names |= {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes}
    return names


def register_cdr(engine: Engine, cdr: Cdr, names: set[str] | None = None) -> list[str]:
    """The tables of the CDR's model on ``engine`` under their names — all, or those of ``names`` (``tables_read``:
    on Spark each registration costs a job) — the CDR's file (checked to be there), or an empty table of the model's
    shape for a table the CDR lacks. Returns the names registered."""
    registered = []
    for name, model_table in cdr.model.tables.items():
        if names is not None and name.lower() not in names:
            continue
        registered.append(name)
        if name in cdr.manifest.tables:
            engine.register_parquet(name, cdr.check_file(name))
        else:
            engine.register_arrow(name, model_table.arrow_schema().empty_table())
    return registered


def write_single_file(engine: Engine, expression, target: Path, *, params: dict | None = None,
                      row_group_size: int | None = None) -> int:
    """Write the query's rows to the one Parquet file ``target`` (the index's layout has files, not dataset
    directories); returns the number of rows. The engine writes a dataset directory beside ``target``: one part
    file (DuckDB) is renamed into place as it is; several (Spark writes one per task) are streamed, in part-name
    order (the order of a sorted query), into one file with ``row_group_size`` rows per group and every column
    nullable, as DuckDB writes it."""
    target = Path(target)
    staging = target.parent / f".{target.name}.parts-{uuid.uuid4().hex[:8]}"
    try:
        engine.write_parquet(expression, staging, params=params, row_group_size=row_group_size, compression="zstd")
        parts = sorted(p for p in staging.iterdir() if p.suffix == ".parquet" and not p.name.startswith((".", "_")))
        if len(parts) == 1:
            parts[0].replace(target)
        else:
            join_parts(parts, target, compression="zstd", row_group_size=row_group_size)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return pq.ParquetFile(target).metadata.num_rows


def grouped_lists(pairs: pa.Table, keys: list[str], value: str, name: str) -> pa.Table:
    """One row per distinct key of ``pairs`` with the list of its ``value``s, in the order given: ``pairs`` must be
    sorted by ``keys`` then ``value`` (an ORDER BY of the query that made them) and hold no NULL value."""
    n = pairs.num_rows
    if n == 0:
        return pa.table({**{k: pairs.column(k) for k in keys}, name: pa.array([], pa.list_(pairs.schema.field(value).type))})
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for key in keys:
        column = pairs.column(key).combine_chunks()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            items = np.array(column.to_pylist(), dtype=object)
            change[1:] |= items[1:] != items[:-1]
        else:
            items = column.to_numpy(zero_copy_only=False)
            change[1:] |= items[1:] != items[:-1]
    starts = np.flatnonzero(change)
    offsets = pa.array(np.append(starts, n).astype(np.int32))
    values = pairs.column(value).combine_chunks()
    lists = pa.ListArray.from_arrays(offsets, values)
    return pa.table({**{k: pairs.column(k).take(pa.array(starts)) for k in keys}, name: lists})
