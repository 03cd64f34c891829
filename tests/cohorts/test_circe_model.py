"""Bad Circe input is refused with the JSON path and the rule broken; ATLAS display keys are tolerated."""

from __future__ import annotations

import copy

import pytest

from research_workbench.cohorts.circe import CirceError, load_definition, parse_expression

from .circe_fixtures import concept_set, expression, item

GOOD = expression([{"DrugEra": {"CodesetId": 0}}], [concept_set(0, item(100))], limit="First")


def problems(definition) -> list[str]:
    with pytest.raises(CirceError) as caught:
        parse_expression(definition)
    return [str(p) for p in caught.value.problems]


def with_primary(criterion: dict) -> dict:
    definition = copy.deepcopy(GOOD)
    definition["PrimaryCriteria"]["CriteriaList"] = [criterion]
    return definition


def test_atlas_display_keys_and_case_of_limit_types_are_tolerated():
    definition = copy.deepcopy(GOOD)
    definition["ConceptSets"][0]["expression"]["items"][0]["concept"].update(
        {"INVALID_REASON_CAPTION": "Valid", "STANDARD_CONCEPT_CAPTION": "Standard", "VOCABULARY_ID": "RxNorm"})
    definition["PrimaryCriteria"]["PrimaryCriteriaLimit"] = {"Type": "FIRST"}
    definition["cdmVersionRange"] = ">=5.0.0"
    definition["SomethingAtlasAddsLater"] = {"x": 1}
    parsed = parse_expression(definition)
    assert parsed.primary_criteria.primary_criteria_limit.type == "FIRST"
    assert parsed.concept_sets[0].expression.items[0].concept.concept_id == 100


def test_bad_operator_names_its_json_path():
    assert problems(with_primary({"DrugEra": {"CodesetId": 0, "Age": {"Value": 40, "Op": "bigger"}}})) == [
        'PrimaryCriteria.CriteriaList[0].DrugEra.Age: unknown operator "bigger" (expected one of lt, lte, eq, !eq, gt, gte, bt, !bt)'
    ]


def test_unknown_domain_key_names_its_json_path():
    (problem,) = problems(with_primary({"DrugEras": {"CodesetId": 0}}))
    assert problem.startswith('PrimaryCriteria.CriteriaList[0]: unknown criteria type "DrugEras" (expected one of ConditionOccurrence')


def test_codeset_id_without_a_concept_set_names_its_json_path():
    definition = copy.deepcopy(GOOD)
    definition["InclusionRules"] = [{"name": "r", "expression": {"Type": "ALL", "CriteriaList": [
        {"Criteria": {"ConditionOccurrence": {"CodesetId": 7}}, "StartWindow": {"Start": {"Coeff": -1}, "End": {"Coeff": 1}},
         "Occurrence": {"Type": 2, "Count": 1}}]}}]
    assert problems(definition) == [
        "InclusionRules[0].expression.CriteriaList[0].Criteria.ConditionOccurrence.CodesetId: concept set 7 is not defined (ConceptSets ids: 0)"
    ]


@pytest.mark.parametrize(
    "criterion, path",
    [
        ({"DoseEra": {"CodesetId": 0}}, "PrimaryCriteria.CriteriaList[0].DoseEra"),
        ({"DrugExposure": {"CodesetId": 0, "EffectiveDrugDose": {"Value": 1, "Op": "gt"}}},
         "PrimaryCriteria.CriteriaList[0].DrugExposure.EffectiveDrugDose"),
        ({"VisitOccurrence": {"PlaceOfServiceLocation": 3}}, "PrimaryCriteria.CriteriaList[0].VisitOccurrence.PlaceOfServiceLocation"),
    ],
)
def test_unsupported_construct_fails_naming_its_json_path(criterion, path):
    (problem,) = problems(with_primary(criterion))
    assert problem.startswith(f"{path}: unsupported construct")


def test_unsupported_construct_left_empty_as_atlas_writes_it_is_accepted():
    parsed = parse_expression(with_primary({"DrugExposure": {"CodesetId": 0, "EffectiveDrugDose": None, "DoseUnit": []}}))
    assert parsed.primary_criteria.criteria_list[0].criteria.codeset_id == 0


def test_every_problem_is_reported_at_once():
    definition = copy.deepcopy(GOOD)
    definition["PrimaryCriteria"]["CriteriaList"].append({"Measurement": {"ValueAsNumber": {"Value": "high", "Op": "gt"}}})
    definition["ExpressionLimit"] = {"Type": "Earliest"}
    definition["EndStrategy"] = {"DateOffset": {"DateField": "Tomorrow"}}
    definition["CollapseSettings"] = {"CollapseType": "ERA", "EraPad": -1}
    assert problems(definition) == [
        "PrimaryCriteria.CriteriaList[1].Measurement.ValueAsNumber.Value: Input should be a valid number, unable to parse string as a number",
        'ExpressionLimit.Type: unknown limit type "Earliest" (expected First, Last or All)',
        'EndStrategy.DateOffset.DateField: DateField must be "StartDate" or "EndDate", got "Tomorrow"',
        "CollapseSettings.EraPad: EraPad must not be negative, got -1",
    ]


@pytest.mark.parametrize(
    "definition, expected",
    [
        ({"ConceptSets": []}, ["PrimaryCriteria: required key is missing"]),
        ([], ["(root): a Circe cohort expression is a JSON object, not list"]),
        ({"PrimaryCriteria": {"CriteriaList": []}}, ["PrimaryCriteria.CriteriaList: List should have at least 1 item after validation, not 0"]),
        ({"PrimaryCriteria": {"CriteriaList": [{"DrugEra": {}, "DrugExposure": {}}]}},
         ["PrimaryCriteria.CriteriaList[0]: expected exactly one domain key, found 2: DrugEra, DrugExposure"]),
        ({"ConceptSets": [concept_set(0), concept_set(0)], "PrimaryCriteria": {"CriteriaList": [{"DrugEra": {}}]}},
         ["ConceptSets: concept set id 0 is defined twice"]),
    ],
)
def test_structural_problems_name_their_path(definition, expected):
    assert problems(definition) == expected


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "def.json"
    path.write_text('{\n  "PrimaryCriteria": {\n    "CriteriaList": [,]\n  }\n}\n')
    with pytest.raises(CirceError) as caught:
        load_definition(path)
    assert str(caught.value) == f"{path}:3:22: malformed JSON: Expecting value"
