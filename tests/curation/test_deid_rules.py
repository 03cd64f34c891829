"""De-identification rules on tiny fixtures: exactly these rows sandboxed or changed."""

from __future__ import annotations

from datetime import date, datetime

from research_workbench.curation.rule import Stage, Tier
from research_workbench.curation.rules import rule_named, rules_for

from .fixtures import answer, cond, obs, person, run_rules

RACE, GENDER, SEX, ORIENTATION, EDUCATION, EMPLOYMENT, STATE, ZIP = 1586140, 1585838, 1585845, 1585899, 1585940, 1585952, 1585249, 1585250


def rules(*names: str):
    return [rule_named("program_concepts"), *[rule_named(n, Stage.DEID) for n in names]]


def values(run, question: int) -> list[tuple]:
    return [(r[0], r[1], r[2]) for r in run.rows("observation", "observation_id", "person_id", "value_source_concept_id", "observation_source_concept_id") if r[3] == question]


def test_participants_aged_89_or_over_are_excluded_with_their_wearable_data(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 1935, month_of_birth=6, day_of_birth=30), person(2, 1935, month_of_birth=7, day_of_birth=1)],
        "observation": [obs(10, 1), obs(11, 2)],
        "heart_rate_intraday": [{"person_id": 1, "datetime": datetime(2021, 1, 1), "heart_rate_value": 70}],
    }, rules("age_89_or_over"), tier=Tier.REGISTERED)
    # cut-off 2024-06-30: person 1 turns 89 that day, person 2 the day after
    assert run.sandboxed("age_89_or_over", "person") == {1}
    assert run.sandboxed("age_89_or_over", "observation") == {10}
    assert run.sandboxed("age_89_or_over", "heart_rate_intraday", "heart_rate_value") == {70}


def test_concepts_first_seen_within_a_year_of_the_cutoff_are_suppressed(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "condition_occurrence": [cond(1, 1, date(2023, 6, 30), concept=7), cond(2, 1, date(2024, 1, 1), concept=7),
                                 cond(3, 1, date(2023, 7, 1), concept=8), cond(4, 1, date(2024, 6, 1), concept=8)],
    }, rules("recent_concepts"), tier=Tier.REGISTERED)
    assert run.sandboxed("recent_concepts", "condition_occurrence") == {3, 4}


def test_race_with_several_answers_becomes_one_more_than_one_population_answer(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2), person(3), person(4)],
        "observation": [answer(1, 1, RACE, 1586142), answer(2, 1, RACE, 1586143), answer(3, 1, RACE, 1586147),  # two races + Hispanic
                        answer(4, 2, RACE, 1586143), answer(5, 2, RACE, 1586147),  # one race + Hispanic: kept
                        answer(6, 3, RACE, 1586141),  # single generalised answer
                        answer(7, 4, RACE, 1586143)],
    }, rules("generalise_race"), tier=Tier.REGISTERED)
    assert run.sandboxed("generalise_race", "observation", action="removed") == {2}
    assert run.sandboxed("generalise_race", "observation", action="changed") == {1, 6}
    assert values(run, RACE) == [(1, 1, 2000000008), (3, 1, 1586147), (4, 2, 1586143), (5, 2, 1586147), (6, 3, 2000000001), (7, 4, 1586143)]
    assert run.rows("person", "person_id", "race_concept_id") == [(1, 2000000008), (2, 0), (3, 2000000001), (4, 0)]


def test_gender_identity_is_generalised_when_several_other_or_at_odds_with_sex_at_birth(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(i) for i in range(1, 6)],
        "observation": [answer(1, 1, GENDER, 1585839), answer(2, 1, GENDER, 1585840),  # several
                        answer(3, 2, GENDER, 1585841),  # other than man/woman
                        answer(4, 3, GENDER, 1585839), answer(5, 3, SEX, 1585847),  # man, female at birth
                        answer(6, 4, GENDER, 1585840), answer(7, 4, SEX, 1585847),  # woman, female: kept
                        answer(8, 5, GENDER, 903096)],  # skipped
    }, rules("generalise_gender_identity"), tier=Tier.REGISTERED)
    assert run.sandboxed("generalise_gender_identity", "observation", action="changed") == {1, 3, 4, 8}
    assert run.sandboxed("generalise_gender_identity", "observation", action="removed") == {2}
    assert values(run, GENDER) == [(1, 1, 2000000002), (3, 2, 2000000002), (4, 3, 2000000002), (6, 4, 1585840), (8, 5, 2000000002)]


