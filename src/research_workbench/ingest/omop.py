"""Load an OMOP CDM (5.3.1 or 5.4) from a folder of files or a PostgreSQL database into a CDR directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..cdr.manifest import Manifest
from ..cdr.model import cdm
from ..cdr.store import CdrBuilder
from .errors import LoadError
from .sources import SourceFile, discover, read_header
from .table_loader import load_table
from .upgrade import DROPPED_IN_54, is_cdm53, looks_like_cdm53

# progress(table, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class LoadResult:
    path: Path
    manifest: Manifest
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.manifest.tables.values())

    def summary(self) -> dict:
        return {
            "path": str(self.path),
            "cdm_version": self.manifest.cdm_version,
            "source_cdm_version": self.manifest.source_cdm_version,
            "vocabulary_version": self.manifest.vocabulary_version,
            "persons": self.manifest.person_count,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
            "tables": {name: entry.rows for name, entry in self.manifest.tables.items()},
            "notes": self.manifest.notes,
            "warnings": self.warnings,
        }


def _source_version(builder: CdrBuilder, sources: dict[str, SourceFile], requested: str) -> str:
    """The source's CDM version: as requested, else cdm_source.cdm_version, else guessed from column names."""
    if requested != "auto":
        return requested
    if "cdm_source" in builder.tables:
        con = builder.con
        rows = con.execute(
            "SELECT cdm_version FROM read_parquet(?) WHERE cdm_version IS NOT NULL LIMIT 1",
            [str(builder.table_path("cdm_source"))],
        ).fetchall()
        if rows:
            return "5.3.1" if is_cdm53(rows[0][0]) else "5.4"
    headers = {}
    for name, source in sources.items():
        if source.kind == "csv" and name in ("visit_occurrence", "visit_detail"):
            headers[name] = read_header(source)
    return "5.3.1" if looks_like_cdm53(headers) else "5.4"


def _vocabulary_version(builder: CdrBuilder) -> str | None:
    con = builder.con
    for query, table in (
        ("SELECT vocabulary_version FROM read_parquet(?) WHERE vocabulary_id = 'None' LIMIT 1", "vocabulary"),
        ("SELECT vocabulary_version FROM read_parquet(?) LIMIT 1", "cdm_source"),
    ):
        if builder.tables.get(table) and builder.tables[table].rows:
            rows = con.execute(query, [str(builder.table_path(table))]).fetchall()
            if rows and rows[0][0]:
                return rows[0][0]
    return None


class LoadOptions(BaseModel):
    """How a load treats its source (shared by every loader and the CLI)."""

    model_config = ConfigDict(extra="forbid")

    strict: bool = Field(False, description="Refuse unknown tables and columns instead of skipping them")
    replace: bool = Field(False, description="Overwrite an existing CDR at the target")
    cdm_version: Literal["auto", "5.3.1", "5.4"] = Field("auto", description="The source's CDM version")
    allow_duplicate_keys: bool = Field(False, description="Keep (and count) rows whose primary key repeats")


def load_into(
    builder: CdrBuilder,
    sources: dict[str, SourceFile],
    *,
    source_info: dict,
    options: LoadOptions,
    progress: Progress | None = None,
) -> tuple[Manifest, list[str]]:
    """Load every known table of ``sources`` into ``builder`` and commit; the shared core of every loader."""
    model = cdm()
    warnings: list[str] = []
    notes: list[str] = []
    unknown = [s for name, s in sources.items() if name not in model and name not in DROPPED_IN_54]
    if unknown and options.strict:
        raise LoadError.one(unknown[0].name, f"unknown table {unknown[0].table!r} (not part of the CDR model)")
    for source in unknown:
        warnings.append(f"{source.name}: unknown table {source.table!r}; skipped")
    for name in sources:
        if name in DROPPED_IN_54:
            notes.append(f"{sources[name].name}: {DROPPED_IN_54[name]}; dropped")

    known = [name for name in model.tables if name in sources]
    total, done = len(known), 0

    def load(name: str, cdm53: bool) -> None:
        nonlocal done
        if progress:
            progress(name, done, total)
        plan = load_table(
            builder, model.table(name), sources[name], cdm53=cdm53, strict=options.strict,
            allow_duplicate_keys=options.allow_duplicate_keys,
        )
        notes.extend(plan.notes)
        warnings.extend(plan.warnings)
        done += 1

    # cdm_source goes first (its columns are the same in 5.3 and 5.4): it says which version the rest is in.
    if "cdm_source" in known:
        known.remove("cdm_source")
        load("cdm_source", cdm53=False)
    version = _source_version(builder, sources, options.cdm_version)
    for name in known:
        load(name, cdm53=is_cdm53(version))
    if progress:
        progress("", total, total)
    absent = [name for name in model.tables if name not in sources]
    if absent:
        notes.append(f"{len(absent)} tables absent from the source were written empty: {', '.join(absent)}")
    manifest = builder.commit(
        source=source_info,
        source_cdm_version=version,
        vocabulary_version=_vocabulary_version(builder),
        notes=notes,
        extra={"warnings": warnings} if warnings else {},
    )
    return manifest, warnings


def _run(
    out: Path,
    options: LoadOptions,
    progress: Progress | None,
    source_info: dict,
    find_sources: Callable[[CdrBuilder], dict[str, SourceFile]],
) -> LoadResult:
    started = time.perf_counter()
    with CdrBuilder(Path(out), replace=options.replace) as builder:
        sources = find_sources(builder)
        manifest, warnings = load_into(builder, sources, source_info=source_info, options=options, progress=progress)
    return LoadResult(Path(out), manifest, warnings, time.perf_counter() - started)


def load_omop_folder(source: Path, out: Path, *, progress: Progress | None = None, **options) -> LoadResult:
    """Load a folder of OMOP CSV, CSV.gz or Parquet files (vocabulary tables may sit beside them).

    ``options`` are the fields of :class:`LoadOptions`.
    """
    folder = Path(source)
    sources = discover(folder)  # before the builder: a bad folder should not create anything
    info = {"kind": "omop-files", "path": str(folder.absolute())}
    return _run(out, LoadOptions(**options), progress, info, lambda builder: sources)


def load_omop_postgres(
    url: str, schema: str, out: Path, *, vocab_schema: str | None = None, progress: Progress | None = None, **options
) -> LoadResult:
    """Load an OMOP database schema from PostgreSQL, streaming each table through COPY.

    ``options`` are the fields of :class:`LoadOptions`.
    """
    from .postgres import export_tables, redact

    info = {"kind": "postgresql", "url": redact(url), "schema": schema, "vocab_schema": vocab_schema or schema}
    return _run(
        out, LoadOptions(**options), progress, info,
        lambda builder: export_tables(url, schema, vocab_schema, builder.scratch_path("postgres")),
    )
