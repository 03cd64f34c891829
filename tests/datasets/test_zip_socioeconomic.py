"""The prepackaged "Zip code socioeconomic status" set: one row per participant who answered The Basics' zip
question (their latest answer), the three-digit area as 'NNN**' and the area's measures; its catalogue entry; the
Controlled Tier only rule; its SQL code.

The data is ``zip_fixture`` (5 persons: areas 070, 100 and 940, one skip, one who never answered).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.datasets import codegen
from research_workbench.datasets import extract as dx
from research_workbench.datasets import prepackaged
from research_workbench.datasets.columns import CATALOGUE, DEFAULT_COLUMNS, column_problems
from research_workbench.datasets.query import ZIP_QUESTION

from . import zip_fixture as zf

ZIP = Domain.ZIP_CODE_SOCIOECONOMIC
COLUMNS = ["person_id", "observation_datetime", "zip3_as_string", "fraction_assisted_income",
           "fraction_high_school_edu", "median_income", "fraction_no_health_ins", "fraction_poverty",
           "fraction_vacant_housing", "deprivation_index", "american_community_survey_year"]
WOMEN = {"includes": [{"id": "g", "items": [{"id": "i", "type": "PERSON", "searchParameters": [
    {"parameterId": "p", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}  # persons 1, 3 and 5


@pytest.fixture(scope="module")
def zip_cdrs(tmp_path_factory):
    """tier → the fixture CDR recorded as that tier's release (None: a CDR that records no tier)."""
    cdrs = {tier: zf.build(tmp_path_factory.mktemp(f"zip-{tier}"), tier=tier) for tier in (None, "registered")}
    for cdr in cdrs.values():
        # The first CohortEngine of an index in a process leaves its MAX(person_id) result half-fetched
        # (cohorts/builder/engine.py, fetchone), which DuckDB 2 makes the connection's next con.sql refuse; that one
        # is opened and closed here, so these tests see what every later engine does.
        CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr).close()
    return cdrs


@pytest.fixture
def engine(zip_cdrs):
    cdr = zip_cdrs[None]
    engine = CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr)
    yield engine
    engine.close()


def whole(names=None, **request) -> dx.DatasetRequest:
    return dx.DatasetRequest(**{"all_participants": True, **request}, whole_domains=[ZIP],
                             values={ZIP: list(names or COLUMNS)})


def rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_each_participant_who_answered_gets_their_latest_area_and_its_measures(engine):
    table = dx.read(engine, dx.plan(engine, whole()), ZIP)
    assert table.schema.names == COLUMNS
    assert rows(table) == zf.EXPECTED
    # 1: a Controlled Tier answer at 10:30; 2: the 2019 answer (100), not the 2018 one (021), at midnight as no time
    # was recorded; 3 skipped and 4 never answered: no rows; 5: area 940 has no measures in the map.
    assert [r[:3] for r in rows(table)] == [(1, datetime(2019, 3, 1, 10, 30), "070**"),
                                            (2, datetime(2019, 4, 2), "100**"), (5, datetime(2019, 5, 5), "940**")]
    assert [str(f.type) for f in table.schema] == ["int64", "timestamp[us]", "string", *["double"] * 7, "int64"]


def test_only_the_cohorts_participants_are_read(engine):
    plan = dx.plan(engine, whole(all_participants=False, cohorts=[WOMEN]))
    assert sorted(plan.persons) == [1, 3, 5]
    assert rows(dx.read(engine, plan, ZIP)) == [zf.EXPECTED[0], zf.EXPECTED[2]]  # 3 has no answer


def test_the_answer_alone_does_not_read_the_map_and_never_passes_on_five_digits(engine):
    plan = dx.plan(engine, whole(["person_id", "zip3_as_string"]))
    assert plan.queries[ZIP].tables == ["observation"]
    assert rows(dx.read(engine, plan, ZIP)) == [(1, "070**"), (2, "100**"), (5, "940**")]  # "10001" → "100**"
    plan = dx.plan(engine, whole(["median_income", "person_id"]))
    assert plan.queries[ZIP].tables == ["observation", "zip3_ses_map"]
    assert rows(dx.read(engine, plan, ZIP)) == [(71250.0, 1), (86500.0, 2), (None, 5)]


