"""ObservationPeriod ``UserDefinedPeriod`` exactly as OHDSI circe-be's ``ObservationPeriodSqlBuilder`` builds it.

circe-be selects ``@startDateExpression as start_date, @endDateExpression as end_date``: the given StartDate /
EndDate in place of the period's own (a date not given keeps the period's), and adds
``C.start_date <= @date and C.end_date >= @date`` for each given date, so a period is kept only if it contains
every given date. Each case is a tiny CDR with exact rows and the exact cohort rows circe-be's SQL gives for them;
``EndStrategy`` DateOffset EndDate + 0 makes the cohort end the criterion's end date.
"""

from __future__ import annotations

import pytest

from research_workbench.cohorts.circe import run_circe
from research_workbench.cohorts.circe.criteria import event_query
from research_workbench.cohorts.circe.errors import CirceError
from research_workbench.cohorts.circe.model import parse_expression

from .circe_fixtures import expression, offset_end, op

TABLES = {
    "observation_period": [
        op(1, "2000-01-01", "2010-12-31"),  # contains both dates
        op(2, "2006-01-01", "2010-12-31"),  # contains neither
        op(3, "2000-01-01", "2005-06-30"),  # contains the start only
        op(4, "2005-03-01", "2010-12-31"),  # contains the end only
        op(5, "2000-01-01", "2003-12-31"), op(5, "2004-01-01", "2010-12-31"),  # the second contains both
    ]
}


def cohort(tiny_cdr, period: dict) -> list[tuple[int, str, str]]:
    definition = expression([{"ObservationPeriod": {"UserDefinedPeriod": period}}], EndStrategy=offset_end(0, "EndDate"))
    result = run_circe(definition, tiny_cdr(**TABLES))
    return sorted((r.subject_id, r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in result.rows)


def test_user_defined_period_inside_the_observation_period_gives_exactly_its_dates(tiny_cdr):
    rows = cohort(tiny_cdr, {"StartDate": "2005-01-01", "EndDate": "2005-12-31"})
    assert rows == [(1, "2005-01-01", "2005-12-31"), (5, "2005-01-01", "2005-12-31")]


def test_observation_period_not_containing_the_user_defined_dates_does_not_qualify(tiny_cdr):
    rows = cohort(tiny_cdr, {"StartDate": "2005-01-01", "EndDate": "2005-12-31"})
    assert {r[0] for r in rows}.isdisjoint({2, 3, 4})


def test_only_start_date_replaces_the_start_and_keeps_the_period_end(tiny_cdr):
    # circe-be: no EndDate → end_date is C.end_date, and only the StartDate containment clause is added.
    rows = cohort(tiny_cdr, {"StartDate": "2005-01-01", "EndDate": None})
    assert rows == [(1, "2005-01-01", "2010-12-31"), (3, "2005-01-01", "2005-06-30"), (5, "2005-01-01", "2010-12-31")]


def test_only_end_date_keeps_the_period_start_and_replaces_the_end(tiny_cdr):
    # circe-be: no StartDate → start_date is C.start_date, and only the EndDate containment clause is added.
    rows = cohort(tiny_cdr, {"EndDate": "2005-12-31"})
    assert rows == [(1, "2000-01-01", "2005-12-31"), (4, "2005-03-01", "2005-12-31"), (5, "2004-01-01", "2005-12-31")]


def test_empty_user_defined_period_changes_nothing(tiny_cdr):
    rows = cohort(tiny_cdr, {"StartDate": "", "EndDate": None})
    assert (2, "2006-01-01", "2010-12-31") in rows and len(rows) == 6


def test_user_defined_dates_reach_sql_as_date_literals_not_formatted_text():
    parsed = parse_expression(expression([{"ObservationPeriod": {"UserDefinedPeriod": {"StartDate": "2005-01-01"}}}]))
    criterion = parsed.primary_criteria.criteria_list[0].criteria
    assert criterion.user_defined_period.end_date is None
    sql = event_query(criterion).sql(dialect="duckdb")
    assert "CAST('2005-01-01' AS DATE) AS \"start_date\"" in sql
    assert sql.count("CAST('2005-01-01' AS DATE)") == 3  # the start, and both sides of the containment clause


def test_invalid_user_defined_date_fails_naming_its_json_path():
    definition = expression([{"ObservationPeriod": {"UserDefinedPeriod": {"StartDate": "2005-13-01"}}}])
    with pytest.raises(CirceError) as err:
        parse_expression(definition)
    assert "PrimaryCriteria.CriteriaList[0].ObservationPeriod.UserDefinedPeriod.StartDate" in str(err.value)
