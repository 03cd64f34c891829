"""A dataset's rows on Spark: the same rows, columns and types as on the embedded path for every domain the tiny CDRs
hold (every kind of statement: the person table, event tables with concept names, visits and ages, the survey
answers, a wearable table, the zip-code socioeconomic set with its anchored three-digit match), for a cohort's
participants and for everyone, whole and as a preview; an export from Spark writes the same snapshot."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.datasets import extract as dx
from research_workbench.datasets.columns import CATALOGUE
from research_workbench.datasets.query import zip3_valid

from . import zip_fixture as zf
from .test_dataset_rows import DM_OR_HTN

# Every domain read with SQL, each with every column of the catalogue (the fixture holds every table of the model,
# empty where it has no rows). The wearable domains share one statement, differing by table: two of the seven are
# read (intraday steps, with a row; the daily activity summary, empty), to keep Spark's time small.
WEARABLES_LEFT_OUT = [Domain.FITBIT_HEART_RATE_SUMMARY, Domain.FITBIT_HEART_RATE_LEVEL, Domain.FITBIT_SLEEP_DAILY_SUMMARY,
                      Domain.FITBIT_SLEEP_LEVEL, Domain.FITBIT_DEVICE]
WHOLE = [d for d in CATALOGUE if d not in (Domain.WHOLE_GENOME_VARIANT, Domain.ZIP_CODE_SOCIOECONOMIC, *WEARABLES_LEFT_OUT)]
DIABETES_AND_E11_9 = {"domain": "CONDITION", "concepts": [{"conceptId": 201820, "standard": True},
                                                          {"conceptId": 45533023, "standard": False}]}


def engines(index_dir, cdr, spark_engine) -> dict[str, CohortEngine]:
    return {"duckdb": CohortEngine(index_dir, cdr_dir=cdr), "spark": CohortEngine(index_dir, cdr_dir=cdr, engine=spark_engine)}


@pytest.fixture(scope="module")
def both(dataset_cdr, spark_engine):
    found = engines(dataset_cdr.parent / "cdr.index", dataset_cdr, spark_engine)
    yield found
    for engine in found.values():
        engine.close()


def same(tables: dict[str, pa.Table]) -> pa.Table:
    """The tables of both engines are equal, rows, column names and types; returns one."""
    duck, spark = tables["duckdb"], tables["spark"]
    assert spark.schema == duck.schema
    assert spark.to_pylist() == duck.to_pylist()
    return duck


def test_every_domain_gives_the_same_rows_on_spark_for_a_cohorts_participants(both):
    request = dx.DatasetRequest(cohorts=[DM_OR_HTN], whole_domains=[d for d in WHOLE if d is not Domain.CONDITION],
                                concept_sets=[DIABETES_AND_E11_9],
                                values={d: [c.name for c in CATALOGUE[d]] for d in WHOLE})
    plans = {name: dx.plan(engine, request) for name, engine in both.items()}
    assert sorted(plans["spark"].persons) == sorted(plans["duckdb"].persons) == [1, 2, 3, 4, 6, 7]
    counts = {d: same({n: dx.read(both[n], plans[n], d) for n in both}).num_rows for d in WHOLE}
    assert {d: n for d, n in counts.items() if n} == {
        Domain.PERSON: 6, Domain.CONDITION: 7, Domain.DRUG: 3, Domain.VISIT: 3, Domain.MEASUREMENT: 7, Domain.SURVEY: 1}


def test_everyone_and_a_preview_give_the_same_rows_on_spark(both):
    request = dx.DatasetRequest(all_participants=True, whole_domains=[Domain.MEASUREMENT, Domain.FITBIT_INTRADAY_STEPS],
                                values={Domain.MEASUREMENT: [c.name for c in CATALOGUE[Domain.MEASUREMENT]],
                                        Domain.FITBIT_INTRADAY_STEPS: ["person_id", "datetime", "steps"]})
    plans = {name: dx.plan(engine, request) for name, engine in both.items()}
    preview = same({n: dx.preview(both[n], plans[n], Domain.MEASUREMENT, rows=3) for n in both})
    assert [r["event_id"] for r in preview.to_pylist()] == [1, 4, 5]
    assert same({n: dx.read(both[n], plans[n], Domain.FITBIT_INTRADAY_STEPS) for n in both}).num_rows == 1


def test_an_export_from_spark_writes_the_same_snapshot(both, tmp_path):
    request = dx.DatasetRequest(cohorts=[DM_OR_HTN], whole_domains=[Domain.DRUG],
                                values={Domain.DRUG: ["person_id", "event_id", "standard_concept_name", "start_date"]})
    manifests = {n: dx.export(e, dx.plan(e, request), tmp_path / n, about={}) for n, e in both.items()}
    assert manifests["spark"]["domains"] == manifests["duckdb"]["domains"]
    assert pq.read_table(tmp_path / "spark" / "drug.parquet").num_rows == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duckdb", "spark"]  # nothing half-written beside them


def test_the_zip_code_set_keeps_three_digit_areas_only_on_spark(tmp_path_factory, spark_engine):
    cdr = zf.build(tmp_path_factory.mktemp("zip-spark"))
    found = engines(cdr.parent / "cdr.index", cdr, spark_engine)
    try:
        request = dx.DatasetRequest(all_participants=True, whole_domains=[Domain.ZIP_CODE_SOCIOECONOMIC],
                                    values={Domain.ZIP_CODE_SOCIOECONOMIC: [c.name for c in CATALOGUE[Domain.ZIP_CODE_SOCIOECONOMIC]]})
        table = same({n: dx.read(e, dx.plan(e, request), Domain.ZIP_CODE_SOCIOECONOMIC) for n, e in found.items()})
    finally:
        for engine in found.values():
            engine.close()
    # "070**" and "940**" match as they are, "10001" by its first three digits; the skip (no text) has no row
    assert [tuple(r.values()) for r in table.to_pylist()] == zf.EXPECTED


def test_the_zip_area_match_is_exact_on_both_engines(duckdb_engine, spark_engine):
    """Three ASCII digits, the whole of the answer's first three characters: not two, not a letter among them, not
    full-width digits (which some regex engines count as digits)."""
    from sqlglot import exp

    from research_workbench.cdr.sql import col, table

    answers = ["070**", "10001", "100", "12", "1a3**", "a123", "", " 070", "\uff10\uff17\uff10**", "070\n", None]
    query = exp.select(col("value"), zip3_valid(exp.func("left", col("value"), exp.Literal.number(3))).as_("ok")).from_(
        table("zip_answers")).order_by(col("n"))
    found = {}
    for engine in (duckdb_engine, spark_engine):
        engine.register_arrow("zip_answers", pa.table({"n": list(range(len(answers))), "value": answers}))
        try:
            found[engine.name] = engine.run(query).column("ok").to_pylist()
        finally:
            engine.drop("zip_answers")
    assert found["duckdb"] == found["spark"] == [True, True, True, False, False, False, False, False, False, True, None]
