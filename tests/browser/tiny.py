"""Tiny CDRs and releases written by the browser tests themselves, with exact values to assert on.

``Program`` collects rows (persons with their demographics, conditions, survey answers, lab values, genomes) and
writes them as a CDR; ``release`` writes two of them as ``registered/`` and ``controlled/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from research_workbench.cdr.model import arrow_type, cdm
from research_workbench.cdr.store import CdrBuilder

CUTOFF = "2024-06-30"
MALE, FEMALE, OTHER_GENDER = 8507, 8532, 8521
SEX_MALE, SEX_FEMALE, SEX_INTERSEX, SEX_GENERALISED = 1585846, 1585847, 1585848, 2000000009
T2DM, ASTHMA = 201826, 317009
HBA1C, PERCENT_UNIT = 3004410, 8554
MODULE, QUESTION, ANSWER_ALPHA, ANSWER_BETA = 1586134, 1585845, 900001, 900002
NAMES = {
    MALE: "MALE", FEMALE: "FEMALE", OTHER_GENDER: "OTHER",
    SEX_MALE: "Male", SEX_FEMALE: "Female", SEX_INTERSEX: "Intersex",
    T2DM: "Type 2 diabetes mellitus", ASTHMA: "Asthma", HBA1C: "Hemoglobin A1c", PERCENT_UNIT: "percent",
    MODULE: "The Basics", QUESTION: "A question", ANSWER_ALPHA: "Alpha", ANSWER_BETA: "Beta",
}


def _concept(cid: int, name: str, domain: str = "Observation", vocabulary: str = "SNOMED") -> dict[str, Any]:
    return {"concept_id": cid, "concept_name": name, "domain_id": domain, "vocabulary_id": vocabulary,
            "concept_class_id": "Clinical Finding", "standard_concept": "S", "concept_code": str(cid),
            "valid_start_date": date(1970, 1, 1), "valid_end_date": date(2099, 12, 31)}


@dataclass
class Program:
    names: dict[int, str] = field(default_factory=lambda: dict(NAMES))
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, **row: Any) -> None:
        self.tables.setdefault(table, []).append(row)

    def person(self, pid: int, *, gender: int = FEMALE, sex: int = SEX_FEMALE, born: int | None = 1980,
               month: int | None = 6, day: int | None = 1, birth_datetime: datetime | None = None) -> None:
        self.add("person", person_id=pid, gender_concept_id=gender, year_of_birth=born, month_of_birth=month,
                 day_of_birth=day, birth_datetime=birth_datetime, race_concept_id=0, ethnicity_concept_id=0)
        self.add("person_ext", person_id=pid, sex_at_birth_concept_id=sex, state_of_residence_concept_id=0)

    def condition(self, pid: int, concept: int, on: date = date(2020, 3, 1)) -> None:
        n = len(self.tables.get("condition_occurrence", [])) + 1
        self.add("condition_occurrence", condition_occurrence_id=n, person_id=pid, condition_concept_id=concept,
                 condition_start_date=on, condition_type_concept_id=32817, condition_source_concept_id=0)

    def answer(self, pid: int, answer: int, question: int = QUESTION, module: int = MODULE) -> None:
        self.add("survey_conduct", survey_conduct_id=pid, person_id=pid, survey_concept_id=module,
                 survey_end_date=date(2021, 1, 1))
        n = len(self.tables.get("observation", [])) + 1
        self.add("observation", observation_id=n, person_id=pid, observation_concept_id=question,
                 observation_source_concept_id=question, value_source_concept_id=answer, value_as_concept_id=answer,
                 observation_date=date(2021, 1, 1), observation_type_concept_id=45905771, questionnaire_response_id=pid)

    def lab(self, pid: int, value: float, concept: int = HBA1C, unit: int = PERCENT_UNIT) -> None:
        n = len(self.tables.get("measurement", [])) + 1
        self.add("measurement", measurement_id=n, person_id=pid, measurement_concept_id=concept,
                 measurement_date=date(2022, 1, 1), measurement_type_concept_id=44818701, value_as_number=value,
                 unit_concept_id=unit, measurement_source_concept_id=0)

    def genome(self, pid: int, ancestry: str | None = "eur", data_types: tuple[str, ...] = ("wgs",)) -> None:
        for kind in data_types:
            self.add("genomic_sample", sample_id=f"{kind}-{pid}", person_id=pid, data_type=kind)
        if ancestry:
            self.add("ancestry_prediction", person_id=pid, ancestry_pred=ancestry)

    def write(self, path: Path) -> Path:
        model = cdm()
        concepts = [_concept(cid, name) for cid, name in sorted(self.names.items())]
        with CdrBuilder(path) as builder:
            for name, rows in {**self.tables, "concept": concepts}.items():
                table = model.table(name)
                unknown = {k for r in rows for k in r} - set(table.column_names)
                assert not unknown, f"{name}: no columns {unknown}"
                if name == "survey_conduct":  # one conduct per person
                    rows = list({r["survey_conduct_id"]: r for r in rows}.values())
                data = pa.table({c.name: pa.array([r.get(c.name) for r in rows], type=arrow_type(c.type))
                                 for c in table.columns})
                builder.write_table(name, builder.con.from_arrow(data))
            builder.commit(vocabulary_version="test", extra={"cutoff_date": CUTOFF})
        return path


def release(path: Path, registered: Program, controlled: Program) -> Path:
    path.mkdir(parents=True)
    registered.write(path / "registered")
    controlled.write(path / "controlled")
    return path
