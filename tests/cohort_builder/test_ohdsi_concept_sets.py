"""OHDSI (ATLAS) concept-set JSON into and out of Workbench concept sets, on the Cohort Builder's fixture CDR."""

from __future__ import annotations

import json

import pytest

from research_workbench.cohorts.ohdsi_concept_sets import (
    ConceptSetJsonError,
    read_ohdsi_concept_set,
    write_ohdsi_concept_set,
)

from .fixture import DM, E11_9, HTN, METFORMIN, ROOT, T2DM, T2DM_A, T2DM_B, build


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    return build(tmp_path_factory.mktemp("ohdsi-sets"))


def item(concept_id, *, excluded=False, descendants=False, mapped=False, **concept):
    return {"concept": {"CONCEPT_ID": concept_id, **concept}, "isExcluded": excluded, "includeDescendants": descendants,
            "includeMapped": mapped}


def refused(source, **options):
    with pytest.raises(ConceptSetJsonError) as err:
        read_ohdsi_concept_set(source, **options)
    return [(p.where, p.message) for p in err.value.problems]


def test_an_atlas_expression_becomes_one_domain_of_concepts_with_descendants_kept(cdr):
    imported = read_ohdsi_concept_set(json.dumps({"items": [item(T2DM, descendants=True), item(HTN)]}), cdr_dir=cdr)
    assert imported.content == {"domain": "CONDITION", "concepts": [
        {"conceptId": T2DM, "standard": True, "includeDescendants": True}, {"conceptId": HTN, "standard": True}]}
    assert (imported.name, imported.description, imported.notes) == ("", "", [])


def test_the_wrapper_form_gives_the_name_and_description(cdr):
    imported = read_ohdsi_concept_set({"id": 3, "name": " Diabetes ", "description": "T2DM only",
                                       "expression": {"items": [item(T2DM)]}}, cdr_dir=cdr)
    assert (imported.name, imported.description, imported.content["concepts"]) == ("Diabetes", "T2DM only",
                                                                                    [{"conceptId": T2DM, "standard": True}])


def test_an_exclusion_under_included_descendants_lists_the_rest_one_by_one(cdr):
    imported = read_ohdsi_concept_set({"items": [item(DM, descendants=True), item(T2DM_A, excluded=True)]}, cdr_dir=cdr)
    assert imported.content["concepts"] == [{"conceptId": c, "standard": True} for c in (DM, T2DM, T2DM_B)]
    assert imported.notes == [f"items[0]: the descendants of concept {DM} were listed one by one (3 concepts) to leave out 1 "
                              f"excluded by items[1]: {T2DM_A}"]


def test_an_excluded_concept_is_left_out_and_reported(cdr):
    imported = read_ohdsi_concept_set({"items": [item(HTN), item(T2DM), item(T2DM, excluded=True), item(ROOT, excluded=True)]},
                                      cdr_dir=cdr)
    assert imported.content["concepts"] == [{"conceptId": HTN, "standard": True}]
    assert imported.notes == [f"items[3]: concept {ROOT} is excluded, but nothing included it",
                              f"items[1]: concept {T2DM} left out: excluded by items[2]"]


def test_include_mapped_adds_the_source_concepts_that_map_to_the_item(cdr):
    imported = read_ohdsi_concept_set({"items": [item(T2DM, mapped=True)]}, cdr_dir=cdr)
    assert imported.content["concepts"] == [{"conceptId": T2DM, "standard": True}, {"conceptId": E11_9, "standard": False}]
    assert imported.notes == [f"items[0]: 1 source concept mapped to concept {T2DM} added: {E11_9}"]
    # through a descendant too, and an excluded source stays out
    imported = read_ohdsi_concept_set({"items": [item(DM, descendants=True, mapped=True), item(E11_9, excluded=True)]}, cdr_dir=cdr)
    assert imported.content["concepts"] == [{"conceptId": DM, "standard": True, "includeDescendants": True}]
    assert imported.notes == [f"items[0]: 0 source concepts mapped to concept {DM} added (1 excluded)"]


