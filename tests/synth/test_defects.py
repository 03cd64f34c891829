"""The defect ground truth lists exactly the defects present in the data (checked independently with SQL)."""

from __future__ import annotations

import pytest

from research_workbench.synth.defects import KINDS

from .conftest import ids


def listed(con, kind: str, table: str | None = None) -> set:
    if table:
        return ids(con, "SELECT row_id FROM gt WHERE defect = ? AND \"table\" = ?", [kind, table])
    return ids(con, "SELECT person_id FROM gt WHERE defect = ?", [kind])


def test_ground_truth_has_the_documented_columns_and_every_kind(con):
    cols = [r[0] for r in con.execute("DESCRIBE gt").fetchall()]
    assert cols == ["defect", "table", "row_id", "person_id", "detail"]
    present = {r[0] for r in con.execute("SELECT DISTINCT defect FROM gt").fetchall()}
    assert present == set(KINDS)


@pytest.mark.parametrize("table,date", [("condition_occurrence", "condition_start_date"), ("measurement", "measurement_date")])
def test_events_before_birth_are_exactly_the_listed_ones(con, table, date):
    found = ids(con, f"SELECT t.{table}_id FROM {table} t JOIN person p USING (person_id) WHERE t.{date} < CAST(p.birth_datetime AS DATE)")
    assert found and found == listed(con, "event_before_birth", table)


def test_events_long_after_death_are_exactly_the_listed_ones(con):
    found = set()
    for table, date in (("condition_occurrence", "condition_start_date"), ("measurement", "measurement_date")):
        found |= {(table, r) for r in ids(con, f"""SELECT t.{table}_id FROM {table} t JOIN death d ON d.person_id = t.person_id AND d.primary_death_record
                                               WHERE t.{date} > d.death_date + 30""")}
    truth = {(r[0], r[1]) for r in con.execute("SELECT \"table\", row_id FROM gt WHERE defect = 'event_after_death'").fetchall()}
    assert found and found == truth


def test_ends_before_starts_are_exactly_the_listed_ones(con):
    found = set()
    for table, start, end in (("condition_occurrence", "condition_start_date", "condition_end_date"),
                              ("drug_exposure", "drug_exposure_start_date", "drug_exposure_end_date"),
                              ("visit_occurrence", "visit_start_date", "visit_end_date")):
        found |= {(table, r) for r in ids(con, f"SELECT {table}_id FROM {table} WHERE {end} < {start}")}
    truth = {(r[0], r[1]) for r in con.execute("SELECT \"table\", row_id FROM gt WHERE defect = 'end_before_start'").fetchall()}
    assert found and found == truth


def test_unmapped_concepts_are_exactly_the_listed_ones(con):
    both = ids(con, "SELECT condition_occurrence_id FROM condition_occurrence WHERE condition_concept_id = 0 AND condition_source_concept_id = 0")
    assert both == listed(con, "unmapped_concept", "condition_occurrence")
    procs = ids(con, "SELECT procedure_occurrence_id FROM procedure_occurrence WHERE procedure_concept_id = 0 AND procedure_source_concept_id = 0")
    assert procs == listed(con, "unmapped_concept", "procedure_occurrence")
    icd_only = ids(con, """SELECT c.condition_occurrence_id FROM condition_occurrence c JOIN concept s ON s.concept_id = c.condition_source_concept_id
                           WHERE c.condition_concept_id = 0 AND s.vocabulary_id = 'ICD10CM'""")
    assert icd_only and icd_only == listed(con, "unmapped_standard_concept", "condition_occurrence")


def test_out_of_range_physical_measurements_are_exactly_the_listed_ones(con):
    found = ids(con, """SELECT measurement_id FROM measurement WHERE measurement_type_concept_id = 44818701 AND (
        (measurement_source_concept_id = 903133 AND value_as_number NOT BETWEEN 90 AND 228) OR
        (measurement_source_concept_id = 903121 AND value_as_number NOT BETWEEN 30 AND 250) OR
        (measurement_source_concept_id = 903124 AND value_as_number NOT BETWEEN 10 AND 125))""")
    assert found and found == listed(con, "out_of_range_measurement", "measurement")


