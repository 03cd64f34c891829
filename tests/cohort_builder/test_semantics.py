"""The rules both execution paths read (``cohorts/builder/semantics.py``): concept expansion and where an item is
answered. The engine's bitmaps answer CONCEPTS items; everything else runs as the compiler's SQL."""

from __future__ import annotations

import pytest

from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.cohorts.builder.semantics import ItemSource, item_source, parameter_concepts


def only_item(item: dict):
    definition = parse_definition({"includes": [{"id": "g", "items": [{"id": "i", **item}]}]})
    return definition.includes[0].items[0]


def param(domain, concept=None, **extra):
    p = {"parameterId": "p", "domain": domain, "type": "X", **extra}
    if concept is not None:
        p["conceptId"] = concept
    return p


NUM = {"name": "NUM", "operator": "GREATER_THAN", "operands": ["1"]}


@pytest.mark.parametrize("item, source", [
    ({"type": "CONDITION", "searchParameters": [param("CONDITION", 1), param("CONDITION", 2)]}, ItemSource.CONCEPTS),
    ({"type": "SURVEY", "searchParameters": [param("SURVEY", 1, standard=False)]}, ItemSource.CONCEPTS),
    ({"type": "MEASUREMENT", "searchParameters": [param("MEASUREMENT", 1, attributes=[NUM])]}, ItemSource.EVENTS),
    ({"type": "CONDITION", "searchParameters": [param("CONDITION", 1)],
      "modifiers": [{"name": "EVENT_DATE", "operator": "GREATER_THAN", "operands": ["2020-01-01"]}]}, ItemSource.EVENTS),
    ({"type": "PHYSICAL_MEASUREMENT", "searchParameters": [param("PHYSICAL_MEASUREMENT", 903133, attributes=[NUM])]}, ItemSource.EVENTS),
    ({"type": "PHYSICAL_MEASUREMENT", "searchParameters": [param("PHYSICAL_MEASUREMENT")]}, ItemSource.PERSON),
    ({"type": "PERSON", "searchParameters": [param("PERSON", 8532, type="GENDER")]}, ItemSource.PERSON),
    ({"type": "FITBIT", "searchParameters": [param("FITBIT")]}, ItemSource.PERSON),
])
def test_where_an_item_is_answered(item, source):
    assert item_source(only_item(item)) is source


def expand(concept, standard):
    return [concept, concept + 1]


@pytest.mark.parametrize("domain, extra, concepts", [
    ("CONDITION", {}, [10]),
    ("CONDITION", {"group": True}, [10, 11]),
    ("CONDITION", {"ancestorData": True}, [10, 11]),
    ("DRUG", {}, [10, 11]),  # a drug parameter is an ingredient: always expanded
    ("CONDITION", {"group": True, "standard": False}, [10]),  # source concepts have no hierarchy
    ("DRUG", {"standard": False}, [10]),
])
def test_concept_expansion(domain, extra, concepts):
    item = only_item({"type": domain, "searchParameters": [param(domain, 10, **extra)]})
    assert parameter_concepts(item, item.searchParameters[0], expand) == concepts
