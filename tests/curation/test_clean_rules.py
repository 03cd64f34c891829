"""Each cleaning rule on a tiny fixture: exactly these rows sandboxed, no more and no less."""

from __future__ import annotations

from datetime import date, datetime

from research_workbench.curation.rules import rule_named
from research_workbench.curation.rule import Stage

from .fixtures import answer, concept, cond, meas, obs, person, run_rules, status


def rule(name: str):
    return rule_named(name, Stage.CLEAN)


def test_withdrawn_participant_rows_are_sandboxed_in_every_table(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "participant_status": [status(1, withdrawal_date=date(2022, 1, 1)), status(2)],
        "observation": [obs(10, 1), obs(11, 2)],
        "condition_occurrence": [cond(20, 1), cond(21, 1), cond(22, 2)],
        "steps_intraday": [{"person_id": 1, "datetime": datetime(2021, 1, 1, 8), "steps": 10.0}, {"person_id": 2, "datetime": datetime(2021, 1, 1, 8), "steps": 5.0}],
    }, [rule("withdrawn_participants")])
    assert run.sandboxed("withdrawn_participants", "person") == {1}
    assert run.sandboxed("withdrawn_participants", "observation") == {10}
    assert run.sandboxed("withdrawn_participants", "condition_occurrence") == {20, 21}
    assert run.sandboxed("withdrawn_participants", "participant_status", "person_id") == {1}
    assert run.sandboxed("withdrawn_participants", "steps_intraday", "person_id") == {1}
    assert run.ids("person") == {2} and run.ids("condition_occurrence") == {22}


def test_participants_under_18_at_consent_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 2004, month_of_birth=6, day_of_birth=2), person(2, 2004, month_of_birth=5, day_of_birth=31), person(3, 1990)],
        "participant_status": [status(1, date(2022, 6, 1)), status(2, date(2022, 6, 1)), status(3)],
        "observation": [obs(10, 1), obs(11, 2), obs(12, 3)],
    }, [rule("under_age_at_consent")])
    # person 1 turns 18 the day after consent; person 2 turned 18 the day before
    assert run.sandboxed("under_age_at_consent", "person") == {1}
    assert run.sandboxed("under_age_at_consent", "observation") == {10}


def test_birth_year_before_1900_or_after_the_cutoff_removes_the_participant(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 1899), person(2, 1900), person(3, 2024), person(4, 2025)],
        "observation": [obs(10, 1), obs(11, 2), obs(14, 4)],
    }, [rule("birth_year_out_of_range")])
    assert run.sandboxed("birth_year_out_of_range", "person") == {1, 4}
    assert run.sandboxed("birth_year_out_of_range", "observation") == {10, 14}


def test_records_before_birth_or_more_than_150_years_after_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 1900, month_of_birth=3, day_of_birth=1)],
        "condition_occurrence": [cond(20, 1, date(1900, 2, 28)), cond(21, 1, date(1900, 3, 1)), cond(22, 1, date(2050, 3, 1)), cond(23, 1, date(2050, 3, 2))],
        "heart_rate_intraday": [{"person_id": 1, "datetime": datetime(1899, 1, 1, 1), "heart_rate_value": 60}, {"person_id": 1, "datetime": datetime(2000, 1, 1, 1), "heart_rate_value": 61}],
    }, [rule("records_before_birth_or_too_old")])
    assert run.sandboxed("records_before_birth_or_too_old", "condition_occurrence") == {20, 23}
    assert run.sandboxed("records_before_birth_or_too_old", "heart_rate_intraday", "heart_rate_value") == {60}


def test_death_dates_in_the_future_or_before_birth_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 1950), person(2, 1950), person(3, 1950)],
        "death": [
            {"death_id": 1, "person_id": 1, "death_date": date(2025, 1, 1), "primary_death_record": True},
            {"death_id": 2, "person_id": 2, "death_date": date(1949, 12, 31), "primary_death_record": True},
            {"death_id": 3, "person_id": 3, "death_date": date(2020, 1, 1), "primary_death_record": True},
        ],
    }, [rule("invalid_death_dates")])
    assert run.sandboxed("invalid_death_dates", "death") == {1, 2}


