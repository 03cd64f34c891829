"""Compiling a definition is linear in its size: the SQLGlot nodes it creates (copies included) grow with its items.

Counted, not timed: every node SQLGlot creates, built or deep-copied, runs ``Expr.__init__``. A compiler that
re-copies the tree built so far (the cause of 400 items taking half a minute) creates quadratically many; the
count is stopped at a linear budget, so such a compiler fails here in a fraction of a second.
"""

from __future__ import annotations

import pytest
import sqlglot.expressions.core as sqlglot_core

from research_workbench.cohorts.builder.compile import compile_definition
from research_workbench.cohorts.builder.model import parse_definition

# Nodes per item of the definitions below, with room to spare (measured: about 38 in a union, 65 in a temporal group).
NODES_PER_ITEM = 100
FIXED_NODES = 500


class Budget(Exception):
    pass


def definition(items: int, temporal: bool) -> dict:
    group_items = []
    for i in range(items):
        item = {"id": f"i{i}", "type": "CONDITION",
                "searchParameters": [{"parameterId": f"p{i}", "domain": "CONDITION", "type": "SNOMED", "conceptId": 1000 + i}],
                "modifiers": [{"name": "AGE_AT_EVENT", "operator": "GREATER_THAN", "operands": ["40"]}]}
        if temporal:
            item["temporalGroup"] = i % 2
        group_items.append(item)
    group = {"id": "g", "items": group_items}
    if temporal:
        group |= {"temporal": True, "mention": "FIRST_MENTION", "time": "WITHIN_X_DAYS_OF", "timeValue": 30}
    return {"includes": [group]}


def nodes_created(monkeypatch, items: int, temporal: bool) -> int:
    parsed = parse_definition(definition(items, temporal))
    budget = FIXED_NODES + NODES_PER_ITEM * items
    created = 0
    original = sqlglot_core.Expr.__init__

    def counting(self, **args):
        nonlocal created
        created += 1
        if created > budget:
            raise Budget(f"more than {budget} nodes for {items} items")
        original(self, **args)

    with monkeypatch.context() as patch:
        patch.setattr(sqlglot_core.Expr, "__init__", counting)
        query = compile_definition(parsed, lambda concept, standard: [concept])
    assert len(query.params) > items  # every item was compiled
    return created


@pytest.mark.parametrize("temporal", [False, True], ids=["union", "temporal"])
def test_compiling_creates_nodes_in_proportion_to_the_items(monkeypatch, temporal):
    small, large = nodes_created(monkeypatch, 400, temporal), nodes_created(monkeypatch, 800, temporal)
    assert 1.9 <= large / small <= 2.1, (small, large)