def test_duplicate_rows_are_exactly_the_listed_copies(con):
    for table in ("condition_occurrence", "drug_exposure", "measurement", "observation"):
        from research_workbench.cdr.model import cdm

        cols = ", ".join(f'"{c}"' for c in cdm().table(table).column_names if c != f"{table}_id")
        extra = ids(con, f"""SELECT max({table}_id) FROM {table} GROUP BY {cols} HAVING count(*) > 1""")
        assert extra == listed(con, "duplicate_row", table), table


def test_free_text_and_branching_violations_are_exactly_the_listed_ones(con):
    free = ids(con, "SELECT observation_id FROM observation WHERE observation_source_value ILIKE '%freetext%' AND value_as_string IS NOT NULL")
    assert free and free == listed(con, "free_text_survey_answer", "observation")
    violations = ids(con, """
        SELECT c.observation_id FROM observation c JOIN observation p ON p.questionnaire_response_id = c.questionnaire_response_id
        WHERE (c.observation_source_concept_id = 1585860 AND p.observation_source_concept_id = 1585857 AND p.value_source_concept_id NOT IN (2002090001))
           OR (c.observation_source_concept_id = 2001100012 AND p.observation_source_concept_id = 2001100011 AND p.value_source_concept_id NOT IN (2002001101))""")
    assert violations and violations == listed(con, "survey_branching_violation", "observation")


def test_withdrawn_and_under_18_participants_are_listed_person_level(con):
    withdrawn = ids(con, "SELECT person_id FROM participant_status WHERE withdrawal_date IS NOT NULL")
    assert withdrawn and withdrawn == listed(con, "withdrawn_participant")
    minors = ids(con, """SELECT person_id FROM person p JOIN participant_status s USING (person_id)
                         WHERE s.primary_consent_date < CAST(p.birth_datetime AS DATE) + INTERVAL 18 YEAR""")
    assert minors and minors == listed(con, "under_18_participant")
    assert ids(con, "SELECT count(*) FROM gt WHERE defect IN ('withdrawn_participant', 'under_18_participant') AND row_id IS NOT NULL") == {0}


def test_data_after_deactivation_is_exactly_the_listed_rows(con):
    found = set()
    for table, date in (("visit_occurrence", "visit_start_date"), ("condition_occurrence", "condition_start_date"),
                        ("drug_exposure", "drug_exposure_start_date"), ("measurement", "measurement_date"),
                        ("observation", "observation_date"), ("procedure_occurrence", "procedure_date"),
                        ("device_exposure", "device_exposure_start_date"), ("survey_conduct", "survey_end_date"),
                        ("specimen", "specimen_date"), ("death", "death_date"), ("observation_period", "observation_period_start_date")):
        found |= {(table, r) for r in ids(con, f"""SELECT t.{table}_id FROM {table} t JOIN participant_status s USING (person_id)
                                               WHERE s.deactivation_date IS NOT NULL AND t.{date} >= s.deactivation_date""")}
    truth = {(r[0], r[1]) for r in con.execute("SELECT \"table\", row_id FROM gt WHERE defect = 'data_after_deactivation'").fetchall()}
    assert found and found == truth
    wearables_after = ids(con, """SELECT count(*) FROM activity_summary a JOIN participant_status s USING (person_id)
                                  WHERE s.deactivation_date IS NOT NULL AND a.date >= s.deactivation_date""")
    assert wearables_after == {0}


def test_every_listed_row_exists_in_its_table(con):
    for table in [r[0] for r in con.execute("SELECT DISTINCT \"table\" FROM gt WHERE row_id IS NOT NULL").fetchall()]:
        missing = ids(con, f"SELECT g.row_id FROM gt g LEFT JOIN {table} t ON t.{table}_id = g.row_id AND t.person_id = g.person_id WHERE g.\"table\" = ? AND t.person_id IS NULL", [table])
        assert not missing, table
