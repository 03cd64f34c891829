"""Finding the table files in a source folder: CSV, CSV.gz, TSV or Parquet, names in any case."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import LoadError

SUFFIXES: dict[str, Literal["csv", "parquet"]] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "csv",
    ".tsv.gz": "csv",
    ".txt": "csv",
    ".txt.gz": "csv",
    ".parquet": "parquet",
}


@dataclass
class SourceFile:
    """One table's data in a source folder."""

    table: str  # lower-cased stem
    paths: list[Path]
    kind: Literal["csv", "parquet"]
    delimiter: str = ","
    quote: str = '"'
    date_format: str | None = None  # strptime format; None means ISO dates
    display: str = ""  # how errors name the source
    header: list[str] = field(default_factory=list)
    row_word: str = ""  # "line" for text files, "row" for Parquet and database tables
    first_row: int = 0  # the number errors give the first data row (2 in a CSV file: line 1 is the header)

    def __post_init__(self) -> None:
        if not self.row_word:
            self.row_word = "line" if self.kind == "csv" else "row"
        if not self.first_row:
            self.first_row = 2 if self.kind == "csv" else 1

    @property
    def name(self) -> str:
        return self.display or self.paths[0].name

    @property
    def gzipped(self) -> bool:
        return self.paths[0].name.lower().endswith(".gz")


def split_suffix(path: Path) -> tuple[str, str] | None:
    lower = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return path.name[: -len(suffix)].lower(), suffix
    return None


def discover(folder: Path) -> dict[str, SourceFile]:
    """Every data file in ``folder`` by lower-cased table name.

    A directory of Parquet files counts as one table (a partitioned export). Two files for the same table
    (``PERSON.csv`` and ``person.parquet``) are refused rather than guessed between.
    """
    if not folder.is_dir():
        raise LoadError.one(str(folder), "source folder does not exist")
    found: dict[str, SourceFile] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            parts = sorted(path.glob("*.parquet"))
            if not parts:
                continue
            source = SourceFile(table=path.name.lower(), paths=parts, kind="parquet", display=path.name + "/")
        else:
            split = split_suffix(path)
            if split is None:
                continue
            stem, suffix = split
            source = SourceFile(table=stem, paths=[path], kind=SUFFIXES[suffix])
            if suffix.startswith(".tsv"):
                source.delimiter = "\t"
        if source.table in found:
            raise LoadError.one(
                source.name, f"two files hold table {source.table}: {found[source.table].name} and {source.name}"
            )
        found[source.table] = source
    return found


def read_header(source: SourceFile) -> list[str]:
    """The lower-cased column names on a CSV file's first line.

    Refuses an empty file and a gzip file that cannot even yield its first line.
    """
    path = source.paths[0]
    if path.stat().st_size == 0:
        raise LoadError.one(source.name, "file is empty (no header line)", line=1)
    try:
        opener = gzip.open if source.gzipped else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            raw = fh.readline()
    except (OSError, EOFError, zlib.error) as err:
        raise LoadError.one(source.name, f"cannot read the file: {err}", line=1) from err
    try:
        # Only the header is decoded here; a bad byte further down is found (with its line) by the reader.
        first = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LoadError.one(source.name, f"not UTF-8 text: {err.reason}", line=1) from err
    if not first.strip():
        raise LoadError.one(source.name, "file is empty (no header line)", line=1)
    reader = csv.reader(io.StringIO(first), delimiter=source.delimiter, quotechar=source.quote or None, quoting=csv.QUOTE_MINIMAL if source.quote else csv.QUOTE_NONE)
    names = [name.strip().lower() for name in next(reader)]
    if len(names) == 1:
        for other in ";\t|,":
            if other != source.delimiter and other in names[0]:
                raise LoadError.one(
                    source.name, f"the header is a single column; the file seems to be separated by {other!r}, not {source.delimiter!r}", line=1
                )
    seen: set[str] = set()
    for name in names:
        if not name:
            raise LoadError.one(source.name, "header has an empty column name", line=1)
        if name in seen:
            raise LoadError.one(source.name, "column appears twice in the header", line=1, column=name)
        seen.add(name)
    return names


def count_complete_lines(source: SourceFile) -> int:
    """How many lines a (possibly truncated) gzip file yields before its stream breaks off."""
    lines = 0
    try:
        with gzip.open(source.paths[0], "rb") as fh:
            for _ in fh:
                lines += 1
    except (OSError, EOFError, zlib.error):
        pass
    return lines


def gzip_is_truncated(source: SourceFile) -> bool:
    try:
        with gzip.open(source.paths[0], "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return True
    return False
