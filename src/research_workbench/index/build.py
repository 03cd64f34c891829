"""``workbench index CDR_DIR``: build the search index of a CDR, atomically, beside it (its layout: ``layout.py``).

The heavy SQL — the event table (every event row of the CDR, twice for the domains indexed by source concept too),
the ancestry of the concepts with data, the person table, the criteria counts and the search entries — runs on an
``Engine`` (DuckDB, embedded, by default; Spark with ``--engine spark``) as SQLGlot trees, and the engine writes the
index's Parquet files. What serves the index is then built locally from those files, as before, whatever the engine:
the DuckDB database of the index (``DATABASE_FILE``: serving stays on DuckDB), the concept bitmaps (a DuckDB scan of
the events file, in Python), the SQLite search database and the genotype stores (VCFs read in Python).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from ..cdr.engine import connect
from ..cdr.info import cutoff_date
from ..cdr.manifest import MANIFEST_NAME
from ..cdr.sql import table
from ..cdr.store import Cdr, CdrExistsError, sha256_file, swap_into_place
from .bitmaps import build_concept_bitmaps
from .criteria import COUNTS_TABLE, PARENTS_TABLE, counts_sql, criteria_sql, parent_pairs_sql, survey_tree_sql
from .engine_io import grouped_lists, register_cdr, tables_read, write_single_file
from .events import events_query
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
from .persons import SURVEY_MODULES_TABLE, persons_query, survey_module_pairs
from .search import CRITERIA_TABLE, SURVEY_TREE_TABLE, build_search_db, maps_to_rows, search_queries, search_rows
from .variants import build_genotype_store, genome_kinds

if TYPE_CHECKING:
    from ..engines.base import Engine

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


def _tree(text: str) -> exp.Expression:
    """A template's DuckDB text as a tree (it holds only constructs ``engines.capabilities`` passes everywhere)."""
    return sqlglot.parse_one(text, read="duckdb")


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


def _build_genomes(cdr: Cdr, work: Path, counts: dict[str, int]) -> tuple[str, ...]:
    """The genotype store of each genome kind the CDR has (a Controlled Tier), over the index's persons; the
    stores' files, for the manifest."""
    kinds = genome_kinds(cdr.manifest.files)
    if not kinds:
        return ()
    persons = set(pq.read_table(work / PERSONS_FILE, columns=["person_id"]).column("person_id").to_pylist())
    files: list[str] = []
    for kind, rel in kinds.items():
        store = build_genotype_store(cdr.path / rel, work, kind, persons)
        counts[f"{kind}_variants"], counts[f"{kind}_samples"] = store["variants"], store["samples"]
        files += genome_store_files(kind).values()
    return tuple(files)


@contextmanager
def _engine_for(engine: Engine | None, scratch: Path) -> Iterator[Engine]:
    """The engine given (left open), or an embedded DuckDB spilling to ``scratch`` (closed at the end)."""
    if engine is not None:
        yield engine
        return
    from ..engines.duckdb_engine import DuckDBEngine

    with DuckDBEngine(temp_dir=scratch) as own:
        yield own


@dataclass(frozen=True)
class _Queries:
    """Every query the engine runs for an index, built once (their tables are registered from them)."""

    events: exp.Expression
    ancestry: exp.Expression
    survey_modules: exp.Expression
    persons: exp.Expression
    counts: exp.Expression
    parents: exp.Expression
    criteria: exp.Expression
    survey_tree: exp.Expression

    @classmethod
    def of(cls, cdr: Cdr) -> _Queries:
        return cls(events_query(), _tree(ANCESTRY_SQL), survey_module_pairs(), persons_query(cutoff_date(cdr)),
                   _tree(counts_sql()), _tree(parent_pairs_sql()), _tree(criteria_sql()), _tree(survey_tree_sql()))

    def all(self) -> tuple[exp.Expression, ...]:
        return (self.events, self.ancestry, self.survey_modules, self.persons, self.counts, self.parents,
                self.criteria, self.survey_tree, *search_queries())


