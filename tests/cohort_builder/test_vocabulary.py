"""Pasted codes matched against a tiny CDR's vocabulary: exact concepts, standard mappings, counts, and refusals."""

from __future__ import annotations

import pytest

from research_workbench.cohorts.vocabulary import (
    MAX_CODES,
    MAX_CODES_TEXT_CHARS,
    CodesError,
    domain_of,
    match_codes,
    split_codes,
)
from research_workbench.cdr.facts import Domain

from ..helpers import write_csv

T2DM, HTN, METFORMIN, HBA1C, OFFICE_VISIT = 201826, 320128, 1503297, 3004410, 2414397
E11_9_CM, E11_9_WHO, ICD9_250, ICD9_401, ICD9_401_OLD, ICD9_RETIRED, I10 = 45533023, 45571656, 44831230, 44821949, 44821948, 44820000, 35207668
CONCEPTS = [  # id, name, domain, vocabulary, standard, code, invalid_reason
    (T2DM, "Type 2 diabetes mellitus", "Condition", "SNOMED", "S", "44054006", ""),
    (HTN, "Essential hypertension", "Condition", "SNOMED", "S", "59621000", ""),
    (METFORMIN, "metformin", "Drug", "RxNorm", "S", "6809", ""),
    (HBA1C, "Hemoglobin A1c", "Measurement", "LOINC", "S", "4548-4", ""),
    (OFFICE_VISIT, "Office or other outpatient visit, established patient", "Procedure", "CPT4", "S", "99213", ""),
    (E11_9_CM, "Type 2 diabetes mellitus without complications", "Condition", "ICD10CM", "", "E11.9", ""),
    (E11_9_WHO, "Non-insulin-dependent diabetes mellitus without complications", "Condition", "ICD10", "", "E11.9", ""),
    (ICD9_250, "Diabetes mellitus without mention of complication, type II", "Condition", "ICD9CM", "", "250.00", ""),
    (ICD9_401, "Unspecified essential hypertension", "Condition", "ICD9CM", "", "401.9", ""),
    (ICD9_401_OLD, "Essential hypertension, unspecified (retired)", "Condition", "ICD9CM", "", "401.9", "U"),
    (ICD9_RETIRED, "Old code", "Condition", "ICD9CM", "", "V99.9", "D"),
    (I10, "Essential (primary) hypertension", "Condition", "ICD10CM", "", "I10", ""),
]
MAPS = [(E11_9_CM, T2DM, ""), (E11_9_WHO, T2DM, ""), (ICD9_250, T2DM, ""), (ICD9_250, HTN, "D"), (ICD9_401, HTN, ""), (I10, HTN, ""),
        (T2DM, T2DM, "")]
CONDITIONS = [(1, T2DM, E11_9_CM), (2, T2DM, ICD9_250), (3, HTN, I10)]


@pytest.fixture(scope="module")
def cdr(tmp_path_factory):
    from research_workbench.index import build_index
    from research_workbench.ingest import load_omop_folder

    src = tmp_path_factory.mktemp("vocabulary") / "src"
    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                                   "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"],
              [[c, n, d, v, "x", s, code, "1970-01-01", "2099-12-31", inv] for c, n, d, v, s, code, inv in CONCEPTS])
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"],
              [[c[0], c[0], 0, 0] for c in CONCEPTS if c[4] == "S"])
    write_csv(src, "concept_relationship.csv", ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date",
                                                "invalid_reason"], [[a, b, "Maps to", "1970-01-01", "2099-12-31", r] for a, b, r in MAPS])
    write_csv(src, "person.csv", ["person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"],
              [[p, 8507, 1970, 0, 0] for p in (1, 2, 3, 4)])
    write_csv(src, "condition_occurrence.csv", ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                                                "condition_type_concept_id", "condition_source_concept_id"],
              [[i, p, c, "2020-01-01", 32817, s] for i, (p, c, s) in enumerate(CONDITIONS, 1)])
    write_csv(src, "drug_exposure.csv", ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                                         "drug_type_concept_id"], [[1, 4, METFORMIN, "2020-01-01", "2020-01-02", 32817]])
    cdr = src.parent / "cdr"
    load_omop_folder(src, cdr)
    build_index(cdr)
    return cdr


def ids(match):
    return [(c.concept_id, c.vocabulary_id) for c in match.concepts]