def test_records_more_than_30_days_after_the_primary_death_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "death": [
            {"death_id": 1, "person_id": 1, "death_date": date(2021, 1, 1), "primary_death_record": True},
            {"death_id": 2, "person_id": 1, "death_date": date(2019, 1, 1), "primary_death_record": False},
        ],
        "condition_occurrence": [cond(20, 1, date(2021, 1, 31)), cond(21, 1, date(2021, 2, 1)), cond(22, 2, date(2023, 1, 1))],
        "activity_summary": [{"person_id": 1, "date": date(2021, 3, 1), "steps": 7}, {"person_id": 1, "date": date(2021, 1, 2), "steps": 8}],
    }, [rule("records_after_death")])
    assert run.sandboxed("records_after_death", "condition_occurrence") == {21}
    assert run.sandboxed("records_after_death", "activity_summary", "steps") == {7}


def test_rows_on_or_after_deactivation_are_removed_wearables_included(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "participant_status": [status(1, deactivation_date=date(2022, 1, 1)), status(2)],
        "observation": [obs(10, 1, date(2021, 12, 31)), obs(11, 1, date(2022, 1, 1)), obs(12, 2, date(2023, 1, 1))],
        "sleep_level": [
            {"person_id": 1, "sleep_date": date(2022, 2, 1), "level": "deep", "start_datetime": datetime(2022, 2, 1, 1), "duration_in_min": 1.0},
            {"person_id": 1, "sleep_date": date(2021, 2, 1), "level": "deep", "start_datetime": datetime(2021, 2, 1, 1), "duration_in_min": 2.0},
        ],
    }, [rule("data_after_deactivation")])
    assert run.sandboxed("data_after_deactivation", "observation") == {11}
    assert run.sandboxed("data_after_deactivation", "sleep_level", "duration_in_min") == {1.0}


def test_identical_rows_keep_the_first_and_repeated_ids_keep_the_first(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "observation": [obs(10, 1), obs(10, 1), obs(10, 1, value_as_number=2.0), obs(12, 1), obs(11, 1, value_as_number=3.0)],
        "steps_intraday": [{"person_id": 1, "datetime": datetime(2021, 1, 1), "steps": 1.0}] * 3,
    }, [rule("duplicate_rows"), rule("duplicate_ids")])
    assert run.sandboxed("duplicate_rows", "observation") == {10, 12}  # identical but for the id: the lowest id stays
    assert len(run.ws.sql(__import__("sqlglot").parse_one('SELECT * FROM sb_clean."duplicate_rows__observation"'))) == 2
    assert run.effect("duplicate_rows").tables["steps_intraday"].removed == 2
    assert run.effect("duplicate_ids").tables["observation"].removed == 1
    assert sorted(run.rows("observation", "observation_id", "value_as_number")) == [(10, None), (11, 3.0)]


def test_end_before_start_is_fixed_or_nulled(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "condition_occurrence": [cond(20, 1, date(2021, 1, 5), condition_end_date=date(2021, 1, 4)), cond(21, 1, date(2021, 1, 5), condition_end_date=date(2021, 1, 5))],
        "drug_exposure": [{"drug_exposure_id": 30, "person_id": 1, "drug_concept_id": 1, "drug_exposure_start_date": date(2021, 1, 5),
                           "drug_exposure_end_date": date(2021, 1, 1), "drug_type_concept_id": 1}],
    }, [rule("end_before_start")])
    assert run.sandboxed("end_before_start", "condition_occurrence", action="changed") == {20}
    assert run.sandboxed("end_before_start", "drug_exposure", action="changed") == {30}
    assert run.rows("condition_occurrence", "condition_occurrence_id", "condition_end_date") == [(20, None), (21, date(2021, 1, 5))]
    assert run.rows("drug_exposure", "drug_exposure_id", "drug_exposure_end_date") == [(30, date(2021, 1, 5))]


