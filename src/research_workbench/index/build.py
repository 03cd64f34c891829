"""``workbench index CDR_DIR``: build the search index of a CDR, atomically, beside it (its layout: ``layout.py``)."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from ..cdr.engine import connect, one_row
from ..cdr.info import cutoff_date
from ..cdr.manifest import MANIFEST_NAME
from ..cdr.sql import table
from ..cdr.store import Cdr, CdrExistsError, sha256_file, swap_into_place
from .bitmaps import build_concept_bitmaps
from .criteria import criteria_sql, survey_tree_sql
from .events import events_params, events_query
from .layout import (
    ANCESTRY_FILE,
    BITMAPS_FILE,
    CRITERIA_FILE,
    DATABASE_FILE,
    DATABASE_TABLES,
    EVENT_ROW_GROUP,
    EVENTS_FILE,
    PERSONS_FILE,
    SEARCH_DB,
    SURVEY_TREE_FILE,
    default_index_path,
    genome_store_files,
    write_manifest,
)
from .persons import persons_query
from .search import build_search_db, maps_to_rows, search_rows
from .variants import build_genotype_store, genome_kinds

ANCESTRY_SQL = """
SELECT a.ancestor_concept_id, a.descendant_concept_id
FROM concept_ancestor a
WHERE a.descendant_concept_id IN (SELECT DISTINCT concept_id FROM events WHERE is_standard)
ORDER BY a.ancestor_concept_id, a.descendant_concept_id
"""

STEPS = ("events", "persons", "criteria", "bitmaps", "database", "search", "genomes")


@dataclass
class IndexResult:
    path: Path
    counts: dict[str, int]
    seconds: float

    def summary(self) -> dict:
        return {"path": str(self.path), "seconds": round(self.seconds, 3), **self.counts}


def _sql(text: str) -> str:
    return sqlglot.parse_one(text, dialect="duckdb").sql(dialect="duckdb")


def write_database(path: Path, tables: dict[str, Path]) -> None:
    """Copy the index's Parquet tables, in their order, into one DuckDB database file (read-only from then on)."""
    db = duckdb.connect(str(path))
    try:
        for name, parquet in tables.items():
            create = exp.Create(
                kind="TABLE",
                this=table(name),
                expression=exp.select(exp.Star()).from_(exp.func("READ_PARQUET", exp.Placeholder())),
            )
            db.execute(create.sql(dialect="duckdb"), [str(parquet)])
        db.execute("CHECKPOINT")
    finally:
        db.close()


def _build_genomes(cdr: Cdr, con: duckdb.DuckDBPyConnection, work: Path, counts: dict[str, int]) -> tuple[str, ...]:
    """The genotype store of each genome kind the CDR has (a Controlled Tier), over the index's persons; the
    stores' files, for the manifest."""
    kinds = genome_kinds(cdr.manifest.files)
    if not kinds:
        return ()
    persons = set(con.execute("SELECT person_id FROM read_parquet(?)", [str(work / PERSONS_FILE)]).fetchnumpy()["person_id"].tolist())
    files: list[str] = []
    for kind, rel in kinds.items():
        store = build_genotype_store(cdr.path / rel, work, kind, persons)
        counts[f"{kind}_variants"], counts[f"{kind}_samples"] = store["variants"], store["samples"]
        files += genome_store_files(kind).values()
    return tuple(files)


def build_index(cdr_dir: Path, out: Path | None = None, *, replace: bool = False, progress=None) -> IndexResult:
    started = time.perf_counter()
    cdr = Cdr(Path(cdr_dir))
    cdr_manifest_sha256 = sha256_file(Path(cdr_dir) / MANIFEST_NAME)
    out = Path(out or default_index_path(cdr_dir)).absolute()
    if out.exists() and not replace:
        raise CdrExistsError(f"{out} already exists (use --replace to rebuild it)")
    work = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        with cdr.query_errors():  # a table file that cannot be read is named, not a DuckDB traceback
            con = cdr.connect(connect(temp_dir=work / ".scratch"))
            counts: dict[str, int] = {}

            def step(name: str) -> None:
                if progress:
                    progress(name, STEPS.index(name), len(STEPS))

            step("events")
            con.sql(events_query().sql(dialect="duckdb"), params=events_params()).write_parquet(
                str(work / EVENTS_FILE), compression="zstd", row_group_size=EVENT_ROW_GROUP
            )
            con.read_parquet(str(work / EVENTS_FILE)).create_view("events", replace=True)
            counts["events"] = one_row(con, "SELECT count(*) FROM events")[0]
            # Hierarchy of the standard concepts with data: lets a criterion expand to its descendants from the index
            # alone (drugs to their clinical products, a condition to its subtypes).
            con.sql(_sql(ANCESTRY_SQL)).write_parquet(str(work / ANCESTRY_FILE), compression="zstd")

            step("persons")
            con.sql(persons_query(cutoff_date(cdr)).sql(dialect="duckdb")).write_parquet(str(work / PERSONS_FILE), compression="zstd")
            counts["persons"] = one_row(con, "SELECT count(*) FROM read_parquet(?)", [str(work / PERSONS_FILE)])[0]

            step("criteria")
            con.sql(_sql(criteria_sql())).write_parquet(str(work / CRITERIA_FILE), compression="zstd")
            con.sql(_sql(survey_tree_sql())).write_parquet(str(work / SURVEY_TREE_FILE), compression="zstd")
            counts["criteria"] = one_row(con, "SELECT count(*) FROM read_parquet(?)", [str(work / CRITERIA_FILE)])[0]

            step("bitmaps")
            counts["concept_bitmaps"] = build_concept_bitmaps(con, work / BITMAPS_FILE)

            step("database")
            write_database(work / DATABASE_FILE, {name: work / file for name, file in DATABASE_TABLES.items()})

            step("search")
            rows = search_rows(con, work / SURVEY_TREE_FILE, work / CRITERIA_FILE)
            maps_to = maps_to_rows(con, work / SURVEY_TREE_FILE, work / CRITERIA_FILE)
            counts.update(build_search_db(work / SEARCH_DB, rows, maps_to))

            step("genomes")
            genome_files = _build_genomes(cdr, con, work, counts)
        con.close()
        shutil.rmtree(work / ".scratch", ignore_errors=True)
        if progress:
            progress("", len(STEPS), len(STEPS))
        write_manifest(work, cdr_dir=Path(cdr_dir), cdr_manifest_sha256=cdr_manifest_sha256,
                       seconds=time.perf_counter() - started, counts=counts, extra_files=genome_files)
        swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return IndexResult(out, counts, time.perf_counter() - started)
