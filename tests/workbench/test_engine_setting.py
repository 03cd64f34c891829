"""The Workbench's ``engine`` setting: with ``engine = "spark"`` the server keeps one Spark engine for its life and
its cohort count API answers through it (the index's tables registered on Spark), the same number as the embedded
default; bad settings are refused at start-up naming the setting."""

from __future__ import annotations

import pytest

from research_workbench.accounts.config import WorkbenchConfigError, load_workbench_config
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition

from .cohort_data import add_workspace, fixture_cdr, register_data_version  # noqa: F401
from .conftest import ALL_RT, make_user
from .test_resources import token
from .test_reviews import DM_OR_HTN


def test_the_count_api_answers_through_spark_with_the_embedded_number(make_workbench, fixture_cdr, spark_engine):
    wb = make_workbench(engine="spark")
    pool = wb.app.state.services.engines
    assert pool.sql_engine is not None and pool.sql_engine.spark is spark_engine.spark  # the process's session
    make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr), {"owner@state.edu": "OWNER"})
    api = token(wb, "owner@state.edu", "workspaces:read", "data:read")
    try:
        answer = api.post("/api/workspaces/study/cohorts/count", json={"definition": DM_OR_HTN})
        assert answer.status_code == 200, answer.text
        embedded = CohortEngine(fixture_cdr.parent / "cdr.index", cdr_dir=fixture_cdr)
        try:
            assert answer.json()["count"] == embedded.count(parse_definition(DM_OR_HTN))[0] == 6
        finally:
            embedded.close()
        # answered by Spark: the index's events were registered on the server's engine, not read from bitmaps
        assert any(name.startswith("search_all_events__ix") for name in pool.sql_engine.schemas())
    finally:
        pool.close()
    assert pool.sql_engine is None
    assert spark_engine.spark.sparkContext._jsc is not None  # a session the server was given keeps running


def test_the_embedded_engine_is_the_default_and_opens_no_spark(wb):
    assert wb.config.engine == "duckdb" and wb.app.state.services.engines.sql_engine is None


@pytest.mark.parametrize(("overrides", "where", "message"), [
    ({"engine": "oracle"}, "defaults: engine", "'duckdb' or 'spark'"),
    ({"spark_master": "local[1]"}, "defaults: spark_master", 'a Spark master is for engine = "spark"'),
    ({"engine": "spark", "spark_master": " "}, "defaults: spark_master", "an empty master URL"),
])
def test_bad_engine_settings_are_refused_at_start_up_naming_the_setting(overrides, where, message):
    with pytest.raises(WorkbenchConfigError) as refused:
        load_workbench_config(None, **overrides)
    assert [p.where for p in refused.value.problems] == [where]
    assert message in refused.value.problems[0].message
