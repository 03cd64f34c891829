"""Ages in the aggregates are the one rule of ``cdr.facts``: the birth date prefers ``birth_datetime`` (else year,
month and day of birth; a missing month or day counts as 1), ages are whole years and birthday-aware, and the
bands are ``facts.AGE_BANDS``. The demographics' age group is the age at the release's cut-off (2024-06-30 here)."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path

from research_workbench.browser.building.writer import build_store
from research_workbench.cdr.facts import AGE_BANDS, UNKNOWN_AGE

from .tiny import T2DM, Program


def _strata(store: Path, table: str, where: str = "") -> dict[str, int]:
    con = sqlite3.connect(store)
    try:
        return dict(con.execute(f"SELECT stratum, participant_count FROM {table} WHERE dimension = 'age' {where}").fetchall())
    finally:
        con.close()


def test_age_groups_use_the_birth_datetime_first_and_birthdays(tmp_path: Path):
    p = Program()
    # year, month and day say 1980 (44 at the cut-off); the birth datetime says 1995-03-01: 29
    p.person(1, born=1980, month=6, day=1, birth_datetime=datetime(1995, 3, 1, 8, 30))
    p.person(2, born=1994, month=7, day=1)  # 30 the day after the cut-off: 29
    p.person(3, born=1994, month=6, day=30)  # 30 on the cut-off day
    p.person(4, born=1934, month=None, day=None)  # 1 January 1934: 90
    p.person(5, born=None, month=None, day=None)  # no birth date: unknown
    p.condition(1, T2DM, on=date(2020, 2, 29))  # 24 then (25 on 1 March)
    p.condition(3, T2DM, on=date(2012, 6, 29))  # 17: the day before their 18th birthday
    store = build_store(p.write(tmp_path / "cdr"), tmp_path / "s.sqlite", bin_size=1).path
    assert _strata(store, "demographics") == {"18-29": 2, "30-39": 1, "90+": 1, UNKNOWN_AGE: 1}
    assert _strata(store, "concept_stratum", f"AND concept_id = {T2DM}") == {"18-29": 1, "0-17": 1}
    assert {label for label, _, _ in AGE_BANDS} >= set(_strata(store, "demographics")) - {UNKNOWN_AGE}