def test_sex_at_birth_orientation_education_and_employment_are_generalised(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "person_ext": [{"person_id": 1, "sex_at_birth_concept_id": 1585848}, {"person_id": 2, "sex_at_birth_concept_id": 1585846}],
        "observation": [answer(1, 1, SEX, 1585848), answer(2, 2, SEX, 1585846),
                        answer(3, 1, ORIENTATION, 1585901), answer(4, 2, ORIENTATION, 1585900),
                        answer(5, 1, EDUCATION, 1585942), answer(6, 2, EDUCATION, 1585948), answer(7, 2, EDUCATION, 1585945),
                        answer(8, 1, EMPLOYMENT, 1585953), answer(9, 1, EMPLOYMENT, 1585954), answer(10, 2, EMPLOYMENT, 1585956)],
    }, rules("generalise_sex_at_birth", "generalise_sexual_orientation", "generalise_education", "generalise_employment"), tier=Tier.REGISTERED)
    assert run.sandboxed("generalise_sex_at_birth", "observation", action="changed") == {1}
    assert run.sandboxed("generalise_sex_at_birth", "person_ext", "person_id", action="changed") == {1}
    assert run.sandboxed("generalise_sexual_orientation", "observation", action="changed") == {3}
    assert run.sandboxed("generalise_education", "observation", action="changed") == {5, 6}
    assert run.sandboxed("generalise_employment", "observation", action="changed") == {8, 10}
    assert run.sandboxed("generalise_employment", "observation", action="removed") == {9}
    assert [r[2] for r in values(run, EDUCATION)] == [2000000007, 2000000006, 1585945]
    assert run.rows("person_ext", "person_id", "sex_at_birth_concept_id") == [(1, 2000000009), (2, 1585846)]
    coded = run.rows("observation", "observation_id", "value_source_value")
    assert coded[0] == (1, "SexAtBirth_GeneralizedDiffSex")


def test_small_states_are_generalised_and_zip_codes_removed_in_the_registered_tier(tmp_path):
    from research_workbench.curation.config import load_config

    config_file = tmp_path / "c.toml"
    config_file.write_text("[registered]\nstate_min_participants = 2\n")
    run = run_rules(tmp_path, {
        "person": [person(1), person(2), person(3)],
        "observation": [answer(1, 1, STATE, 111), answer(2, 2, STATE, 111), answer(3, 3, STATE, 222), answer(4, 3, ZIP, None, value_as_string="35233")],
    }, rules("small_states", "zip_codes"), tier=Tier.REGISTERED, config=load_config(config_file))
    assert run.sandboxed("small_states", "observation", action="changed") == {3}
    assert run.sandboxed("zip_codes", "observation") == {4}


def test_controlled_tier_zip_codes_keep_three_digits_and_small_areas_merge_with_the_nearest(tmp_path):
    from research_workbench.curation.config import load_config

    config_file = tmp_path / "c.toml"
    config_file.write_text("[controlled]\nzip3_min_participants = 2\n")
    z = lambda oid, pid, v: answer(oid, pid, ZIP, None, value_as_string=v)  # noqa: E731
    run = run_rules(tmp_path, {
        "person": [person(i) for i in range(1, 7)],
        "observation": [z(1, 1, "35233"), z(2, 2, "35299"), z(3, 3, "40001"), z(4, 4, "40102"), z(5, 5, "35801"), z(6, 6, "n/a")],
    }, rules("zip3"), tier=Tier.CONTROLLED, config=load_config(config_file))
    assert run.sandboxed("zip3", "observation", action="changed") == {1, 2, 3, 4, 5, 6}
    assert run.rows("observation", "observation_id", "value_as_string") == [(1, "352**"), (2, "352**"), (3, "352**"), (4, "352**"), (5, "352**"), (6, "000**")]


def test_birth_month_and_day_are_removed_and_identifying_tables_emptied(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1, 1980, month_of_birth=3, day_of_birth=4), person(2, 1981)],
        "note": [{"note_id": 1, "person_id": 1, "note_date": date(2021, 1, 1), "note_type_concept_id": 1, "note_class_concept_id": 1,
                  "note_text": "text", "encoding_concept_id": 0, "language_concept_id": 0}],
        "location": [{"location_id": 5, "zip": "35233"}],
    }, rules("birth_month_and_day", "identifying_tables"), tier=Tier.CONTROLLED)
    assert run.sandboxed("birth_month_and_day", "person", action="changed") == {1}
    assert run.rows("person", "person_id", "year_of_birth", "month_of_birth", "day_of_birth") == [(1, 1980, None, None), (2, 1981, None, None)]
    assert run.sandboxed("identifying_tables", "note") == {1}
    assert run.sandboxed("identifying_tables", "location") == {5}


