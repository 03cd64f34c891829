"""One named case per Cohort Builder feature, with exact expected participants (see fixture.py)."""

from __future__ import annotations

import re

import pytest
import sqlglot

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import DefinitionError, parse_definition
from research_workbench.index.build import default_index_path

from . import fixture as f


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    return f.build(tmp_path_factory.mktemp("cb"))


@pytest.fixture(scope="module", params=[True, False], ids=["accelerated", "sql"])
def engine(cdr, request):
    """Every feature is checked on both execution paths: bitmaps + SQL fragments, and the one SQL statement."""
    engine = CohortEngine(default_index_path(cdr), accelerate=request.param)
    assert engine.accelerate is request.param
    yield engine
    engine.close()


def param(domain, concept=None, *, standard=True, group=False, type_="SNOMED", attributes=()):
    p = {"parameterId": "p", "domain": domain, "type": type_, "standard": standard, "group": group, "attributes": list(attributes)}
    if concept is not None:
        p["conceptId"] = concept
    return p


def item(domain, *params, modifiers=(), temporal_group=None):
    i = {"id": "i", "type": domain, "searchParameters": list(params), "modifiers": list(modifiers)}
    if temporal_group is not None:
        i["temporalGroup"] = temporal_group
    return i


def group(*items, **temporal):
    return {"id": "g", "items": list(items), **temporal}


def cohort(*includes, excludes=(), filters=()):
    return parse_definition({"includes": list(includes), "excludes": list(excludes), "dataFilters": list(filters)})


def t2dm(group_=True, modifiers=(), temporal_group=None):
    return item("CONDITION", param("CONDITION", f.T2DM, group=group_), modifiers=modifiers, temporal_group=temporal_group)


def metformin(temporal_group=None):
    return item("DRUG", param("DRUG", f.METFORMIN, type_="RXNORM"), temporal_group=temporal_group)


def people(engine, definition):
    return engine.participant_ids(definition, 0, 100)


# -- concepts -----------------------------------------------------------------------------------------------

def test_concept_without_group_matches_that_concept_only(engine):
    assert people(engine, cohort(group(t2dm(group_=False)))) == [2, 6]


def test_group_adds_every_descendant(engine):
    assert people(engine, cohort(group(t2dm()))) == [1, 2, 6]


def test_parent_group_reaches_grandchildren(engine):
    assert people(engine, cohort(group(item("CONDITION", param("CONDITION", f.DM, group=True))))) == [1, 2, 4, 6]


def test_source_concept_matches_source_rows(engine):
    assert people(engine, cohort(group(item("CONDITION", param("CONDITION", f.E11_9, standard=False, type_="ICD10CM"))))) == [1]


def test_drug_ingredient_expands_to_its_products_without_group(engine):
    assert people(engine, cohort(group(metformin()))) == [1, 2]


# -- attributes ---------------------------------------------------------------------------------------------

def hba1c(*attributes):
    return item("MEASUREMENT", param("MEASUREMENT", f.HBA1C, type_="LOINC", attributes=attributes))


def test_num_attribute_compares_the_value(engine):
    assert people(engine, cohort(group(hba1c({"name": "NUM", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["6.5"]})))) == [1, 4]
    assert people(engine, cohort(group(hba1c({"name": "NUM", "operator": "BETWEEN", "operands": ["6", "7.5"]})))) == [1, 2]


def test_num_and_cat_on_one_parameter_are_ored(engine):
    definition = cohort(group(hba1c({"name": "NUM", "operator": "GREATER_THAN", "operands": ["8"]},
                                    {"name": "CAT", "operator": "IN", "operands": [str(f.ABNORMAL)]})))
    assert people(engine, definition) == [2, 4]


def test_blood_pressure_attributes_test_both_readings_of_one_sitting(engine):
    bp = item("MEASUREMENT", param("MEASUREMENT", f.SYSTOLIC, type_="LOINC", attributes=[
        {"name": "NUM", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["140"], "conceptId": 903118},
        {"name": "NUM", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["90"], "conceptId": 903115}]))
    assert people(engine, cohort(group(bp))) == [1]