def test_rows_whose_standard_and_source_concepts_are_both_zero_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "condition_occurrence": [cond(20, 1, concept=0), cond(21, 1, concept=0, condition_source_concept_id=44), cond(22, 1, concept=5, condition_source_concept_id=0)],
    }, [rule("zero_concept_rows")])
    assert run.sandboxed("zero_concept_rows", "condition_occurrence") == {20}


def test_non_standard_concepts_are_replaced_by_their_maps_to_concept_and_logged(tmp_path):
    rel = lambda a, b, r="Maps to": {"concept_id_1": a, "concept_id_2": b, "relationship_id": r, "valid_start_date": date(1970, 1, 1), "valid_end_date": date(2099, 12, 31)}  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "concept": [concept(100, standard=None), concept(101), concept(102), concept(103, standard=None)],
        "concept_relationship": [rel(100, 101), rel(103, 101, "Is a")],
        "condition_occurrence": [cond(20, 1, concept=100), cond(21, 1, concept=102), cond(22, 1, concept=0, condition_source_concept_id=100),
                                 cond(23, 1, concept=103), cond(24, 1, concept=0, condition_source_concept_id=102)],
    }, [rule("standard_concept_replacement")])
    assert run.sandboxed("standard_concept_replacement", "condition_occurrence", action="changed") == {20, 22, 24}
    assert run.rows("condition_occurrence", "condition_occurrence_id", "condition_concept_id") == [(20, 101), (21, 102), (22, 101), (23, 103), (24, 102)]
    logged = run.ws.sql(__import__("sqlglot").parse_one('SELECT row_id, old_concept_id, new_concept_id FROM log_clean."standard_concept_replacement__replacements" ORDER BY 1'))
    assert logged == [(20, 100, 101), (22, 0, 101), (24, 0, 102)]


def test_rows_move_to_the_table_of_their_concepts_domain(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "concept": [concept(201826), concept(3000, "Measurement"), concept(4000, "Observation")],
        "condition_occurrence": [cond(20, 1), cond(21, 1, concept=3000), cond(22, 1, concept=4000)],
        "measurement": [meas(7, 1)],
        "observation": [obs(50, 1, concept=3000, questionnaire_response_id=9), obs(51, 1, concept=4000)],
    }, [rule("domain_alignment")])
    assert run.sandboxed("domain_alignment", "condition_occurrence", action="removed") == {21, 22}
    assert run.sandboxed("domain_alignment", "measurement", action="added") == {8}
    assert run.sandboxed("domain_alignment", "observation", action="added") == {52}
    assert run.sandboxed("domain_alignment", "observation", action="removed") == set()  # survey answers stay
    assert run.rows("measurement", "measurement_id", "measurement_concept_id") == [(7, 3000), (8, 3000)]
    moves = run.ws.sql(__import__("sqlglot").parse_one('SELECT from_table, from_id, to_table, to_id FROM log_clean."domain_alignment__moves" ORDER BY 2'))
    assert moves == [("condition_occurrence", 21, "measurement", 8), ("condition_occurrence", 22, "observation", 52)]


def test_physical_measurements_outside_plausible_ranges_are_removed(tmp_path):
    pm = lambda mid, c, v: meas(mid, 1, concept=3036277, measurement_source_concept_id=c, value_as_number=v)  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "measurement": [pm(1, 903133, 89.9), pm(2, 903133, 90.0), pm(3, 903133, 228.0), pm(4, 903133, 228.1),
                        pm(5, 903121, 29.0), pm(6, 903121, 250.5), pm(7, 903121, 70.0), pm(8, 903124, 9.9), pm(9, 903124, 125.0),
                        meas(10, 1, concept=3000, value_as_number=1000.0)],
    }, [rule("physical_measurement_ranges")])
    assert run.sandboxed("physical_measurement_ranges", "measurement") == {1, 4, 5, 6, 8}


