"""Running cohort definitions against a search index: counts, participant ids and demographic breakdowns."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
from sqlglot import exp

from ...cdr.engine import connect
from ...index.build import ANCESTRY_FILE, EVENTS_FILE, INDEX_MANIFEST, PERSONS_FILE
from .compile import CompiledQuery, compile_definition, whole_years
from .model import CohortDefinition

AGE_BANDS = [(18, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, 89), (90, 200)]
MAX_PAGE_SIZE = 10_000


class CohortEngine:
    """One index, one DuckDB connection.

    The person table (one row per participant, a few dozen narrow columns) and the concept ancestry are loaded
    into memory once, so each count's final semi-join does not decode Parquet again; the event table stays on
    disk, where its sort by concept lets each criterion read only its own row groups.
    """

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        if not (self.index_dir / INDEX_MANIFEST).is_file():
            raise FileNotFoundError(f"{index_dir}: not an index directory (no {INDEX_MANIFEST}); run `workbench index CDR_DIR`")
        self.con: duckdb.DuckDBPyConnection = connect()
        self.con.execute("CREATE TABLE search_person AS SELECT * FROM read_parquet(?)", [str(self.index_dir / PERSONS_FILE)])
        self.con.execute("CREATE TABLE criteria_ancestor AS SELECT * FROM read_parquet(?)", [str(self.index_dir / ANCESTRY_FILE)])
        self.con.read_parquet(str(self.index_dir / EVENTS_FILE)).create_view("search_all_events")
        self._descendants: dict[int, list[int]] = {}

    def close(self) -> None:
        self.con.close()

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
        return compile_definition(definition, self.expand, select)

    def _run(self, query: CompiledQuery, extra: exp.Expression | None = None) -> list[tuple]:
        expression = extra if extra is not None else query.expression
        return self.con.execute(expression.sql(dialect="duckdb"), query.params).fetchall()

    def count(self, definition: CohortDefinition) -> tuple[int, float]:
        """(participants, milliseconds)."""
        started = time.perf_counter()
        query = self.compile(definition)
        (count,) = self._run(query)[0]
        return count, (time.perf_counter() - started) * 1000

    def participant_ids(self, definition: CohortDefinition, page: int = 0, page_size: int = 25) -> list[int]:
        """Person ids in ascending order, one page at a time (stable across calls)."""
        if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be ≥ 0 and page size between 1 and {MAX_PAGE_SIZE}")
        query = self.compile(definition, "persons")
        ids = (
            exp.select(exp.column("person_id", table="c", quoted=True))
            .from_(query.expression.subquery("c"))
            .order_by(exp.column("person_id", table="c", quoted=True))
            .limit(exp.Placeholder(this="page_limit"))
            .offset(exp.Placeholder(this="page_offset"))
        )
        query.params.update(page_limit=page_size, page_offset=page * page_size)
        return [r[0] for r in self._run(query, ids)]

    def breakdown(self, definition: CohortDefinition) -> dict[str, list[dict]]:
        """Counts by gender × age band, race, ethnicity and sex at birth (current age, as the Workbench charts it)."""
        query = self.compile(definition, "persons")
        cohort = query.expression.subquery("c")
        age = whole_years(exp.column("birth_date", table="c"), exp.CurrentDate())
        band = exp.Case(ifs=[
            exp.If(this=exp.Between(this=age, low=exp.Literal.number(lo), high=exp.Literal.number(hi)),
                   true=exp.Literal.string(f"{lo}-{hi}" if hi < 200 else f"{lo}+"))
            for lo, hi in AGE_BANDS
        ], default=exp.Literal.string("under 18"))
        result: dict[str, list[dict]] = {}
        groupings = {
            "gender_age": [exp.alias_(exp.column("gender_concept_id", table="c"), "gender_concept_id"), exp.alias_(band, "age_band")],
            "race": [exp.alias_(exp.column("race_concept_id", table="c"), "race_concept_id")],
            "ethnicity": [exp.alias_(exp.column("ethnicity_concept_id", table="c"), "ethnicity_concept_id")],
            "sex_at_birth": [exp.alias_(exp.column("sex_at_birth_concept_id", table="c"), "sex_at_birth_concept_id")],
        }
        for name, keys in groupings.items():
            select = (
                exp.select(*keys, exp.alias_(exp.func("COUNT", exp.Star()), "count"))
                .from_(cohort.copy())
                .group_by(*[exp.Literal.number(i + 1) for i in range(len(keys))])
                .order_by(*[exp.Literal.number(i + 1) for i in range(len(keys))])
            )
            names = [k.alias for k in keys] + ["count"]
            result[name] = [dict(zip(names, row)) for row in self._run(query, select)]
        return result
