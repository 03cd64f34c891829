"""One named case per Circe feature, each on a tiny CDR with the exact cohort rows worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from research_workbench.cohorts.circe import run_circe

from .circe_fixtures import (
    build_cdr, concept_set, condition, correlated, drug, expression, item, offset_end, op, rule, window,
)

DRUGS = {"DrugExposure": {"CodesetId": 0}}
CONDITIONS = {"ConditionOccurrence": {"CodesetId": 1}}


def cohort(tiny_cdr, definition: dict, **tables) -> list[tuple[int, str, str]]:
    result = run_circe(definition, tiny_cdr(**tables))
    return [(r.subject_id, r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in result.rows]


# ------------------------------------------------------------------------------------------ primary events


@pytest.mark.parametrize(
    "limit, expected",
    [
        ("First", [(1, "2001-01-01", "2001-01-31"), (2, "2003-05-05", "2003-06-04")]),
        ("Last", [(1, "2002-01-01", "2002-01-31"), (2, "2003-05-05", "2003-06-04")]),
        ("All", [(1, "2001-01-01", "2001-01-31"), (1, "2002-01-01", "2002-01-31"), (2, "2003-05-05", "2003-06-04")]),
    ],
)
def test_primary_limit_first_keeps_each_persons_earliest_event(tiny_cdr, limit, expected):
    definition = expression([DRUGS], limit=limit, EndStrategy=offset_end(30))
    tables = {"observation_period": [op(1), op(2)],
              "drug_exposure": [drug(1, "2002-01-01"), drug(1, "2001-01-01"), drug(2, "2003-05-05")]}
    assert cohort(tiny_cdr, definition, **tables) == expected


def test_event_outside_every_observation_period_never_enters(tiny_cdr):
    # Person 1's earliest event (1995) is outside observation: the First limit applies after the period join.
    tables = {
        "observation_period": [op(1), op(2), op(3)],
        "drug_exposure": [drug(1, "1995-01-01"), drug(1, "2001-01-01"), drug(2, "1999-06-01"), drug(3, "2010-12-31")],
    }
    assert cohort(tiny_cdr, expression([DRUGS], limit="First"), **tables) == [
        (1, "2001-01-01", "2010-12-31"),
        (3, "2010-12-31", "2010-12-31"),  # the period's last day is inside it
    ]


def test_observation_window_requires_prior_and_post_days(tiny_cdr):
    definition = expression([DRUGS], limit="First")
    definition["PrimaryCriteria"]["ObservationWindow"] = {"PriorDays": 365, "PostDays": 30}
    tables = {
        "observation_period": [op(1), op(2), op(3)],
        "drug_exposure": [
            drug(1, "2000-06-01"), drug(1, "2001-03-01"),  # 152 days of prior observation: too few
            drug(2, "2010-12-15"),  # 16 days of follow-up: too few
            drug(3, "2000-12-31"),  # exactly 365 days after the period starts (2000 is a leap year)
        ],
    }
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-03-01", "2010-12-31"), (3, "2000-12-31", "2010-12-31")]


def test_first_attribute_looks_at_the_whole_table_before_other_filters(tiny_cdr):
    definition = expression([{"ConditionOccurrence": {"CodesetId": 1, "First": True}}])
    tables = {"observation_period": [op(1), op(2)],
              "condition_occurrence": [condition(1, "1995-01-01"), condition(1, "2001-01-01"), condition(2, "2002-02-02")]}
    assert cohort(tiny_cdr, definition, **tables) == [(2, "2002-02-02", "2010-12-31")]


# ------------------------------------------------------------------------------------------ concept sets

ONE_DRUG_EACH = {"observation_period": [op(p) for p in (1, 2, 3, 4)],
                 "drug_exposure": [drug(1, "2001-01-01", concept=100), drug(2, "2001-01-01", concept=101),
                                   drug(3, "2001-01-01", concept=102), drug(4, "2001-01-01", concept=103)]}


@pytest.mark.parametrize("descendants, persons", [(False, [1]), (True, [1, 2, 4])])
def test_concept_set_descendants_are_valid_concepts_only(tiny_cdr, descendants, persons):
    definition = expression([DRUGS], [concept_set(0, item(100, descendants=descendants))])
    assert [r[0] for r in cohort(tiny_cdr, definition, **ONE_DRUG_EACH)] == persons


@pytest.mark.parametrize("excluded_descendants, persons", [(True, [1]), (False, [1, 4])])
def test_concept_set_exclusion_removes_descendants_too(tiny_cdr, excluded_descendants, persons):
    sets = [concept_set(0, item(100, descendants=True), item(101, descendants=excluded_descendants, excluded=True))]
    assert [r[0] for r in cohort(tiny_cdr, expression([DRUGS], sets), **ONE_DRUG_EACH)] == persons


@pytest.mark.parametrize("mapped, persons", [(True, [1, 2]), (False, [])])
def test_include_mapped_adds_source_concepts_mapped_to_members(tiny_cdr, mapped, persons):
    # 500 maps to 200 and 501 to 201 (a descendant); 502's "Maps to" row is invalid.
    sets = [concept_set(1, item(200, descendants=True, mapped=mapped))]
    definition = expression([{"ConditionOccurrence": {"ConditionSourceConcept": 1}}], sets)
    tables = {"observation_period": [op(1), op(2), op(3)],
              "condition_occurrence": [condition(p, "2001-01-01", concept=0, condition_source_concept_id=src)
                                       for p, src in ((1, 500), (2, 501), (3, 502))]}
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == persons


# ------------------------------------------------------------------------------------------ criteria and windows


def test_exactly_zero_occurrences_keeps_index_events_without_matches(tiny_cdr):
    no_prior = rule("no condition in the prior year", correlated(CONDITIONS, 0, 0, window(365, 0)))
    definition = expression([DRUGS], InclusionRules=[no_prior])
    tables = {"observation_period": [op(1), op(2), op(3)],
              "drug_exposure": [drug(p, "2005-01-01") for p in (1, 2, 3)],
              "condition_occurrence": [condition(1, "2004-06-01"), condition(3, "2003-01-01")]}
    result = run_circe(definition, tiny_cdr(**tables))
    assert [(r.subject_id, r.cohort_start_date.isoformat()) for r in result.rows] == [(2, "2005-01-01"), (3, "2005-01-01")]
    (stats,) = result.inclusion_rules
    assert (stats.persons_passing, stats.events_passing, stats.persons_lost, stats.events_lost) == (2, 2, 1, 1)


@pytest.mark.parametrize("distinct, persons", [(True, [2]), (False, [1, 2])])
def test_at_least_two_occurrences_counts_distinct_start_dates_when_asked(tiny_cdr, distinct, persons):
    occurrence = {"IsDistinct": True, "CountColumn": "START_DATE"} if distinct else {}
    two = rule("two conditions in the next year", correlated(CONDITIONS, 2, 2, window(0, 365), occurrence=occurrence))
    tables = {"observation_period": [op(1), op(2)],
              "drug_exposure": [drug(1, "2005-01-01"), drug(2, "2005-01-01")],
              "condition_occurrence": [condition(1, "2005-02-01"), condition(1, "2005-02-01", concept=201),
                                       condition(2, "2005-02-01"), condition(2, "2005-03-01")]}
    sets = [concept_set(0, item(100)), concept_set(1, item(200, descendants=True))]
    assert [r[0] for r in cohort(tiny_cdr, expression([DRUGS], sets, InclusionRules=[two]), **tables)] == persons


@pytest.mark.parametrize("ignore_period, persons", [(False, []), (True, [1])])
def test_unbounded_window_stops_at_the_observation_period_unless_ignored(tiny_cdr, ignore_period, persons):
    prior = rule("any prior condition", correlated(CONDITIONS, 2, 1, window(None, 0), IgnoreObservationPeriod=ignore_period))
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2005-01-01")],
              "condition_occurrence": [condition(1, "1999-01-01")]}  # before the period starts
    assert [r[0] for r in cohort(tiny_cdr, expression([DRUGS], InclusionRules=[prior]), **tables)] == persons


def test_end_window_tests_the_candidates_end_date(tiny_cdr):
    # A condition starting before the index but still going on at the index: starts in [-30, 0], ends in [0, +inf).
    ongoing = correlated(CONDITIONS, 2, 1, window(30, 0), EndWindow={"Start": {"Days": 0, "Coeff": 1}, "End": {"Days": None, "Coeff": 1}})
    tables = {"observation_period": [op(1), op(2)], "drug_exposure": [drug(1, "2005-01-10"), drug(2, "2005-01-10")],
              "condition_occurrence": [condition(1, "2005-01-01", end="2005-01-20"), condition(2, "2005-01-01", end="2005-01-05")]}
    definition = expression([DRUGS], InclusionRules=[rule("ongoing condition", ongoing)])
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == [1]


def test_restrict_visit_needs_the_same_visit(tiny_cdr):
    same_visit = rule("condition in the same visit", correlated(CONDITIONS, 2, 1, window(None, None), RestrictVisit=True))
    tables = {"observation_period": [op(1), op(2)],
              "drug_exposure": [drug(1, "2005-01-01", visit_occurrence_id=10), drug(2, "2005-01-01", visit_occurrence_id=20)],
              "condition_occurrence": [condition(1, "2005-01-01", visit_occurrence_id=10),
                                       condition(2, "2005-01-01", visit_occurrence_id=21)]}
    assert [r[0] for r in cohort(tiny_cdr, expression([DRUGS], InclusionRules=[same_visit]), **tables)] == [1]


@pytest.mark.parametrize(
    "group_type, count, persons",
    [("ALL", None, [4]), ("ANY", None, [1, 2, 4]), ("AT_LEAST", 1, [1, 2, 4]), ("AT_MOST", 1, [1, 2, 3]), ("AT_MOST", 0, [3])],
)
def test_group_types_count_the_members_satisfied(tiny_cdr, group_type, count, persons):
    sets = [concept_set(0, item(100)), concept_set(1, item(200)), concept_set(2, item(300))]
    has_200 = correlated({"ConditionOccurrence": {"CodesetId": 1}}, 2, 1, window(365, 0))
    has_300 = correlated({"ConditionOccurrence": {"CodesetId": 2}}, 2, 1, window(365, 0))
    tables = {"observation_period": [op(p) for p in (1, 2, 3, 4)],
              "drug_exposure": [drug(p, "2005-01-01") for p in (1, 2, 3, 4)],
              "condition_occurrence": [condition(1, "2004-12-01", 200), condition(2, "2004-12-01", 300),
                                       condition(4, "2004-12-01", 200), condition(4, "2004-12-02", 300)]}
    definition = expression([DRUGS], sets, InclusionRules=[rule("group", has_200, has_300, type_=group_type, count=count)])
    assert [r[0] for r in cohort(tiny_cdr, definition, **tables)] == persons


def test_nested_correlated_criteria_filter_the_criterions_own_events(tiny_cdr):
    preceded = {"DrugExposure": {"CodesetId": 0, "CorrelatedCriteria": {
        "Type": "ALL", "CriteriaList": [correlated(CONDITIONS, 2, 1, window(30, 0))]}}}
    tables = {"observation_period": [op(1), op(2)],
              "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2002-01-01"), drug(2, "2001-01-01")],
              "condition_occurrence": [condition(1, "2001-12-15"), condition(2, "2000-06-01")]}
    assert cohort(tiny_cdr, expression([preceded], limit="First"), **tables) == [(1, "2002-01-01", "2010-12-31")]


def test_additional_criteria_then_qualified_limit(tiny_cdr):
    recent = {"Type": "ALL", "CriteriaList": [correlated(CONDITIONS, 2, 1, window(30, 0))]}
    tables = {"observation_period": [op(1), op(2)],
              "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2002-01-01"), drug(1, "2003-01-01"),
                                drug(2, "2001-01-01"), drug(2, "2001-06-01")],
              "condition_occurrence": [condition(1, "2001-12-15"), condition(2, "2000-12-20"), condition(2, "2001-05-20")]}
    cdr = tiny_cdr(**tables)
    starts = {}
    for limit in ("First", "Last"):
        definition = expression([DRUGS], AdditionalCriteria=recent, QualifiedLimit={"Type": limit})
        starts[limit] = [(r.subject_id, r.cohort_start_date.isoformat()) for r in run_circe(definition, cdr).rows]
    assert starts == {"First": [(1, "2002-01-01"), (2, "2001-01-01")], "Last": [(1, "2002-01-01"), (2, "2001-06-01")]}


def test_qualified_limit_is_ignored_without_additional_criteria(tiny_cdr):
    definition = expression([DRUGS], QualifiedLimit={"Type": "First"}, EndStrategy=offset_end(10))
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2002-01-01")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-01-11"), (1, "2002-01-01", "2002-01-11")]


def test_demographics_age_is_a_year_of_birth_difference_and_rules_report_attrition(tiny_cdr):
    rules = [rule("Age > 40", demographic=[{"Age": {"Value": 40, "Op": "gt"}}]),
             rule("male", demographic=[{"Gender": [{"CONCEPT_ID": 8507, "CONCEPT_NAME": "MALE"}]}])]
    tables = {
        "person": [
            {"person_id": 1, "year_of_birth": 1960, "month_of_birth": 1},   # 2000 − 1960 = 40: not > 40
            {"person_id": 2, "year_of_birth": 1959, "month_of_birth": 12},  # exact age 40, but 2000 − 1959 = 41
            {"person_id": 3, "year_of_birth": 1950, "gender_concept_id": 8532},
        ],
        "observation_period": [op(1), op(2), op(3)],
        "drug_exposure": [drug(p, "2000-06-01") for p in (1, 2, 3)],
    }
    result = run_circe(expression([DRUGS], InclusionRules=rules), tiny_cdr(**tables))
    assert [(r.subject_id, r.cohort_start_date.isoformat()) for r in result.rows] == [(2, "2000-06-01")]
    assert [(r.name, r.persons_passing, r.events_passing, r.persons_remaining, r.persons_lost) for r in result.inclusion_rules] == [
        ("Age > 40", 2, 2, 2, 1),
        ("male", 2, 2, 1, 1),
    ]
    assert (result.entry_count, result.subject_count) == (1, 1)


@pytest.mark.parametrize("limit, starts", [("First", ["2001-01-01"]), ("Last", ["2003-01-01"]), ("All", ["2001-01-01", "2002-01-01", "2003-01-01"])])
def test_expression_limit_applies_after_inclusion_rules(tiny_cdr, limit, starts):
    # Events stored out of order: First/Last go by start date.
    definition = expression([DRUGS], ExpressionLimit={"Type": limit}, EndStrategy=offset_end(1))
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, d) for d in ("2003-01-01", "2001-01-01", "2002-01-01")]}
    assert [r[1] for r in cohort(tiny_cdr, definition, **tables)] == starts


# ------------------------------------------------------------------------------------------ cohort end


def test_date_offset_end_is_capped_at_the_observation_period_end(tiny_cdr):
    definition = expression([DRUGS], EndStrategy=offset_end(30, "EndDate"))
    tables = {"observation_period": [op(1, end="2001-01-10"), op(2)],
              "drug_exposure": [drug(1, "2001-01-01", "2001-01-05"), drug(2, "2001-01-01", "2001-01-05")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-01-10"), (2, "2001-01-01", "2001-02-04")]


@pytest.mark.parametrize("gap, offset, end", [(4, 0, "2001-01-10"), (5, 0, "2001-01-20"), (5, 3, "2001-01-23"), (30, 0, "2001-02-12")])
def test_custom_era_end_merges_exposures_within_gap_days(tiny_cdr, gap, offset, end):
    # Exposures 01-01..01-10, 01-15..01-20 (5 days apart), 02-10..02-12 (21 days after the second).
    era = {"CustomEra": {"DrugCodesetId": 0, "GapDays": gap, "Offset": offset}}
    tables = {"observation_period": [op(1)],
              "drug_exposure": [drug(1, "2001-01-01", "2001-01-10"), drug(1, "2001-01-15", "2001-01-20"),
                                drug(1, "2001-02-10", "2001-02-12")]}
    assert cohort(tiny_cdr, expression([DRUGS], limit="First", EndStrategy=era), **tables) == [(1, "2001-01-01", end)]


def test_custom_era_days_supply_override_replaces_recorded_ends(tiny_cdr):
    era = {"CustomEra": {"DrugCodesetId": 0, "GapDays": 7, "Offset": 0, "DaysSupplyOverride": 3}}
    tables = {"observation_period": [op(1)],
              "drug_exposure": [drug(1, "2001-01-01", "2001-01-10"), drug(1, "2001-01-15", "2001-01-20")]}
    # Ends become 01-04 and 01-18: 11 days apart, more than the 7-day gap.
    assert cohort(tiny_cdr, expression([DRUGS], limit="First", EndStrategy=era), **tables) == [(1, "2001-01-01", "2001-01-04")]


def test_censoring_criteria_end_an_entry_at_the_first_event_on_or_after_its_start(tiny_cdr):
    definition = expression([DRUGS], limit="First", CensoringCriteria=[CONDITIONS])
    tables = {"observation_period": [op(1), op(2), op(3)],
              "drug_exposure": [drug(p, "2001-01-01") for p in (1, 2, 3)],
              "condition_occurrence": [condition(1, "2001-05-01"), condition(1, "2001-03-01"), condition(2, "2000-12-01"),
                                       condition(3, "2001-01-01")]}
    assert cohort(tiny_cdr, definition, **tables) == [
        (1, "2001-01-01", "2001-03-01"), (2, "2001-01-01", "2010-12-31"), (3, "2001-01-01", "2001-01-01"),
    ]


@pytest.mark.parametrize(
    "pad, expected",
    [(0, [(1, "2001-01-01", "2001-01-21"), (1, "2001-02-05", "2001-02-15")]),
     (14, [(1, "2001-01-01", "2001-01-21"), (1, "2001-02-05", "2001-02-15")]),
     (15, [(1, "2001-01-01", "2001-02-15")])],
)
def test_era_pad_merges_entries_closer_than_the_pad(tiny_cdr, pad, expected):
    # Entries 01-01..01-11 and 01-11..01-21 touch (merged even with pad 0); 02-05..02-15 starts 15 days later.
    definition = expression([DRUGS], EndStrategy=offset_end(10), CollapseSettings={"CollapseType": "ERA", "EraPad": pad})
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, d) for d in ("2001-01-01", "2001-01-11", "2001-02-05")]}
    assert cohort(tiny_cdr, definition, **tables) == expected


def test_censor_window_clips_periods_and_drops_those_outside(tiny_cdr):
    definition = expression([DRUGS], limit="First", CensorWindow={"StartDate": "2000-01-01", "EndDate": "2003-12-31"})
    tables = {"observation_period": [op(1, "1999-01-01", "2005-12-31"), op(2, "2004-01-01", "2006-12-31")],
              "drug_exposure": [drug(1, "1999-06-01"), drug(2, "2004-02-02")]}
    result = run_circe(definition, tiny_cdr(**tables))
    assert [(r.subject_id, r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in result.rows] == [
        (1, "2000-01-01", "2003-12-31")
    ]
    assert (result.entry_count, result.subject_count) == (2, 1)


# ------------------------------------------------------------------------------------------ domains

DOMAIN_TABLES = {
    "observation_period": [op(1)],
    "condition_occurrence": [condition(1, "2001-01-01")],
    "condition_era": [{"person_id": 1, "condition_concept_id": 200, "condition_era_start_date": "2001-02-01",
                       "condition_era_end_date": "2001-03-01", "condition_occurrence_count": 3}],
    "drug_exposure": [drug(1, "2001-04-01", "2001-04-10")],
    "drug_era": [{"person_id": 1, "drug_concept_id": 100, "drug_era_start_date": "2001-05-01", "drug_era_end_date": "2001-05-31",
                  "drug_exposure_count": 2, "gap_days": 0}],
    "measurement": [{"person_id": 1, "measurement_concept_id": 300, "measurement_date": "2001-06-01", "value_as_number": 3},
                    {"person_id": 1, "measurement_concept_id": 300, "measurement_date": "2001-06-15", "value_as_number": 7}],
    "observation": [{"person_id": 1, "observation_concept_id": 300, "observation_date": "2001-07-01", "value_as_string": "smoker"}],
    "procedure_occurrence": [{"person_id": 1, "procedure_concept_id": 300, "procedure_date": "2001-08-01"}],
    "visit_occurrence": [{"person_id": 1, "visit_concept_id": 9201, "visit_start_date": "2001-09-01", "visit_end_date": "2001-09-03"}],
    "death": [{"person_id": 1, "death_date": "2009-01-01", "cause_concept_id": 300}],
}
DOMAIN_SETS = [concept_set(0, item(100)), concept_set(1, item(200)), concept_set(2, item(300)), concept_set(3, item(9201))]


@pytest.fixture(scope="module")
def domain_cdr(tmp_path_factory) -> Path:
    return build_cdr(tmp_path_factory.mktemp("domains"), **DOMAIN_TABLES)


@pytest.mark.parametrize(
    "criterion, entry",
    [
        ({"ConditionOccurrence": {"CodesetId": 1}}, ("2001-01-01", "2001-01-02")),  # no end date: start + 1
        ({"ConditionEra": {"CodesetId": 1}}, ("2001-02-01", "2001-03-01")),
        ({"DrugExposure": {"CodesetId": 0}}, ("2001-04-01", "2001-04-10")),
        ({"DrugEra": {"CodesetId": 0}}, ("2001-05-01", "2001-05-31")),
        ({"Measurement": {"CodesetId": 2}}, ("2001-06-01", "2001-06-02")),
        ({"Observation": {"CodesetId": 2}}, ("2001-07-01", "2001-07-02")),
        ({"ProcedureOccurrence": {"CodesetId": 2}}, ("2001-08-01", "2001-08-02")),
        ({"VisitOccurrence": {"CodesetId": 3}}, ("2001-09-01", "2001-09-03")),
        ({"Death": {"CodesetId": 2}}, ("2009-01-01", "2009-01-02")),
        ({"ObservationPeriod": {}}, ("2000-01-01", "2010-12-31")),
        # attributes
        ({"Measurement": {"CodesetId": 2, "ValueAsNumber": {"Value": 5, "Op": "gt"}}}, ("2001-06-15", "2001-06-16")),
        ({"Observation": {"CodesetId": 2, "ValueAsString": {"Text": "smok", "Op": "startsWith"}}}, ("2001-07-01", "2001-07-02")),
        ({"Observation": {"CodesetId": 2, "ValueAsString": {"Text": "smok", "Op": "!startsWith"}}}, None),
        ({"ConditionEra": {"CodesetId": 1, "EraLength": {"Value": 28, "Op": "eq"}, "OccurrenceCount": {"Value": 3, "Op": "gte"}}},
         ("2001-02-01", "2001-03-01")),
        ({"ConditionEra": {"CodesetId": 1, "EraLength": {"Value": 29, "Op": "gte"}}}, None),
        ({"DrugEra": {"CodesetId": 0, "OccurrenceCount": {"Value": 1, "Extent": 2, "Op": "bt"}}}, ("2001-05-01", "2001-05-31")),
        ({"DrugEra": {"CodesetId": 0, "AgeAtStart": {"Value": 31, "Op": "eq"}}}, ("2001-05-01", "2001-05-31")),
        ({"VisitOccurrence": {"CodesetId": 3, "VisitLength": {"Value": 2, "Op": "lt"}}}, None),
        ({"DrugExposure": {"CodesetId": 0, "OccurrenceStartDate": {"Value": "2001-04-01", "Op": "gt"}}}, None),
        ({"ConditionOccurrence": {"CodesetId": 1, "ConditionType": [{"CONCEPT_ID": 32817}], "ConditionTypeExclude": True}}, None),
        ({"ConditionOccurrence": {"CodesetId": 1, "DateAdjustment": {"StartWith": "START_DATE", "StartOffset": 5,
                                                                     "EndWith": "START_DATE", "EndOffset": 10}}},
         ("2001-01-06", "2001-01-11")),
    ],
)
def test_each_domain_yields_its_events_with_circe_start_and_end_dates(domain_cdr, criterion, entry):
    definition = expression([criterion], DOMAIN_SETS, limit="First", EndStrategy=offset_end(0, "EndDate"))
    rows = [(r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in run_circe(definition, domain_cdr).rows]
    assert rows == ([entry] if entry else [])
