"""Tiny CDRs and Circe definitions written by the tests, with values small enough to work out by hand.

Vocabulary (valid unless noted):
- drugs: 100 ingredient ⊃ 101 ⊃ 103, 100 ⊃ 102 (invalid, 'D');
- conditions: 200 ⊃ 201 ⊃ 202; 300 unrelated;
- source codes: 500 "Maps to" 200, 501 "Maps to" 201, 502 "Maps to" 200 through an invalid relationship;
- visits: 9201 (inpatient).

A concept set lists only concepts of this vocabulary: circe-be drops a listed id that ``concept`` does not hold.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from research_workbench.cdr.store import CdrBuilder

from ..helpers import write_csv

CONCEPTS = [
    (100, "Drug", "Ingredient", None), (101, "Drug", "Clinical Drug", None), (102, "Drug", "Clinical Drug", "D"),
    (103, "Drug", "Branded Drug", None), (200, "Condition", "Clinical Finding", None),
    (201, "Condition", "Clinical Finding", None), (202, "Condition", "Clinical Finding", None),
    (300, "Condition", "Clinical Finding", None), (500, "Condition", "ICD10CM", None),
    (501, "Condition", "ICD10CM", None), (502, "Condition", "ICD10CM", None), (9201, "Visit", "Visit", None),
]
ANCESTORS = [(100, 100), (100, 101), (100, 102), (100, 103), (101, 101), (101, 103), (102, 102), (103, 103),
             (200, 200), (200, 201), (200, 202), (201, 201), (201, 202), (202, 202), (300, 300)]
MAPS_TO = [(500, 200, None), (501, 201, None), (502, 200, "D")]

# Required columns of each clinical table, filled when a test does not care about them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "person": {"gender_concept_id": 8507, "year_of_birth": 1970, "race_concept_id": 0, "ethnicity_concept_id": 0},
    "observation_period": {"period_type_concept_id": 32817},
    "drug_exposure": {"drug_type_concept_id": 32817},
    "condition_occurrence": {"condition_type_concept_id": 32817},
    "measurement": {"measurement_type_concept_id": 32817},
    "observation": {"observation_type_concept_id": 32817},
    "procedure_occurrence": {"procedure_type_concept_id": 32817},
    "visit_occurrence": {"visit_type_concept_id": 32817},
    "device_exposure": {"device_type_concept_id": 32817},
    "drug_era": {}, "condition_era": {}, "death": {"primary_death_record": "true"},
}
ID_COLUMN = {
    "observation_period": "observation_period_id", "drug_exposure": "drug_exposure_id",
    "condition_occurrence": "condition_occurrence_id", "measurement": "measurement_id", "observation": "observation_id",
    "procedure_occurrence": "procedure_occurrence_id", "visit_occurrence": "visit_occurrence_id",
    "device_exposure": "device_exposure_id", "drug_era": "drug_era_id", "condition_era": "condition_era_id",
}  # OMOP's death table has no id column


def build_cdr(root: Path, **tables: list[dict[str, Any]]) -> Path:
    """Write the vocabulary plus the given tables as CSV files and write them into a CDR at ``root/cdr``.

    Every person with events but no ``observation_period`` row given gets none; persons default from the
    person ids used anywhere.
    """
    src = root / "src"
    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                                   "standard_concept", "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"],
              [[cid, f"c{cid}", dom, "Test", cls, "S", str(cid), "1970-01-01", "2099-12-31", inv or ""]
               for cid, dom, cls, inv in CONCEPTS])
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation",
                                            "max_levels_of_separation"],
              [[a, d, 0 if a == d else 1, 0 if a == d else 1] for a, d in ANCESTORS])
    write_csv(src, "concept_relationship.csv", ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date",
                                                "valid_end_date", "invalid_reason"],
              [[a, b, "Maps to", "1970-01-01", "2099-12-31", inv or ""] for a, b, inv in MAPS_TO])
    persons = {row["person_id"]: row for row in tables.pop("person", [])}
    for rows in tables.values():
        for row in rows:
            persons.setdefault(row["person_id"], {"person_id": row["person_id"]})
    tables["person"] = list(persons.values())
    for name, rows in tables.items():
        ids = itertools.count(1)
        filled = []
        for row in rows:
            full = {**DEFAULTS[name], **row}
            if name in ID_COLUMN:
                full.setdefault(ID_COLUMN[name], next(ids))
            filled.append(full)
        header = sorted({k for r in filled for k in r})
        write_csv(src, f"{name}.csv", header, [[("" if r.get(k) is None else r.get(k)) for k in header] for r in filled])
    out = root / "cdr"
    with CdrBuilder(out) as builder:  # straight to Parquet: much faster than the checked loader for tiny tables
        for path in sorted(src.glob("*.csv")):
            relation = builder.con.read_csv(str(path), header=True, all_varchar=True)  # empty fields are NULL
            builder.write_table(path.stem, relation, set(relation.columns))
        builder.commit(cdm_version="5.4", source={"kind": "test"})
    return out



def op(person_id: int, start: str = "2000-01-01", end: str = "2010-12-31") -> dict:
    return {"person_id": person_id, "observation_period_start_date": start, "observation_period_end_date": end}


def drug(person_id: int, start: str, end: str | None = None, concept: int = 100, **extra) -> dict:
    return {"person_id": person_id, "drug_concept_id": concept, "drug_exposure_start_date": start,
            "drug_exposure_end_date": end or start, **extra}


def condition(person_id: int, start: str, concept: int = 200, end: str | None = None, **extra) -> dict:
    return {"person_id": person_id, "condition_concept_id": concept, "condition_start_date": start,
            "condition_end_date": end, **extra}


def concept_set(set_id: int, *items: dict) -> dict:
    return {"id": set_id, "name": f"set {set_id}", "expression": {"items": list(items)}}


def item(concept_id: int, *, descendants: bool = False, mapped: bool = False, excluded: bool = False) -> dict:
    return {"concept": {"CONCEPT_ID": concept_id, "CONCEPT_NAME": f"c{concept_id}", "STANDARD_CONCEPT": "S"},
            "includeDescendants": descendants, "includeMapped": mapped, "isExcluded": excluded}


def expression(primary: list[dict], sets: list[dict] | None = None, *, limit: str = "All", **rest) -> dict:
    """A definition with the given primary criteria (ExpressionLimit All unless given); ``rest``: more top-level keys."""
    return {
        "ConceptSets": sets if sets is not None else [concept_set(0, item(100)), concept_set(1, item(200))],
        "PrimaryCriteria": {"CriteriaList": primary, "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
                            "PrimaryCriteriaLimit": {"Type": limit}},
        "ExpressionLimit": {"Type": "All"},
        **rest,
    }


def offset_end(days: int, field: str = "StartDate") -> dict:
    return {"DateOffset": {"DateField": field, "Offset": days}}


def window(before: int | None, after: int | None, **flags) -> dict:
    """A StartWindow from ``before`` days before the index to ``after`` days after (None: unbounded)."""
    return {"Start": {"Days": before, "Coeff": -1}, "End": {"Days": after, "Coeff": 1}, **flags}


def correlated(criteria: dict, occurrence_type: int = 2, count: int = 1, start_window: dict | None = None, **extra) -> dict:
    return {"Criteria": criteria, "StartWindow": start_window or window(None, None),
            "Occurrence": {"Type": occurrence_type, "Count": count, **extra.pop("occurrence", {})}, **extra}


def rule(name: str, *criteria: dict, demographic: list[dict] | None = None, type_: str = "ALL", count: int | None = None) -> dict:
    group: dict[str, Any] = {"Type": type_, "CriteriaList": list(criteria), "DemographicCriteriaList": demographic or [], "Groups": []}
    if count is not None:
        group["Count"] = count
    return {"name": name, "expression": group}
