"""OMOP CDM 5.3.1 → 5.4: renamed columns, dropped tables, and columns 5.4 requires that 5.3 lacks.

Also the program's own derived columns (death_id, primary_death_record) that a plain OMOP source lacks.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from ..cdr.sql import col

# CDM 5.4 renamed these columns (OHDSI CommonDataModel, "Changes in v5.4").
RENAMED_IN_54: dict[str, dict[str, str]] = {
    # The 5.3.1 specification itself misspelt this column; 5.4 fixed it.
    "cost": {"reveue_code_source_value": "revenue_code_source_value"},
    "visit_occurrence": {
        "admitting_source_concept_id": "admitted_from_concept_id",
        "admitting_source_value": "admitted_from_source_value",
        "discharge_to_concept_id": "discharged_to_concept_id",
        "discharge_to_source_value": "discharged_to_source_value",
    },
    "visit_detail": {
        "admitting_source_concept_id": "admitted_from_concept_id",
        "admitting_source_value": "admitted_from_source_value",
        "discharge_to_concept_id": "discharged_to_concept_id",
        "discharge_to_source_value": "discharged_to_source_value",
        "visit_detail_parent_id": "parent_visit_detail_id",
    },
}

# Tables of CDM 5.3.1 that 5.4 removed: dropped on load, with a note (not "unknown").
DROPPED_IN_54: dict[str, str] = {
    "attribute_definition": "CDM 5.4 removed ATTRIBUTE_DEFINITION",
    "cohort_attribute": "CDM 5.4 removed COHORT_ATTRIBUTE",
}

# Concept "OMOP CDM Version 5.4.0" in the CDM vocabulary.
CDM_54_VERSION_CONCEPT_ID = 756265

Deriver = Callable[[set[str]], exp.Expression]


def _row_number(order: list[str], partition: list[str] | None = None) -> exp.Expression:
    return exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(c) for c in partition or []],
        order=exp.Order(expressions=[exp.Ordered(this=col(c), nulls_first=False) for c in order]),
    )


def _death_id(available: set[str]) -> exp.Expression:
    return _row_number(["person_id", "death_date"])


def _primary_death_record(available: set[str]) -> exp.Expression:
    # One primary record per person: the earliest death date (then the earliest date-time).
    order = ["death_date"] + (["death_datetime"] if "death_datetime" in available else [])
    return exp.EQ(this=_row_number(order, ["person_id"]), expression=exp.Literal.number(1))


def _metadata_id(available: set[str]) -> exp.Expression:
    return _row_number(["name"])


def _cdm_version_concept_id(available: set[str]) -> exp.Expression:
    return exp.Literal.number(CDM_54_VERSION_CONCEPT_ID)


# Columns filled in when the source lacks them, so that required columns of the model are never missing.
DERIVED: dict[str, dict[str, Deriver]] = {
    "death": {"death_id": _death_id, "primary_death_record": _primary_death_record},
    "metadata": {"metadata_id": _metadata_id},
    "cdm_source": {"cdm_version_concept_id": _cdm_version_concept_id},
}


def is_cdm53(version: str | None) -> bool:
    return bool(version) and version.strip().lower().lstrip("v").startswith("5.3")


def looks_like_cdm53(headers: dict[str, list[str]]) -> bool:
    """A source without a cdm_source version is 5.3 if it uses any column name 5.4 renamed."""
    for table, renames in RENAMED_IN_54.items():
        if any(old in headers.get(table, []) for old in renames):
            return True
    return False
