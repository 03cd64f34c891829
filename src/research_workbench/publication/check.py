"""The check a researcher runs before a result leaves the Workbench: on a table, a notebook's outputs, or a file.

Plain functions taking plain values, so the CLI and a web page report the same findings.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from .grid import Grid, cell, grid_of
from .outputs import dataresource_grid, html_grids, stated_counts, text_grid
from .report import SMALL_COUNT, Finding, Place, Report, finding
from .rules import COUNT_MODES, table_findings

DEFAULT_THRESHOLD = 20
SUFFIXES = (".csv", ".tsv", ".parquet", ".ipynb")
DATARESOURCE = "application/vnd.dataresource+json"


def check_table(table: Any, *, threshold: int = DEFAULT_THRESHOLD, name: str = "table", counts: str = "named",
                denominator: int | str | None = None) -> Report:
    """Findings in one table: a pyarrow Table, a pandas DataFrame, a list of dicts, or a list of rows whose first
    row is the header. ``counts="all"`` treats every integer column as a count (ids, years and ages excepted);
    ``denominator`` (a number, or a column's name) is what the table's percentages are percentages of."""
    _check_options(threshold, counts)
    grid = grid_of(table, name)
    if isinstance(denominator, bool) or not (denominator is None or isinstance(denominator, (int, str))):
        raise TypeError(f"denominator must be a whole number or a column name, not {denominator!r}")
    if isinstance(denominator, int) and denominator < 1:
        raise ValueError(f"denominator must be at least 1, not {denominator}")
    if isinstance(denominator, str) and denominator not in grid.columns:
        raise ValueError(f"{name}: no column {denominator!r} to take as the denominator; "
                         f"columns: {', '.join(grid.columns)}")
    findings, unchecked = table_findings(grid, Place(name), threshold=threshold, counts=counts, denominator=denominator)
    return Report(name, threshold, findings, unchecked)


def check_notebook(notebook: str | PathLike[str] | Mapping[str, Any], *, threshold: int = DEFAULT_THRESHOLD,
                   counts: str = "named", name: str | None = None) -> Report:
    """Findings in every code cell's outputs of a notebook (a path to an .ipynb, or its JSON as a dict): tables
    (HTML, pandas' table schema, plain-text reprs) and printed lines that state a count. Cells are numbered from
    1 by position, markdown cells included, as a notebook shows them; outputs from 1 within their cell."""
    _check_options(threshold, counts)
    source, document = _read_notebook(notebook, name)
    findings: list[Finding] = []
    unchecked: list[str] = []
    for cell_number, notebook_cell in enumerate(document["cells"], start=1):
        if not isinstance(notebook_cell, Mapping) or notebook_cell.get("cell_type") != "code":
            continue
        for output_number, output in enumerate(notebook_cell.get("outputs") or [], start=1):
            if isinstance(output, Mapping):
                place = Place(source, cell_number, output_number)
                _check_output(output, place, threshold, counts, findings, unchecked)
    return Report(source, threshold, findings, unchecked)


def check_file(path: str | PathLike[str], *, threshold: int = DEFAULT_THRESHOLD, counts: str = "named") -> Report:
    """Findings in a .csv, .tsv, .parquet or .ipynb file; findings name it as given."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: cannot check a {suffix or 'suffix-less'} file; the checker reads "
                         f"{', '.join(SUFFIXES)}")
    if suffix == ".ipynb":
        return check_notebook(path, threshold=threshold, counts=counts)
    _check_options(threshold, counts)
    grid = _read_parquet(path) if suffix == ".parquet" else _read_delimited(path, "\t" if suffix == ".tsv" else ",")
    findings, unchecked = table_findings(grid, Place(str(path)), threshold=threshold, counts=counts)
    return Report(str(path), threshold, findings, unchecked)


def _check_options(threshold: int, counts: str) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"threshold must be a whole number of at least 1, not {threshold!r}")
    if counts not in COUNT_MODES:
        raise ValueError(f"counts must be one of {', '.join(COUNT_MODES)}, not {counts!r}")


