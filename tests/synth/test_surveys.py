"""Surveys: modules, response ids, skips, multi-select, branching."""

from __future__ import annotations

from research_workbench.synth.vocab import vocabulary

from .conftest import N, scalar


def test_later_modules_are_completed_by_decreasing_shares(con):
    shares = []
    for code in ("TheBasics", "Lifestyle", "OverallHealth", "PersonalAndFamilyHealthHistory", "HealthcareAccessUtiliziation", "SocialDeterminantsOfHealth"):
        m = vocabulary().module(code)
        shares.append(scalar(con, "SELECT count(DISTINCT person_id) FROM survey_conduct WHERE survey_concept_id = ?", [m.concept_id]) / N)
    assert shares[0] == 1.0
    assert all(a > b for a, b in zip(shares, shares[1:])), shares
    assert shares[-1] > 0.1


def test_every_answer_belongs_to_a_completed_module_of_the_same_person(con):
    orphans = scalar(con, """
        SELECT count(*) FROM observation o LEFT JOIN survey_conduct s ON s.survey_conduct_id = o.questionnaire_response_id
        WHERE o.questionnaire_response_id IS NOT NULL AND (s.person_id IS NULL OR s.person_id <> o.person_id OR s.survey_end_date <> o.observation_date)""")
    assert orphans == 0
    empty = scalar(con, "SELECT count(*) FROM survey_conduct WHERE survey_conduct_id NOT IN (SELECT questionnaire_response_id FROM observation WHERE questionnaire_response_id IS NOT NULL)")
    assert empty == 0


def test_answers_name_the_question_and_the_answer_concepts(con):
    bad = scalar(con, """
        SELECT count(*) FROM observation WHERE questionnaire_response_id IS NOT NULL AND (
            observation_source_concept_id IS NULL OR
            (value_source_concept_id IS NULL AND value_as_number IS NULL AND value_as_string IS NULL) OR
            value_source_concept_id IS DISTINCT FROM value_as_concept_id)""")
    assert bad == 0


def test_skips_prefer_not_to_answer_numbers_and_free_text_all_occur(con):
    assert scalar(con, "SELECT count(*) FROM observation WHERE value_source_concept_id = 903096") > N * 0.05
    assert scalar(con, "SELECT count(*) FROM observation WHERE value_source_concept_id = 903079") > N * 0.02
    assert scalar(con, "SELECT count(*) FROM observation WHERE observation_source_concept_id = 1585889 AND value_as_number BETWEEN 1 AND 12") > N * 0.9
    assert scalar(con, "SELECT count(*) FROM observation WHERE observation_source_value LIKE '%FreeText%' AND value_as_string IS NOT NULL") > 0


def test_branching_questions_are_asked_only_when_enabled_except_listed_violations(con):
    asked_wrongly = con.execute("""
        SELECT c.observation_id FROM observation c JOIN observation p
          ON p.questionnaire_response_id = c.questionnaire_response_id AND p.observation_source_concept_id = 1585857
        WHERE c.observation_source_concept_id = 1585860 AND p.value_source_concept_id <> 2002090001""").fetchall()
    listed = {r[0] for r in con.execute("SELECT row_id FROM gt WHERE defect = 'survey_branching_violation'").fetchall()}
    assert asked_wrongly
    assert {r[0] for r in asked_wrongly} <= listed
    asked_right = scalar(con, """
        SELECT count(*) FROM observation c JOIN observation p
          ON p.questionnaire_response_id = c.questionnaire_response_id AND p.observation_source_concept_id = 1585857
        WHERE c.observation_source_concept_id = 1585860 AND p.value_source_concept_id = 2002090001""")
    assert asked_right > 100


def test_self_reported_conditions_agree_with_the_ehr(con):
    rows = dict(con.execute("""
        SELECT person_id IN (SELECT person_id FROM condition_occurrence WHERE condition_concept_id = 201826),
               avg(CASE WHEN person_id IN (SELECT person_id FROM observation WHERE value_source_concept_id = 2002003001) THEN 1 ELSE 0 END)
        FROM survey_conduct WHERE survey_concept_id = 1740639 AND person_id IN (SELECT person_id FROM visit_occurrence) GROUP BY 1""").fetchall())
    assert rows[True] > 0.6 and rows[False] < 0.2
