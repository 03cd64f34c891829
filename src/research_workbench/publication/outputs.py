"""Reading a notebook output back into tables and lines: the HTML pandas renders, its table-schema JSON, its
plain-text repr, and printed text that states a count.

Only the standard library: notebooks are read where the researcher works, and pandas or nbformat may be absent.
The plain-text repr is parsed best effort (pandas right-aligns every column, so each cell ends where its header
ends); a repr it cannot read is checked line by line like printed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from .grid import Grid, cell, column_name, dicts_grid

# Printed statements of a count: "n = 7", "N=7", "count: 7", "patients: 7", "7 participants", "1 person".
_STATED = re.compile(
    r"\b(?:n|counts?|participants|patients|people|persons|cases|controls|subjects)\s*[=:]\s*"
    r"(?P<after>(?:\d{1,3}(?:,\d{3})+|\d+)(?!\d|[.,]\d))"
    r"|(?<![\w.,])(?P<before>\d{1,3}(?:,\d{3})+|\d+)\s+"
    r"(?:participants?|patients?|people|persons?|cases?|controls?|subjects?|individuals?|respondents?)\b",
    re.IGNORECASE,
)


@dataclass
class StatedCount:
    line: int
    value: int
    text: str


def stated_counts(text: str) -> list[StatedCount]:
    """Counts a text states, with their 1-based line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _STATED.finditer(line):
            digits = match.group("after") or match.group("before")
            found.append(StatedCount(number, int(digits.replace(",", "")), match.group(0)))
    return found


def dataresource_grid(document: Any) -> Grid | None:
    """pandas' ``application/vnd.dataresource+json``: a table schema's fields and its rows as objects."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        return None
    rows = [row for row in document["data"] if isinstance(row, dict)]
    schema = document.get("schema") if isinstance(document.get("schema"), dict) else {}
    fields = [f["name"] for f in schema.get("fields", []) if isinstance(f, dict) and "name" in f]
    return dicts_grid(rows, fields)


# ---- HTML tables -------------------------------------------------------------------------------------------------

_MAX_SPAN = 1000  # a colspan or rowspan beyond this is not a results table's


@dataclass
class _Cell:
    text: list[str] = field(default_factory=list)
    header: bool = False
    colspan: int = 1
    rowspan: int = 1


@dataclass
class _Table:
    rows: list[tuple[bool, list[_Cell]]] = field(default_factory=list)  # (in <thead>, cells)
    in_head: bool = False
    row: list[_Cell] | None = None
    cell: _Cell | None = None


class _TableParser(HTMLParser):
    """Collects every <table>'s rows and cells; unclosed rows and cells are closed by the next one (HTML allows it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[_Table] = []
        self._open: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._open.append(_Table())
            return
        if not self._open:
            return
        table = self._open[-1]
        if tag in ("thead", "tbody", "tfoot"):
            self._end_row(table)
            table.in_head = tag == "thead"
        elif tag == "tr":
            self._end_row(table)
            table.row = []
        elif tag in ("td", "th"):
            self._end_cell(table)
            if table.row is None:
                table.row = []
            spans = {name: _span(value) for name, value in attrs if name in ("colspan", "rowspan")}
            table.cell = _Cell(header=tag == "th", colspan=spans.get("colspan", 1), rowspan=spans.get("rowspan", 1))
        elif tag == "br" and table.cell is not None:
            table.cell.text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            return
        table = self._open[-1]
        if tag in ("td", "th"):
            self._end_cell(table)
        elif tag == "tr":
            self._end_row(table)
        elif tag == "thead":
            self._end_row(table)
            table.in_head = False
        elif tag == "table":
            self._end_row(table)
            self.tables.append(self._open.pop())

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1].cell is not None:
            self._open[-1].cell.text.append(data)

    def close(self) -> None:
        super().close()
        while self._open:
            self._end_row(self._open[-1])
            self.tables.append(self._open.pop())

    @staticmethod
    def _end_cell(table: _Table) -> None:
        if table.cell is not None and table.row is not None:
            table.row.append(table.cell)
        table.cell = None

    def _end_row(self, table: _Table) -> None:
        self._end_cell(table)
        if table.row is not None:
            table.rows.append((table.in_head, table.row))
        table.row = None


def _span(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), _MAX_SPAN)
    except ValueError:
        return 1


def html_grids(html: str) -> list[Grid]:
    """Each <table> as a grid: header rows (<thead>, else a first row of <th> only) name the columns; a first
    column of <th> cells under an empty header is the index. Spanned cells repeat in every row and column they
    span, as a reader sees them."""
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    grids = []
    for table in parser.tables:
        if not table.rows:
            continue
        matrix = _expand([cells for _, cells in table.rows])
        head = sum(1 for in_head, _ in table.rows if in_head)
        if not head and all(c.header for c in table.rows[0][1]):
            head = 1
        width = max(len(line) for line in matrix)
        header_rows = [line + [("", False)] * (width - len(line)) for line in matrix[:head]]
        body = [line + [("", False)] * (width - len(line)) for line in matrix[head:]]
        names = []
        for j in range(width):
            parts: list[str] = []
            for line in header_rows:
                if line[j][0] and line[j][0] not in parts:
                    parts.append(line[j][0])
            index_column = j == 0 and bool(body) and all(line[0][1] for line in body)
            names.append(" ".join(parts) or ("index" if index_column else f"column {j + 1}"))
        grids.append(Grid(names, [[cell(text) for text, _ in line] for line in body]))
    return grids


