"""The search index on a tiny CDR with exact expected rows."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from research_workbench.index import build_index, search_criteria
from research_workbench.index.layout import EVENT_ROW_GROUP

from ..helpers import write_csv

CONCEPTS = [
    # id, name, domain, vocabulary, class, standard, code
    (441840, "Clinical finding", "Condition", "SNOMED", "Clinical Finding", "S", "404684003"),
    (201820, "Diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "73211009"),
    (201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006"),
    (45533023, "Type 2 diabetes mellitus without complications", "Condition", "ICD10CM", "4-char billing code", "", "E11.9"),
    (1503297, "metformin", "Drug", "RxNorm", "Ingredient", "S", "6809"),
    (40163924, "metformin hydrochloride 500 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "861007"),
    (3004249, "Systolic blood pressure", "Measurement", "LOINC", "Clinical Observation", "S", "8480-6"),
    (3012888, "Diastolic blood pressure", "Measurement", "LOINC", "Clinical Observation", "S", "8462-4"),
    (3036277, "Body height", "Measurement", "LOINC", "Clinical Observation", "S", "8302-2"),
    (903133, "Height", "Measurement", "PPI", "Clinical Observation", "", "height"),
    (1586134, "The Basics", "Observation", "PPI", "Module", "", "TheBasics"),
    (1586140, "Race: What Race Ethnicity", "Observation", "PPI", "Question", "", "Race_WhatRaceEthnicity"),
    (1586143, "What Race Ethnicity: White", "Observation", "PPI", "Answer", "", "WhatRaceEthnicity_White"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "S", "OP"),
]
ANCESTRY = [(441840, 441840, 0), (201820, 201820, 0), (201826, 201826, 0), (441840, 201820, 1), (441840, 201826, 2),
            (201820, 201826, 1), (1503297, 1503297, 0), (40163924, 40163924, 0), (1503297, 40163924, 1)]


def write_tiny_cdr(src):
    """The tiny CDR of these tests, loaded from CSV files written in ``src``; its directory (beside ``src``)."""
    from research_workbench.ingest import load_omop_folder

    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                                   "concept_code", "valid_start_date", "valid_end_date"],
              [list(c) + ["1970-01-01", "2099-12-31"] for c in CONCEPTS])
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"],
              [[a, d, n, n] for a, d, n in ANCESTRY])
    write_csv(src, "concept_synonym.csv", ["concept_id", "concept_synonym_name", "language_concept_id"], [[201826, "T2DM", 4180186]])
    write_csv(src, "person.csv", ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "race_concept_id", "ethnicity_concept_id"],
              [[1, 8507, 1950, 4, 12, 8527, 0], [2, 8532, 1988, 1, 1, 8516, 0], [3, 8532, 2001, 1, 30, 0, 0]])
    write_csv(src, "condition_occurrence.csv", ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                                                "condition_type_concept_id", "condition_source_concept_id"],
              [[10, 1, 201826, "2010-04-11", 32817, 45533023], [11, 1, 201826, "2010-04-12", 32817, 0], [12, 2, 201820, "2015-01-02", 32817, 0]])
    write_csv(src, "drug_exposure.csv", ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date", "drug_type_concept_id"],
              [[20, 2, 40163924, "2016-05-05", "2016-06-04", 32817]])
    write_csv(src, "visit_occurrence.csv", ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date", "visit_type_concept_id"],
              [[100, 1, 9202, "2012-01-01", "2012-01-01", 32817]])
    write_csv(src, "measurement.csv", ["measurement_id", "person_id", "measurement_concept_id", "measurement_date", "measurement_datetime",
                                       "measurement_type_concept_id", "value_as_number", "visit_occurrence_id", "measurement_source_concept_id"],
              [[30, 1, 3004249, "2012-01-01", "2012-01-01 08:00:00", 32817, 120, 100, ""],
               [31, 1, 3012888, "2012-01-01", "2012-01-01 08:00:00", 32817, 80, 100, ""],
               [32, 3, 3036277, "2021-06-01", "", 44818701, 170, "", 903133]])
    write_csv(src, "survey_conduct.csv", ["survey_conduct_id", "person_id", "survey_concept_id", "survey_end_date"], [[500, 3, 1586134, "2021-06-01"]])
    write_csv(src, "observation.csv", ["observation_id", "person_id", "observation_concept_id", "observation_date", "observation_type_concept_id",
                                       "observation_source_concept_id", "value_source_concept_id", "questionnaire_response_id"],
              [[40, 3, 1586140, "2021-06-01", 45905771, 1586140, 1586143, 500]])
    write_csv(src, "steps_intraday.csv", ["person_id", "datetime", "steps"], [[3, "2021-07-01 10:00:00", 55]])
    write_csv(src, "genomic_sample.csv", ["sample_id", "person_id", "data_type"], [["S2", 2, "wgs"]])
    write_csv(src, "participant_status.csv", ["person_id", "primary_consent_date", "enrollment_status"], [[3, "2021-06-01", "participant"]])
    write_csv(src, "person_ext.csv", ["person_id", "sex_at_birth_concept_id"], [[3, 45878463]])
    cdr = src.parent / "cdr"
    load_omop_folder(src, cdr)
    return cdr


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return build_index(write_tiny_cdr(tmp_path_factory.mktemp("src"))).path


def query(index_dir, file, sql_tail="", params=None):
    con = duckdb.connect()
    rel = con.read_parquet(str(index_dir / file))
    con.register("t", rel)
    return con.execute("SELECT * FROM t " + sql_tail, params or []).fetchall()


def events(index_dir, where="", params=None):
    con = duckdb.connect()
    con.register("e", con.read_parquet(str(index_dir / "search_all_events.parquet")))
    return con.execute(
        "SELECT person_id, entry_date, is_standard, concept_id, domain, age_at_event, visit_concept_id, value_as_number, "
        "value_source_concept_id, systolic, diastolic, survey_concept_id, questionnaire_response_id FROM e " + where, params or []
    ).fetchall()


def test_conditions_appear_as_standard_and_source_rows_but_not_for_source_concept_0(index_dir):
    rows = events(index_dir, "WHERE domain = 'CONDITION' ORDER BY entry_date, is_standard")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (1, dt.date(2010, 4, 11), False, 45533023),
        (1, dt.date(2010, 4, 11), True, 201826),
        (1, dt.date(2010, 4, 12), True, 201826),
        (2, dt.date(2015, 1, 2), True, 201820),
    ]


def test_age_at_event_counts_whole_years_to_the_birthday(index_dir):
    rows = events(index_dir, "WHERE domain = 'CONDITION' AND person_id = 1 AND is_standard ORDER BY entry_date")
    assert [r[5] for r in rows] == [59, 60]  # born 1950-04-12: the day before and the day of the 60th birthday


def test_drugs_have_standard_rows_only(index_dir):
    assert [(r[2], r[3]) for r in events(index_dir, "WHERE domain = 'DRUG'")] == [(True, 40163924)]


def test_blood_pressure_readings_taken_together_carry_both_values(index_dir):
    rows = events(index_dir, "WHERE domain = 'MEASUREMENT' ORDER BY concept_id")
    assert [(r[3], r[6], r[7], r[9], r[10]) for r in rows] == [(3004249, 9202, 120.0, 120.0, 80.0), (3012888, 9202, 80.0, 120.0, 80.0)]


def test_measurements_with_a_ppi_source_concept_are_physical_measurements(index_dir):
    rows = events(index_dir, "WHERE domain = 'PHYSICAL_MEASUREMENT' ORDER BY is_standard")
    assert [(r[0], r[2], r[3], r[7]) for r in rows] == [(3, False, 903133, 170.0), (3, True, 3036277, 170.0)]


def test_survey_answers_are_question_rows_with_answer_and_module(index_dir):
    rows = events(index_dir, "WHERE domain = 'SURVEY'")
    assert [(r[0], r[2], r[3], r[8], r[11], r[12]) for r in rows] == [(3, False, 1586140, 1586143, 1586134, 500)]


def test_events_are_sorted_by_concept_in_small_row_groups(index_dir):
    import pyarrow.parquet as pq

    concepts = [r[3] for r in events(index_dir)]
    assert concepts == sorted(concepts)
    assert pq.ParquetFile(index_dir / "search_all_events.parquet").metadata.row_group(0).num_rows <= EVENT_ROW_GROUP


def test_person_rows_carry_demographics_ages_and_has_data_flags(index_dir):
    con = duckdb.connect()
    con.register("p", con.read_parquet(str(index_dir / "search_person.parquet")))
    rows = con.execute(
        "SELECT person_id, sex_at_birth_concept_id, age_at_consent, has_ehr_data, has_ppi_survey_data, survey_modules, "
        "has_physical_measurement_data, has_fitbit, has_steps_intraday, has_sleep_level, has_whole_genome_variant, has_array_data, is_deceased "
        "FROM p ORDER BY person_id"
    ).fetchall()
    assert rows == [
        (1, None, None, True, False, [], False, False, False, False, False, False, False),
        (2, None, None, True, False, [], False, False, False, False, True, False, False),
        (3, 45878463, 20, False, True, [1586134], True, True, True, False, False, False, False),
    ]


def test_criteria_counts_participants_per_concept_and_rolled_up_over_descendants(index_dir):
    con = duckdb.connect()
    con.register("c", con.read_parquet(str(index_dir / "criteria.parquet")))
    rows = con.execute("SELECT concept_id, is_standard, item_count, rollup_count, parent_ids FROM c WHERE domain = 'CONDITION' ORDER BY is_standard, concept_id").fetchall()
    assert rows == [
        (45533023, False, 1, 1, None),
        (201820, True, 1, 2, [441840]),
        (201826, True, 1, 1, [201820]),
        (441840, True, 0, 2, []),
    ]
    drugs = con.execute("SELECT concept_id, item_count, rollup_count FROM c WHERE domain = 'DRUG' ORDER BY concept_id").fetchall()
    assert drugs == [(1503297, 0, 1), (40163924, 1, 1)]  # the ingredient rolls up its clinical drug


def test_survey_tree_goes_module_question_answer_with_participant_counts(index_dir):
    rows = query(index_dir, "survey_tree.parquet", "ORDER BY level")
    assert sorted(rows) == [("answer", 1586143, 1586140, 1), ("module", 1586134, None, 1), ("question", 1586140, 1586134, 1)]


def test_search_matches_name_prefixes_and_synonyms(index_dir):
    assert {r["concept_id"] for r in search_criteria(index_dir, "diab", domain="CONDITION", standard=True)} == {201820, 201826}
    assert [r["concept_id"] for r in search_criteria(index_dir, "T2DM")] == [201826]
    # The shorter name is the closer match (bm25), so the ingredient comes before its clinical drug.
    assert [r["concept_id"] for r in search_criteria(index_dir, "metf")] == [1503297, 40163924]


def test_search_puts_an_exact_code_first(index_dir):
    assert search_criteria(index_dir, "E11.9")[0]["concept_id"] == 45533023
    assert search_criteria(index_dir, "44054006")[0]["concept_id"] == 201826


def test_search_finds_survey_questions(index_dir):
    assert [(r["concept_id"], r["domain"]) for r in search_criteria(index_dir, "race", domain="SURVEY")][:1] == [(1586140, "SURVEY")]


def test_search_terms_cannot_inject_query_syntax(index_dir):
    assert search_criteria(index_dir, '" OR name:*') == []
    assert search_criteria(index_dir, "   ") == []
    assert search_criteria(index_dir, "diabetes NEAR mellitus") == []


def test_search_returns_at_most_250_results(index_dir):
    assert len(search_criteria(index_dir, "diabetes", limit=10_000)) <= 250


def test_existing_index_is_not_overwritten_without_replace(index_dir):
    from research_workbench.cdr.store import CdrExistsError

    with pytest.raises(CdrExistsError, match="--replace"):
        build_index(index_dir.parent / "cdr")


def test_cli_index_and_search_print_json(index_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from research_workbench.cli import app

    runner = CliRunner()
    built = runner.invoke(app, ["index", str(index_dir.parent / "cdr"), "--out", str(tmp_path / "ix"), "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["persons"] == 3
    found = runner.invoke(app, ["criteria", "search", "diabetes", "--index", str(tmp_path / "ix"), "--domain", "condition", "--standard", "--json"])
    document = json.loads(found.stdout)
    assert [r["concept_id"] for r in document["results"]] == [201820, 201826]
    assert document["count"] == 2 and "elapsed_ms" in document
    bad = runner.invoke(app, ["criteria", "search", "x", "--index", str(tmp_path / "ix"), "--domain", "genes"])
    assert bad.exit_code == 2 and "must be one of" in bad.output
