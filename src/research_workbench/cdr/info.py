"""A summary of a CDR: tables, row counts, persons, event date range, vocabulary version."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlglot import exp

from .engine import one_row
from .sql import union_all
from .store import Cdr


def event_date_range(cdr: Cdr) -> tuple[str | None, str | None]:
    """Earliest and latest event date over every non-empty table that has a participant's event date."""
    parts = []
    for name, entry in cdr.manifest.tables.items():
        table = cdr.model.table(name)
        if entry.rows and table.person_column and table.event_date_column:
            column = exp.cast(exp.column(table.event_date_column, quoted=True), "DATE")
            parts.append(exp.select(exp.alias_(column, "d")).from_(exp.to_identifier(name, quoted=True)))
    if not parts:
        return None, None
    query = exp.select(exp.func("MIN", exp.column("d")), exp.func("MAX", exp.column("d"))).from_(union_all(parts).subquery("events"))
    con = cdr.connect()
    try:
        with cdr.query_errors():
            low, high = one_row(con, query.sql(dialect="duckdb"))
    finally:
        con.close()
    return (low.isoformat() if low else None, high.isoformat() if high else None)


def cutoff_date(cdr: Cdr) -> date | None:
    """The CDR's cut-off: the date its manifest records (a release's, a synthetic program's), else its latest event
    date (a loaded extract ends where its data ends); None for a CDR without events. Every age "at the CDR" — the
    index's age_at_cdr, the Cohort Builder's age bands, the Data Browser's age groups — is taken at this date."""
    recorded = cdr.manifest.cutoff_date
    if recorded is not None:
        return recorded
    latest = event_date_range(cdr)[1]
    return date.fromisoformat(latest) if latest else None


def cdr_info(directory: Path) -> dict:
    cdr = Cdr(Path(directory))
    manifest = cdr.manifest
    low, high = event_date_range(cdr)
    return {
        "path": str(directory),
        "cdm_version": manifest.cdm_version,
        "source_cdm_version": manifest.source_cdm_version,
        "vocabulary_version": manifest.vocabulary_version,
        "created_at": manifest.created_at.isoformat(),
        "source": manifest.source,
        "persons": manifest.person_count,
        "rows": sum(t.rows for t in manifest.tables.values()),
        "event_date_range": {"min": low, "max": high},
        "tables": {
            name: {"rows": entry.rows, "category": cdr.model.table(name).category, "content_hash": entry.content_hash}
            for name, entry in manifest.tables.items()
        },
        "files": {name: entry.bytes for name, entry in manifest.files.items()},
        "notes": manifest.notes,
    }