def _index_tables(engine: Engine, q: _Queries, work: Path, counts: dict[str, int], step) -> None:
    """The index's Parquet files, written by the engine: events, ancestry, persons, criteria, survey tree."""
    step("events")
    counts["events"] = write_single_file(engine, q.events, work / EVENTS_FILE, row_group_size=EVENT_ROW_GROUP)
    engine.register_parquet("events", work / EVENTS_FILE)
    # Hierarchy of the standard concepts with data: lets a criterion expand to its descendants from the index
    # alone (drugs to their clinical products, a condition to its subtypes).
    write_single_file(engine, q.ancestry, work / ANCESTRY_FILE)

    step("persons")
    pairs = engine.run(q.survey_modules)
    engine.register_arrow(SURVEY_MODULES_TABLE, grouped_lists(pairs, ["person_id"], "survey_concept_id", "survey_modules"))
    counts["persons"] = write_single_file(engine, q.persons, work / PERSONS_FILE)

    step("criteria")
    engine.materialise(COUNTS_TABLE, q.counts)  # the one scan of the events the criteria need
    parents = engine.run(q.parents)
    engine.register_arrow(PARENTS_TABLE, grouped_lists(parents, ["domain", "concept_id"], "parent_id", "parent_ids"))
    counts["criteria"] = write_single_file(engine, q.criteria, work / CRITERIA_FILE)
    write_single_file(engine, q.survey_tree, work / SURVEY_TREE_FILE)


def _bitmaps(work: Path, scratch: Path) -> int:
    """The concept bitmaps, from the events file the engine wrote (a local DuckDB scan feeding Python)."""
    con = connect(temp_dir=scratch)
    try:
        con.read_parquet(str(work / EVENTS_FILE)).create_view("events")
        return build_concept_bitmaps(con, work / BITMAPS_FILE)
    finally:
        con.close()


def build_index(cdr_dir: Path, out: Path | None = None, *, replace: bool = False, progress=None,
                engine: Engine | None = None) -> IndexResult:
    """Build the index of the CDR at ``cdr_dir`` into ``out`` (default: beside it). ``engine``: where the heavy SQL
    runs (default: an embedded DuckDB); an engine given is left open, without the tables the build named on it."""
    started = time.perf_counter()
    cdr = Cdr(Path(cdr_dir))
    cdr_manifest_sha256 = sha256_file(Path(cdr_dir) / MANIFEST_NAME)
    out = Path(out or default_index_path(cdr_dir)).absolute()
    if out.exists() and not replace:
        raise CdrExistsError(f"{out} already exists (use --replace to rebuild it)")
    work = out.parent / f".{out.name}.building-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    scratch = work / ".scratch"
    try:
        counts: dict[str, int] = {}

        def step(name: str) -> None:
            if progress:
                progress(name, STEPS.index(name), len(STEPS))

        with cdr.query_errors(), _engine_for(engine, scratch) as eng:  # a table file that cannot be read is named
            before = set(eng.schemas())
            try:
                queries = _Queries.of(cdr)
                register_cdr(eng, cdr, tables_read(*queries.all()))
                _index_tables(eng, queries, work, counts, step)

                step("bitmaps")
                counts["concept_bitmaps"] = _bitmaps(work, scratch)

                step("database")
                write_database(work / DATABASE_FILE, {name: work / file for name, file in DATABASE_TABLES.items()})

                step("search")
                eng.register_parquet(CRITERIA_TABLE, work / CRITERIA_FILE)
                eng.register_parquet(SURVEY_TREE_TABLE, work / SURVEY_TREE_FILE)
                counts.update(build_search_db(work / SEARCH_DB, search_rows(eng), maps_to_rows(eng)))
            finally:
                for name in set(eng.schemas()) - before:
                    eng.drop(name)

        step("genomes")
        genome_files = _build_genomes(cdr, work, counts)
        shutil.rmtree(scratch, ignore_errors=True)
        if progress:
            progress("", len(STEPS), len(STEPS))
        write_manifest(work, cdr_dir=Path(cdr_dir), cdr_manifest_sha256=cdr_manifest_sha256,
                       seconds=time.perf_counter() - started, counts=counts, extra_files=genome_files)
        swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return IndexResult(out, counts, time.perf_counter() - started)
