"""What a Cohort Builder item means, stated once: both execution paths read these rules.

The one-statement compiler (``compile.py``) and the accelerated engine (``engine.py``: per-concept participant
bitmaps, compiled SQL only where event detail is needed) must agree on every definition; they agree because
neither states these rules itself:

- **concept expansion**: which concepts a search parameter matches (``parameter_concepts``);
- **where an item is answered** (``item_source``): the person table (demographics, has-data flags, "has physical
  measurements"), the event table with event detail (values, modifiers), concepts alone (no event detail: the
  bitmaps can answer it), or a genotype store (variant criteria: ``item_carriers``, the union over the item's
  parameters of the carriers of each one's variants in the store of the item's kind, ``VARIANT_STORES``);
- **which person-table column** a person or has-data item tests (``HAS_DATA_FLAGS``, ``PERSON_COLUMNS``);
- **what is counted** (``counted_groups``): suppressed groups and items stay in the definition but not in the count.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import numpy as np
import pyarrow as pa

from ...cdr.facts import EVENT_DOMAINS, Domain
from ...index.variant_carriers import CARRIERS_SCHEMA
from .model import AGE_ATTRIBUTES, Attribute, CohortDefinition, SearchGroup, SearchGroupItem, SearchParameter, VariantCriterion

# expand(concept_id, is_standard) → the concept and its descendants with data
Expander = Callable[[int, bool], list[int]]
# carriers(store kind, criterion) → who carries its variants with its zygosity: one column, person_id (int64, ascending,
# unique); see ``index.variant_carriers.carriers_table``
Carriers = Callable[[str, VariantCriterion], pa.Table]

# The genotype store (``index.layout.GENOME_KINDS``) a genome item's variant criteria are answered from.
VARIANT_STORES: dict[Domain, str] = {Domain.WHOLE_GENOME_VARIANT: "wgs", Domain.ARRAY_DATA: "array"}

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
    VARIANTS = "variants"  # variant criteria: carriers in a genotype store


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
    if item.type in VARIANT_STORES and any(p.variant is not None for p in item.searchParameters):
        return ItemSource.VARIANTS  # validated: every parameter is then a variant criterion
    if item.type not in EVENT_DOMAINS:
        return ItemSource.PERSON
    if item.type is Domain.PHYSICAL_MEASUREMENT and all(p.conceptId is None for p in item.searchParameters):
        return ItemSource.PERSON
    if not item.modifiers and all(p.conceptId is not None and not p.attributes for p in item.searchParameters):
        return ItemSource.CONCEPTS
    return ItemSource.EVENTS


def item_carriers(item: SearchGroupItem, carriers: Carriers) -> pa.Table:
    """A variant item's participants: the union over its parameters (they OR) of each criterion's carriers in the
    store of the item's kind, as one ``person_id`` column (ascending, unique)."""
    kind = VARIANT_STORES[item.type]
    tables = [carriers(kind, p.variant) for p in item.searchParameters if p.variant is not None]
    if len(tables) == 1:
        return tables[0]
    ids = np.unique(np.concatenate([t["person_id"].to_numpy() for t in tables])) if tables else np.zeros(0, np.int64)
    return pa.table({"person_id": ids.astype(np.int64)}, schema=CARRIERS_SCHEMA)


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
