"""Running cohort definitions against a search index: counts, participant ids and demographic breakdowns."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
from pyroaring import BitMap
from sqlglot import exp

from ...cdr.engine import connect
from ...cdr.facts import age_band
from ...cdr.sql import alias, col, num, table
from ...cdr.store import CdrFileError
from ...index.bitmaps import ConceptBitmaps
from ...index.layout import ANCESTRY_FILE, BITMAPS_FILE, DATABASE_FILE, EVENTS_FILE, PERSONS_FILE
from ...index.freshness import check_index, rebuild_command
from .compile import PERSON_TABLE, CompiledQuery, Compiler, compile_definition
from .model import CohortDefinition, SearchGroup, SearchGroupItem
from .semantics import ItemSource, item_source, parameter_concepts

MAX_PAGE = 10**9  # pages of ids: far past any program, and page × page size stays within 64 bits
MAX_PAGE_SIZE = 10_000


class CohortEngine:
    """One index, one DuckDB connection.

    The index's tables are read from its DuckDB database file (read-only): the event table is sorted by concept,
    so zone maps let each criterion read only its own row groups. (An older index without that file is read from
    its Parquet files, with the small person and ancestry tables copied into memory.)

    Counts and ids run accelerated (``accelerate=True``): a criterion that needs no event detail (no values,
    modifiers or temporal relation) is a union of precomputed per-concept participant bitmaps, every other
    item or temporal group runs as its own compiled SQL, and the cohort is set algebra over the results. The
    one-statement SQL of ``compile`` has the same semantics (tests check the two paths and a reference agree).
    """

    def __init__(self, index_dir: Path, accelerate: bool = True, cdr_dir: Path | None = None):
        """Open the index at ``index_dir`` once it is shown to match its CDR (``cdr_dir``, by default the one it was
        built from) and to have all its files: otherwise StaleIndexError, FileNotFoundError or CdrFileError, each
        naming the paths and how to rebuild (see ``index.freshness``)."""
        self.index_dir = Path(index_dir)
        self.manifest = check_index(self.index_dir, cdr_dir)
        rebuild = rebuild_command(cdr_dir or self.manifest.get("cdr") or "CDR_DIR", self.index_dir)
        self._hint = f"the index at {self.index_dir} is damaged; rebuild it with `{rebuild}`"
        database = self.index_dir / DATABASE_FILE
        if database.is_file():
            # DuckDB's own storage of the same tables, opened read-only (several processes may share it).
            with self._file_errors(database):
                self.con: duckdb.DuckDBPyConnection = duckdb.connect(str(database), read_only=True)
            self.con.execute("SET enable_progress_bar = false")
        else:  # an index from before the database file: the Parquet tables
            self.con = connect()
            with self._file_errors(self.index_dir / PERSONS_FILE):
                self.con.execute("CREATE TABLE search_person AS SELECT * FROM read_parquet(?)", [str(self.index_dir / PERSONS_FILE)])
            with self._file_errors(self.index_dir / ANCESTRY_FILE):
                self.con.execute("CREATE TABLE criteria_ancestor AS SELECT * FROM read_parquet(?)", [str(self.index_dir / ANCESTRY_FILE)])
            with self._file_errors(self.index_dir / EVENTS_FILE):
                self.con.read_parquet(str(self.index_dir / EVENTS_FILE)).create_view("search_all_events")
        self._descendants: dict[int, list[int]] = {}
        with self._file_errors(self.index_dir / BITMAPS_FILE):
            self.bitmaps = ConceptBitmaps(self.index_dir / BITMAPS_FILE)
        self.accelerate = accelerate and self.bitmaps.available
        self._all: BitMap | None = None
        self._flags: dict[str, BitMap] = {}

    def close(self) -> None:
        self.bitmaps.close()
        self.con.close()

    @contextmanager
    def _file_errors(self, path: Path | None = None) -> Iterator[None]:
        """A DuckDB or SQLite error reading the index (a damaged file) as a CdrFileError naming the file."""
        try:
            yield
        except (duckdb.IOException, duckdb.InvalidInputException, duckdb.SerializationException, sqlite3.DatabaseError) as err:
            text = str(err).strip()
            raise CdrFileError(path or self.index_dir, f"index file not readable: {text.splitlines()[0] if text else type(err).__name__}",
                               self._hint) from None

    # -- the accelerated path -------------------------------------------------------------------------------
    def _ids(self, select: exp.Expression, params: dict) -> BitMap:
        distinct = exp.Select(expressions=[col("person_id", table="x")]).distinct(copy=False).from_(select.subquery("x", copy=False), copy=False)
        ids = self.con.execute(distinct.sql(dialect="duckdb"), params).fetchnumpy()["person_id"]
        return BitMap(np.asarray(ids, dtype=np.uint32))

    def _compiled_ids(self, build) -> BitMap:
        compiler = Compiler(self.expand)
        return self._ids(build(compiler), compiler.params)

    def all_persons(self) -> BitMap:
        if self._all is None:
            self._all = self._ids(exp.Select(expressions=[col("person_id")]).from_(table(PERSON_TABLE), copy=False), {})
        return self._all

    def flag(self, column: str) -> BitMap:
        if column not in self._flags:
            select = exp.Select(expressions=[col("person_id")]).from_(table(PERSON_TABLE), copy=False).where(col(column), copy=False)
            self._flags[column] = self._ids(select, {})
        return self._flags[column]

    def item_persons(self, item: SearchGroupItem) -> BitMap:
        if item_source(item) is not ItemSource.CONCEPTS:  # event detail or the person table: compiled SQL
            return self._compiled_ids(lambda compiler: compiler.item_persons(item))
        found = BitMap()
        for param in item.searchParameters:
            for concept in parameter_concepts(item, param, self.expand):
                found |= self.bitmaps.get(item.type.value, param.standard, concept)
        return found

    def group_persons(self, group: SearchGroup) -> BitMap:
        if group.temporal:
            return self._compiled_ids(lambda compiler: compiler.temporal_persons(group))
        return BitMap.union(*[self.item_persons(item) for item in group.items])

    def cohort_persons(self, definition: CohortDefinition) -> BitMap:
        """The cohort as a set of person ids (accelerated path)."""
        result = self.all_persons().copy()
        for data_filter in definition.dataFilters:
            result &= self.flag(data_filter.value)
        for group in definition.includes:
            result &= self.group_persons(group)
        for group in definition.excludes:
            result -= self.group_persons(group)
        return result

    def expand(self, concept_id: int, standard: bool) -> list[int]:
        """The concept and its descendants that have data (source concepts have no hierarchy here)."""
        if not standard:
            return [concept_id]
        if concept_id not in self._descendants:
            rows = self.con.execute(
                "SELECT descendant_concept_id FROM criteria_ancestor WHERE ancestor_concept_id = ?", [concept_id]
            ).fetchall()
            self._descendants[concept_id] = sorted({concept_id, *(r[0] for r in rows)})
        return self._descendants[concept_id]

    def compile(self, definition: CohortDefinition, select: str = "count") -> CompiledQuery:
        with self._file_errors():
            return compile_definition(definition, self.expand, select)

    def _run(self, query: CompiledQuery, extra: exp.Expression | None = None) -> list[tuple]:
        expression = extra if extra is not None else query.expression
        return self.con.execute(expression.sql(dialect="duckdb"), query.params).fetchall()

    def count(self, definition: CohortDefinition) -> tuple[int, float]:
        """(participants, milliseconds)."""
        started = time.perf_counter()
        with self._file_errors():
            if self.accelerate:
                count = len(self.cohort_persons(definition))
            else:
                (count,) = self._run(self.compile(definition))[0]
        return count, (time.perf_counter() - started) * 1000

    def participant_ids(self, definition: CohortDefinition, page: int = 0, page_size: int = 25) -> list[int]:
        """Person ids in ascending order, one page at a time (stable across calls)."""
        if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be ≥ 0 and page size between 1 and {MAX_PAGE_SIZE}")
        if page > MAX_PAGE:
            raise ValueError(f"page {page}: at most {MAX_PAGE:,} (no cohort has that many participants)")
        if self.accelerate:
            with self._file_errors():
                persons = self.cohort_persons(definition)
            return [int(i) for i in persons[page * page_size:(page + 1) * page_size]]
        query = self.compile(definition, "persons")
        ids = (
            exp.select(col("person_id", table="c"))
            .from_(query.expression.subquery("c"))
            .order_by(col("person_id", table="c"))
            .limit(exp.Placeholder(this="page_limit"))
            .offset(exp.Placeholder(this="page_offset"))
        )
        query.params.update(page_limit=page_size, page_offset=page * page_size)
        with self._file_errors():
            return [r[0] for r in self._run(query, ids)]

    def breakdown(self, definition: CohortDefinition) -> dict[str, list[dict]]:
        """Counts by gender × age band, race, ethnicity and sex at birth.

        The age band is of the age at the CDR's cut-off (``search_person.age_at_cdr``) in the shared bands of
        ``cdr.facts`` ('0-17', '18-29', …, '80-89', '90+', 'unknown'): the Data Browser's age groups.
        """
        query = self.compile(definition, "persons")
        cohort = query.expression.subquery("c", copy=False)

        def key(name: str) -> exp.Expression:
            return age_band(col("age_at_cdr", table="c")) if name == "age_band" else col(name, table="c")

        groupings = {
            "gender_age": ["gender_concept_id", "age_band"],
            "race": ["race_concept_id"],
            "ethnicity": ["ethnicity_concept_id"],
            "sex_at_birth": ["sex_at_birth_concept_id"],
        }
        result: dict[str, list[dict]] = {}
        for grouping, names in groupings.items():
            select = (
                exp.Select(expressions=[alias(key(n), n) for n in names] + [alias(exp.func("COUNT", exp.Star()), "count")])
                .from_(cohort.copy(), copy=False)
                .group_by(*[num(i + 1) for i in range(len(names))], copy=False)
                .order_by(*[num(i + 1) for i in range(len(names))], copy=False)
            )
            with self._file_errors():
                result[grouping] = [dict(zip([*names, "count"], row)) for row in self._run(query, select)]
        return result