def test_survey_answer_category_uses_the_answer_concept(engine):
    smoking = lambda *a: item("SURVEY", param("SURVEY", f.SMOKING, standard=False, type_="PPI", attributes=a))  # noqa: E731
    assert people(engine, cohort(group(smoking({"name": "CAT", "operator": "IN", "operands": [str(f.YES)]})))) == [5]
    assert people(engine, cohort(group(smoking()))) == [5, 7]


# -- modifiers ----------------------------------------------------------------------------------------------

def test_age_at_event_modifier(engine):
    older = {"name": "AGE_AT_EVENT", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["60"]}
    younger = {"name": "AGE_AT_EVENT", "operator": "LESS_THAN", "operands": ["60"]}
    assert people(engine, cohort(group(t2dm(modifiers=[older])))) == [1]  # person 1 turned 60 before the second event
    assert people(engine, cohort(group(t2dm(modifiers=[younger])))) == [1, 2, 6]


def test_event_date_modifier(engine):
    after = {"name": "EVENT_DATE", "operator": "GREATER_THAN", "operands": ["2012-01-01"]}
    assert people(engine, cohort(group(t2dm(modifiers=[after])))) == [2, 6]


def test_encounters_modifier_keeps_events_of_that_visit_type(engine):
    inpatient = {"name": "ENCOUNTERS", "operator": "IN", "operands": [str(f.INPATIENT)]}
    assert people(engine, cohort(group(item("CONDITION", param("CONDITION", f.HTN), modifiers=[inpatient])))) == [3]


def test_occurrences_are_counted_per_concept_not_per_selected_parent(engine):
    twice = {"name": "NUM_OF_OCCURRENCES", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["2"]}
    # Person 1 has one event of each of two child concepts: not two occurrences of one concept.
    assert people(engine, cohort(group(t2dm(modifiers=[twice])))) == [2]


# -- demographics and has-data ------------------------------------------------------------------------------

def person(type_, concept=None, attributes=()):
    return item("PERSON", param("PERSON", concept, type_=type_, attributes=attributes))


def test_gender_race_and_deceased(engine):
    assert people(engine, cohort(group(person("GENDER", 8532)))) == [2, 3, 5, 7]
    assert people(engine, cohort(group(person("RACE", 8516)))) == [2, 6]
    assert people(engine, cohort(group(person("DECEASED")))) == [6]


def test_age_at_consent(engine):
    ages = person("AGE", attributes=[{"name": "AGE_AT_CONSENT", "operator": "BETWEEN", "operands": ["20", "40"]}])
    assert people(engine, cohort(group(ages))) == [5, 8]


def test_current_age_excludes_the_deceased(engine):
    ages = person("AGE", attributes=[{"name": "AGE", "operator": "GREATER_THAN", "operands": ["20"]}])
    assert 6 not in people(engine, cohort(group(ages)))  # 25 now, but deceased
    old = person("AGE", attributes=[{"name": "AGE", "operator": "GREATER_THAN", "operands": ["75"]}])
    assert people(engine, cohort(group(old))) == [1, 7]


def test_has_data_domains(engine):
    has = lambda domain: item(domain, param(domain, type_="NONE"))  # noqa: E731
    assert people(engine, cohort(group(has("FITBIT")))) == [5]
    assert people(engine, cohort(group(has("FITBIT_INTRADAY_STEPS")))) == [5]
    assert people(engine, cohort(group(has("WHOLE_GENOME_VARIANT")))) == [3]
    assert people(engine, cohort(group(has("ARRAY_DATA")))) == [4]
    assert people(engine, cohort(group(has("PHYSICAL_MEASUREMENT")))) == [5]


def test_physical_measurement_with_a_concept_and_value(engine):
    tall = item("PHYSICAL_MEASUREMENT", param("PHYSICAL_MEASUREMENT", f.HEIGHT_PPI, standard=False, type_="PPI",
                                              attributes=[{"name": "NUM", "operator": "GREATER_THAN", "operands": ["160"]}]))
    assert people(engine, cohort(group(tall))) == [5]


# -- boolean structure --------------------------------------------------------------------------------------

