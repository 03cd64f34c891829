"""Participants: shares of data types, diversity, ages, status dates."""

from __future__ import annotations

from .conftest import N, scalar


def share(con, sql: str) -> float:
    return scalar(con, sql) / N


def test_data_type_shares_match_the_program_targets(con):
    assert abs(share(con, "SELECT count(DISTINCT person_id) FROM visit_occurrence") - 0.75) < 0.04
    assert abs(share(con, "SELECT count(DISTINCT person_id) FROM measurement WHERE measurement_type_concept_id = 44818701") - 0.85) < 0.03
    assert abs(share(con, "SELECT count(DISTINCT person_id) FROM specimen") - 0.80) < 0.03
    assert 0.04 <= share(con, "SELECT count(DISTINCT person_id) FROM activity_summary") <= 0.10
    assert abs(share(con, "SELECT count(*) FROM genomic_sample WHERE data_type = 'wgs'") - 0.50) < 0.04


def test_everyone_has_a_person_row_status_and_the_basics(con):
    assert scalar(con, "SELECT count(*) FROM person") == N
    assert scalar(con, "SELECT count(*) FROM participant_status") == N
    assert scalar(con, "SELECT count(DISTINCT person_id) FROM survey_conduct WHERE survey_concept_id = 1586134") == N


def test_ages_at_consent_span_18_to_100_with_some_over_89(con):
    ages = con.execute("""
        SELECT date_diff('day', CAST(p.birth_datetime AS DATE), s.primary_consent_date) / 365.25 AS age
        FROM person p JOIN participant_status s USING (person_id)
        WHERE person_id NOT IN (SELECT person_id FROM gt WHERE defect = 'under_18_participant')""").fetchall()
    ages = [a[0] for a in ages]
    assert min(ages) >= 18 and max(ages) <= 101
    over_89 = sum(a > 89 for a in ages) / len(ages)
    assert 0.005 < over_89 < 0.08


def test_population_is_diverse_in_race_gender_sex_orientation_education_and_state(con):
    race = dict(con.execute("SELECT value_source_concept_id, count(*) FROM observation WHERE observation_source_concept_id = 1586140 GROUP BY 1").fetchall())
    assert len([k for k, v in race.items() if v >= 5]) >= 6
    assert race[1586146] / N < 0.6  # White is not everyone
    assert scalar(con, "SELECT count(*) FROM (SELECT person_id FROM observation WHERE observation_source_concept_id = 1586140 GROUP BY person_id HAVING count(*) > 1)") > N * 0.02
    genders = scalar(con, "SELECT count(DISTINCT value_source_concept_id) FROM observation WHERE observation_source_concept_id = 1585838")
    assert genders >= 5
    assert scalar(con, "SELECT count(DISTINCT sex_at_birth_concept_id) FROM person_ext") >= 4
    assert scalar(con, "SELECT count(DISTINCT value_source_concept_id) FROM observation WHERE observation_source_concept_id = 1585899") >= 5
    assert scalar(con, "SELECT count(DISTINCT value_source_concept_id) FROM observation WHERE observation_source_concept_id = 1585940") >= 7
    assert scalar(con, "SELECT count(DISTINCT state_of_residence_concept_id) FROM person_ext") >= 15
    hispanic = share(con, "SELECT count(*) FROM person WHERE ethnicity_concept_id = 38003563")
    assert 0.12 < hispanic < 0.3


def test_small_shares_are_withdrawn_deactivated_and_deceased(con):
    assert 0.002 < share(con, "SELECT count(*) FROM participant_status WHERE withdrawal_date IS NOT NULL") < 0.02
    assert 0.003 < share(con, "SELECT count(*) FROM participant_status WHERE deactivation_date IS NOT NULL") < 0.025
    assert 0.01 < share(con, "SELECT count(DISTINCT person_id) FROM death") < 0.08
    assert scalar(con, "SELECT count(*) FROM (SELECT person_id FROM death WHERE primary_death_record GROUP BY 1 HAVING count(*) <> 1)") == 0
    assert scalar(con, "SELECT count(*) FROM participant_status WHERE enrollment_date < DATE '2018-05-06' OR enrollment_date > DATE '2024-06-30'") == 0


def test_zip_codes_are_five_digits_in_the_participants_state(con):
    rows = con.execute("""
        SELECT o.value_as_string, e.state_of_residence_source_value FROM observation o JOIN person_ext e USING (person_id)
        WHERE o.observation_source_concept_id = 1585250 AND o.value_as_string IS NOT NULL""").fetchall()
    assert len(rows) > N * 0.9
    assert all(len(z) == 5 and z.isdigit() for z, _ in rows)
    ny = [int(z[:3]) for z, s in rows if s == "PIIState_NY"]
    assert ny and all(100 <= z <= 149 for z in ny)
