"""Bad input gets a located error and bounded work: size limits, strict JSON, finite numbers (Cohort Builder)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cli import app
from research_workbench.cohorts.builder.model import DefinitionError, parse_definition

runner = CliRunner()


def param(i: int = 0) -> dict:
    return {"parameterId": f"p{i}", "domain": "CONDITION", "type": "SNOMED", "conceptId": 201826}


def item(i: int = 0, params: int = 1) -> dict:
    return {"id": f"i{i}", "type": "CONDITION", "searchParameters": [param(p) for p in range(params)]}


def hba1c_above(operand: str) -> dict:
    return {"includes": [{"id": "g", "items": [{"id": "i", "type": "MEASUREMENT", "searchParameters": [
        {"parameterId": "p", "domain": "MEASUREMENT", "type": "LOINC", "conceptId": 3004410,
         "attributes": [{"name": "NUM", "operator": "GREATER_THAN", "operands": [operand]}]}]}]}]}


def problems_of(document) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(document)
    return caught.value.problems


def test_a_definition_past_max_items_is_refused_at_the_first_item_past_the_limit():
    document = {"includes": [{"id": "a", "items": [item(i) for i in range(600)]}], "excludes": [{"id": "b", "items": [item(i) for i in range(401)]}]}
    assert problems_of(document) == ["excludes[0].items[400]: more than 1,000 items in a definition (limit MAX_ITEMS)"]
    document["excludes"][0]["items"].pop()
    assert len(parse_definition(document).excludes[0].items) == 400  # exactly 1,000 items is allowed


def test_a_definition_past_max_search_parameters_is_refused_naming_the_parameter():
    document = {"includes": [{"id": "a", "items": [item(0, params=5_000), item(1, params=5_001)]}]}
    assert problems_of(document) == [
        "includes[0].items[1].searchParameters[5000]: more than 10,000 search parameters in a definition (limit MAX_SEARCH_PARAMETERS)"]


def test_a_definition_nested_past_max_json_depth_is_refused_at_its_json_path():
    document = json.dumps(hba1c_above("7")).replace('"operands": ["7"]', '"operands": ' + "[" * 30 + '"7"' + "]" * 30)
    # operands is the 10th level; its 23rd nested list is the 33rd.
    assert problems_of(document) == [
        "includes[0].items[0].searchParameters[0].attributes[0].operands" + "[0]" * 23 + ": nested more than 32 levels deep (MAX_JSON_DEPTH)"]


def test_nesting_too_deep_for_the_parser_is_refused_with_line_and_column_not_a_recursion_error():
    text = '{"includes":\n' + "[" * 100_000 + "]" * 100_000 + "}"
    assert problems_of(text) == ["(json) line 2, column 32: nested more than 32 levels deep (MAX_JSON_DEPTH)"]


def test_a_definition_past_max_definition_bytes_is_refused_before_it_is_parsed():
    text = json.dumps({"includes": [{"id": "g", "items": [item()]}]}) + " " * 1_000_000
    assert problems_of(text) == [f"(definition): {len(text):,} bytes, more than the limit of 1,000,000 (MAX_DEFINITION_BYTES)"]


@pytest.mark.parametrize("operand", ["NaN", "nan", "Infinity", "-inf", "1e999"])
def test_non_finite_operands_are_refused_not_compared(operand):
    assert problems_of(hba1c_above(operand)) == [
        f"includes[0].items[0].searchParameters[0].attributes[0].operands[0]: {operand!r} is not a finite number (NaN and infinities are refused)"]


def test_repeated_keys_and_non_finite_literals_are_refused_naming_key_and_path():
    text = ('{"includes": [{"id": "g", "items": [{"id": "a", "id": "b", "type": "CONDITION", "searchParameters": '
            '[{"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "conceptId": NaN}]}]}], "excludes": [], "excludes": [], '
            '"x": [Infinity, -Infinity, 1e999]}')
    assert problems_of(text) == [  # an object's own repeated keys first, then its members in order
        'excludes: duplicate key "excludes" (a repeated key is refused, not overwritten)',
        'includes[0].items[0].id: duplicate key "id" (a repeated key is refused, not overwritten)',
        "includes[0].items[0].searchParameters[0].conceptId: NaN is not a JSON number (NaN and infinities are refused)",
        "x[0]: Infinity is not a JSON number (NaN and infinities are refused)",
        "x[1]: -Infinity is not a JSON number (NaN and infinities are refused)",
        "x[2]: number out of range (it would be read as infinity)",
    ]


CLI_CASES = {
    "not UTF-8": (b'{"includes": [{"id": "caf\xe9"}]}',
                  ["(json) byte 25 (line 1, column 26): not UTF-8: byte 0xe9 (invalid continuation byte)"]),
    "repeated key": (b'{"includes": [], "includes": []}', ['includes: duplicate key "includes" (a repeated key is refused, not overwritten)']),
    "NaN literal": (json.dumps(hba1c_above("7")).replace('["7"]', "[NaN]").encode(),
                    ["includes[0].items[0].searchParameters[0].attributes[0].operands[0]: NaN is not a JSON number (NaN and infinities are refused)"]),
    "NaN operand": (json.dumps(hba1c_above("NaN")).encode(),
                    ["includes[0].items[0].searchParameters[0].attributes[0].operands[0]: 'NaN' is not a finite number (NaN and infinities are refused)"]),
    "deep nesting": (b"[" * 50_000 + b"]" * 50_000, ["(json) line 1, column 33: nested more than 32 levels deep (MAX_JSON_DEPTH)"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_refuses_bad_definition_files_with_located_problems_as_json(tmp_path, case):
    data, expected = CLI_CASES[case]
    path = tmp_path / "def.json"
    path.write_bytes(data)
    result = runner.invoke(app, ["cohort", "count", str(path), "--cdr", str(tmp_path / "cdr"), "--json"])
    assert result.exit_code == 1 and not isinstance(result.exception, (RecursionError, UnicodeDecodeError)), result.output
    assert json.loads(result.stdout) == {"error": f"{path}: invalid cohort definition", "problems": expected}
    saved = runner.invoke(app, ["cohort", "save", str(path), "--name", "x", "--library", str(tmp_path / "lib"), "--json"])
    assert saved.exit_code == 1
    # Saved, the definition sits under "definition" of the saved cohort.
    assert [p.removeprefix("definition.") for p in json.loads(saved.stdout)["problems"]] == expected
    human = runner.invoke(app, ["cohort", "count", str(path), "--cdr", str(tmp_path / "cdr")])
    assert human.exit_code == 1 and expected[0] in human.output.replace("\n", "")
    assert not (tmp_path / "lib").exists()


def test_cli_refuses_a_concept_set_with_a_repeated_key(tmp_path):
    path = tmp_path / "set.json"
    path.write_text('{"name": "Metformin", "domain": "DRUG", "concepts": [{"conceptId": 1503297, "conceptId": 40163924}]}')
    result = runner.invoke(app, ["conceptset", "save", str(path), "--library", str(tmp_path / "lib"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": f"{path}: invalid JSON", "problems": [
        'concepts[0].conceptId: duplicate key "conceptId" (a repeated key is refused, not overwritten)']}


def test_a_damaged_library_file_is_named(tmp_path):
    path = tmp_path / "set.json"
    path.write_text('{"name": "Metformin", "domain": "DRUG", "concepts": [{"conceptId": 1503297}]}')
    assert runner.invoke(app, ["conceptset", "save", str(path), "--library", str(tmp_path / "lib")]).exit_code == 0
    saved = tmp_path / "lib" / "concept_sets" / "metformin" / "v1.json"
    saved.write_bytes(saved.read_bytes().replace(b"Metformin", b"Metf\xf6rmin"))
    result = runner.invoke(app, ["conceptset", "show", "Metformin", "--library", str(tmp_path / "lib"), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["error"] == f"{tmp_path / 'lib'}: a saved version is damaged"
    assert document["problems"][0].startswith(f"{saved}: (json) byte ")
    assert "not UTF-8: byte 0xf6 (invalid start byte)" in document["problems"][0]