def test_groups_and_together_and_items_or_inside_a_group(engine):
    assert people(engine, cohort(group(t2dm()), group(metformin()))) == [1, 2]
    assert people(engine, cohort(group(t2dm(), item("CONDITION", param("CONDITION", f.HTN))))) == [1, 2, 3, 6, 7]


def test_excludes_remove_participants(engine):
    assert people(engine, cohort(group(t2dm()), excludes=[group(person("GENDER", 8532))])) == [1, 6]


def test_data_filter_keeps_participants_with_ehr_data(engine):
    assert people(engine, cohort(group(person("GENDER", 8532)), filters=["has_ehr_data"])) == [2, 3, 7]


# -- temporal groups ----------------------------------------------------------------------------------------

def temporal(mention, time, days, first, second):
    return group(first, second, temporal=True, mention=mention, time=time, timeValue=days)


def test_first_mention_of_drug_5_days_before_condition(engine):
    definition = cohort(temporal("FIRST_MENTION", "X_DAYS_BEFORE", 5, metformin(0), t2dm(temporal_group=1)))
    assert people(engine, definition) == [1, 2]
    assert people(engine, cohort(temporal("FIRST_MENTION", "X_DAYS_BEFORE", 300, metformin(0), t2dm(temporal_group=1)))) == []


def test_drug_within_10_days_of_condition(engine):
    assert people(engine, cohort(temporal("ANY_MENTION", "WITHIN_X_DAYS_OF", 10, metformin(0), t2dm(temporal_group=1)))) == [1]


def test_drug_5_days_after_condition(engine):
    assert people(engine, cohort(temporal("ANY_MENTION", "X_DAYS_AFTER", 5, metformin(0), t2dm(temporal_group=1)))) == [1]


def test_first_and_last_mention_differ(engine):
    first = cohort(temporal("FIRST_MENTION", "WITHIN_X_DAYS_OF", 30, t2dm(temporal_group=0), metformin(1)))
    last = cohort(temporal("LAST_MENTION", "WITHIN_X_DAYS_OF", 30, t2dm(temporal_group=0), metformin(1)))
    assert (people(engine, first), people(engine, last)) == ([1, 2], [])


def test_during_same_encounter(engine):
    lisinopril = item("DRUG", param("DRUG", f.LISINOPRIL, type_="RXNORM"), temporal_group=0)
    htn = item("CONDITION", param("CONDITION", f.HTN), temporal_group=1)
    assert people(engine, cohort(temporal("ANY_MENTION", "DURING_SAME_ENCOUNTER_AS", None, lisinopril, htn))) == [3]


def test_modifiers_apply_inside_temporal_groups(engine):
    late = {"name": "EVENT_DATE", "operator": "GREATER_THAN", "operands": ["2012-05-15"]}
    definition = cohort(temporal("ANY_MENTION", "X_DAYS_BEFORE", 5, metformin(0), t2dm(modifiers=[late], temporal_group=1)))
    assert people(engine, definition) == [2]  # person 1's T2DM events are all before the cut


# -- results ------------------------------------------------------------------------------------------------

def test_count_matches_the_ids(engine):
    definition = cohort(group(t2dm(), item("CONDITION", param("CONDITION", f.HTN))))
    count, elapsed = engine.count(definition)
    assert count == 5 and elapsed >= 0


def test_participant_ids_page_in_a_stable_order(engine):
    definition = cohort(group(t2dm(), item("CONDITION", param("CONDITION", f.HTN))))
    pages = [engine.participant_ids(definition, page, 2) for page in range(4)]
    assert pages == [[1, 2], [3, 6], [7], []]


def test_demographic_breakdown(engine):
    result = engine.breakdown(cohort(group(person("GENDER", 8532))))
    assert result["race"] == [{"race_concept_id": 8516, "count": 1}, {"race_concept_id": 8527, "count": 3}]
    assert sum(r["count"] for r in result["gender_age"]) == 4
    assert {r["gender_concept_id"] for r in result["gender_age"]} == {8532}