def test_codes_match_case_insensitively_and_icd_codes_without_their_dot(cdr):
    result = match_codes(cdr, "icd10cm:e119\n25000\nLOINC:4548-4")
    assert [(m.input, m.vocabulary, m.code, m.status, ids(m)) for m in result.codes] == [
        ("icd10cm:e119", "icd10cm", "e119", "matched", [(E11_9_CM, "ICD10CM")]),
        ("25000", None, "25000", "matched", [(ICD9_250, "ICD9CM")]),
        ("LOINC:4548-4", "LOINC", "4548-4", "matched", [(HBA1C, "LOINC")]),
    ]
    assert result.unmatched == []


def test_a_code_with_a_dot_must_match_as_typed(cdr):
    assert match_codes(cdr, "2500.0").unmatched == ["2500.0"]  # 250.00 is another code, not a misplaced dot


def test_a_code_in_two_vocabularies_is_ambiguous_unless_a_vocabulary_is_named(cdr):
    both = match_codes(cdr, "E11.9").codes[0]
    assert (both.status, ids(both)) == ("ambiguous", [(E11_9_WHO, "ICD10"), (E11_9_CM, "ICD10CM")])
    assert ids(match_codes(cdr, "ICD10CM:E11.9").codes[0]) == [(E11_9_CM, "ICD10CM")]
    assert ids(match_codes(cdr, "E11.9", vocabularies=["icd10cm"]).codes[0]) == [(E11_9_CM, "ICD10CM")]


def test_source_concepts_carry_their_standard_mapping_when_asked(cdr):
    result = match_codes(cdr, "ICD10CM:E11.9 250.00 44054006")
    e11, icd9, snomed = result.codes
    assert [t.as_dict() for t in e11.concepts[0].maps_to] == [{
        "concept_id": T2DM, "name": "Type 2 diabetes mellitus", "vocabulary_id": "SNOMED", "domain_id": "Condition", "domain": "CONDITION",
        "code": "44054006", "standard": True, "invalid_reason": None, "count": None}]
    assert [t.concept_id for t in icd9.concepts[0].maps_to] == [T2DM]  # the deprecated mapping to HTN is not used
    assert (snomed.concepts[0].standard, snomed.concepts[0].maps_to) == (True, ())  # a standard concept maps to nothing else
    assert e11.concepts[0].standard is False
    unmapped = match_codes(cdr, "ICD10CM:E11.9", map_to_standard=False)
    assert unmapped.codes[0].concepts[0].maps_to == () and unmapped.mapped is False


def test_unmatched_codes_are_listed_in_the_order_typed_with_the_reason(cdr):
    result = match_codes(cdr, "Z99.99, FOO:123; 44054006 E11.8 CPT:99213 ICD9CM:I10")
    assert result.unmatched == ["Z99.99", "FOO:123", "E11.8", "ICD9CM:I10"]
    assert [(m.input, m.problem) for m in result.codes if m.problem] == [
        ("Z99.99", "no concept has this code"), ("FOO:123", "no concept has this code in FOO"), ("E11.8", "no concept has this code"),
        ("ICD9CM:I10", "no concept has this code in ICD9CM")]
    assert ids(result.codes[4]) == [(OFFICE_VISIT, "CPT4")]  # CPT is CPT4


def test_a_valid_code_hides_its_retired_twin_but_a_code_only_retired_is_shown(cdr):
    result = match_codes(cdr, "401.9 V99.9")
    assert ids(result.codes[0]) == [(ICD9_401, "ICD9CM")]
    assert [(c.concept_id, c.invalid_reason) for c in result.codes[1].concepts] == [(ICD9_RETIRED, "D")]


def test_participant_counts_come_from_the_index_of_an_engine_or_a_callable(cdr):
    from research_workbench.cohorts.builder.engine import CohortEngine

    engine = CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr)
    try:
        result = match_codes(cdr, "E11.9 I10 6809 4548-4", counts=engine)
    finally:
        engine.close()
    e11, i10, metformin, hba1c = result.codes
    assert [(c.concept_id, c.count, [(t.concept_id, t.count) for t in c.maps_to]) for c in e11.concepts] == [
        (E11_9_WHO, None, [(T2DM, 2)]), (E11_9_CM, 1, [(T2DM, 2)])]
    assert [(c.count, c.maps_to[0].count) for c in i10.concepts] == [(1, 1)]
    assert (metformin.concepts[0].count, hba1c.concepts[0].count) == (1, None)
    asked = []
    result = match_codes(cdr, "I10", counts=lambda keys: asked.append(keys) or {(I10, False): 7})
    assert asked == [[(HTN, True), (I10, False)]] and result.codes[0].concepts[0].count == 7


