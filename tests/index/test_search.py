"""Criteria search on a tiny CDR: each source hit's "Maps to" standard concepts, prefixes, and spelling correction."""

from __future__ import annotations

import sqlite3

import pytest

from research_workbench.index import build_index, search_criteria
from research_workbench.index.layout import SEARCH_DB
from research_workbench.index.search import concept_counts, concept_entries
from research_workbench.index.spelling import corrections, deletions, distance

from ..helpers import write_csv

T2DM, T2DM_RENAL, HTN, HYPOTENSION = 201826, 443732, 320128, 317002
E11_9, E11_21, ICD9_250, I10 = 45533023, 45576436, 44831230, 35207668
CONCEPTS = [  # id, name, vocabulary, standard, code
    (T2DM, "Type 2 diabetes mellitus", "SNOMED", "S", "44054006"),
    (T2DM_RENAL, "Type 2 diabetes mellitus with renal complication", "SNOMED", "S", "420279001"),
    (HTN, "Essential hypertension", "SNOMED", "S", "59621000"),
    (HYPOTENSION, "Hypotension", "SNOMED", "S", "45007003"),
    (E11_9, "Type 2 diabetes mellitus without complications", "ICD10CM", "", "E11.9"),
    (E11_21, "Type 2 diabetes mellitus with diabetic nephropathy", "ICD10CM", "", "E11.21"),
    (ICD9_250, "Diabetes mellitus without mention of complication, type II", "ICD9CM", "", "250.00"),
    (I10, "Essential (primary) hypertension", "ICD10CM", "", "I10"),
]
RELATIONSHIPS = [  # source, target, invalid_reason
    (E11_9, T2DM, ""), (E11_21, T2DM, ""), (E11_21, T2DM_RENAL, ""),
    (ICD9_250, T2DM, ""), (ICD9_250, HTN, "D"),  # a deprecated mapping is not shown
    (I10, I10, ""), (I10, HTN, ""),  # nor a concept's mapping to itself
    (T2DM, T2DM, ""),
]
CONDITIONS = [  # person, standard concept, source concept
    (1, T2DM, E11_9), (2, T2DM, ICD9_250), (3, HTN, I10), (4, T2DM_RENAL, E11_21), (5, HYPOTENSION, 0),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    from research_workbench.ingest import load_omop_folder

    src = tmp_path_factory.mktemp("search") / "src"
    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                                   "concept_code", "valid_start_date", "valid_end_date"],
              [[c, n, "Condition", v, "x", s, code, "1970-01-01", "2099-12-31"] for c, n, v, s, code in CONCEPTS])
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"],
              [[c, c, 0, 0] for c, *_, s, _code in CONCEPTS if s == "S"] + [[T2DM, T2DM_RENAL, 1, 1]])
    write_csv(src, "concept_relationship.csv", ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date",
                                                "invalid_reason"],
              [[a, b, "Maps to", "1970-01-01", "2099-12-31", r] for a, b, r in RELATIONSHIPS])
    write_csv(src, "person.csv", ["person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"],
              [[p, 8507, 1970, 0, 0] for p in range(1, 6)])
    write_csv(src, "condition_occurrence.csv", ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                                                "condition_type_concept_id", "condition_source_concept_id"],
              [[i, p, c, "2020-01-01", 32817, s] for i, (p, c, s) in enumerate(CONDITIONS, 1)])
    load_omop_folder(src, src.parent / "cdr")
    return build_index(src.parent / "cdr").path


def found(index_dir, term, **filters):
    return [(r["concept_id"], r["fuzzy"]) for r in search_criteria(index_dir, term, **filters)]


def test_a_source_code_hit_shows_its_standard_mapping_inline(index_dir):
    hit = search_criteria(index_dir, "E11.9")[0]
    assert (hit["concept_id"], hit["vocabulary_id"], hit["code"], hit["is_standard"], hit["count"]) == (E11_9, "ICD10CM", "E11.9", False, 1)
    assert hit["maps_to"] == [{"concept_id": T2DM, "name": "Type 2 diabetes mellitus", "vocabulary_id": "SNOMED", "code": "44054006",
                               "count": 3}]  # 3: T2DM and its renal subtype roll up


def test_a_source_concept_may_map_to_two_standard_concepts(index_dir):
    hit = search_criteria(index_dir, "E11.21")[0]
    assert [(m["concept_id"], m["code"], m["count"]) for m in hit["maps_to"]] == [(T2DM, "44054006", 3), (T2DM_RENAL, "420279001", 1)]


