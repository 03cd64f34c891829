"""Running cohort definitions against a search index: counts, participant ids and demographic breakdowns."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap64, BitMap, BitMap64, FrozenBitMap, FrozenBitMap64
from sqlglot import exp

from ...cdr.engine import connect
from ...cdr.facts import age_band
from ...cdr.sql import alias, col, num, table
from ...cdr.store import CdrFileError
from ...index.bitmaps import ConceptBitmaps
from ...index.layout import ANCESTRY_FILE, BITMAPS_FILE, DATABASE_FILE, DATABASE_TABLES, EVENTS_FILE, PERSONS_FILE
from ...index.freshness import check_index, rebuild_command
from ...index.variant_carriers import carriers_table, has_genotypes
from ..engine_tables import EngineTables, engine_tables, source_key
from .compile import PERSON_TABLE, CompiledQuery, Compiler, compile_definition
from .model import CohortDefinition, DefinitionError, SearchGroup, SearchGroupItem, VariantCriterion
from .semantics import ItemSource, counted_groups, item_carriers, item_source, parameter_concepts

if TYPE_CHECKING:
    from ...engines.base import Engine

# The demographics a breakdown is by: the person table's column for each (the age band is computed from age_at_cdr).
PERSON_GROUPINGS = {"sex_at_birth": "sex_at_birth_concept_id", "gender": "gender_concept_id", "race": "race_concept_id",
                    "ethnicity": "ethnicity_concept_id", "age_band": "age_at_cdr"}
MAX_PAGE = 10**9  # pages of ids: far past any program, and page × page size stays within 64 bits
MAX_PAGE_SIZE = 10_000
MAX_32_BIT_ID = 2**32 - 1


class SharedAnswers:
    """What every engine on one index may share, across threads: everyone, the has-data flags, the demographic
    groups, concept names, and the participants of recently asked items and temporal groups (a researcher editing a
    cohort changes one criterion at a time, so every other one is answered from here). Bitmaps are kept frozen, so a
    caller can never change a shared answer. Items are kept up to ``ITEM_CACHE_BYTES`` (their containers' bytes),
    least recently used first out."""

    ITEM_CACHE_BYTES = 256 * 1024 * 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wide: bool | None = None  # person ids past 32 bits (a Controlled Tier's research ids): 64-bit bitmaps
        self.all: FrozenBitMap | None = None
        self.flags: dict[str, FrozenBitMap] = {}
        self.groups: dict[str, dict] = {}
        self.names: dict[int, str | None] = {}  # None: not in the vocabulary
        self._items: OrderedDict[str, FrozenBitMap] = OrderedDict()
        self._bytes = 0

    def item(self, key: str, compute) -> FrozenBitMap:
        with self.lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        found = _frozen(compute())  # outside the lock: two threads may compute the same item once each
        size = _bytes(found)
        with self.lock:
            if key not in self._items and size <= self.ITEM_CACHE_BYTES:
                self._items[key] = found
                self._bytes += size
                while self._bytes > self.ITEM_CACHE_BYTES:
                    _, dropped = self._items.popitem(last=False)
                    self._bytes -= _bytes(dropped)
        return found


def _frozen(bitmap):
    return FrozenBitMap64(bitmap) if isinstance(bitmap, AbstractBitMap64) else FrozenBitMap(bitmap)


def _bytes(bitmap: FrozenBitMap) -> int:
    stats = bitmap.get_statistics()
    return 64 + stats["n_bytes_array_containers"] + stats["n_bytes_run_containers"] + stats["n_bytes_bitset_containers"]


_SHARED: dict[tuple[str, str, str], SharedAnswers] = {}
_SHARED_LOCK = threading.Lock()


def shared_answers(index_dir: Path, manifest: dict, engine: str = "embedded") -> SharedAnswers:
    """The shared answers of an index as it is now (a rebuilt index, with another manifest, gets new ones), kept
    apart per engine (``embedded``, or the boundary engine's name): an engine's answers are its own."""
    key = (str(Path(index_dir).resolve()), json.dumps(manifest.get("files", {}), sort_keys=True), engine)
    with _SHARED_LOCK:
        return _SHARED.setdefault(key, SharedAnswers())


_PARAMETER_LABELS = {"parameterId": True, "name": True}
_ITEM_LABELS = {"id": True, "name": True, "suppressed": True, "searchParameters": {"__all__": _PARAMETER_LABELS}}


def _criterion_key(model) -> str:
    """An item or a temporal group as its meaning: ids, names and suppression say nothing of its participants (the
    names of attributes and modifiers do, and are kept)."""
    if isinstance(model, SearchGroup):
        labels = {"id": True, "name": True, "suppressed": True, "items": {"__all__": _ITEM_LABELS}}
    else:
        labels = _ITEM_LABELS
    return json.dumps(model.model_dump(mode="json", exclude=labels), sort_keys=True)


class CohortEngine:
    """One index, one DuckDB connection.

    The index's tables are read from its DuckDB database file (read-only): the event table is sorted by concept,
    so zone maps let each criterion read only its own row groups. (An older index without that file is read from
    its Parquet files, with the small person and ancestry tables copied into memory.)

    Counts and ids run accelerated (``accelerate=True``): a criterion that needs no event detail (no values,
    modifiers or temporal relation) is a union of precomputed per-concept participant bitmaps, a variant criterion
    the carriers read from the index's genotype store (``index.variant_carriers``), every other item or temporal
    group runs as its own compiled SQL, and the cohort is set algebra over the results. The one-statement SQL of
    ``compile`` has the same semantics (tests check the two paths and a reference agree); it names a variant item's
    carriers as a table, registered on the connection while the statement runs. An index whose person ids pass 32
    bits (a Controlled Tier's research ids) has no concept bitmaps: its sets are 64-bit and its items run as SQL.

    On another engine (``engine``: a boundary ``Engine``, such as Spark for a cohort over a large CDR) every
    participant-level answer is SQL run there, over the index's Parquet tables and the CDR's (``engine_tables``):
    counts and ids are the one compiled statement, and the results page's items, groups and demographic groups each
    their compiled SQL; the concept bitmaps are not used, so every count is the engine's. What stays on this process
    is the index's small lookups (descendants of a concept, concept names, the widest person id), read from its DuckDB
    database as on the embedded path.
    """

    def __init__(self, index_dir: Path, accelerate: bool = True, cdr_dir: Path | None = None, *,
                 engine: Engine | None = None):
        """Open the index at ``index_dir`` once it is shown to match its CDR (``cdr_dir``, by default the one it was
        built from) and to have all its files: otherwise StaleIndexError, FileNotFoundError or CdrFileError, each
        naming the paths and how to rebuild (see ``index.freshness``). ``engine``: run participants' SQL on that
        engine (its owner closes it) instead of the index's DuckDB database."""
        self.index_dir = Path(index_dir)
        self.manifest = check_index(self.index_dir, cdr_dir)
        self.cdr_dir = Path(cdr_dir or self.manifest.get("cdr") or "")
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
        self.engine = engine
        self.engine_tables: EngineTables | None = None
        if engine is not None:
            self.engine_tables = engine_tables(engine, source_key("ix", self.index_dir), self._locate)
        # The concept bitmaps answer items without SQL: on the embedded path only (on an engine, the engine answers).
        self.concept_bitmaps = self.bitmaps.available and engine is None
        self.accelerate = accelerate and self.concept_bitmaps
        self.shared = shared_answers(self.index_dir, self.manifest, "embedded" if engine is None else engine.name)
        if self.shared.wide is None:
            with self._file_errors(self.index_dir / PERSONS_FILE):
                highest_id = exp.Select(expressions=[exp.func("MAX", col("person_id"))]).from_(table(PERSON_TABLE), copy=False)
                # fetchall, not fetchone: a result left unfinished keeps the connection from registering tables
                (highest,) = self.con.execute(highest_id.sql(dialect="duckdb")).fetchall()[0]
            self.shared.wide = highest is not None and highest > MAX_32_BIT_ID
        # The sets of counts, breakdowns and results: 32-bit bitmaps where every person id fits (as the concept
        # bitmaps), else 64-bit ones; never a 32-bit bitmap of wrapped ids.
        self.bitmap_type = BitMap64 if self.shared.wide else BitMap

    def close(self) -> None:
        self.bitmaps.close()
        self.con.close()

    def _locate(self, name: str) -> Path | None:
        """A table's Parquet file for an engine: the index's tables, then the CDR's (datasets read those)."""
        if name in DATABASE_TABLES:
            return self.index_dir / DATABASE_TABLES[name]
        from ...cdr.store import Cdr

        cdr = Cdr(self.cdr_dir)
        return cdr.check_file(name) if name in cdr.manifest.tables else None

    def arrow(self, expression: exp.Expression, params: dict | None = None,
              tables: dict[str, pa.Table] | None = None) -> pa.Table:
        """A statement's rows as Arrow, where this engine runs participants' SQL: the boundary engine given, or the
        index's DuckDB connection (with ``tables`` registered on it while the statement runs)."""
        if self.engine_tables is not None:
            return self.engine_tables.run(expression, params, tables)
        with self._registered(tables or {}):
            return self.con.sql(expression.sql(dialect="duckdb"), params=params or None).to_arrow_table()

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
    def bitmap(self, ids=()) -> BitMap | BitMap64:
        """A new (changeable) set of person ids of this index's width (see ``bitmap_type``): from ids, or a copy."""
        if isinstance(ids, np.ndarray):
            return self.bitmap_type(ids.astype(np.uint64 if self.shared.wide else np.uint32))
        return self.bitmap_type(ids)

    def _ids(self, select: exp.Expression, params: dict, tables: dict[str, pa.Table] | None = None) -> BitMap:
        distinct = exp.Select(expressions=[col("person_id", table="x")]).distinct(copy=False).from_(select.subquery("x", copy=False), copy=False)
        if self.engine_tables is not None:
            ids = self.engine_tables.run(distinct, params, tables).column("person_id").to_numpy(zero_copy_only=False)
        else:
            with self._registered(tables or {}):
                ids = self.con.execute(distinct.sql(dialect="duckdb"), params).fetchnumpy()["person_id"]
        return self.bitmap(np.asarray(ids, dtype=np.int64))

    def _compiled_ids(self, build) -> BitMap:
        compiler = Compiler(self.expand, self.carriers)
        expression = build(compiler)
        return self._ids(expression, compiler.params, compiler.tables)

    @contextmanager
    def _registered(self, tables: dict[str, pa.Table]) -> Iterator[None]:
        """A compiled statement's tables (variant carriers) registered on the connection while it runs."""
        for name, data in tables.items():
            self.con.register(name, data)
        try:
            yield
        finally:
            for name in tables:
                self.con.unregister(name)

    def carriers(self, kind: str, criterion: VariantCriterion) -> pa.Table:
        """Who carries a variant criterion's variants in this index's store of ``kind`` (``semantics.Carriers``)."""
        if not has_genotypes(self.index_dir, kind):
            raise DefinitionError([f"{criterion.describe()}: variant criteria need a Controlled Tier index with genomes, "
                                   f"and this index has no {kind} genotypes"])
        with self._file_errors():
            return carriers_table(self.index_dir, kind, criterion.selection(), criterion.zygosity)

    def all_persons(self) -> FrozenBitMap:
        if self.shared.all is None:
            self.shared.all = _frozen(self._ids(exp.Select(expressions=[col("person_id")]).from_(table(PERSON_TABLE), copy=False), {}))
        return self.shared.all

    def flag(self, column: str) -> FrozenBitMap:
        if column not in self.shared.flags:
            select = exp.Select(expressions=[col("person_id")]).from_(table(PERSON_TABLE), copy=False).where(col(column), copy=False)
            self.shared.flags[column] = _frozen(self._ids(select, {}))
        return self.shared.flags[column]

    def person_groups(self, key: str) -> dict:
        """Everyone split by one demographic of the person table (``PERSON_GROUPINGS``), as value → bitmap; kept,
        so a cohort's breakdown is a handful of bitmap intersections instead of a query."""
        if key not in self.shared.groups:
            value = age_band(col("age_at_cdr")) if key == "age_band" else col(PERSON_GROUPINGS[key])
            # Rows, grouped here by Arrow: a list aggregate is not portable (DuckDB's LIST keeps NULLs, Spark's
            # collect_list drops them), and a million ids come back faster as one column than as Python lists.
            select = exp.Select(expressions=[alias(value, "k"), col("person_id")]).from_(table(PERSON_TABLE), copy=False)
            with self._file_errors():
                rows = self.arrow(select).group_by("k", use_threads=False).aggregate([("person_id", "list")])
            lists = rows.column("person_id_list").combine_chunks()  # each group's ids: a slice of one array
            ids, bounds = lists.flatten().to_numpy(zero_copy_only=False), lists.offsets.to_numpy()
            self.shared.groups[key] = {k: _frozen(self.bitmap(np.asarray(ids[bounds[n]:bounds[n + 1]], dtype=np.int64)))
                                       for n, k in enumerate(rows.column("k").to_pylist())}
        return self.shared.groups[key]

    def concept_names(self, ids, *, fallback: bool = True) -> dict[int, str]:
        """Names of concepts (demographic values, visit types, differing concepts) from the CDR's vocabulary, kept
        once read. A concept the vocabulary lacks is "concept N", or left out with ``fallback=False``."""
        names = self.shared.names
        wanted = sorted({int(i) for i in ids if i is not None} - names.keys())
        if wanted:
            from ...cdr.store import Cdr

            cdr = Cdr(self.cdr_dir)
            found: dict[int, str] = {}
            if "concept" in cdr.manifest.tables:
                rows = self.con.execute("SELECT concept_id, concept_name FROM read_parquet(?) WHERE concept_id IN (SELECT unnest(?))",
                                        [str(cdr.table_file("concept")), wanted]).fetchall()
                found = {int(i): n for i, n in rows if n}
            names.update({i: found.get(i) for i in wanted})
        out = {int(i): names[int(i)] for i in ids if i is not None}
        return {i: n or f"concept {i}" for i, n in out.items()} if fallback else {i: n for i, n in out.items() if n}

    def item_persons(self, item: SearchGroupItem) -> FrozenBitMap:
        """The item's participants (shared across threads; see ``SharedAnswers``)."""
        return self.shared.item(_criterion_key(item), lambda: self._item_persons(item))

    def _item_persons(self, item: SearchGroupItem) -> BitMap:
        source = item_source(item)
        if source is ItemSource.VARIANTS:  # the genotype store's carriers, no SQL
            return self.bitmap(item_carriers(item, self.carriers)["person_id"].to_numpy())
        if source is not ItemSource.CONCEPTS or not self.concept_bitmaps:  # compiled SQL
            # (event detail, the person table, an index without concept bitmaps: person ids past 32 bits, or an
            # engine other than the index's own)
            return self._compiled_ids(lambda compiler: compiler.item_persons(item))
        found = BitMap()
        for param in item.searchParameters:
            for concept in parameter_concepts(item, param, self.expand):
                found |= self.bitmaps.get(item.type.value, param.standard, concept)
        return found

    def group_persons(self, group: SearchGroup) -> BitMap | FrozenBitMap:
        if group.temporal:
            return self.shared.item("temporal " + _criterion_key(group),
                                    lambda: self._compiled_ids(lambda compiler: compiler.temporal_persons(group)))
        return self.bitmap_type.union(*[self.item_persons(item) for item in group.items])

    def cohort_persons(self, definition: CohortDefinition) -> BitMap:
        """The cohort as a set of person ids (accelerated path; on an engine, its one compiled statement)."""
        if self.engine is not None:
            return self.bitmap(self.person_ids(definition))
        result = self.bitmap(self.all_persons())
        for data_filter in definition.dataFilters:
            result &= self.flag(data_filter.value)
        includes, excludes = counted_groups(definition)
        for group in includes:
            result &= self.group_persons(group)
        for group in excludes:
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
            return compile_definition(definition, self.expand, select, self.carriers)

    def _run(self, query: CompiledQuery, extra: exp.Expression | None = None) -> list[tuple]:
        expression = extra if extra is not None else query.expression
        if self.engine_tables is not None:
            found = self.engine_tables.run(expression, query.params, query.tables)
            return list(zip(*[column.to_pylist() for column in found.columns]))
        with self._registered(query.tables):
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

    def person_ids(self, definition: CohortDefinition) -> np.ndarray:
        """Every participant's person id (int64, ascending): from the bitmaps when accelerated, else from the one
        compiled statement (with the tables it registers)."""
        if self.accelerate:
            with self._file_errors():
                return np.asarray(self.cohort_persons(definition).to_array(), dtype=np.int64)
        query = self.compile(definition, "persons")
        ids = exp.select(col("person_id", table="c")).from_(query.expression.subquery("c")).order_by(col("person_id", table="c"))
        if self.engine_tables is not None:
            found = self.engine_tables.run(ids, query.params, query.tables).column("person_id").to_numpy(zero_copy_only=False)
            return np.asarray(found, dtype=np.int64)
        with self._file_errors(), self._registered(query.tables):
            found = self.con.execute(ids.sql(dialect="duckdb"), query.params).fetchnumpy()["person_id"]
        return np.asarray(found, dtype=np.int64)

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
