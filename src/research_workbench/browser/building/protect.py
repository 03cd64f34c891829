"""The one disclosure pass: raw aggregate tables in, publishable tables out.

Every column whose role is ``count`` (``schema.py``) goes through ``disclosure.round_count``; every ``derived``
column is then recomputed from the *rounded* counts; ``stat`` columns are blanked where the raw group is smaller
than the bin; rows of a table with ``publish_if`` (histogram bins) are dropped when their group is smaller than the
bin; sort orders declared by ``rank`` are computed from the *rounded* counts, ties broken by names and ids. Only
``PublishedTable`` objects, which only ``protect`` makes, can be written to a results store (in primary-key
order, so that not even the order of stored rows comes from the counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..disclosure import DEFAULT_BIN, round_count, rounded_frequency, rounded_share
from ..schema import GroupGate, Rank, TableSpec


@dataclass
class RawTable:
    """Raw aggregates (true counts): never written anywhere as they are.

    ``rows`` is a list, or any iterable for a large table that no other table refers to (variants): such a table
    is rounded lazily, row by row, as the store writes it.
    """

    spec: TableSpec
    rows: Iterable[tuple]

    @classmethod
    def from_records(cls, spec: TableSpec, records: Iterable[Mapping[str, Any]]) -> RawTable:
        """A table from rows given by column name, laid out in the spec's column order (a list stays a list, any
        other iterable is converted lazily). A ``derived`` column may be left out: the disclosure pass computes
        it from the rounded counts whatever the builder says."""
        layout = _Layout(spec)
        if isinstance(records, list):
            return cls(spec, [layout.row(r) for r in records])
        return cls(spec, (layout.row(r) for r in records))

    def records(self) -> Iterator[dict[str, Any]]:
        """The rows by column name."""
        names = self.spec.names
        return (dict(zip(names, row)) for row in self.rows)


class _Layout:
    def __init__(self, spec: TableSpec):
        self.spec = spec
        self.names = spec.names
        self.known = frozenset(self.names)
        self.optional = frozenset(spec.role_columns("derived"))

    def row(self, record: Mapping[str, Any]) -> tuple:
        if not self.known.issuperset(record):
            raise ValueError(f"{self.spec.name}: no columns {sorted(set(record) - self.known)}")
        try:
            return tuple(record[c] if c in record or c not in self.optional else None for c in self.names)
        except KeyError as err:
            raise ValueError(f"{self.spec.name}: a row has no value for column {err.args[0]}: {dict(record)!r}") from None


class PublishedTable:
    """A table after the disclosure pass. Made only by ``protect``."""

    __slots__ = ("spec", "rows", "bin_size")

    def __init__(self, spec: TableSpec, rows: Iterable[tuple], bin_size: int, _token: object = None):
        if _token is not _PROTECT_TOKEN:
            raise TypeError("a PublishedTable is made by protect.protect(), never directly")
        self.spec, self.rows, self.bin_size = spec, rows, bin_size


_PROTECT_TOKEN = object()


def _round_row(spec: TableSpec, raw: tuple, bin_size: int, counts: list[int], stats: list[int], gate: int | None) -> list:
    if len(raw) != len(spec.columns):
        raise ValueError(f"{spec.name}: a row has {len(raw)} values, the table {len(spec.columns)} columns: {raw!r}")
    row = list(raw)
    if gate is not None and (row[gate] or 0) < bin_size:
        for i in stats:
            row[i] = None
    for i in counts:
        value = row[i]
        if value is None:
            continue
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{spec.name}: a count must be a whole number, not {value}")
            value = int(value)
        row[i] = round_count(int(value), bin_size)
    for d in spec.derived:
        row[spec.index(d.column)] = None  # whatever the builder put there is replaced from the rounded counts
    return row


def protect(tables: Iterable[RawTable], bin_size: int = DEFAULT_BIN) -> list[PublishedTable]:
    """Round every count column of every table, then derive percentages and frequencies from the rounded counts."""
    if isinstance(bin_size, bool) or not isinstance(bin_size, int) or bin_size < 1:
        raise ValueError(f"bin size must be a positive whole number, not {bin_size!r}")
    tables = list(tables)
    names = [t.spec.name for t in tables]
    if len(set(names)) != len(names):
        raise ValueError(f"a table appears twice: {names}")
    referenced = {d.table for t in tables for d in t.spec.derived if d.table}
    by_name = {t.spec.name: t for t in tables}
    rounded: dict[str, tuple[TableSpec, list[list]]] = {}
    lazy: dict[str, Iterable[tuple]] = {}
    for table in tables:
        spec = table.spec
        if spec.publish_if is not None:
            table = RawTable(spec, _gated(table, spec.publish_if, by_name, bin_size))
        counts = [spec.index(c) for c in spec.role_columns("count")]
        stats = [spec.index(c) for c in spec.role_columns("stat")]
        gate = spec.index(spec.stats_require) if spec.stats_require else None
        if stats and gate is None:
            raise ValueError(f"{spec.name}: stat columns need stats_require")
        if not isinstance(table.rows, list):
            if spec.name in referenced or any(d.table for d in spec.derived) or spec.rank or spec.publish_if:
                raise ValueError(f"{spec.name}: a table with cross-table percentages, ranks or a group gate must be "
                                 f"given as a list")
            lazy[spec.name] = _lazy(spec, table.rows, bin_size, counts, stats, gate)
            continue
        rounded[spec.name] = (spec, [_round_row(spec, raw, bin_size, counts, stats, gate) for raw in table.rows])

    for spec, rows in rounded.values():
        for d in spec.derived:
            col, num = spec.index(d.column), spec.index(d.numerator)
            if d.table is None:
                den = spec.index(d.denominator)
                for row in rows:
                    row[col] = _derive(d.kind, row[num], row[den])
                continue
            if d.table not in rounded:
                raise ValueError(f"{spec.name}.{d.column} needs table {d.table}, which was not built")
            other_spec, other_rows = rounded[d.table]
            their = [other_spec.index(c) for c in d.match]
            ours = [spec.index(c) for c in d.match.values()]
            fixed = [(other_spec.index(c), v) for c, v in d.where.items()]
            den = other_spec.index(d.denominator)
            lookup: dict[tuple, int] = {}
            for other in other_rows:
                if all(other[i] == v for i, v in fixed):
                    key = tuple(other[i] for i in their)
                    if key in lookup:
                        raise ValueError(f"{spec.name}.{d.column}: several denominators in {d.table} for {key}")
                    lookup[key] = other[den]
            for row in rows:
                whole = lookup.get(tuple(row[i] for i in ours))
                row[col] = None if whole is None else _derive(d.kind, row[num], whole)
    for spec, rows in rounded.values():
        if spec.rank is not None:
            _rank(spec, spec.rank, rows)
    published = []
    for table in tables:
        name = table.spec.name
        if name in lazy:
            published.append(PublishedTable(table.spec, lazy[name], bin_size, _PROTECT_TOKEN))
        else:
            spec, rows = rounded[name]
            published.append(PublishedTable(spec, [tuple(r) for r in rows], bin_size, _PROTECT_TOKEN))
    return published


def _gated(table: RawTable, gate: GroupGate, tables: dict[str, RawTable], bin_size: int) -> list[tuple]:
    """The rows of ``table`` whose group (a row of ``gate.table``) has a *raw* count of at least the bin."""
    if gate.table not in tables:
        raise ValueError(f"{table.spec.name}: rows are published by group of {gate.table}, which was not built")
    other = tables[gate.table]
    if not isinstance(other.rows, list) or not isinstance(table.rows, list):
        raise ValueError(f"{table.spec.name}: a table with a group gate (and its groups) must be given as a list")
    their = [other.spec.index(c) for c in gate.match]
    ours = [table.spec.index(c) for c in gate.match.values()]
    count = other.spec.index(gate.count)
    sizes = {tuple(r[i] for i in their): r[count] or 0 for r in other.rows}
    return [r for r in table.rows if sizes.get(tuple(r[i] for i in ours), 0) >= bin_size]


def _rank(spec: TableSpec, rank: Rank, rows: list[list]) -> None:
    """Fill the rank column of rows left None: 1, 2, … within each group by published count, then names/ids."""
    col, count = spec.index(rank.column), spec.index(rank.count)
    group = [spec.index(c) for c in rank.group]
    ties = [spec.index(c) for c in rank.tiebreak]
    groups: dict[tuple, list[list]] = {}
    for row in rows:
        if row[col] is None:
            groups.setdefault(tuple(row[i] for i in group), []).append(row)
    for members in groups.values():
        members.sort(key=lambda r: (-(r[count] or 0), *((r[i] is None, "" if r[i] is None else r[i]) for i in ties)))
        for position, row in enumerate(members, start=1):
            row[col] = position


def _lazy(spec: TableSpec, rows: Iterable[tuple], bin_size: int, counts, stats, gate) -> Iterator[tuple]:
    derived = [(spec.index(d.column), spec.index(d.numerator), spec.index(d.denominator), d.kind) for d in spec.derived]
    for raw in rows:
        row = _round_row(spec, raw, bin_size, counts, stats, gate)
        for col, num, den, kind in derived:
            row[col] = _derive(kind, row[num], row[den])
        yield tuple(row)


def _derive(kind: str, part: int | None, whole: int | None) -> float | None:
    if part is None or whole is None:
        return None
    return rounded_share(part, whole) if kind == "percent" else rounded_frequency(part, whole)
