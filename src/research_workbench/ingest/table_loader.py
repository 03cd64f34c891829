"""Loading one table: stage the text, find every bad value, then write the typed table.

Three streaming passes over the data, each run by DuckDB within its memory cap:
1. stage: the source (CSV text or Parquet) → a scratch Parquet file of text columns, in file order;
2. check: one aggregate over the staged rows finds, per column, the first row with an unparseable value or a
   missing required value, then a grouped scan finds duplicate primary keys;
3. write: the staged text parsed to the model's types, derived columns filled in, into the CDR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from ..cdr.engine import one_row
from ..cdr.model import Table
from ..cdr.sql import alias, col
from ..cdr.store import CdrBuilder, temporary_view
from .errors import LoadError, Problem
from .parse import TYPE_WORDS, parse_value
from .sources import SourceFile, count_complete_lines, gzip_is_truncated, read_header
from .upgrade import DERIVED, RENAMED_IN_54

MAX_PROBLEMS = 20


@dataclass
class TablePlan:
    """How a source's columns map onto a model table."""

    table: Table
    source: SourceFile
    mapping: dict[str, str]  # source column → model column
    derived: list[str] = field(default_factory=list)
    duplicate_key_rows: int = 0
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def present(self) -> list[str]:
        return [c for c in self.table.column_names if c in self.mapping.values()]


def plan_table(table: Table, source: SourceFile, header: list[str], *, cdm53: bool, strict: bool) -> TablePlan:
    """Match a source header against the model: renames, unknown and missing columns."""
    renames = RENAMED_IN_54.get(table.name, {}) if cdm53 else {}
    plan = TablePlan(table=table, source=source, mapping={})
    known = set(table.column_names)
    for name in header:
        target = renames.get(name, name)
        if target != name:
            plan.notes.append(f"{table.name}.{name} renamed to {target} (CDM 5.4)")
        if target in known:
            plan.mapping[name] = target
        elif strict:
            raise LoadError.one(source.name, f"column is not part of table {table.name}", line=1, column=name)
        else:
            plan.warnings.append(f"{source.name}: column {name} is not part of table {table.name}; skipped")
    present = set(plan.mapping.values())
    derivable = DERIVED.get(table.name, {})
    problems = []
    for column in table.columns:
        if column.name in present:
            continue
        if column.name in derivable:
            plan.derived.append(column.name)
            plan.notes.append(f"{table.name}.{column.name} derived (absent from the source)")
        elif column.required:
            problems.append(Problem(file=source.name, line=1, column=column.name, message="required column is missing from the header"))
    if problems:
        raise LoadError(problems)
    return plan


def _csv_relation(con: duckdb.DuckDBPyConnection, source: SourceFile) -> duckdb.DuckDBPyRelation:
    # Sniffing is off: the dialect is known, and a sniffer that guesses hides malformed lines.
    return con.read_csv(
        [str(p) for p in source.paths],
        header=True,
        auto_detect=False,
        columns={name: "VARCHAR" for name in source.header},
        delimiter=source.delimiter,
        quotechar=source.quote,
        escapechar=source.quote,
        strict_mode=True,
        allow_quoted_nulls=False,
    )


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


# DuckDB's CSV reasons, in our words where theirs would mislead.
_CSV_REASONS = [
    (re.compile(r"Invalid unicode"), lambda m: "not valid UTF-8 text"),
    (re.compile(r"unterminated quote"), lambda m: "a quoted value is never closed"),
    # DuckDB stops counting at the first field too many, so only a shortfall has an exact count.
    (re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"), lambda m: (
        f"expected {m.group(1)} fields, found {m.group(2)}" if int(m.group(2)) < int(m.group(1))
        else f"more fields than the header's {m.group(1)}")),
    (re.compile(r"Maximum line size of (\d+) bytes exceeded"), lambda m: m.group(0).lower()),
]


def _csv_reason(text: str) -> str:
    for pattern, words in _CSV_REASONS:
        found = pattern.search(text)
        if found:
            return words(found)
    # Otherwise DuckDB's reason is the paragraph after the echoed line.
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    return paragraphs[1].splitlines()[0] if len(paragraphs) > 1 else paragraphs[0].splitlines()[-1]


