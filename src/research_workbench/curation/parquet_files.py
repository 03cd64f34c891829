"""One Parquet file from a dataset directory: the CDR's layout (one file per table) from an engine writing parts.

Spark writes a query's rows as a directory of ``part-*.parquet`` files (one or more per task); a CDR, and a
sandbox, hold one file per table. The parts are copied into one file row group by row group (never the whole table
in memory), their schema unified first (Spark may write a column NOT NULL in one part and not in another) and
every column made nullable, as DuckDB writes them. The directory is removed afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..engines.files import parquet_files


def join_parts(directory: Path, path: Path, *, compression: str = "zstd", schema: pa.Schema | None = None) -> None:
    """Write the rows of the dataset ``directory`` to the single Parquet file ``path`` (cast to ``schema`` when
    given), then remove ``directory``."""
    files = parquet_files(directory)
    sources = [pq.ParquetFile(f) for f in files]
    target = schema or pa.schema([f.with_nullable(True) for f in sources[0].schema_arrow])
    with pq.ParquetWriter(path, target, compression=compression) as writer:
        for source in sources:
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group).select(target.names).cast(target))
    shutil.rmtree(directory)
