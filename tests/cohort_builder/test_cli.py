"""``workbench cohort count|ids|breakdown|sql``: JSON out, JSON-path errors, non-zero exit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cli import app

from . import fixture as f

runner = CliRunner()
T2DM_OR_HTN = {"includes": [{"id": "g", "items": [
    {"id": "a", "type": "CONDITION", "searchParameters": [{"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "conceptId": f.T2DM, "group": True}]},
    {"id": "b", "type": "CONDITION", "searchParameters": [{"parameterId": "q", "domain": "CONDITION", "type": "SNOMED", "conceptId": f.HTN}]}]}]}


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    return f.build(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def definition(tmp_path):
    path = tmp_path / "def.json"
    path.write_text(json.dumps(T2DM_OR_HTN))
    return path


def test_count_json(cdr, definition):
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["count"] == 5 and document["elapsed_ms"] >= 0


def test_ids_json_pages(cdr, definition):
    result = runner.invoke(app, ["cohort", "ids", str(definition), "--cdr", str(cdr), "--page", "1", "--page-size", "2", "--json"])
    assert json.loads(result.stdout)["person_ids"] == [3, 6]


def test_breakdown_json(cdr, definition):
    document = json.loads(runner.invoke(app, ["cohort", "breakdown", str(definition), "--cdr", str(cdr), "--json"]).stdout)
    assert set(document) == {"gender_age", "race", "ethnicity", "sex_at_birth"}
    assert sum(r["count"] for r in document["race"]) == 5


def test_sql_prints_parameters_apart_from_the_query(cdr, definition):
    result = runner.invoke(app, ["cohort", "sql", str(definition), "--cdr", str(cdr), "--dialect", "postgres", "--json"])
    document = json.loads(result.stdout)
    assert "%(p1)s" in document["sql"] and str(f.HTN) not in document["sql"]
    assert f.HTN in [v for value in document["params"].values() for v in (value if isinstance(value, list) else [value])]


def test_invalid_definition_exits_1_naming_the_path(cdr, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"excludes": T2DM_OR_HTN["includes"]}))
    result = runner.invoke(app, ["cohort", "count", str(bad), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == ["includes: a definition needs at least one include group (excludes alone are an error)"]


def test_missing_index_says_how_to_build_it(tmp_path, definition):
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "workbench index" in result.output


def test_sql_of_a_variant_item_names_the_carriers_table_the_engine_registers(tmp_path_factory, tmp_path):
    cdr = f.build(tmp_path_factory.mktemp("cli-genomes"), genomes=True)
    path = tmp_path / "variant.json"
    path.write_text(json.dumps({"includes": [{"id": "g", "items": [{"id": "v", "type": "WHOLE_GENOME_VARIANT", "searchParameters": [
        {"parameterId": "p", "domain": "WHOLE_GENOME_VARIANT", "type": "VARIANT", "variant": {"rsids": ["rs7903146"]}}]}]}]}))
    document = json.loads(runner.invoke(app, ["cohort", "sql", str(path), "--cdr", str(cdr), "--json"]).stdout)
    (name,) = document["tables"]
    assert document["tables"][name] == {"columns": ["person_id"], "rows": 3}  # persons 1, 2 and 4 carry it
    assert name in document["sql"]
    text = runner.invoke(app, ["cohort", "sql", str(path), "--cdr", str(cdr)]).stdout
    assert f"-- table {name}: registered by the engine (person_id; 3 rows: a variant item's carriers)" in text
