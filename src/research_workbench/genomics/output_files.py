"""Result files of a genomics analysis, written so that none is ever seen half-written.

An analysis writes all its files into a staging directory beside them (inside the output directory, hidden), and
only once every file is complete are they renamed into place, one ``os.replace`` each. An error or a cancellation
(KeyboardInterrupt included) before that point removes the staging directory and leaves the output directory as it
was; a file already there with the same name is replaced whole, never truncated in place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


@contextmanager
def staged_outputs(out_dir: Path) -> Iterator[Path]:
    """A staging directory to write into; its files are moved into ``out_dir`` when the block ends without error."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        yield stage
        for path in sorted(stage.iterdir()):
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_table(table: pa.Table, directory: Path, stem: str) -> list[str]:
    """``stem.parquet`` and ``stem.tsv`` of ``table`` in ``directory``; returns the two file names."""
    pq.write_table(table, Path(directory) / f"{stem}.parquet", compression="zstd")
    pacsv.write_csv(table, Path(directory) / f"{stem}.tsv",
                    write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="needed"))
    return [f"{stem}.parquet", f"{stem}.tsv"]


def write_json(document: Any, path: Path) -> None:
    Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")