def _staging_error(source: SourceFile, err: duckdb.Error) -> LoadError:
    text = str(err)
    if source.gzipped and gzip_is_truncated(source):
        lines = count_complete_lines(source)
        return LoadError.one(source.name, f"gzip stream is truncated: the file ends after line {lines}", line=lines)
    match = _CSV_LINE.search(text)
    if match:
        return LoadError.one(source.name, f"malformed line: {_csv_reason(text)}", line=int(match.group(1)))
    first = text.splitlines()[0] if text else type(err).__name__
    return LoadError.one(source.name, f"cannot read the file: {first}")


def stage(builder: CdrBuilder, plan: TablePlan) -> duckdb.DuckDBPyRelation:
    """Pass 1: the source's mapped columns as text (empty text as NULL) in a scratch Parquet file."""
    con, source = builder.con, plan.source
    try:
        raw = _csv_relation(con, source) if source.kind == "csv" else con.read_parquet([str(p) for p in source.paths])
        with temporary_view(con, raw) as view:
            projections = []
            for src_name, target in plan.mapping.items():
                text = exp.cast(col(src_name), "VARCHAR")
                projections.append(alias(exp.func("NULLIF", text, exp.Literal.string("")), target))
            if not projections:
                projections = [alias(exp.Null(), "_empty")]
            staged_path = builder.scratch_path(f"{plan.table.name}.staged.parquet")
            con.sql(exp.select(*projections).from_(view).sql(dialect="duckdb")).write_parquet(str(staged_path))
    except duckdb.Error as err:
        raise _staging_error(source, err) from err
    return con.read_parquet(str(staged_path), file_row_number=True)


def _row_number(source: SourceFile, file_row_number: int) -> int:
    return file_row_number + source.first_row


def check(builder: CdrBuilder, plan: TablePlan, staged: duckdb.DuckDBPyRelation, *, allow_duplicate_keys: bool = False) -> None:
    """Pass 2: unparseable values, missing required values and duplicate primary keys, all with their rows.

    With ``allow_duplicate_keys`` rows that share a key are kept and counted in the plan's notes instead
    (real exports do this: the raw CDR may hold them, and curation's duplicate-id rule removes them).
    """
    con, source, table = builder.con, plan.source, plan.table
    rn = col("file_row_number")
    checks: list[tuple[str, str, exp.Expression]] = []  # (column, message, condition that marks a bad row)
    for name in plan.present:
        column = table.column(name)
        text = col(name)
        if column.type != "string":
            bad = exp.and_(text.is_(exp.null()).not_(), parse_value(text, column.type, source.date_format).is_(exp.null()))
            checks.append((name, f"not {TYPE_WORDS[column.type]}", bad))
        if column.required:
            checks.append((name, "required value is missing", text.is_(exp.null())))
    problems: list[Problem] = []
    if checks:
        aggregates = []
        for i, (name, _, bad) in enumerate(checks):
            aggregates += [
                alias(exp.Filter(this=exp.func("COUNT", exp.Star()), expression=exp.Where(this=bad)), f"n{i}"),
                alias(exp.Filter(this=exp.func("MIN", rn), expression=exp.Where(this=bad)), f"r{i}"),
                alias(
                    exp.Filter(this=exp.func("ARG_MIN", col(name), rn), expression=exp.Where(this=bad)),
                    f"v{i}",
                ),
            ]
        with temporary_view(con, staged) as view:
            row = one_row(con, exp.select(*aggregates).from_(view).sql(dialect="duckdb"))
        for i, (name, message, _) in enumerate(checks):
            count, first, value = row[3 * i], row[3 * i + 1], row[3 * i + 2]
            if count:
                problems.append(
                    Problem(
                        file=source.name,
                        line=_row_number(source, first),
                        column=name,
                        message=message,
                        value=value,
                        more=count - 1,
                        row_word=source.row_word,
                    )
                )
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.column or ""))
        raise LoadError(problems[:MAX_PROBLEMS])
    key = [k for k in table.primary_key if k in plan.present]
    if key and len(key) == len(table.primary_key):
        problems = _duplicate_keys(con, plan, staged, key)
        if problems and not allow_duplicate_keys:
            hint = Problem(file=source.name, message="rows with duplicate primary keys are refused; "
                           "--allow-duplicate-keys loads them as they are (curation removes duplicate ids)")
            raise LoadError(problems + [hint])
        if problems:
            plan.duplicate_key_rows = _count_rows_sharing_a_key(con, staged, key)
            note = f"{table.name}: {plan.duplicate_key_rows} rows share their primary key with an earlier row (kept: --allow-duplicate-keys)"
            plan.notes.append(note)
            plan.warnings.append(note)


