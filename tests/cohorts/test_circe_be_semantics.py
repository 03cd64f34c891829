"""Two points where the Circe executor must do exactly what OHDSI circe-be's generated SQL does.

1. Collapse (``generateCohort.sql``, ``#final_cohort``): ends are padded by EraPad; a row starts a new era unless the
   greatest padded end before it (``ORDER BY start_date``) is ``>=`` its start, so a padded end on the day of the next
   start merges and one the day before does not; eras are numbered ``SUM(is_start) OVER (... ORDER BY start_date,
   is_start DESC ...)`` and end at ``max(padded end) − EraPad``.
2. A procedure ends the day after its date (``DATEADD(day,1,po.procedure_date) as end_date``), whatever
   ``procedure_end_date`` holds.

Each case is a tiny CDR with exact rows and the exact cohort rows circe-be's SQL gives for them.
"""

from __future__ import annotations

import itertools

import duckdb
import pytest
from sqlglot import exp

from research_workbench.cohorts.circe import run_circe
from research_workbench.cohorts.circe.executor import _eras

from .circe_fixtures import concept_set, drug, expression, item, offset_end, op

DRUGS = {"DrugExposure": {"CodesetId": 0}}


def cohort(tiny_cdr, definition: dict, **tables) -> list[tuple[int, str, str]]:
    result = run_circe(definition, tiny_cdr(**tables))
    return [(r.subject_id, r.cohort_start_date.isoformat(), r.cohort_end_date.isoformat()) for r in result.rows]


def collapse(pad: int) -> dict:
    return {"CollapseSettings": {"CollapseType": "ERA", "EraPad": pad}}


# ------------------------------------------------------------------------------------------ 1. collapse


@pytest.mark.parametrize(
    "pad, expected",
    [
        # padded ends 01-10 and 01-20: 01-10 < 01-11, a new era starts
        (0, [(1, "2001-01-01", "2001-01-10"), (1, "2001-01-11", "2001-01-20")]),
        # padded ends 01-11 and 01-21: 01-11 >= 01-11, one era ending at 01-21 − 1
        (1, [(1, "2001-01-01", "2001-01-20")]),
    ],
)
def test_collapse_entry_ending_the_day_before_the_next_merges_only_with_era_pad_1(tiny_cdr, pad, expected):
    # Entries 01-01..01-10 and 01-11..01-20 (DateOffset StartDate + 9).
    definition = expression([DRUGS], EndStrategy=offset_end(9), **collapse(pad))
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2001-01-11")]}
    assert cohort(tiny_cdr, definition, **tables) == expected


@pytest.mark.parametrize("pad", [0, 1])
def test_collapse_entry_ending_on_the_day_the_next_starts_merges_with_era_pad_0(tiny_cdr, pad):
    # Entries 01-01..01-11 and 01-11..01-21: the end 01-11 (padded 01-11 or 01-12) is >= the next start 01-11.
    definition = expression([DRUGS], EndStrategy=offset_end(10), **collapse(pad))
    tables = {"observation_period": [op(1)], "drug_exposure": [drug(1, "2001-01-01"), drug(1, "2001-01-11")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-01-21")]


def test_collapse_entries_tied_on_start_join_the_era_they_open_not_the_one_before(tiny_cdr):
    # Entries 01-01..01-05, then three starting 01-10 (ends 01-12, 01-12, 01-20; DateOffset EndDate + 0).
    # Exactly one of the tied rows has is_start = 1; ordered first by is_start DESC, the tied rows all share its era.
    definition = expression([DRUGS], EndStrategy=offset_end(0, "EndDate"), **collapse(0))
    tables = {"observation_period": [op(1)],
              "drug_exposure": [drug(1, "2001-01-01", "2001-01-05"), drug(1, "2001-01-10", "2001-01-12"),
                                drug(1, "2001-01-10", "2001-01-12"), drug(1, "2001-01-10", "2001-01-20")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-01-01", "2001-01-05"), (1, "2001-01-10", "2001-01-20")]


def test_collapse_numbers_eras_by_start_date_then_is_start_descending():
    """``_eras`` alone, in every insertion order of rows with duplicates tied on start (same answer every time)."""
    rows = [(1, "2001-01-01", "2001-01-05"), (1, "2001-01-10", "2001-01-14"), (1, "2001-01-10", "2001-01-14"),
            (1, "2001-01-10", "2001-01-11"), (2, "2001-01-05", "2001-01-05"), (2, "2001-01-06", "2001-01-06")]
    sql = _eras(exp.select("*").from_("cr"), 0).sql(dialect="duckdb")
    assert 'ORDER BY "F"."start_date", "F"."is_start" DESC' in sql
    expected = [(1, "2001-01-01", "2001-01-05"), (1, "2001-01-10", "2001-01-14"),
                (2, "2001-01-05", "2001-01-05"), (2, "2001-01-06", "2001-01-06")]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE cr (person_id INTEGER, start_date DATE, end_date DATE)")
        for order in itertools.islice(itertools.permutations(rows), 0, None, 37):
            con.execute("DELETE FROM cr")
            con.executemany("INSERT INTO cr VALUES (?, ?, ?)", list(order))
            got = sorted((p, s.isoformat(), e.isoformat()) for p, s, e in con.execute(sql).fetchall())
            assert got == expected, order
    finally:
        con.close()


# ------------------------------------------------------------------------------------------ 2. procedure end date

PROCEDURES = {"ProcedureOccurrence": {"CodesetId": 2}}
PROCEDURE_SETS = [concept_set(2, item(300))]


def procedure(person_id: int, date: str, end: str | None = None) -> dict:
    return {"person_id": person_id, "procedure_concept_id": 300, "procedure_date": date, "procedure_end_date": end}


@pytest.mark.parametrize("recorded_end", [None, "2001-08-20"])
def test_procedure_ends_the_day_after_its_date_whatever_procedure_end_date_holds(tiny_cdr, recorded_end):
    # DateOffset on EndDate + 0: the cohort ends at the event's end date.
    definition = expression([PROCEDURES], PROCEDURE_SETS, EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1)], "procedure_occurrence": [procedure(1, "2001-08-01", recorded_end)]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-08-01", "2001-08-02")]


def test_procedure_date_adjustment_end_date_is_the_day_after_its_date(tiny_cdr):
    # circe-be: END_DATE → DATEADD(day,1,po.procedure_date); start = 08-02 + 0, end = 08-02 + 3.
    adjusted = {"ProcedureOccurrence": {"CodesetId": 2, "DateAdjustment": {
        "StartWith": "END_DATE", "StartOffset": 0, "EndWith": "END_DATE", "EndOffset": 3}}}
    definition = expression([adjusted], PROCEDURE_SETS, EndStrategy=offset_end(0, "EndDate"))
    tables = {"observation_period": [op(1)], "procedure_occurrence": [procedure(1, "2001-08-01", "2001-08-20")]}
    assert cohort(tiny_cdr, definition, **tables) == [(1, "2001-08-02", "2001-08-05")]