def test_deprecated_and_self_mappings_are_not_shown_and_standard_hits_map_to_nothing(index_dir):
    assert [m["concept_id"] for m in search_criteria(index_dir, "250.00")[0]["maps_to"]] == [T2DM]
    assert [m["concept_id"] for m in search_criteria(index_dir, "I10")[0]["maps_to"]] == [HTN]
    assert search_criteria(index_dir, "44054006")[0]["maps_to"] == []


def test_only_mappings_of_search_entries_are_stored(index_dir):
    con = sqlite3.connect(index_dir / SEARCH_DB)
    try:
        rows = con.execute("SELECT concept_id, standard_concept_id FROM criteria_maps_to ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    assert rows == [(I10, HTN), (ICD9_250, T2DM), (E11_9, T2DM), (E11_21, T2DM), (E11_21, T2DM_RENAL)]


def test_words_are_prefixes_and_enough_hits_need_no_correction(index_dir):
    assert sorted(found(index_dir, "diab")) == [(T2DM, False), (T2DM_RENAL, False), (ICD9_250, False), (E11_9, False), (E11_21, False)]
    assert found(index_dir, "hypert", standard=True) == [(HTN, False)]


def test_a_misspelt_word_finds_the_words_one_edit_away(index_dir):
    # a letter missing, and two letters swapped
    assert {c for c, fuzzy in found(index_dir, "diabtes") if fuzzy} == {T2DM, T2DM_RENAL, E11_9, E11_21, ICD9_250}
    assert found(index_dir, "hypertensoin") == [(HTN, True), (I10, True)]
    assert found(index_dir, "essentail hypertension", standard=True) == [(HTN, True)]


def test_few_hits_are_followed_by_the_hits_of_close_spellings(index_dir):
    # "hypertension" finds two entries; "hypotension" is two edits away (one an extra letter typed) and follows them.
    assert found(index_dir, "hypertension") == [(HTN, False), (I10, False), (HYPOTENSION, True)]


def test_long_words_may_be_two_edits_away_when_one_is_an_extra_letter(index_dir):
    assert found(index_dir, "hyperrtensionn") == [(HTN, True), (I10, True)]  # two extra letters
    assert found(index_dir, "hypertemsionn") == [(HTN, True), (I10, True)]  # a wrong letter and an extra one
    assert found(index_dir, "hpertensin") == []  # two letters missing: not within reach


def test_codes_and_short_words_are_never_corrected(index_dir):
    assert found(index_dir, "E11.8") == []  # one edit from E11.9, but another code
    assert found(index_dir, "typ2") == []
    assert found(index_dir, "hpy") == []  # three letters
    assert {c for c, fuzzy in found(index_dir, "typo") if fuzzy} == {T2DM, T2DM_RENAL, E11_9, E11_21, ICD9_250}  # four: "type"


def test_the_spelling_table_holds_words_of_four_or_more_letters(index_dir):
    con = sqlite3.connect(f"file:{index_dir / SEARCH_DB}?mode=ro", uri=True)
    try:
        terms = {t for (t,) in con.execute("SELECT DISTINCT term FROM spelling")}
        assert corrections(con, "Diabtes") == ["diabetes"]
        assert corrections(con, "diabetes") == []  # the word itself is not a correction
        assert corrections(con, "e119") == []
    finally:
        con.close()
    assert {"diabetes", "hypertension", "mellitus", "type"} <= terms
    assert not {t for t in terms if len(t) < 4 or not t.isalpha()}


def test_edit_distance_counts_a_swap_as_one_edit():
    assert [distance("hypertensoin", "hypertension"), distance("diabtes", "diabetes"), distance("abc", "abc"),
            distance("kitten", "sitting"), distance("", "abc")] == [1, 1, 0, 3, 3]
    assert deletions("abc", 1) == {"abc", "bc", "ac", "ab"}


def test_concept_entries_and_counts_for_chosen_concepts(index_dir):
    entries = concept_entries(index_dir, [E11_9, T2DM, 999])
    assert [(e["concept_id"], e["is_standard"], e["count"], [m["concept_id"] for m in e["maps_to"]]) for e in entries] == [
        (T2DM, True, 3, []), (E11_9, False, 1, [T2DM])]
    assert concept_counts(index_dir, [(T2DM, True), (E11_9, False), (E11_9, True), (999, True)]) == {(T2DM, True): 3, (E11_9, False): 1}
