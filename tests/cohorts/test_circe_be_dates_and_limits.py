"""More points where the Circe executor must do exactly what OHDSI circe-be's generated SQL does.

1. A visit's end is ``vo.visit_end_date`` as it is: no COALESCE, so a NULL end stays NULL (and a DateOffset on it
   gives no exit: the entry is dropped).
2. A death is read from the OMOP death table, which has no id column (circe-be's event id is the person id), and
   ends the day after the death date.
3. DateAdjustment is applied in the criterion's inner select, so every filter (OccurrenceStartDate, Age, …) sees the
   adjusted dates, and ``C.end_date >= C.start_date`` drops an adjustment that ends before it starts.
4. QualifiedLimit applies whenever AdditionalCriteria is present, even as an empty group.
5. A Last primary limit orders ``sort_date DESC, event_id`` (ascending): on a tied date the lowest event id wins.
6. A concept set's listed ids are read from ``concept``: an id the vocabulary does not hold matches nothing.
7. Numeric bounds are written as circe-be writes them: integers (``intValue()``) for ages, counts and days, four
   decimals (``%.4f``) for measured values.

Each case is a tiny CDR with exact rows and the exact cohort rows circe-be's SQL gives for them.
"""

from __future__ import annotations

import pytest

from research_workbench.cohorts.circe import run_circe

from .circe_fixtures import concept_set, condition, drug, expression, item, offset_end, op

VISITS = [concept_set(3, item(9201))]
CONDITIONS = {"ConditionOccurrence": {"CodesetId": 1}}


def cohort(tiny_cdr, definition: dict, **tables) -> list[tuple[int, str, str]]:
    result = run_circe(definition, tiny_cdr(**tables))
    return [(r.subject_id, r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in result.rows]


def visit(person_id: int, start: str, end: str | None) -> dict:
    return {"person_id": person_id, "visit_concept_id": 9201, "visit_start_date": start, "visit_end_date": end}


# ------------------------------------------------------------------------------------------ 1. visit end


def test_visit_without_end_date_has_no_exit_from_a_date_offset_on_its_end(tiny_cdr):
    # circe-be: end_date NULL; "case when NULL + 0 > op_end then op_end else NULL end" is NULL, and no exit >= start
    definition = expression([{"VisitOccurrence": {"CodesetId": 3}}], VISITS, EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1), op(2)],
              "visit_occurrence": [visit(1, "2001-09-01", None), visit(2, "2001-09-01", "2001-09-03")]}
    assert cohort(tiny_cdr, definition, **tables) == [(2, "2001-09-01", "2001-09-03")]


def test_visit_without_end_date_still_enters_until_its_observation_period_ends(tiny_cdr):
    definition = expression([{"VisitOccurrence": {"CodesetId": 3}}], VISITS)
    tables = {"observation_period": [op(1)], "visit_occurrence": [visit(1, "2001-09-01", None)]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-09-01", "2010-12-31")]


def test_visit_without_end_date_has_no_visit_length(tiny_cdr):
    definition = expression([{"VisitOccurrence": {"CodesetId": 3, "VisitLength": {"Value": 0, "Op": "gte"}}}], VISITS)
    tables = {"observation_period": [op(1), op(2)],
              "visit_occurrence": [visit(1, "2001-09-01", None), visit(2, "2001-09-01", "2001-09-01")]}
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == [2]


# ------------------------------------------------------------------------------------------ 2. death


def test_death_is_read_from_a_death_table_without_an_id_and_lasts_one_day(tiny_cdr):
    definition = expression([{"Death": {}}], EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1), op(2)],
              "death": [{"person_id": 1, "death_date": "2009-01-01"}, {"person_id": 2, "death_date": "2011-05-05"}]}
    # person 2 died after the observation period ended: no entry
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2009-01-01", "2009-01-02")]


# ------------------------------------------------------------------------------------------ 3. date adjustment


def adjusted(start_with: str, start_offset: int, end_with: str, end_offset: int, **attributes) -> dict:
    return {"ConditionOccurrence": {"CodesetId": 1, "DateAdjustment": {
        "StartWith": start_with, "StartOffset": start_offset, "EndWith": end_with, "EndOffset": end_offset}, **attributes}}


