"""Parquet files in and out of an engine: which files a path means, and writing a dataset directory atomically.

A **dataset directory** is what ``Engine.write_parquet`` writes on every engine: a directory holding one or more
``part-*.parquet`` files (DuckDB writes one, ``part-00000.parquet``; Spark one or more per task, with its
``_SUCCESS`` marker and hidden ``.crc`` files). It is written into a temporary sibling and renamed into place,
so nothing half-written is ever visible under the final name. ``register_parquet`` of either engine reads a
dataset directory, a single file, or a list of them, so the output of one engine is the input of the other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..cdr.problems import Problem
from .errors import EngineError
from .schemas import refuse_nanoseconds

PathLike = str | os.PathLike


def is_url(path: PathLike) -> bool:
    """An object-store or HDFS location (``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``): read by Spark's own file
    systems, not by this process. ``file://`` URLs are local paths."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def local(path: PathLike) -> Path:
    text = os.fspath(path)
    return Path(text.removeprefix("file://"))


def data_file(path: Path) -> bool:
    # Spark's and Hadoop's conventions, which pyarrow and Spark both follow: _SUCCESS, _metadata, .crc files and
    # other names starting with "_" or "." are not data.
    return path.is_file() and not path.name.startswith(("_", ".")) and path.suffix == ".parquet"


def parquet_files(paths: PathLike | Sequence[PathLike], *, argument: str = "paths") -> list[str]:
    """The local Parquet files ``paths`` means, in order (a directory: its ``*.parquet`` data files sorted by name),
    each checked for nanosecond timestamps. EngineError names the argument and the path of each problem."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise EngineError([Problem("no Parquet path given", where=argument)])
    files: list[str] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        where = f"{argument}[{index}]" if len(items) > 1 else argument
        path = local(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if data_file(p))
            if not found:
                problems.append(Problem(f"{path} holds no *.parquet data files", where=where))
            files += [str(p) for p in found]
        elif path.is_file():
            files.append(str(path))
        else:
            problems.append(Problem(f"{path} does not exist", where=where))
    if problems:
        raise EngineError(problems)
    for file in files:
        try:
            schema = pq.read_schema(file)
        except Exception as err:  # pyarrow raises several types for a damaged or non-Parquet file
            raise EngineError([Problem(f"not a readable Parquet file ({err})", where=file)]) from None
        refuse_nanoseconds(schema, file)
    return files


def check_one_file(files: Sequence[str], paths: object) -> None:
    """A row index means a position in one file: refuse more (or fewer) than one, naming them."""
    if len(files) != 1:
        raise EngineError([Problem(f"a row index numbers the rows of one Parquet file; {paths} holds {len(files)}",
                                   where="paths")])


@contextmanager
def atomic_directory(path: PathLike, *, overwrite: bool) -> Iterator[Path]:
    """A temporary sibling directory name to write into; renamed to ``path`` when the block ends without error,
    removed otherwise. An existing ``path`` is refused unless ``overwrite``, and then replaced only once the new
    directory is complete."""
    target = local(path).absolute()
    if target.exists() and not overwrite:
        raise EngineError([Problem(f"{target} already exists (pass overwrite=True to replace it)", where="path")])
    if not target.parent.is_dir():
        raise EngineError([Problem(f"the parent directory {target.parent} does not exist", where="path")])
    token = uuid.uuid4().hex[:12]
    temporary = target.with_name(f".{target.name}.tmp-{token}")
    try:
        yield temporary
        if not temporary.is_dir():
            raise RuntimeError(f"the engine wrote nothing at {temporary}")
        if target.exists():  # moved aside first: a directory cannot be replaced by a rename in one step
            old = target.with_name(f".{target.name}.old-{token}")
            os.replace(target, old)
            os.replace(temporary, target)
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink()
        else:
            os.replace(temporary, target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def join_parts(parts: Sequence[PathLike], target: PathLike, *, compression: str = "zstd",
               schema: pa.Schema | None = None, row_group_size: int | None = None) -> None:
    """Write the rows of Parquet ``parts`` (a dataset directory's part files, in order: the order of a sorted query)
    to the one file ``target``, streamed, never whole in memory: each part's row groups, or batches of
    ``row_group_size`` rows (then the groups' size). Cast to ``schema`` when given, else to the first part's with
    every column nullable, as DuckDB writes them (Spark marks some columns required, and may differ part by part).
    The CDR's, the sandbox's, the index's and a dataset snapshot's layouts hold one file per table."""
    sources = [pq.ParquetFile(str(part)) for part in parts]
    if schema is None:
        if not sources:
            raise EngineError([Problem("the engine wrote no Parquet file", where=str(target))])
        schema = pa.schema([f.with_nullable(True) for f in sources[0].schema_arrow])
    with pq.ParquetWriter(str(target), schema, compression=compression) as writer:
        for source in sources:
            if row_group_size is None:
                pieces = (source.read_row_group(group) for group in range(source.num_row_groups))
            else:
                pieces = (pa.Table.from_batches([batch]) for batch in source.iter_batches(batch_size=row_group_size))
            for piece in pieces:
                writer.write_table(piece.select(schema.names).cast(schema), row_group_size=row_group_size)