def test_breakdown_bands_the_age_at_the_cdr_cut_off_as_the_data_browser_does(engine):
    """The age band is of the age at the CDR's cut-off (``cdr.info.cutoff_date``: no cut-off is recorded, so the
    latest event date, person 6's death on 2020-01-01), in the shared bands of ``cdr.facts``: person 2 (born
    1960-01-01) turns 60 that very day; person 6 (born 2000-12-31) is 19 then, whatever their age today."""
    females = engine.breakdown(cohort(group(person("GENDER", 8532))))["gender_age"]
    assert [(r["age_band"], r["count"]) for r in females] == [("18-29", 1), ("40-49", 1), ("60-69", 1), ("70-79", 1)]
    males = engine.breakdown(cohort(group(person("GENDER", 8507))))["gender_age"]
    assert [(r["age_band"], r["count"]) for r in males] == [("18-29", 1), ("30-39", 2), ("60-69", 1)]


def test_no_value_of_the_definition_appears_in_the_sql(engine):
    definition = cohort(group(hba1c({"name": "NUM", "operator": "GREATER_THAN", "operands": ["6.75"]})),
                        excludes=[group(person("GENDER", 8532))])
    query = engine.compile(definition)
    for dialect in ("duckdb", "postgres", "spark"):
        text = query.sql(dialect)
        sqlglot.parse_one(text, dialect=dialect)
        assert not re.search(r"3004410|6\.75|8532|'MEASUREMENT'", text), dialect
    assert query.params["p1"] == [f.HBA1C]


# -- bad definitions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("document, problem", [
    ({"excludes": [group(t2dm())]}, "includes: a definition needs at least one include group (excludes alone are an error)"),
    ({"includes": [group(t2dm(modifiers=[{"name": "AGE_AT_EVENT", "operator": "BETWEEN", "operands": ["18"]}]))]},
     "includes[0].items[0].modifiers[0]: BETWEEN needs 2 operands"),
    ({"includes": [group(t2dm(modifiers=[{"name": "EVENT_DATE", "operator": "GREATER_THAN", "operands": ["last year"]}]))]},
     "includes[0].items[0].modifiers[0].operands[0]: 'last year' is not a date (YYYY-MM-DD)"),
    ({"includes": [group(t2dm())], "dataFilters": ["1=1; drop table person"]}, "dataFilters[0]: Input should be 'has_ehr_data' or 'has_physical_measurement_data'"),
    ({"includes": [group(metformin(0), t2dm(temporal_group=0), temporal=True, mention="ANY_MENTION", time="X_DAYS_BEFORE", timeValue=3)]},
     "includes[0].items: a temporal group needs items in both temporal groups 0 and 1"),
    ({"includes": [group(item("CONDITION", param("CONDITION")))]}, "includes[0].items[0].searchParameters[0].conceptId: a CONDITION parameter needs a concept id"),
    ({"includes": [group(item("CONDITION", param("DRUG", 1)))]}, "includes[0].items[0].searchParameters[0].domain: DRUG does not match the item type CONDITION"),
    ({"includes": [group(hba1c({"name": "CAT", "operator": "EQUAL", "operands": ["1"]}))]}, "includes[0].items[0].searchParameters[0].attributes[0]: CAT needs operator IN"),
    ({"includes": [{"id": "g", "items": []}]}, "includes[0].items: List should have at least 1 item after validation, not 0"),
    ({"includes": [group(item("GENES", param("CONDITION", 1)))]}, "includes[0].items[0].type: Input should be"),
])
def test_bad_definitions_name_the_json_path_and_the_rule(document, problem):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(document)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_malformed_json_names_line_and_column():
    with pytest.raises(DefinitionError) as caught:
        parse_definition('{"includes": [\n  {"id": }\n]}')
    assert caught.value.problems == ["(json) line 2, column 10: Expecting value"]


def test_a_page_number_that_would_overflow_is_refused_naming_the_page(engine, cdr):
    with pytest.raises(ValueError, match=r"page 99999999999999999999: at most 1,000,000,000"):
        engine.participant_ids(cohort(group(t2dm())), 99999999999999999999, 25)
    from typer.testing import CliRunner

    from research_workbench.cli import app

    result = CliRunner().invoke(app, ["cohort", "ids", "x.json", "--cdr", str(cdr), "--page", "99999999999999999999"])
    assert result.exit_code == 2 and "--page" in result.output