def _duplicate_keys(con: duckdb.DuckDBPyConnection, plan: TablePlan, staged: duckdb.DuckDBPyRelation, key: list[str]) -> list[Problem]:
    source, table = plan.source, plan.table
    rn = col("file_row_number")
    typed = [alias(parse_value(col(k), table.column(k).type, source.date_format), k) for k in key]
    with temporary_view(con, staged) as view:
        keyed = exp.select(*typed, rn).from_(view).subquery("k")
        dupes = (
            exp.select(*[col(k) for k in key], alias(exp.func("MIN", rn), "first"),
                       alias(exp.func("COUNT", exp.Star()), "n"))
            .from_(keyed)
            .group_by(*[col(k) for k in key])
            .having(exp.GT(this=exp.func("COUNT", exp.Star()), expression=exp.Literal.number(1)))
            .order_by("first")
            .limit(MAX_PROBLEMS)
        )
        rows = con.execute(dupes.sql(dialect="duckdb")).fetchall()
        problems = []
        for row in rows:
            values, first, n = row[: len(key)], row[-2], row[-1]
            # The second occurrence is the one to report: the first row was fine until it appeared.
            match = exp.and_(*[
                exp.EQ(this=col(k), expression=exp.Placeholder()) for k in key
            ])
            second_q = exp.select(rn).from_(keyed).where(exp.and_(match, exp.GT(this=rn, expression=exp.Literal.number(first)))).order_by(rn).limit(1)
            (second,) = one_row(con, second_q.sql(dialect="duckdb"), list(values))
            shown = ", ".join(f"{k}={v}" for k, v in zip(key, values))
            problems.append(
                Problem(
                    file=source.name,
                    line=_row_number(source, second),
                    column=",".join(key),
                    message=f"duplicate primary key {shown} (first at {source.row_word} {_row_number(source, first)})",
                    more=n - 2,
                    row_word=source.row_word,
                )
            )
    return problems


def _count_rows_sharing_a_key(con: duckdb.DuckDBPyConnection, staged: duckdb.DuckDBPyRelation, key: list[str]) -> int:
    """Rows beyond the first for each key value."""
    distinct = exp.select(*[col(k) for k in key]).distinct()
    with temporary_view(con, staged) as view:
        total = exp.select(exp.func("COUNT", exp.Star())).from_(view)
        unique = exp.select(exp.func("COUNT", exp.Star())).from_(distinct.from_(view).subquery("d"))
        (n_total,) = one_row(con, total.sql(dialect="duckdb"))
        (n_unique,) = one_row(con, unique.sql(dialect="duckdb"))
    return n_total - n_unique


def write(builder: CdrBuilder, plan: TablePlan, staged: duckdb.DuckDBPyRelation):
    """Pass 3: parse to the model's types, fill derived columns, and write the table into the CDR."""
    con, source, table = builder.con, plan.source, plan.table
    with temporary_view(con, staged) as view:
        parsed = [
            alias(parse_value(col(c), table.column(c).type, source.date_format), c)
            for c in plan.present
        ]
        typed = exp.select(*parsed or [alias(exp.Null(), "_empty")]).from_(view).subquery("t")
        available = set(plan.present)
        derived = [alias(DERIVED[table.name][c](available), c) for c in plan.derived]
        query = exp.select(exp.Star(), *derived).from_(typed)
        relation = con.sql(query.sql(dialect="duckdb"))
        return builder.write_table(table.name, relation, available=available | set(plan.derived))


def load_table(
    builder: CdrBuilder, table: Table, source: SourceFile, *, cdm53: bool, strict: bool, allow_duplicate_keys: bool = False
) -> TablePlan:
    """Load one source file into the CDR being built; raises LoadError (naming file, row, column) if it is bad."""
    if source.kind == "csv":
        source.header = read_header(source)
        header = source.header
    else:
        try:
            header = [c.lower() for c in builder.con.read_parquet([str(p) for p in source.paths]).columns]
        except duckdb.Error as err:
            raise LoadError.one(source.name, f"cannot read the Parquet file: {str(err).splitlines()[0]}") from err
        source.header = header
    plan = plan_table(table, source, header, cdm53=cdm53, strict=strict)
    staged = stage(builder, plan)
    check(builder, plan, staged, allow_duplicate_keys=allow_duplicate_keys)
    entry = write(builder, plan, staged)
    if plan.duplicate_key_rows:
        builder.tables[table.name] = entry.model_copy(update={"duplicate_key_rows": plan.duplicate_key_rows})
    return plan