def test_the_zip3_socioeconomic_map_is_emptied_in_the_registered_tier_and_only_there(tmp_path):
    area = lambda z, income: {"zip3": z, "median_income": income, "fraction_poverty": 0.1, "acs_year": 2017}  # noqa: E731
    run = run_rules(tmp_path, {"person": [person(1)], "zip3_ses_map": [area("070", 71250.0), area("100", 86500.0)]},
                    rules("controlled_tier_tables"), tier=Tier.REGISTERED)
    assert run.sandboxed("controlled_tier_tables", "zip3_ses_map") == {"070", "100"}
    assert run.rows("zip3_ses_map", "zip3") == []
    assert run.effect("controlled_tier_tables").tables["zip3_ses_map"].removed == 2
    rule = rule_named("controlled_tier_tables", Stage.DEID)
    assert rule.tiers == {Tier.REGISTERED} and rule.tables == ("zip3_ses_map",)
    assert not any("zip3_ses_map" in r.tables for r in rules_for(Stage.DEID, Tier.CONTROLLED))  # kept whole there


def test_site_device_and_response_ids_are_replaced_through_the_private_maps_consistently(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1), person(2)],
        "observation": [answer(1, 1, GENDER, 1585839, response=500), answer(2, 1, SEX, 1585846, response=500), answer(3, 2, GENDER, 1585840, response=501)],
        "steps_intraday": [{"person_id": p, "datetime": datetime(2021, 1, 1, h), "steps": 10.0 * h, "src_id": s}
                           for p, h, s in ((1, 8, "hospital a"), (1, 9, "hospital a"), (2, 8, "hospital b"))],
        "survey_conduct": [{"survey_conduct_id": 500, "person_id": 1, "survey_concept_id": 1, "survey_end_date": date(2021, 1, 1), "survey_source_identifier": "500"},
                           {"survey_conduct_id": 501, "person_id": 2, "survey_concept_id": 1, "survey_end_date": date(2021, 1, 1)}],
        "device": [{"person_id": 1, "device_id": "dev-a", "device_date": date(2021, 1, 1)}, {"person_id": 1, "device_id": "dev-a", "device_date": date(2021, 1, 2)},
                   {"person_id": 2, "device_id": "dev-b", "device_date": date(2021, 1, 1)}],
    }, [rule_named(n) for n in ("site_masking", "device_ids", "survey_response_ids")], tier=Tier.CONTROLLED)
    from sqlglot import exp

    def pairs(name, key, value):
        return dict(run.ws.sql(exp.select(exp.column(key), exp.column(value)).from_(exp.table_(name, db="private"))))

    sites = pairs("site_map", "src_id", "masked_src_id")
    responses = pairs("response_map", "questionnaire_response_id", "research_response_id")
    devices = pairs("device_map", "device_id", "research_device_id")
    assert sites["hospital a"] != sites["hospital b"] and all(m.startswith("site ") for m in sites.values())
    assert sorted(run.rows("steps_intraday", "person_id", "steps", "src_id")) == [(1, 80.0, sites["hospital a"]), (1, 90.0, sites["hospital a"]), (2, 80.0, sites["hospital b"])]
    assert run.rows("observation", "observation_id", "questionnaire_response_id") == [(1, responses[500]), (2, responses[500]), (3, responses[501])]
    assert responses[500] != 500 and responses[500] != responses[501]
    assert run.rows("survey_conduct", "survey_conduct_id", "survey_source_identifier") == sorted(
        [(responses[500], str(responses[500])), (responses[501], None)])
    assert sorted(r[0] for r in run.rows("device", "device_id")) == sorted([devices["dev-a"], devices["dev-a"], devices["dev-b"]])
    assert not {"dev-a", "dev-b"} & set(devices.values())
    # remaps are counted, not sandboxed: the private maps already hold the original values
    assert run.effect("survey_response_ids").tables["observation"].remapped == 3
    assert run.effect("device_ids").tables["device"].remapped == 3
    assert run.effect("site_masking").tables["steps_intraday"].remapped == 3
    assert run.ws.tables_in("sb_controlled") == []
