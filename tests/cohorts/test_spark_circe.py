"""OHDSI Circe cohorts on Spark: the same members, attrition and inclusion-rule report as on the embedded path for
two GiBleed definitions (inclusion rules; a censor window), and ``workbench cohort circe --engine spark``, with the
engine options refused by name when wrong."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cli.cohort import cohort_app
from research_workbench.cohorts.circe import load_definition, run_circe

from .test_circe_cli import DEFINITION, TABLES

runner = CliRunner()


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("timings_ms", "elapsed_ms")}


@pytest.mark.parametrize("name", ["celecoxibAge40Male", "celecoxibCensored"])
def test_a_gibleed_cohort_has_the_same_members_on_spark(name, gibleed_dir, gibleed_cdr, spark_engine):
    definition = load_definition(gibleed_dir / "cohorts" / f"{name}.json")
    embedded = run_circe(definition, gibleed_cdr)
    on_spark = run_circe(definition, gibleed_cdr, engine=spark_engine)
    assert on_spark.rows == embedded.rows
    assert comparable(on_spark.summary()) == comparable(embedded.summary())
    assert embedded.subject_count == {"celecoxibAge40Male": 266, "celecoxibCensored": 1750}[name]


def test_the_circe_command_runs_on_spark(tmp_path, tiny_cdr, spark_engine):
    cdr = tiny_cdr(**TABLES)
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps(DEFINITION))
    documents = {}
    for engine in ("duckdb", "spark"):
        result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(cdr), "--json", "--engine", engine])
        assert result.exit_code == 0, result.output
        documents[engine] = comparable(json.loads(result.stdout))
    assert documents["spark"] == documents["duckdb"]
    assert (documents["spark"]["subject_count"], documents["spark"]["entry_count"]) == (1, 1)


@pytest.mark.parametrize(("options", "where"), [(["--engine", "oracle"], "--engine"),
                                                (["--spark-master", "local[1]"], "--spark-master")])
def test_wrong_engine_options_are_refused_naming_the_option(options, where, tmp_path, tiny_cdr):
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps(DEFINITION))
    result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(tiny_cdr(**TABLES)), "--json", *options])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [p["where"] for p in document["problems"]] == [where], document
