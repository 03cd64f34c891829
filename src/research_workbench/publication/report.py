"""What the check found, in a form a terminal, a ``--json`` consumer and a web page can all show.

A finding's ``where`` is written for a person (1-based rows, cells and lines, columns by name); its sort key is kept
beside it as numbers, so "row 10" sorts after "row 9" and findings read top to bottom through a notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SMALL_COUNT = "small_count"
RECOVERABLE = "recoverable_by_subtraction"
SMALL_PERCENTAGE = "small_percentage"
KINDS = (SMALL_COUNT, RECOVERABLE, SMALL_PERCENTAGE)

# How summary() names each kind: (one, many).
_KIND_WORDS = {
    SMALL_COUNT: ("small count", "small counts"),
    RECOVERABLE: ("count recoverable by subtraction", "counts recoverable by subtraction"),
    SMALL_PERCENTAGE: ("percentage implying a small count", "percentages implying a small count"),
}


@dataclass(frozen=True)
class Place:
    """Where a table or a text sits: the file (or name) and, in a notebook, the cell, the output and, when an
    output holds several tables, which one. ``at`` adds the row, column or line inside it."""

    source: str
    cell: int | None = None
    output: int | None = None
    table: int | None = None

    def at(self, *, row: int | None = None, column: str | None = None, column_index: int = -1,
           line: int | None = None) -> tuple[str, tuple[int, ...]]:
        parts = []
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
        if self.output is not None:
            parts.append(f"output {self.output}")
        if self.table is not None:
            parts.append(f"table {self.table}")
        if row is not None:
            parts.append(f"row {row}")
        if line is not None:
            parts.append(f"line {line}")
        if column is not None:
            parts.append(f'column "{column}"')
        where = f"{self.source}: {', '.join(parts)}" if parts else self.source
        order = (self.cell or 0, self.output or 0, self.table or 0, row or line or 0, column_index)
        return where, order


@dataclass(frozen=True)
class Finding:
    """One thing that must not leave as it is: ``kind`` (one of ``KINDS``), ``where``, the ``value`` at fault (the
    small count, the count a subtraction recovers, the percentage) and a ``message`` saying what to do."""

    kind: str
    where: str
    value: Any
    message: str
    order: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "value": self.value, "message": self.message}


def finding(kind: str, place: Place, value: Any, message: str, *, row: int | None = None, column: str | None = None,
            column_index: int = -1, line: int | None = None) -> Finding:
    where, order = place.at(row=row, column=column, column_index=column_index, line=line)
    return Finding(kind, where, value, message, order + (KINDS.index(kind),))


@dataclass
class Report:
    """The findings of one table, file or notebook, sorted by place. ``unchecked`` lists what the checker could
    not judge (an image, a percentage with no denominator): the researcher has to look at those themselves."""

    source: str
    threshold: int
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=lambda f: f.order)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "threshold": self.threshold,
            "findings": [f.as_dict() for f in self.findings],
            "unchecked": list(self.unchecked),
        }

    def summary(self) -> str:
        not_checked = f"; {_count(len(self.unchecked), 'part', 'parts')} not checked" if self.unchecked else ""
        if self.ok:
            return f"{self.source}: ok, no count from 1 to {self.threshold - 1} found{not_checked}"
        by_kind = [_count(n, *_KIND_WORDS[kind]) for kind in KINDS
                   if (n := sum(f.kind == kind for f in self.findings))]
        return (f"{self.source}: {_count(len(self.findings), 'finding', 'findings')} ({', '.join(by_kind)}): "
                f"must not leave the Workbench as it is{not_checked}")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
