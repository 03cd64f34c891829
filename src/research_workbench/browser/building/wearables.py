"""Participants with each kind of wearable data, in total and by gender, sex at birth and age at the cut-off."""

from __future__ import annotations

from ..schema import spec
from .people import PERSON_DIM_SQL
from .protect import RawTable
from .session import CdrSession
from .strata import strata_rows

WEARABLE_TABLES = {
    "activity_summary": "Daily activity summary",
    "heart_rate_summary": "Heart rate (daily summary)",
    "heart_rate_intraday": "Heart rate (minute level)",
    "steps_intraday": "Steps (minute level)",
    "sleep_daily_summary": "Sleep (daily summary)",
    "sleep_level": "Sleep levels",
    "device": "Device information",
}
WEARABLE_DIM_SQL = {k: v for k, v in PERSON_DIM_SQL.items() if k in ("total", "gender", "sex_at_birth", "age")}


def wearables(s: CdrSession) -> tuple[RawTable, int]:
    """The wearable table (data type ``any``: any wearable data), and the participants with any wearable data."""
    s.materialise("wear", " UNION ".join(f"SELECT DISTINCT '{t}' AS data_type, person_id FROM {t}" for t in WEARABLE_TABLES))
    s.materialise("wear", "SELECT data_type, person_id FROM wear UNION ALL SELECT DISTINCT 'any', person_id FROM wear")
    parts = [
        f"SELECT w.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) AS participant_count "
        f"FROM wear w JOIN people p ON p.person_id = w.person_id GROUP BY ALL"
        for dim, expr in WEARABLE_DIM_SQL.items()
    ]
    rows = strata_rows(s, " UNION ALL ".join(parts))
    participants = s.record("SELECT count(*) AS n FROM wear w JOIN people p ON p.person_id = w.person_id "
                            "WHERE data_type = 'any'").n
    return RawTable.from_records(spec("wearable"), rows), participants