def _expand(rows: list[list[_Cell]]) -> list[list[tuple[str, bool]]]:
    """Rows of (text, is a header cell), with col- and rowspans filled in."""
    carried: dict[int, tuple[tuple[str, bool], int]] = {}  # column → (cell, rows still to fill)
    matrix = []
    for cells in rows:
        line: list[tuple[str, bool]] = []
        queue = list(cells)
        while queue or len(line) in carried:
            column = len(line)
            if column in carried:
                value, left = carried.pop(column)
                if left > 1:
                    carried[column] = (value, left - 1)
                line.append(value)
                continue
            current = queue.pop(0)
            value = (" ".join("".join(current.text).split()), current.header)
            for _ in range(current.colspan):
                if current.rowspan > 1:
                    carried[len(line)] = (value, current.rowspan - 1)
                line.append(value)
        matrix.append(line)
    return matrix


# ---- plain-text reprs --------------------------------------------------------------------------------------------

_FRAME_FOOTER = re.compile(r"\[\d+ rows x \d+ columns\]")
_SERIES_FOOTER = re.compile(r"(?:Name: (?P<name>.*?), )?(?:Length: \d+, )?dtype: \w+")
_TOKEN = re.compile(r"\S+(?: \S+)*")  # pandas separates columns by two spaces or more
_ELLIPSIS = frozenset({"..", "...", "…"})  # pandas shows ".." in narrow columns


def text_grid(text: str) -> Grid | None:
    """A pandas DataFrame or Series repr as a grid, or None when the text is not one."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    if _SERIES_FOOTER.fullmatch(lines[-1].strip()):
        return _series_grid(lines[:-1], _SERIES_FOOTER.fullmatch(lines[-1].strip()).group("name"))
    if _FRAME_FOOTER.fullmatch(lines[-1].strip()):
        lines = lines[:-1]
    return _frame_grid(lines)


def _frame_grid(lines: list[str]) -> Grid | None:
    """Accepted only when it is laid out as pandas lays a frame out: every cell ends where its column's header
    ends, with a space after it. Prose fails that, and is then read line by line instead."""
    header = lines[0]
    spans = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(header)]
    data = lines[1:]
    index_name = None
    first = re.fullmatch(r"(\S+)", data[0])
    if first and len(data) > 1 and spans and first.end() < spans[0][0]:
        index_name, data = first.group(1), data[1:]  # pandas prints a named index's name on a line of its own
    if not spans or not data:
        return None
    # The index is left-aligned before the first column, and two spaces at least set it apart.
    index_end = next((b for b in range(1, spans[0][0]) if all(line[:b].strip() and not line[b:b + 2].strip()
                                                               for line in data)), 0)
    has_index = index_end > 0
    if len(spans) + has_index < 2 or (index_name is not None and not has_index):
        return None
    names = ([index_name or "index"] if has_index else []) + [name for _, _, name in spans]
    rows = []
    for line in data:
        cells = []
        if has_index:
            if not _ends_at(line, index_end, required=False):
                return None
            cells.append(line[:index_end].strip())
        for j, (_, end, _) in enumerate(spans):
            start = spans[j - 1][1] if j else (index_end if has_index else 0)
            text = line[start:end].strip()
            if text and not _ends_at(line, end, required=True) or j == len(spans) - 1 and len(line) > end:
                return None
            cells.append(text)
        if all(text in _ELLIPSIS or not text for text in cells):
            continue  # the row pandas shows for rows it leaves out
        rows.append([cell(text) for text in cells])
    return Grid(names, rows) if rows else None


def _ends_at(line: str, end: int, *, required: bool) -> bool:
    """Whether a cell may end at ``end``: nothing runs on past it, and (right-aligned) its last character is there."""
    runs_on = end < len(line) and line[end] != " "
    return not runs_on and (not required or line[end - 1] != " ")


def _series_grid(lines: list[str], name: str | None) -> Grid | None:
    index_name = None
    if len(lines) > 1 and re.fullmatch(r"\S+", lines[0]):
        index_name, lines = lines[0], lines[1:]
    rows = []
    for line in lines:
        match = re.fullmatch(r"(.*?)\s{2,}(\S+)|(\S+)\s+(\S+)", line)
        if not match:
            return None
        label, value = (match.group(1), match.group(2)) if match.group(1) is not None else (match.group(3), match.group(4))
        if label.strip() in _ELLIPSIS:
            continue
        rows.append([cell(label), cell(value)])
    if not rows:
        return None
    return Grid([index_name or "index", column_name(name) if name else "value"], rows)