def test_only_the_latest_physical_measurement_of_each_kind_is_kept(tmp_path):
    pm = lambda mid, pid, c, d: meas(mid, pid, concept=3036277, measurement_source_concept_id=c, d=d, value_as_number=150.0)  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "measurement": [pm(1, 1, 903133, date(2020, 1, 1)), pm(2, 1, 903133, date(2021, 1, 1)), pm(3, 1, 903121, date(2020, 1, 1)),
                        pm(4, 2, 903133, date(2019, 1, 1)), meas(5, 1, concept=3000), meas(6, 1, concept=3000)],
    }, [rule("latest_physical_measurement")])
    assert run.sandboxed("latest_physical_measurement", "measurement") == {1}


def test_lab_units_are_normalised_from_the_mapping_table(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "measurement": [meas(1, 1, concept=3004501, unit_concept_id=8753, value_as_number=5.0, range_low=4.0),
                        meas(2, 1, concept=3000, unit_concept_id=8636, value_as_number=140.0),
                        meas(3, 1, concept=3000, unit_concept_id=8840, value_as_number=1.0)],
    }, [rule("lab_unit_normalisation")])
    assert run.sandboxed("lab_unit_normalisation", "measurement", action="changed") == {1, 2}
    rows = run.rows("measurement", "measurement_id", "unit_concept_id", "value_as_number", "range_low")
    assert rows[0][:2] == (1, 8840) and abs(rows[0][2] - 90.08) < 1e-9 and abs(rows[0][3] - 72.064) < 1e-9
    assert rows[1][:2] == (2, 8713) and abs(rows[1][2] - 14.0) < 1e-9
    assert rows[2] == (3, 8840, 1.0, None)


def test_drug_refills_of_10_or_more_and_days_supply_of_180_or_more_are_nulled(tmp_path):
    drug = lambda i, r, s: {"drug_exposure_id": i, "person_id": 1, "drug_concept_id": 1, "drug_exposure_start_date": date(2021, 1, 1),  # noqa: E731
                            "drug_exposure_end_date": date(2021, 1, 1), "drug_type_concept_id": 1, "refills": r, "days_supply": s}
    run = run_rules(tmp_path, {"person": [person(1)], "drug_exposure": [drug(1, 9, 179), drug(2, 10, 30), drug(3, 1, 180), drug(4, None, None)]},
                    [rule("drug_refills_days_supply")])
    assert run.sandboxed("drug_refills_days_supply", "drug_exposure", action="changed") == {2, 3}
    assert run.rows("drug_exposure", "drug_exposure_id", "refills", "days_supply") == [(1, 9, 179), (2, None, 30), (3, 1, None), (4, None, None)]


def test_answers_that_break_skip_logic_are_removed(tmp_path):
    branching = tmp_path / "branching.csv"
    branching.write_text("child_question_concept_id,parent_question_concept_id,parent_answer_concept_id\n500,400,401\n")
    config_file = tmp_path / "c.toml"
    config_file.write_text(f'[surveys]\nbranching_file = "{branching.name}"\n')
    from research_workbench.curation.config import load_config

    run = run_rules(tmp_path, {
        "person": [person(1), person(2), person(3)],
        "observation": [answer(1, 1, 400, 401, response=11), answer(2, 1, 500, 1, response=11),  # allowed
                        answer(3, 2, 400, 402, response=12), answer(4, 2, 500, 1, response=12),  # parent answered otherwise
                        answer(5, 3, 500, 1, response=13),  # parent not answered by this participant
                        answer(6, 1, 400, 401, response=14)],  # another enabling answer of person 1
    }, [rule("survey_skip_logic")], config=load_config(config_file))
    assert run.sandboxed("survey_skip_logic", "observation") == {4, 5}


