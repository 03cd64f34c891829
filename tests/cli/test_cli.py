"""The workbench command: help everywhere, one JSON document with --json, clear refusals."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from research_workbench.cli import app

from ..helpers import minimal_omop

runner = CliRunner()


def all_command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += all_command_paths(sub, prefix + (name,))
    return paths


@pytest.mark.parametrize("path", all_command_paths(get_command(app)), ids=lambda p: " ".join(p) or "workbench")
def test_every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_load_json_prints_one_document_with_counts(tmp_path):
    src = minimal_omop(tmp_path / "src")
    result = runner.invoke(app, ["load", "omop", str(src), "--out", str(tmp_path / "cdr"), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["persons"] == 3
    assert document["tables"]["condition_occurrence"] == 3
    assert document["cdm_version"] == "5.4"


def test_cdr_info_json_reports_tables_persons_dates_and_vocabulary(tmp_path):
    runner.invoke(app, ["load", "omop", str(minimal_omop(tmp_path / "src")), "--out", str(tmp_path / "cdr"), "--json"])
    document = json.loads(runner.invoke(app, ["cdr", "info", str(tmp_path / "cdr"), "--json"]).stdout)
    assert document["persons"] == 3
    assert document["event_date_range"] == {"min": "2010-03-01", "max": "2015-01-02"}
    assert document["tables"]["person"]["rows"] == 3
    assert "vocabulary_version" in document


def test_cdr_info_prints_a_table_for_people(tmp_path):
    runner.invoke(app, ["load", "omop", str(minimal_omop(tmp_path / "src")), "--out", str(tmp_path / "cdr"), "--json"])
    result = runner.invoke(app, ["cdr", "info", str(tmp_path / "cdr")])
    assert result.exit_code == 0
    assert "persons: 3" in result.stdout and "condition_occurrence" in result.stdout


def test_refused_load_exits_1_with_the_problem(tmp_path):
    src = minimal_omop(tmp_path / "src")
    (src / "person.csv").write_text((src / "person.csv").read_text().replace("1988", "19x8"))
    result = runner.invoke(app, ["load", "omop", str(src), "--out", str(tmp_path / "cdr")])
    assert result.exit_code == 1
    assert "person.csv, line 3, column year_of_birth: not an integer (value '19x8')" in result.output
    assert not (tmp_path / "cdr").exists()


def test_refused_load_with_json_prints_the_problems_as_json(tmp_path):
    src = minimal_omop(tmp_path / "src")
    (src / "person.csv").write_text((src / "person.csv").read_text().replace("1988", "19x8"))
    result = runner.invoke(app, ["load", "omop", str(src), "--out", str(tmp_path / "cdr"), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["problems"][0] == {"file": "person.csv", "line": 3, "column": "year_of_birth", "message": "not an integer", "value": "19x8", "more_rows": 0}


def test_cdr_info_of_a_folder_that_is_no_cdr_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["cdr", "info", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a CDR directory" in result.output


def test_cdr_verify_exits_1_when_a_file_was_altered(tmp_path):
    runner.invoke(app, ["load", "omop", str(minimal_omop(tmp_path / "src")), "--out", str(tmp_path / "cdr"), "--json"])
    assert runner.invoke(app, ["cdr", "verify", str(tmp_path / "cdr")]).exit_code == 0
    with open(tmp_path / "cdr" / "person.parquet", "ab") as fh:
        fh.write(b"!")
    result = runner.invoke(app, ["cdr", "verify", str(tmp_path / "cdr"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == ["person: file person.parquet differs from the manifest"]


def test_cdr_ddl_prints_postgres_statements_for_chosen_tables():
    result = runner.invoke(app, ["cdr", "ddl", "--dialect", "postgres", "--schema", "cdm", "--table", "person"])
    assert result.exit_code == 0
    assert result.stdout.startswith('CREATE TABLE "cdm"."person" ("person_id" BIGINT NOT NULL')


def test_cdr_ddl_refuses_an_unknown_dialect():
    result = runner.invoke(app, ["cdr", "ddl", "--dialect", "oracle"])
    assert result.exit_code == 2
    assert "must be one of duckdb, postgres, spark" in result.output


def test_postgres_source_needs_a_schema(tmp_path):
    result = runner.invoke(app, ["load", "omop", "postgresql://127.0.0.1/test", "--out", str(tmp_path / "cdr")])
    assert result.exit_code == 2
    assert "--schema" in result.output


def test_the_criteria_search_limit_of_the_cli_is_the_index_searchs():
    # cli/index.py states the limit itself so that building the command tree loads no index module.
    from research_workbench.cli.index import DOMAINS, SEARCH_LIMIT
    from research_workbench.cdr.facts import EVENT_DOMAINS
    from research_workbench.index.search import SEARCH_LIMIT as INDEX_LIMIT

    assert SEARCH_LIMIT == INDEX_LIMIT
    assert set(DOMAINS) == {d.value for d in EVENT_DOMAINS}


def test_spark_app_prints_the_file_spark_submit_runs_which_runs_the_command_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    result = runner.invoke(app, ["spark-app"])
    assert result.exit_code == 0
    path = Path(result.stdout.strip())
    assert path.name == "spark_main.py" and path.is_file()
    # run as a file, as spark-submit runs it (no package context): the command line answers
    shown = subprocess.run([sys.executable, str(path), "spark-app"], capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.strip() == str(path)


def test_a_process_spark_submit_started_is_recognised_by_the_gateway_it_was_handed(monkeypatch):
    from research_workbench.cli.engine_options import under_spark_submit

    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert not under_spark_submit()
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")  # what spark-submit's launcher hands a Python application
    assert under_spark_submit()


def test_spark_settings_come_from_rw_spark_conf_and_a_malformed_one_is_refused_by_name():
    from research_workbench.cli.engine_options import spark_conf
    from research_workbench.engines import EngineError

    assert spark_conf("spark.driver.memory=16g, spark.local.dir=/fast/tmp") == {
        "spark.driver.memory": "16g", "spark.local.dir": "/fast/tmp"}
    assert spark_conf("  ") == {}
    for bad in ("spark.driver.memory", "driver.memory=4g", "spark.driver.memory="):
        with pytest.raises(EngineError, match=r"RW_SPARK_CONF.*is not spark\.KEY=VALUE|is not spark\.KEY=VALUE"):
            spark_conf(bad)
