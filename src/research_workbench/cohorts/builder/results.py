"""What the Cohort Builder shows beside a definition, computed in one pass on the accelerated engine.

- the **count** (as ``CohortEngine.count``);
- each **group's** and each **item's** own count (participants matching it alone; a suppressed one is counted too, so
  the page can show what suppressing it leaves out);
- the **attrition funnel**: everyone → each data filter → each include group (AND) → each exclude group (NOT), the
  participants remaining after each step, in the order the definition lists them (suppressed groups take no step);
- the **demographics** of the cohort: sex at birth, gender, race and ethnicity, each by age band at the CDR's
  cut-off (``cdr.facts.age_band``), with concept names;
- the definition as a **sentence** (``describe``).

All of it is set algebra over the engine's bitmaps (``CohortEngine.group_persons``, ``person_groups``), so a change
to the definition costs one evaluation of each group, not a query per chart.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from pyroaring import BitMap, BitMap64

from .describe import describe, describe_group
from .engine import CohortEngine
from .model import CohortDefinition, DataFilter
from .semantics import counted_group

DEMOGRAPHICS = ("sex_at_birth", "gender", "race", "ethnicity")
_FILTER_LABELS = {DataFilter.HAS_EHR_DATA: "Have electronic health record data",
                  DataFilter.HAS_PHYSICAL_MEASUREMENT_DATA: "Have physical measurements"}


@dataclass
class Step:
    kind: str  # all, filter, include, exclude
    label: str
    group_id: str | None
    matched: int  # participants the step's own criterion matches (everyone for "all")
    remaining: int  # participants left after the step


@dataclass
class Results:
    count: int
    groups: dict[str, int | None]  # group id → its own count (None: nothing in it is counted)
    items: dict[str, int | None]  # item id → its own count (temporal items: None, they count only as their group)
    attrition: list[Step]
    demographics: dict[str, list[dict]] = field(default_factory=dict)
    sentence: str = ""
    milliseconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def demographics(engine: CohortEngine, persons: BitMap | BitMap64) -> dict[str, list[dict]]:
    """For each of ``DEMOGRAPHICS``: rows {value, name, age_band, count}, every non-empty (value, band) pair, in
    value then band order."""
    bands = engine.person_groups("age_band")
    result: dict[str, list[dict]] = {}
    for key in DEMOGRAPHICS:
        groups = engine.person_groups(key)
        names = engine.concept_names([v for v in groups if v is not None])
        rows = []
        for value in sorted(groups, key=lambda v: (v is None, v if v is not None else 0)):
            members = persons & groups[value]
            if not members:
                continue
            for band in sorted(bands, key=str):
                count = members.intersection_cardinality(bands[band])
                if count:
                    rows.append({"value": value, "name": names.get(value, "No value") if value is not None else "No value",
                                 "age_band": band, "count": count})
        result[key] = rows
    return result


def cohort_results(engine: CohortEngine, definition: CohortDefinition, *, with_demographics: bool = True,
                   names: dict[int, str] | None = None) -> Results:
    started = time.perf_counter()
    everyone = engine.all_persons()
    remaining = engine.bitmap(everyone)
    steps = [Step("all", "All participants", None, len(everyone), len(everyone))]
    for data_filter in definition.dataFilters:
        flagged = engine.flag(data_filter.value)
        remaining &= flagged
        steps.append(Step("filter", _FILTER_LABELS[data_filter], None, len(flagged), len(remaining)))
    groups: dict[str, int | None] = {}
    items: dict[str, int | None] = {}
    for side in ("includes", "excludes"):
        for group in getattr(definition, side):
            counted = counted_group(group)
            for item in group.items:  # each item once: the group's union below takes them from the engine's cache
                items[item.id] = None if group.temporal else len(engine.item_persons(item))
            if counted is None:
                groups[group.id] = None
                continue
            persons = engine.group_persons(counted)
            groups[group.id] = len(persons)
            label = group.name or describe_group(counted, names)
            if side == "includes":
                remaining &= persons
                steps.append(Step("include", label, group.id, len(persons), len(remaining)))
            else:
                remaining -= persons
                steps.append(Step("exclude", label, group.id, len(persons), len(remaining)))
    results = Results(count=len(remaining), groups=groups, items=items, attrition=steps,
                      sentence=describe(definition, names))
    if with_demographics:
        results.demographics = demographics(engine, remaining)
    results.milliseconds = round((time.perf_counter() - started) * 1000, 2)
    return results
