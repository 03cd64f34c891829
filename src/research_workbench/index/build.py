"""``workbench index CDR_DIR``: build the search index of a CDR, atomically, beside it."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from ..cdr.engine import connect, one_row
from ..cdr.manifest import MANIFEST_NAME
from ..cdr.store import Cdr, CdrExistsError, sha256_file, swap_into_place
from .criteria import CRITERIA_SQL, SURVEY_TREE_SQL
from .events import events_params, events_query
from .persons import persons_query
from .bitmaps import build_concept_bitmaps
from .search import SEARCH_DB, build_search_db

from .layout import (  # noqa: F401  (the layout's names, importable from here as before)
    ANCESTRY_FILE,
    BITMAPS_FILE,
    CRITERIA_FILE,
    DATABASE_FILE,
    DATABASE_TABLES,
    EVENT_ROW_GROUP,
    EVENTS_FILE,
    INDEX_FORMAT_VERSION,
    INDEX_MANIFEST,
    PERSONS_FILE,
    SURVEY_TREE_FILE,
    default_index_path,
)

ANCESTRY_SQL = """
SELECT a.ancestor_concept_id, a.descendant_concept_id
FROM concept_ancestor a
WHERE a.descendant_concept_id IN (SELECT DISTINCT concept_id FROM events WHERE is_standard)
ORDER BY a.ancestor_concept_id, a.descendant_concept_id
"""

STEPS = ("events", "persons", "criteria", "bitmaps", "database", "search")


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
        for table, parquet in tables.items():
            create = exp.Create(
                kind="TABLE",
                this=exp.Table(this=exp.to_identifier(table, quoted=True)),
                expression=exp.select(exp.Star()).from_(exp.func("READ_PARQUET", exp.Placeholder())),
            )
            db.execute(create.sql(dialect="duckdb"), [str(parquet)])
        db.execute("CHECKPOINT")
    finally:
        db.close()


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
            con.sql(persons_query().sql(dialect="duckdb")).write_parquet(str(work / PERSONS_FILE), compression="zstd")
            counts["persons"] = one_row(con, "SELECT count(*) FROM read_parquet(?)", [str(work / PERSONS_FILE)])[0]

            step("criteria")
            con.sql(_sql(CRITERIA_SQL)).write_parquet(str(work / CRITERIA_FILE), compression="zstd")
            con.sql(_sql(SURVEY_TREE_SQL)).write_parquet(str(work / SURVEY_TREE_FILE), compression="zstd")
            counts["criteria"] = one_row(con, "SELECT count(*) FROM read_parquet(?)", [str(work / CRITERIA_FILE)])[0]

            step("bitmaps")
            counts["concept_bitmaps"] = build_concept_bitmaps(con, work / BITMAPS_FILE)

            step("database")
            write_database(work / DATABASE_FILE, {table: work / file for table, file in DATABASE_TABLES.items()})

            step("search")
            rows = con.execute(
                """
                WITH synonyms AS (
                    SELECT concept_id, string_agg(concept_synonym_name, ' | ' ORDER BY concept_synonym_name) AS synonyms
                    FROM concept_synonym GROUP BY concept_id
                ),
                survey AS (
                    SELECT concept_id, max(participant_count) AS participant_count FROM read_parquet(?) GROUP BY concept_id
                ),
                nodes AS (
                    SELECT concept_id, domain, is_standard, rollup_count AS count FROM read_parquet(?)
                    UNION ALL
                    SELECT concept_id, 'SURVEY', false, participant_count FROM survey
                )
                SELECT n.concept_id, n.domain, n.is_standard::INTEGER, COALESCE(c.concept_name, ''), COALESCE(c.concept_code, ''),
                       c.vocabulary_id, COALESCE(s.synonyms, ''), n.count
                FROM nodes n LEFT JOIN concept c USING (concept_id) LEFT JOIN synonyms s USING (concept_id)
                """,
                [str(work / SURVEY_TREE_FILE), str(work / CRITERIA_FILE)],
            ).fetchall()
            build_search_db(work / SEARCH_DB, rows)
            counts["search_entries"] = len(rows)
        con.close()
        shutil.rmtree(work / ".scratch", ignore_errors=True)
        if progress:
            progress("", len(STEPS), len(STEPS))

        seconds = time.perf_counter() - started
        files = (EVENTS_FILE, PERSONS_FILE, CRITERIA_FILE, SURVEY_TREE_FILE, ANCESTRY_FILE, BITMAPS_FILE, DATABASE_FILE, SEARCH_DB)
        manifest = {
            "format_version": INDEX_FORMAT_VERSION,
            "cdr": str(Path(cdr_dir).absolute()),
            # The CDR as it was read (hashed before reading it, above): an index is refused once this changes.
            "cdr_manifest_sha256": cdr_manifest_sha256,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "build_seconds": round(seconds, 3),
            "counts": counts,
            "files": {name: sha256_file(work / name) for name in files},
            "file_bytes": {name: (work / name).stat().st_size for name in files},
        }
        (work / INDEX_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return IndexResult(out, counts, time.perf_counter() - started)
