"""``workbench cohort circe``: summary, --json document, --out rows, refusals with exit status 1."""

from __future__ import annotations

import csv
import json

import duckdb
from typer.testing import CliRunner

from research_workbench.cli.cohort import cohort_app

from .circe_fixtures import drug, expression, op, rule

runner = CliRunner()

DEFINITION = expression([{"DrugExposure": {"CodesetId": 0}}], limit="First",
                        InclusionRules=[rule("Age > 40", demographic=[{"Age": {"Value": 40, "Op": "gt"}}])])
TABLES = {"person": [{"person_id": 1, "year_of_birth": 1950}, {"person_id": 2, "year_of_birth": 1990}],
          "observation_period": [op(1), op(2)], "drug_exposure": [drug(1, "2001-01-01"), drug(2, "2001-01-01")]}


def test_json_summary_and_parquet_rows(tmp_path, tiny_cdr):
    cdr = tiny_cdr(**TABLES)
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps(DEFINITION))
    out = tmp_path / "rows.parquet"
    result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(cdr), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["subject_count"], document["entry_count"]) == (1, 1)
    assert [(r["name"], r["persons_passing"], r["persons_lost"]) for r in document["inclusion_rules"]] == [("Age > 40", 1, 1)]
    assert document["elapsed_ms"] > 0
    with duckdb.connect() as db:  # its own connection: another test may leave the shared default one busy
        rows = db.execute("SELECT subject_id, CAST(cohort_start_date AS VARCHAR), CAST(cohort_end_date AS VARCHAR) FROM read_parquet(?)", [str(out)]).fetchall()
    assert rows == [(1, "2001-01-01", "2010-12-31")]


def test_table_summary_and_csv_rows(tmp_path, tiny_cdr):
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps(DEFINITION))
    out = tmp_path / "rows.csv"
    result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(tiny_cdr(**TABLES)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "subjects: 1" in result.stdout and "Age > 40" in result.stdout
    with out.open() as fh:
        assert list(csv.reader(fh)) == [["subject_id", "cohort_start_date", "cohort_end_date"], ["1", "2001-01-01", "2010-12-31"]]


def test_refused_definition_exits_1_with_problems_as_json(tmp_path, tiny_cdr):
    definition = tmp_path / "def.json"
    bad = expression([{"DrugEra": {"CodesetId": 0, "Age": {"Value": 40, "Op": "bigger"}}}])
    definition.write_text(json.dumps(bad))
    result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(tiny_cdr(**TABLES)), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        {"path": "PrimaryCriteria.CriteriaList[0].DrugEra.Age",
         "message": 'unknown operator "bigger" (expected one of lt, lte, eq, !eq, gt, gte, bt, !bt)'}
    ]


def test_malformed_json_and_missing_files_exit_1(tmp_path, tiny_cdr):
    definition = tmp_path / "def.json"
    definition.write_text('{"PrimaryCriteria": ')
    result = runner.invoke(cohort_app, ["circe", str(definition), "--cdr", str(tiny_cdr(**TABLES))])
    assert result.exit_code == 1
    assert f"{definition}:1:21: malformed JSON" in result.output
    missing = runner.invoke(cohort_app, ["circe", str(tmp_path / "nope.json"), "--cdr", str(tiny_cdr(**TABLES)), "--json"])
    assert missing.exit_code == 1 and "nope.json" in json.loads(missing.stdout)["error"]