def test_separators_quotes_repeats_and_a_prefix_standing_apart(cdr):
    assert split_codes(' "I10",\tICD10CM: E11.9;;snomed:44054006\r\n') == [
        ("I10", None, "I10"), ("ICD10CM:E11.9", "ICD10CM", "E11.9"), ("snomed:44054006", "snomed", "44054006")]
    result = match_codes(cdr, "E11.9 e11.9 I10 ICD10CM:E11.9")
    assert [m.input for m in result.codes] == ["E11.9", "I10", "ICD10CM:E11.9"] and result.duplicates == ["e11.9"]


def test_the_result_as_json(cdr):
    document = match_codes(cdr, "I10 nope").as_dict()
    assert document == {
        "matches": [
            {"input": "I10", "code": "I10", "vocabulary": None, "status": "matched", "problem": "",
             "concepts": [{"concept_id": I10, "name": "Essential (primary) hypertension", "vocabulary_id": "ICD10CM", "domain_id": "Condition",
                           "domain": "CONDITION", "code": "I10", "standard": False, "invalid_reason": None, "count": None,
                           "maps_to": [{"concept_id": HTN, "name": "Essential hypertension", "vocabulary_id": "SNOMED", "domain_id": "Condition",
                                        "domain": "CONDITION", "code": "59621000", "standard": True, "invalid_reason": None, "count": None}]}]},
            {"input": "nope", "code": "nope", "vocabulary": None, "status": "unmatched", "problem": "no concept has this code", "concepts": []},
        ],
        "unmatched": ["nope"], "duplicates": [], "map_to_standard": True, "counts": {"matched": 1, "ambiguous": 0, "unmatched": 1},
    }


def test_typed_text_never_reaches_the_sql(cdr):
    result = match_codes(cdr, "x'||'1 ');DROP\\ %25 E11%")
    assert result.unmatched == ["x'||'1", ")", "DROP\\", "%25", "E11%"]  # quotes around a word are dropped
    assert ids(match_codes(cdr, "I10").codes[0]) == [(I10, "ICD10CM")]  # the vocabulary is still there


def test_domains_of_the_vocabulary_become_cohort_builder_domains():
    assert [domain_of(d) for d in ("Condition", "drug", "Measurement", "Gender", "", None)] == [
        Domain.CONDITION, Domain.DRUG, Domain.MEASUREMENT, None, None, None]


def test_input_refused_as_a_whole(cdr):
    cases = {
        "": [("text", "paste at least one code")],
        " ,;\n ": [("text", "paste at least one code")],
        "x" * (MAX_CODES_TEXT_CHARS + 1): [("text", f"{MAX_CODES_TEXT_CHARS + 1:,} characters, more than the limit of 100,000 (MAX_CODES_TEXT_CHARS)")],
        " ".join(["I10"] * (MAX_CODES + 1)): [("text", "1,001 codes, more than the limit of 1,000 (MAX_CODES)")],
    }
    for text, problems in cases.items():
        with pytest.raises(CodesError) as refused:
            match_codes(cdr, text)
        assert [(p.where, p.message) for p in refused.value.problems] == problems
    with pytest.raises(CodesError) as refused:
        match_codes(cdr, "I10", vocabularies=["ICD10CM", "no such;vocab", 7])
    assert [(p.where, p.message) for p in refused.value.problems] == [
        ("vocabularies[1]", "'no such;vocab' is not a vocabulary id (letters, digits, - and _)"),
        ("vocabularies[2]", "'7' is not a vocabulary id (letters, digits, - and _)")]


def test_a_word_longer_than_any_code_is_reported_not_looked_up(cdr):
    result = match_codes(cdr, "I10 " + "A" * 51)
    assert result.unmatched == ["A" * 51]
    assert result.codes[1].problem == "longer than any code (50 characters, MAX_CODE_LENGTH)"


def test_a_prefix_outside_the_chosen_vocabularies_is_reported(cdr):
    result = match_codes(cdr, "ICD9CM:401.9 I10", vocabularies=["ICD10CM"])
    assert [(m.input, m.problem, ids(m)) for m in result.codes] == [
        ("ICD9CM:401.9", "ICD9CM is not among the vocabularies chosen", []), ("I10", "", [(I10, "ICD10CM")])]