def test_the_side_comes_from_standard_concept_or_else_the_vocabulary(cdr):
    imported = read_ohdsi_concept_set({"items": [item(T2DM, STANDARD_CONCEPT="N"), item(E11_9), item(HTN, STANDARD_CONCEPT=None)]}, cdr_dir=cdr)
    assert imported.content["concepts"] == [{"conceptId": T2DM, "standard": False}, {"conceptId": E11_9, "standard": False},
                                            {"conceptId": HTN, "standard": True}]


def test_a_source_concept_with_descendants_is_taken_alone(cdr):
    imported = read_ohdsi_concept_set({"items": [item(E11_9, descendants=True)]}, cdr_dir=cdr)
    assert imported.content == {"domain": "CONDITION", "concepts": [{"conceptId": E11_9, "standard": False}]}
    assert imported.notes == [f"items[0]: concept {E11_9} is a source concept, which has no descendants; it was taken alone"]


def test_concepts_not_in_the_vocabulary_are_kept_and_reported(cdr):
    imported = read_ohdsi_concept_set({"items": [item(T2DM), item(99999999, DOMAIN_ID="Condition", STANDARD_CONCEPT="S")]}, cdr_dir=cdr)
    assert imported.content["concepts"][1] == {"conceptId": 99999999, "standard": True}
    assert imported.notes == ["not in this data version's vocabulary (kept as given): 99999999"]


def test_one_domain_per_set(cdr):
    assert refused({"items": [item(T2DM), item(METFORMIN)]}, cdr_dir=cdr) == [
        ("items", "a concept set holds one domain; these items are of CONDITION: items[0]; DRUG: items[1]")]
    assert refused({"items": [item(T2DM)]}, cdr_dir=cdr, domain="DRUG") == [("items[0]", f"concept {T2DM} is of the CONDITION domain, not DRUG")]
    assert refused({"items": [item(T2DM)]}, cdr_dir=cdr, domain="PERSON") == [
        ("domain", "PERSON is not a domain a concept set can hold: one of CONDITION, DEVICE, DRUG, MEASUREMENT, OBSERVATION, "
                   "PHYSICAL_MEASUREMENT, PROCEDURE, SURVEY, VISIT")]
    assert refused({"items": [item(88888888)]}, cdr_dir=cdr) == [
        ("items[0]", "the concept's domain is unknown (no DOMAIN_ID, and not in the vocabulary): choose the set's domain")]
    assert refused({"items": [item(88888888, DOMAIN_ID="Gender")]}, cdr_dir=cdr) == [("items[0]", "domain 'Gender' has no events a concept set can select")]
    chosen = read_ohdsi_concept_set({"items": [item(88888888)]}, cdr_dir=cdr, domain="condition")
    assert chosen.content == {"domain": "CONDITION", "concepts": [{"conceptId": 88888888, "standard": False}]}


def test_bad_documents_are_refused_naming_the_json_path(cdr):
    assert refused("[1]") == [("(root)", 'must be a JSON object: an ATLAS concept-set expression {"items": […]} or a concept set '
                                         '{"name", "expression": {"items": […]}}')]
    assert refused("{}") == [("(root)", 'has neither "items" (an ATLAS concept-set expression) nor "expression" (a concept set wrapping one)')]
    assert refused('{"items": []}') == [("items", "a concept set needs at least one item")]
    assert refused('{"name": 5, "expression": {"items": {}}}') == [("name", "must be text"), ("expression.items", "must be a list of items")]
    assert refused({"items": [item("abc"), 7, {"concept": {}}, item(T2DM, descendants="yes"), {"concept": {"CONCEPT_ID": 1, "DOMAIN_ID": 3}},
                              item(True)]}) == [
        ("items[0].concept.CONCEPT_ID", "must be a concept id (a positive whole number)"),
        ("items[1]", 'must be an object with "concept"'),
        ("items[2].concept.CONCEPT_ID", "missing"),
        ("items[3].includeDescendants", "must be true or false, not 'yes'"),
        ("items[4].concept.DOMAIN_ID", "must be text or null"),
        ("items[5].concept.CONCEPT_ID", "must be a concept id (a positive whole number)"),
    ]
    assert refused('{"items": [{"concept": {"CONCEPT_ID": 1, "CONCEPT_ID": 2}}]}') == [
        ("items[0].concept.CONCEPT_ID", 'duplicate key "CONCEPT_ID" (a repeated key is refused, not overwritten)')]
    assert refused('{"items": [') == [("line 1, column 12", "Expecting value")]
    assert refused(b"{" + b" " * 4_000_000 + b"}")[0][1] == "4,000,002 bytes, more than the limit of 4,000,000 (MAX_CONCEPT_SET_JSON_BYTES)"


