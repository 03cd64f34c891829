"""The Data Browser and the Cohort Builder agree about a participant's age: one birth date (``birth_datetime``
first), one birthday-aware age, one set of bands, taken at one date — the CDR's cut-off (2024-06-30 here).

Each participant sits on an edge: a birthday on the cut-off day itself, or the day after it."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

from research_workbench.browser.building.writer import build_store
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.index.build import build_index

from .browser.test_ages import _strata
from .browser.tiny import CUTOFF, T2DM, Program

EXPECTED = {  # the band each participant is in on 2024-06-30
    1: "30-39",  # born 1994-06-30: 30 on the cut-off day
    2: "18-29",  # born 1994-07-01: 30 the day after
    3: "18-29",  # born 2006-06-30: 18 on the cut-off day
    4: "0-17",   # born 2006-07-01: still 17
    5: "90+",    # born 1934-06-30: 90 on the cut-off day
    6: "80-89",  # born 1934-07-01: still 89
    7: "30-39",  # the birth datetime (1994-06-30) wins over year/month/day (2000-01-01)
}


def test_the_data_browsers_age_group_and_the_cohort_builders_age_band_agree_on_the_cut_off(tmp_path: Path):
    assert CUTOFF == "2024-06-30"  # the cut-off the tiny programs record in their manifest
    p = Program()
    p.person(1, born=1994, month=6, day=30)
    p.person(2, born=1994, month=7, day=1)
    p.person(3, born=2006, month=6, day=30)
    p.person(4, born=2006, month=7, day=1)
    p.person(5, born=1934, month=6, day=30)
    p.person(6, born=1934, month=7, day=1)
    p.person(7, born=2000, month=1, day=1, birth_datetime=datetime(1994, 6, 30, 23, 59))
    for pid in EXPECTED:
        p.condition(pid, T2DM, on=date(2024, 1, 15))  # everyone is in the cohort below
    cdr = p.write(tmp_path / "cdr")

    store = build_store(cdr, tmp_path / "browser.sqlite", bin_size=1).path
    browser = _strata(store, "demographics")

    build_index(cdr)
    definition = parse_definition({"includes": [{"id": "g", "items": [{"id": "i", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "standard": True, "group": False, "conceptId": T2DM}]}]}]})
    rows = CohortEngine(cdr.with_name("cdr.index"), cdr_dir=cdr).breakdown(definition)["gender_age"]
    cohort_builder = Counter()
    for row in rows:
        cohort_builder[row["age_band"]] += row["count"]

    expected = dict(Counter(EXPECTED.values()))
    assert browser == expected
    assert dict(cohort_builder) == expected
