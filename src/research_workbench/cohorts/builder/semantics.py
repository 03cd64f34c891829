"""What a Cohort Builder item means, stated once: both execution paths read these rules.

The one-statement compiler (``compile.py``) and the accelerated engine (``engine.py``: per-concept participant
bitmaps, compiled SQL only where event detail is needed) must agree on every definition; they agree because
neither states these rules itself:

- **concept expansion**: which concepts a search parameter matches (``parameter_concepts``);
- **where an item is answered** (``item_source``): the person table (demographics, has-data flags, "has physical
  measurements"), the event table with event detail (values, modifiers), or concepts alone (no event detail: the
  bitmaps can answer it);
- **which person-table column** a person or has-data item tests (``HAS_DATA_FLAGS``, ``PERSON_COLUMNS``);
- **what is counted** (``counted_groups``): suppressed groups and items stay in the definition but not in the count.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from ...cdr.facts import EVENT_DOMAINS, Domain
from .model import AGE_ATTRIBUTES, Attribute, CohortDefinition, SearchGroup, SearchGroupItem, SearchParameter

# expand(concept_id, is_standard) → the concept and its descendants with data
Expander = Callable[[int, bool], list[int]]

# Domains that are one has-data flag of the person table.
HAS_DATA_FLAGS: dict[Domain, str] = {
    Domain.FITBIT: "has_fitbit",
    Domain.FITBIT_ACTIVITY: "has_activity_summary",
    Domain.FITBIT_HEART_RATE_SUMMARY: "has_heart_rate_summary",
    Domain.FITBIT_HEART_RATE_LEVEL: "has_heart_rate_intraday",
    Domain.FITBIT_INTRADAY_STEPS: "has_steps_intraday",
    Domain.FITBIT_SLEEP_DAILY_SUMMARY: "has_sleep_daily_summary",
    Domain.FITBIT_SLEEP_LEVEL: "has_sleep_level",
    Domain.FITBIT_DEVICE: "has_device",
    Domain.WHOLE_GENOME_VARIANT: "has_whole_genome_variant",
    Domain.ARRAY_DATA: "has_array_data",
}
# A physical-measurement item with no concept: "has physical measurements", a flag of the person table.
HAS_PHYSICAL_MEASUREMENTS = "has_physical_measurement_data"
# PERSON parameters that test one concept column of the person table.
PERSON_COLUMNS: dict[str, str] = {"GENDER": "gender_concept_id", "SEX": "sex_at_birth_concept_id", "RACE": "race_concept_id",
                                  "ETHNICITY": "ethnicity_concept_id"}


class ItemSource(Enum):
    """Where an item's participants come from."""

    PERSON = "person"  # a fact of the person table: demographics, a has-data flag, "has physical measurements"
    CONCEPTS = "concepts"  # events matched by concept alone: no values, no modifiers (no event detail needed)
    EVENTS = "events"  # events with detail: values (attributes) or modifiers


def includes_descendants(item: SearchGroupItem, param: SearchParameter) -> bool:
    """A parameter matches its concept's descendants too with ``group``, with ``ancestorData``, and always for drugs
    (a drug parameter is an ingredient; the events are products that have it)."""
    return param.group or item.type is Domain.DRUG or param.ancestorData


def parameter_concepts(item: SearchGroupItem, param: SearchParameter, expand: Expander) -> list[int]:
    """The concepts an event parameter matches (the parameter's standard or source concept, as ``param.standard``
    says): its own, or it and its descendants with data. Source concepts have no hierarchy: always their own."""
    if param.standard and includes_descendants(item, param):
        return expand(param.conceptId, param.standard)  # type: ignore[arg-type]
    return [param.conceptId]  # type: ignore[list-item]


def item_source(item: SearchGroupItem) -> ItemSource:
    """Where an item is answered (see ``ItemSource``)."""
    if item.type not in EVENT_DOMAINS:
        return ItemSource.PERSON
    if item.type is Domain.PHYSICAL_MEASUREMENT and all(p.conceptId is None for p in item.searchParameters):
        return ItemSource.PERSON
    if not item.modifiers and all(p.conceptId is not None and not p.attributes for p in item.searchParameters):
        return ItemSource.CONCEPTS
    return ItemSource.EVENTS


def person_flag(item: SearchGroupItem) -> str | None:
    """The has-data flag of the person table a PERSON-sourced item tests, if it is a flag (else a PERSON item)."""
    if item.type in HAS_DATA_FLAGS:
        return HAS_DATA_FLAGS[item.type]
    if item.type is Domain.PHYSICAL_MEASUREMENT:
        return HAS_PHYSICAL_MEASUREMENTS
    return None


def age_attribute(param: SearchParameter) -> Attribute:
    """The one age attribute (AGE, AGE_AT_CONSENT or AGE_AT_CDR) of a PERSON AGE parameter (validated: exactly one)."""
    return next(a for a in param.attributes if a.name in AGE_ATTRIBUTES)


def counted_group(group: SearchGroup) -> SearchGroup | None:
    """The group as counted: without its suppressed items; None when suppressed itself, when every item is, or when a
    temporal group is left without one of its two sides (a relation to nothing cannot hold)."""
    if group.suppressed:
        return None
    items = [item for item in group.items if not item.suppressed]
    if not items or (group.temporal and {item.temporalGroup for item in items} != {0, 1}):
        return None
    return group if len(items) == len(group.items) else group.model_copy(update={"items": items})


def counted_groups(definition: CohortDefinition) -> tuple[list[SearchGroup], list[SearchGroup]]:
    """(include groups, exclude groups) as counted (see ``counted_group``). No include group left means everyone
    (with the data filters), as when a researcher suppresses the only group to see the whole population."""
    includes = [g for g in map(counted_group, definition.includes) if g is not None]
    excludes = [g for g in map(counted_group, definition.excludes) if g is not None]
    return includes, excludes