def test_exclusions_and_mappings_need_the_vocabulary():
    assert refused({"items": [item(T2DM), item(T2DM_A, excluded=True), item(HTN, mapped=True)]}) == [
        ("items[1].isExcluded", "resolving this needs the data version's vocabulary"),
        ("items[2].includeMapped", "resolving this needs the data version's vocabulary")]
    plain = read_ohdsi_concept_set({"items": [item(T2DM, descendants=True, DOMAIN_ID="Condition", STANDARD_CONCEPT="S")]})
    assert plain.content == {"domain": "CONDITION", "concepts": [{"conceptId": T2DM, "standard": True, "includeDescendants": True}]}


def test_more_than_a_thousand_concepts_once_resolved_are_refused():
    items = [item(i, DOMAIN_ID="Condition", STANDARD_CONCEPT="S") for i in range(1, 1002)]
    assert refused({"items": items}) == [("items", "1,001 concepts once descendants and mappings are resolved, more than the limit of "
                                                   "1,000 (MAX_CONCEPTS_PER_SET)")]


def test_export_describes_each_concept_from_the_vocabulary(cdr):
    content = {"domain": "CONDITION", "concepts": [{"conceptId": T2DM, "includeDescendants": True}, {"conceptId": E11_9, "standard": False}]}
    assert write_ohdsi_concept_set(content, cdr_dir=cdr) == {"items": [
        {"concept": {"CONCEPT_ID": T2DM, "STANDARD_CONCEPT": "S", "STANDARD_CONCEPT_CAPTION": "Standard", "CONCEPT_NAME": "Type 2 diabetes mellitus",
                     "CONCEPT_CODE": "44054006", "DOMAIN_ID": "Condition", "VOCABULARY_ID": "SNOMED", "CONCEPT_CLASS_ID": "x", "INVALID_REASON": "V",
                     "INVALID_REASON_CAPTION": "Valid"},
         "isExcluded": False, "includeDescendants": True, "includeMapped": False},
        {"concept": {"CONCEPT_ID": E11_9, "STANDARD_CONCEPT": "N", "STANDARD_CONCEPT_CAPTION": "Non-Standard",
                     "CONCEPT_NAME": "Type 2 diabetes mellitus without complications", "CONCEPT_CODE": "E11.9", "DOMAIN_ID": "Condition",
                     "VOCABULARY_ID": "ICD10CM", "CONCEPT_CLASS_ID": "x", "INVALID_REASON": "V", "INVALID_REASON_CAPTION": "Valid"},
         "isExcluded": False, "includeDescendants": False, "includeMapped": False},
    ]}
    wrapped = write_ohdsi_concept_set(content, name="T2DM", description="d", wrapped=True)
    assert (wrapped["name"], wrapped["description"], wrapped["expression"]["items"][1]["concept"]) == (
        "T2DM", "d", {"CONCEPT_ID": E11_9, "STANDARD_CONCEPT": "N", "STANDARD_CONCEPT_CAPTION": "Non-Standard"})


@pytest.mark.parametrize("concepts", [
    [{"conceptId": T2DM, "standard": True, "includeDescendants": True}, {"conceptId": E11_9, "standard": False}],
    [{"conceptId": T2DM, "standard": False}, {"conceptId": HTN, "standard": True}],  # a standard concept kept on the source side
])
def test_export_then_import_gives_the_same_content(cdr, concepts):
    content = {"domain": "CONDITION", "concepts": concepts}
    for vocabulary in (cdr, None):
        exported = write_ohdsi_concept_set(content, cdr_dir=vocabulary, name="Set", description="about", wrapped=True)
        back = read_ohdsi_concept_set(json.dumps(exported), cdr_dir=cdr)
        assert (back.content, back.name, back.description, back.notes) == (content, "Set", "about", [])
