"""A tiny CDR for the zip-code socioeconomic set, with its index, optionally recorded as one tier of a release.

Persons and their answers to The Basics' zip question (1585250):
- 1: "070**" (a Controlled Tier answer) on 2019-03-01 at 10:30 → area 070;
- 2: "02139" on 2018-01-05, then "10001" on 2019-04-02 (no time recorded) → the latest, area 100;
- 3: skipped the question (no text; the skip answer 903096) → no row;
- 4: never answered (no The Basics at all) → no row;
- 5: "940**" → area 940, which the map does not hold: a row with empty measures.
``zip3_ses_map`` holds areas 021, 070, 100 and 999 (no participant lives in 999).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from research_workbench.cdr.model import arrow_type, cdm
from research_workbench.cdr.store import CdrBuilder

ZIP, SKIP, BASICS = 1585250, 903096, 1586134
AREAS = {  # zip3 → (assisted income, high school, median income, no insurance, poverty, vacant, deprivation)
    "021": (0.021, 0.93, 98000.0, 0.03, 0.09, 0.06, 0.28),
    "070": (0.034, 0.88, 71250.0, 0.11, 0.14, 0.08, 0.41),
    "100": (0.027, 0.85, 86500.0, 0.07, 0.17, 0.09, 0.37),
    "999": (0.05, 0.8, 40000.0, 0.2, 0.3, 0.25, 0.6),
}
ACS_YEAR = 2017
MEASURES = ("fraction_assisted_income", "fraction_high_school_edu", "median_income", "fraction_no_health_ins",
            "fraction_poverty", "fraction_vacant_housing", "deprivation_index")


def _answer(oid: int, pid: int, day: date, text: str | None, *, at: datetime | None = None,
            value: int | None = None) -> dict[str, Any]:
    return {"observation_id": oid, "person_id": pid, "observation_concept_id": ZIP, "observation_source_concept_id": ZIP,
            "observation_date": day, "observation_datetime": at, "observation_type_concept_id": 45905771,
            "value_as_string": text, "value_source_concept_id": value, "value_as_concept_id": value,
            "questionnaire_response_id": 500 + pid}


TABLES: dict[str, list[dict[str, Any]]] = {
    "person": [{"person_id": p, "gender_concept_id": 8532 if p % 2 else 8507, "year_of_birth": 1960 + p,
                "race_concept_id": 8527, "ethnicity_concept_id": 38003564} for p in (1, 2, 3, 4, 5)],
    "survey_conduct": [{"survey_conduct_id": 500 + p, "person_id": p, "survey_concept_id": BASICS,
                        "survey_end_date": date(2019, 1, 1)} for p in (1, 2, 3, 5)],
    "observation": [
        _answer(11, 1, date(2019, 3, 1), "070**", at=datetime(2019, 3, 1, 10, 30)),
        _answer(21, 2, date(2018, 1, 5), "02139"),
        _answer(22, 2, date(2019, 4, 2), "10001"),
        _answer(31, 3, date(2019, 2, 2), None, value=SKIP),
        _answer(51, 5, date(2019, 5, 5), "940**"),
    ],
    "zip3_ses_map": [{"zip3": z, **dict(zip(MEASURES, values)), "acs_year": ACS_YEAR} for z, values in AREAS.items()],
}


def expected(person: int, area: str | None, when: datetime) -> tuple:
    """The row the set gives a participant: person, answer time, area as 'NNN**', the measures, the ACS year."""
    measures = AREAS.get(area) if area else None
    return (person, when, f"{area}**", *(measures or (None,) * len(MEASURES)), ACS_YEAR if measures else None)


EXPECTED = [
    expected(1, "070", datetime(2019, 3, 1, 10, 30)),
    expected(2, "100", datetime(2019, 4, 2)),
    expected(5, "940", datetime(2019, 5, 5)),
]


def build(folder: Path, *, tier: str | None = None) -> Path:
    """Write the CDR to ``folder/cdr`` (its manifest records ``tier`` as a curated release's does, when given) and
    its index beside it (``folder/cdr.index``); returns the CDR directory."""
    from research_workbench.index import build_index

    model, path = cdm(), folder / "cdr"
    with CdrBuilder(path) as builder:
        for name, rows in TABLES.items():
            table = model.table(name)
            data = pa.table({c.name: pa.array([r.get(c.name) for r in rows], type=arrow_type(c.type))
                             for c in table.columns})
            builder.write_table(name, builder.con.from_arrow(data))
        builder.commit(vocabulary_version="test", extra={"tier": tier} if tier else {})
    build_index(path, folder / "cdr.index")
    return path