def test_preview_and_export_give_the_reads_rows(engine, tmp_path):
    plan = dx.plan(engine, whole())
    assert rows(dx.preview(engine, plan, ZIP, rows=2)) == zf.EXPECTED[:2]
    manifest = dx.export(engine, plan, tmp_path / "snapshot", about={})
    assert manifest["domains"]["ZIP_CODE_SOCIOECONOMIC"]["file"] == "zip_code_socioeconomic.parquet"
    assert rows(pq.read_table(tmp_path / "snapshot" / "zip_code_socioeconomic.parquet")) == zf.EXPECTED


def test_the_catalogue_entry_and_the_prepackaged_set():
    assert [c.name for c in CATALOGUE[ZIP]] == COLUMNS
    assert [c.type for c in CATALOGUE[ZIP]] == ["BIGINT", "TIMESTAMP", "VARCHAR", *["DOUBLE"] * 7, "BIGINT"]
    assert all(c.description.endswith(")") or c.description.endswith(".") for c in CATALOGUE[ZIP])
    described = {c.name: c.description for c in CATALOGUE[ZIP]}
    assert "'070**'" in described["zip3_as_string"] and "dollars" in described["median_income"]
    assert DEFAULT_COLUMNS[ZIP] == tuple(COLUMNS)
    assert column_problems(ZIP, ["person_id", "zip"]) == [
        "ZIP_CODE_SOCIOECONOMIC[1]: no column 'zip' in ZIP_CODE_SOCIOECONOMIC (see the column catalogue)"]
    assert prepackaged.prepackaged_problem("zip_code_socioeconomic") is None
    assert prepackaged.domain_of("zip_code_socioeconomic") is ZIP
    assert "zip_code_socioeconomic" in prepackaged.CONTROLLED_TIER_ONLY  # (with whole_genome: test_whole_genome)
    assert ZIP.label == "Zip code socioeconomic status"


def test_a_registered_tier_data_version_refuses_the_set_naming_it(zip_cdrs):
    cdr = zip_cdrs["registered"]
    engine = CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr)
    try:
        with pytest.raises(dx.DatasetError) as refused:
            dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[ZIP],
                                              values={ZIP: COLUMNS, Domain.PERSON: ["person_id"]}))
        assert [(p.where, p.message) for p in refused.value.problems] == [
            ("values.ZIP_CODE_SOCIOECONOMIC", "ZIP_CODE_SOCIOECONOMIC: Zip code socioeconomic status data is available "
                                              "in the Controlled Tier only (this data version is Registered Tier)")]
        # the rest of the data version reads as ever
        plan = dx.plan(engine, dx.DatasetRequest(all_participants=True, values={Domain.PERSON: ["person_id"]}))
        assert dx.read(engine, plan, Domain.PERSON).column("person_id").to_pylist() == [1, 2, 3, 4, 5]
    finally:
        engine.close()


def test_the_tier_rule_refuses_the_registered_tier_only():
    assert prepackaged.tier_problem(ZIP, "registered", what="'zip_code_socioeconomic'", holder="workspace") == (
        "'zip_code_socioeconomic': Zip code socioeconomic status data is available in the Controlled Tier only "
        "(this workspace is Registered Tier)")
    assert prepackaged.tier_problem(ZIP, "controlled", what="x", holder="workspace") is None
    assert prepackaged.tier_problem(ZIP, None, what="x", holder="data version") is None  # a CDR of no release
    assert prepackaged.tier_problem(Domain.SURVEY, "registered", what="x", holder="workspace") is None


def test_the_sql_code_is_the_statement_the_plan_runs(engine):
    plan = dx.plan(engine, whole())
    statement = plan.queries[ZIP].statement()
    target = codegen.CodeTarget("ws", 7, "Zip", 1, "2026Q4", ["ZIP_CODE_SOCIOECONOMIC"],
                                {"ZIP_CODE_SOCIOECONOMIC": statement}, {"ZIP_CODE_SOCIOECONOMIC": {"observation": "o"}})
    sql = codegen.code("sql", target)
    assert "-- ZIP_CODE_SOCIOECONOMIC\n--   $observation = \"o\"\n" in sql
    assert statement.sql(dialect="duckdb", pretty=True) + ";" in sql and "READ_PARQUET($zip3_ses_map)" in sql
    python = codegen.code("python-polars", target)
    assert 'zip_code_socioeconomic_df = dataset.to_polars("ZIP_CODE_SOCIOECONOMIC")' in python
    assert 'zip_code_socioeconomic_df <- read_table("ZIP_CODE_SOCIOECONOMIC")' in codegen.code("r", target)


def test_the_zip_question_is_the_one_curation_generalises():
    from research_workbench.curation import load_config

    assert ZIP_QUESTION == load_config().demographics.zip_question == zf.ZIP
