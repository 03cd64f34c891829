"""Same answers on real SQL of ours: the Cohort Builder's one-statement compiled SQL, for every definition of the
golden fixtures (``tests/cohort_builder/fixtures/compile.sql``), over the tiny index those tests build
(``tests/cohort_builder/fixture.py``), gives the same participants on DuckDB and on Spark, and the same as the
SQL run on a plain DuckDB connection the way the cohort engine runs it today."""

from __future__ import annotations

import duckdb
import pytest

from research_workbench.cohorts.builder.compile import compile_definition
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.index.build import default_index_path
from research_workbench.index.layout import DATABASE_TABLES

from ..cohort_builder import fixture, golden

CASES = golden.parse(golden.FIXTURE.read_text(encoding="utf-8"))[1]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return default_index_path(fixture.build(tmp_path_factory.mktemp("cohort_builder")))


def register_index(engine, index_dir) -> None:
    """The index's tables, from its Parquet files (``index.layout`` names them)."""
    for name, file in DATABASE_TABLES.items():
        engine.register_parquet(name, index_dir / file)


@pytest.fixture(scope="module")
def engines(index_dir, spark_engine):
    from research_workbench.engines.duckdb_engine import DuckDBEngine

    duck = DuckDBEngine(threads=2)
    for engine in (duck, spark_engine):
        register_index(engine, index_dir)
    yield {"duckdb": duck, "spark": spark_engine}
    duck.close()
    for name in DATABASE_TABLES:
        spark_engine.drop(name)


def today_path(index_dir, query) -> list[int]:
    """The compiled SQL as the cohort engine runs it now: rendered for DuckDB, on a plain connection."""
    con = duckdb.connect()
    for name, file in DATABASE_TABLES.items():
        con.read_parquet(str(index_dir / file)).create_view(name)
    for name, carriers in query.tables.items():
        con.register(name, carriers)
    rows = con.execute(query.sql("duckdb"), query.params).fetchall()
    con.close()
    return sorted(r[0] for r in rows)


def persons(engine, query) -> list[int]:
    for name, carriers in query.tables.items():
        engine.register_arrow(name, carriers)
    try:
        return sorted(engine.run(query.expression, query.params).column("person_id").to_pylist())
    finally:
        for name in query.tables:
            engine.drop(name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compiled_cohort_sql_gives_the_same_participants_on_both_engines(case, engines, index_dir):
    definition = parse_definition(case.definition)
    query = compile_definition(definition, golden.fake_expand, "persons", golden.fake_carriers)
    answers = {name: persons(engine, query) for name, engine in engines.items()}
    assert answers["duckdb"] == answers["spark"] == today_path(index_dir, query)
    counted = compile_definition(definition, golden.fake_expand, "count", golden.fake_carriers)
    for name, engine in engines.items():
        for table_name, carriers in counted.tables.items():
            engine.register_arrow(table_name, carriers)
        assert engine.scalar(counted.expression, counted.params) == len(answers["duckdb"]), name
        for table_name in counted.tables:
            engine.drop(table_name)


def _item(kind: str, concept: int, group: int) -> dict:
    vocabulary = {"DRUG": "RXNORM", "CONDITION": "SNOMED"}[kind]
    return {"id": f"i{group}{concept}", "type": kind, "temporalGroup": group, "searchParameters": [
        {"parameterId": "p", "domain": kind, "type": vocabulary, "conceptId": concept, "group": False}]}


def _temporal(mention: str, time: str, days: int | None, group0: list[dict], group1: list[dict]) -> dict:
    group = {"id": "g", "items": group0 + group1, "temporal": True, "mention": mention, "time": time}
    if days is not None:
        group["timeValue"] = days
    return {"includes": [group]}


# The golden temporal cases select nobody in the tiny index (their fake descendants are not its concepts), so the
# temporal relations, the SQL's DATE_DIFF in days, are compared here on definitions with known answers: metformin
# tablets (persons 1, 2) and lisinopril tablets (3) near type 2 diabetes (2), its renal form (1), hypertension (3).
TEMPORAL = {
    "first_mention_within_30_days": (_temporal("FIRST_MENTION", "WITHIN_X_DAYS_OF", 30, [_item("DRUG", fixture.METFORMIN_TAB, 0)],
                                               [_item("CONDITION", fixture.T2DM_A, 1), _item("CONDITION", fixture.T2DM, 1)]), [1, 2]),
    "any_mention_10_days_before": (_temporal("ANY_MENTION", "X_DAYS_BEFORE", 10, [_item("DRUG", fixture.METFORMIN_TAB, 0)],
                                             [_item("CONDITION", fixture.T2DM_A, 1), _item("CONDITION", fixture.T2DM, 1)]), [2]),
    "any_mention_5_days_after": (_temporal("ANY_MENTION", "X_DAYS_AFTER", 5, [_item("DRUG", fixture.METFORMIN_TAB, 0)],
                                           [_item("CONDITION", fixture.T2DM_A, 1), _item("CONDITION", fixture.T2DM, 1)]), [1]),
    "last_mention_within_300_days": (_temporal("LAST_MENTION", "WITHIN_X_DAYS_OF", 300, [_item("CONDITION", fixture.T2DM, 0)],
                                               [_item("DRUG", fixture.METFORMIN_TAB, 1)]), [2]),
    "same_encounter": (_temporal("ANY_MENTION", "DURING_SAME_ENCOUNTER_AS", None, [_item("DRUG", fixture.LISINOPRIL_TAB, 0)],
                                 [_item("CONDITION", fixture.HTN, 1)]), [3]),
}


@pytest.mark.parametrize("name", TEMPORAL)
def test_temporal_relations_give_their_known_participants_on_both_engines(name, engines, index_dir):
    definition, expected = TEMPORAL[name]
    query = compile_definition(parse_definition(definition), golden.fake_expand, "persons", golden.fake_carriers)
    assert {n: persons(engine, query) for n, engine in engines.items()} == {"duckdb": expected, "spark": expected}
    assert today_path(index_dir, query) == expected


def test_the_cases_reach_participants(engines):
    """The comparison means something: most golden definitions select someone in the tiny index."""
    reached = 0
    for case in CASES:
        query = compile_definition(parse_definition(case.definition), golden.fake_expand, "persons", golden.fake_carriers)
        reached += bool(persons(engines["duckdb"], query))
    assert reached >= len(CASES) // 2, f"only {reached} of {len(CASES)} golden definitions select anyone"  # 22 of 36 now
