"""Circe JSON files: bad bytes, repeated keys, NaN, deep nesting and damaged CDRs are refused with a location."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cohorts.circe import CirceError, load_definition, run_circe
from research_workbench.cli.cohort import cohort_app

from .circe_fixtures import correlated, drug, expression, op, rule

runner = CliRunner()
TABLES = {"person": [{"person_id": 1, "year_of_birth": 1950}, {"person_id": 2, "year_of_birth": 1990}],
          "observation_period": [op(1), op(2)], "drug_exposure": [drug(1, "2001-01-01"), drug(2, "2001-01-01")]}
DEFINITION = expression([{"DrugExposure": {"CodesetId": 0}}])


def refused(path) -> list[tuple[str, str]]:
    with pytest.raises(CirceError) as caught:
        load_definition(path)
    return [(p.path, p.message) for p in caught.value.problems]


def test_bytes_that_are_not_utf8_are_named_by_offset_line_and_column(tmp_path):
    path = tmp_path / "def.json"
    path.write_bytes(b'{\n  "title": "Caf\xe9"\n}')
    assert refused(path) == [(f"{path}:2:16", "not UTF-8: byte 0xe9 (invalid continuation byte) at byte offset 17")]


def test_repeated_keys_are_refused_naming_key_and_path(tmp_path):
    path = tmp_path / "def.json"
    text = json.dumps(DEFINITION).replace('"CodesetId": 0', '"CodesetId": 0, "CodesetId": 1')
    path.write_text(text)
    assert refused(path) == [("PrimaryCriteria.CriteriaList[0].DrugExposure.CodesetId",
                              'duplicate key "CodesetId" (a repeated key is refused, not overwritten)')]


@pytest.mark.parametrize("value, message", [
    ("NaN", "NaN is not a JSON number (NaN and infinities are refused)"),
    ("-Infinity", "-Infinity is not a JSON number (NaN and infinities are refused)"),
    ("1e999", "number out of range (it would be read as infinity)"),
    ('"NaN"', "Input should be a finite number"),
])
def test_non_finite_numbers_are_refused_naming_their_path(tmp_path, value, message):
    path = tmp_path / "def.json"
    path.write_text(json.dumps(expression([{"DrugExposure": {"CodesetId": 0, "Age": {"Value": 0, "Op": "gt"}}}])).replace('"Value": 0', f'"Value": {value}'))
    assert refused(path) == [("PrimaryCriteria.CriteriaList[0].DrugExposure.Age.Value", message)]


def test_nesting_too_deep_to_parse_is_refused_with_line_and_column(tmp_path):
    path = tmp_path / "def.json"
    path.write_text('{"PrimaryCriteria":\n' + "[" * 100_000 + "]" * 100_000 + "}")
    assert refused(path) == [(f"{path}:2:128", "nested more than 128 levels deep (MAX_CIRCE_JSON_DEPTH)")]


def nested_groups(levels: int) -> dict:
    """An inclusion-rule expression: ``levels`` criteria groups, each the only member of the one above."""
    group = {"Type": "ALL", "DemographicCriteriaList": [{"Age": {"Value": 40, "Op": "gt"}}]}
    for _ in range(levels - 1):
        group = {"Type": "ALL", "Groups": [group]}
    return group


def nested_correlated(levels: int) -> dict:
    """AdditionalCriteria whose criterion has CorrelatedCriteria whose criterion has …, ``levels`` groups in all."""
    criteria = {"DrugExposure": {"CodesetId": 0}}
    for _ in range(levels):
        group = {"Type": "ALL", "CriteriaList": [correlated(criteria)]}
        criteria = {"DrugExposure": {"CodesetId": 0, "CorrelatedCriteria": group}}
    return group


def test_criteria_groups_nested_past_the_limit_are_refused_at_the_first_group_too_deep(tmp_path, tiny_cdr):
    path = tmp_path / "def.json"
    path.write_text(json.dumps(expression([{"DrugExposure": {"CodesetId": 0}}], InclusionRules=[{"name": "deep", "expression": nested_groups(17)}])))
    assert refused(path) == [("InclusionRules[0].expression" + ".Groups[0]" * 16, "criteria groups nested more than 16 deep (limit MAX_CIRCE_GROUP_DEPTH)")]
    path.write_text(json.dumps(expression([{"DrugExposure": {"CodesetId": 0}}], AdditionalCriteria=nested_correlated(17))))
    assert refused(path) == [("AdditionalCriteria" + ".CriteriaList[0].Criteria.DrugExposure.CorrelatedCriteria" * 16,
                              "criteria groups nested more than 16 deep (limit MAX_CIRCE_GROUP_DEPTH)")]
    at_limit = expression([{"DrugExposure": {"CodesetId": 0}}], InclusionRules=[rule("shallow"), {"name": "deep", "expression": nested_groups(16)}])
    result = run_circe(at_limit, tiny_cdr(**TABLES))
    assert (result.subject_count, [r.persons_passing for r in result.inclusion_rules]) == (1, [2, 1])


@pytest.mark.parametrize("data, where, message", [
    (b'{"PrimaryCriteria": 1, "PrimaryCriteria": 2}', "PrimaryCriteria", 'duplicate key "PrimaryCriteria" (a repeated key is refused, not overwritten)'),
    (b'{"title": "\xff"}', "{path}:1:12", "not UTF-8: byte 0xff (invalid start byte) at byte offset 11"),
    (b"[" * 10_000 + b"]" * 10_000, "{path}:1:129", "nested more than 128 levels deep (MAX_CIRCE_JSON_DEPTH)"),
])
def test_cli_refuses_bad_json_with_located_problems_and_exit_1(tmp_path, tiny_cdr, data, where, message):
    path = tmp_path / "def.json"
    path.write_bytes(data)
    result = runner.invoke(cohort_app, ["circe", str(path), "--cdr", str(tiny_cdr(**TABLES)), "--json"])
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError)
    assert json.loads(result.stdout) == {"error": "definition refused", "problems": [{"path": where.format(path=path), "message": message}]}


def test_cli_names_a_truncated_table_file_of_the_cdr(tmp_path, tiny_cdr):
    import shutil

    cdr = tmp_path / "cdr"
    shutil.copytree(tiny_cdr(**TABLES), cdr)
    size = (cdr / "drug_exposure.parquet").stat().st_size
    with (cdr / "drug_exposure.parquet").open("r+b") as fh:
        fh.truncate(size - 1)
    path = tmp_path / "def.json"
    path.write_text(json.dumps(DEFINITION))
    result = runner.invoke(cohort_app, ["circe", str(path), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == (
        f"{cdr}/drug_exposure.parquet: table file truncated: {size - 1:,} bytes, the manifest says {size:,} (table drug_exposure); "
        f"the CDR at {cdr} is damaged (see `workbench cdr verify {cdr}`)")