# ---- notebooks ---------------------------------------------------------------------------------------------------

def _read_notebook(notebook: str | PathLike[str] | Mapping[str, Any], name: str | None) -> tuple[str, Mapping[str, Any]]:
    if isinstance(notebook, Mapping):
        source, document = name or "notebook", notebook
    else:
        path = Path(notebook)
        source = name or str(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a notebook: not UTF-8 text") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a notebook: invalid JSON at line {err.lineno}, column {err.colno} "
                             f"({err.msg})") from None
    if isinstance(document, Mapping) and "worksheets" in document and "cells" not in document:
        document = _upgrade(document, source)
    if not isinstance(document, Mapping) or not isinstance(document.get("cells"), list):
        raise ValueError(f"{source}: not a Jupyter notebook: no list of cells")
    return source, document


def _upgrade(document: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """A notebook older than format 4 (2015) keeps its cells in worksheets; nbformat converts it, when installed."""
    try:
        import nbformat
    except ImportError:
        raise ValueError(f"{source}: a format {document.get('nbformat', 3)} notebook; open and save it in Jupyter "
                         "(or install nbformat) to check it") from None
    return nbformat.convert(nbformat.from_dict(dict(document)), 4)


def _text(value: Any) -> str:
    """Notebook text: one string, or a list of strings (lines with their newlines)."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else ""


def _check_output(output: Mapping[str, Any], place: Place, threshold: int, counts: str, findings: list[Finding],
                  unchecked: list[str]) -> None:
    """One output, in the richest form it carries (they all show the same thing): the table schema, else HTML
    tables, else plain text. Images cannot be read: they are listed as not checked."""
    kind = output.get("output_type")
    if kind not in ("stream", "execute_result", "display_data", "update_display_data"):
        return  # an error's traceback shows code, not results
    data = output.get("data") if isinstance(output.get("data"), Mapping) else {}
    grids: list[Grid] = []
    if DATARESOURCE in data and (grid := dataresource_grid(data[DATARESOURCE])) is not None:
        grids = [grid]
    elif "<table" in (html := _text(data.get("text/html"))).lower():
        grids = html_grids(html)
    else:
        plain = _text(output.get("text") if kind == "stream" else data.get("text/plain"))
        if (grid := text_grid(plain)) is not None:  # a DataFrame's repr, displayed or printed
            grids = [grid]
        else:
            _check_lines(plain, place, threshold, findings)
    for number, grid in enumerate(grids, start=1):
        table_place = Place(place.source, place.cell, place.output, number if len(grids) > 1 else None)
        found, notes = table_findings(grid, table_place, threshold=threshold, counts=counts)
        findings += found
        unchecked += notes
    images = sorted(mime for mime in data if mime.startswith("image/"))
    if images:
        unchecked.append(f"{place.at()[0]}: an image ({', '.join(images)}); read any counts on it yourself")


def _check_lines(text: str, place: Place, threshold: int, findings: list[Finding]) -> None:
    for stated in stated_counts(text):
        if 1 <= stated.value < threshold:
            findings.append(finding(
                SMALL_COUNT, place, stated.value,
                f'"{stated.text}" states a count from 1 to {threshold - 1}; print "<{threshold}" instead, or clear '
                "the output before the notebook leaves",
                line=stated.line))


# ---- files -------------------------------------------------------------------------------------------------------

def _read_delimited(path: Path, delimiter: str) -> Grid:
    """A CSV or TSV with a header row; numbers become numbers, empty fields and NA are missing."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: empty file: no header row")
            rows = []
            for fields in reader:
                if not fields:
                    continue  # a blank line
                if len(fields) != len(header):
                    raise ValueError(f"{path}, line {reader.line_num}: {len(fields)} fields where the header has "
                                     f"{len(header)}")
                rows.append([cell(value) for value in fields])
        except csv.Error as err:
            raise ValueError(f"{path}, line {reader.line_num}: {err}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text") from None
    return Grid([name.strip() for name in header], rows)


def _read_parquet(path: Path) -> Grid:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path}: not a Parquet file ({err})") from None
    return grid_of(table, str(path))