def test_occurrence_start_date_filter_sees_the_adjusted_start(tiny_cdr):
    # raw start 2001-01-01, adjusted 2001-01-11: "start > 2001-01-05" holds for the adjusted start only
    criterion = adjusted("START_DATE", 10, "START_DATE", 12, OccurrenceStartDate={"Value": "2001-01-05", "Op": "gt"})
    definition = expression([criterion], EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1)], "condition_occurrence": [condition(1, "2001-01-01")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-11", "2001-01-13")]


def test_age_sees_the_adjusted_start_year(tiny_cdr):
    # born 1970; raw start 2001-12-25 (age 31), adjusted 2002-01-04 (age 32)
    criterion = adjusted("START_DATE", 10, "START_DATE", 10, Age={"Value": 32, "Op": "eq"})
    tables = {"observation_period": [op(1)], "condition_occurrence": [condition(1, "2001-12-25")]}
    assert cohort(tiny_cdr, expression([criterion], EndStrategy=offset_end(0, "EndDate")), **tables) == [(1, "2002-01-04", "2002-01-04")]


def test_adjustment_ending_before_it_starts_drops_the_event(tiny_cdr):
    # 2001-01-01..2001-01-05 adjusted to start at its end and end at its start: end < start, dropped;
    # 2001-02-01..2001-02-01 adjusted the same way: end = start, kept
    criterion = adjusted("END_DATE", 0, "START_DATE", 0)
    tables = {"observation_period": [op(1)],
              "condition_occurrence": [condition(1, "2001-01-01", end="2001-01-05"), condition(1, "2001-02-01", end="2001-02-01")]}
    definition = expression([criterion], EndStrategy=offset_end(0, "EndDate"))
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-02-01", "2001-02-01")]


# ------------------------------------------------------------------------------------------ 4. qualified limit


@pytest.mark.parametrize("additional, expected", [
    ({"Type": "ALL", "CriteriaList": [], "DemographicCriteriaList": [], "Groups": []}, [(1, "2001-01-01", "2001-01-31")]),
    (None, [(1, "2001-01-01", "2001-01-31"), (1, "2002-01-01", "2002-01-31")]),
])
def test_qualified_limit_applies_when_additional_criteria_is_present_even_empty(tiny_cdr, additional, expected):
    rest = {"AdditionalCriteria": additional} if additional is not None else {}
    definition = expression([{"DrugExposure": {"CodesetId": 0}}], QualifiedLimit={"Type": "First"}, EndStrategy=offset_end(30), **rest)
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2002-01-01")]}
    assert cohort(tiny_cdr, definition, **tables) == expected


# ------------------------------------------------------------------------------------------ 5. last limit tie


def test_last_primary_limit_breaks_a_tied_date_by_the_lowest_event_id(tiny_cdr):
    # ids 1 and 2 both start 2001-01-01; circe-be orders "sort_date DESC, event_id": id 1 (ending 01-10) is kept
    definition = expression([{"DrugExposure": {"CodesetId": 0}}], limit="Last", EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1)],
              "drug_exposure": [drug(1, "2001-01-01", "2001-01-10", drug_exposure_id=1), drug(1, "2001-01-01", "2001-01-20", drug_exposure_id=2)]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-01-10")]


# ------------------------------------------------------------------------------------------ 6. listed concepts


def test_listed_concept_missing_from_the_vocabulary_matches_nothing(tiny_cdr):
    # 999 is not in concept: circe-be's "select concept_id from CONCEPT where concept_id in (999, 100)" drops it
    definition = expression([{"DrugExposure": {"CodesetId": 0}}], [concept_set(0, item(999), item(100))])
    tables = {"observation_period": [op(1), op(2)], "drug_exposure": [drug(1, "2001-01-01", concept=999), drug(2, "2001-01-01")]}
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == [2]


# ------------------------------------------------------------------------------------------ 7. numeric bounds


def test_age_bound_drops_its_fraction_as_circe_writes_an_integer(tiny_cdr):
    # born 1970, event in 2001 (age 31): circe-be writes "Age = 31.9" as "= 31"
    definition = expression([{"DrugExposure": {"CodesetId": 0, "Age": {"Value": 31.9, "Op": "eq"}}}])
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2001-06-01")]}
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == [1]


def test_measured_value_bound_is_rounded_to_four_decimals(tiny_cdr):
    # circe-be writes "ValueAsNumber > 5.00004" as "> 5.0000": 5.00002 passes; 5.00005 rounds half up to 5.0001
    def reading(person_id: int, value: float) -> dict:
        return {"person_id": person_id, "measurement_concept_id": 300, "measurement_date": "2001-06-01", "value_as_number": value}

    def selected(bound: float) -> list[int]:
        definition = expression([{"Measurement": {"CodesetId": 2, "ValueAsNumber": {"Value": bound, "Op": "gt"}}}],
                                [concept_set(2, item(300))])
        tables = {"observation_period": [op(1), op(2)], "measurement": [reading(1, 5.00002), reading(2, 5.00011)]}
        return [r[0] for r in cohort(tiny_cdr, definition, **tables)]

    assert selected(5.00004) == [1, 2]
    assert selected(5.00005) == [2]


def test_definition_without_concept_sets_resolves_an_empty_codeset_table(tiny_cdr):
    definition = expression([{"ObservationPeriod": {}}], [], limit="First")
    tables = {"observation_period": [op(1, "2001-01-01", "2001-12-31")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-12-31")]