def test_free_text_survey_answers_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "concept": [concept(600, "Observation", code="OtherSpecify_FreeTextBox"), concept(601, "Observation", code="Q")],
        "observation": [answer(1, 1, 600, None, value_as_string="my name"), answer(2, 1, 601, 5), answer(3, 1, 601, None, value_as_string="hello"),
                        answer(4, 1, 601, None, value_as_string="12"), answer(5, 1, 1585250, None, value_as_string="35233")],
    }, [rule("free_text_survey_answers")])
    assert run.sandboxed("free_text_survey_answers", "observation") == {1, 3}


def test_free_text_string_fields_are_nulled_and_zip_answers_kept(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, person_source_value="MRN123"), person(2)],
        "observation": [obs(1, 1, value_as_string="free"), answer(2, 1, 1585250, None, value_as_string="35233"), obs(3, 1)],
    }, [rule("free_text_string_fields")])
    assert run.sandboxed("free_text_string_fields", "person", action="changed") == {1}
    assert run.sandboxed("free_text_string_fields", "observation", action="changed") == {1}
    assert run.rows("observation", "observation_id", "value_as_string") == [(1, None), (2, "35233"), (3, None)]


def test_survey_conduct_without_answers_and_persons_without_data_are_removed(tmp_path):
    sc = lambda i, p: {"survey_conduct_id": i, "person_id": p, "survey_concept_id": 1, "survey_end_date": date(2021, 1, 1)}  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(1), person(2), person(3)],
        "person_ext": [{"person_id": 3}],
        "observation": [answer(1, 1, 400, 401, response=11)],
        "survey_conduct": [sc(11, 1), sc(12, 2)],
    }, [rule("orphaned_survey_conduct"), rule("persons_without_data")])
    assert run.sandboxed("orphaned_survey_conduct", "survey_conduct") == {12}
    assert run.sandboxed("persons_without_data", "person") == {2, 3}
    assert run.sandboxed("persons_without_data", "person_ext", "person_id") == {3}


def test_wearable_rows_with_invalid_sleep_levels_or_unknown_persons_are_removed(tmp_path):
    sl = lambda p, level, d: {"person_id": p, "sleep_date": date(2021, 1, 1), "level": level, "start_datetime": datetime(2021, 1, 1), "duration_in_min": d}  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "sleep_level": [sl(1, "deep", 1.0), sl(1, "REM", 2.0), sl(1, "dozing", 3.0), sl(9, "deep", 4.0)],
        "activity_summary": [{"person_id": 9, "date": date(2021, 1, 1), "steps": 1}, {"person_id": 1, "date": date(2021, 1, 1), "steps": 2}],
    }, [rule("unknown_persons"), rule("invalid_sleep_levels")])
    assert run.sandboxed("unknown_persons", "sleep_level", "duration_in_min") == {4.0}
    assert run.sandboxed("unknown_persons", "activity_summary", "steps") == {1}
    assert run.sandboxed("invalid_sleep_levels", "sleep_level", "duration_in_min") == {3.0}


def test_provenance_rows_of_removed_events_are_removed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "observation": [obs(1, 1)],
        "observation_ext": [{"observation_id": 1, "src_id": "a"}, {"observation_id": 2, "src_id": "b"}],
    }, [rule("orphaned_child_rows")])
    assert run.sandboxed("orphaned_child_rows", "observation_ext") == {2}


def test_provenance_rows_sharing_a_site_are_not_duplicates(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "observation": [obs(1, 1), obs(2, 1, concept=5)],
        "observation_ext": [{"observation_id": 1, "src_id": "a"}, {"observation_id": 2, "src_id": "a"}, {"observation_id": 2, "src_id": "a"}],
        "person_ext": [{"person_id": 1, "src_id": "a"}, {"person_id": 2, "src_id": "a"}],
    }, [rule("duplicate_rows")])
    assert run.sandboxed("duplicate_rows", "observation_ext") == {2}
    assert run.sandboxed("duplicate_rows", "person_ext", "person_id") == set()
    assert run.sandboxed("duplicate_rows", "observation") == set()
