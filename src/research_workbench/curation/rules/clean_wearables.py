"""Cleaning rules for wearable data and rows whose parent row is gone."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.model import cdm
from ...cdr.sql import col, table
from ..rule import BOTH, Rule, RuleContext, Stage, remove
from .expressions import is_one_of


def _sleep_levels(ctx: RuleContext):
    allowed = [level.lower() for level in ctx.config.wearables.sleep_levels]
    return remove("sleep_level", is_one_of(ctx, exp.func("LOWER", col("level")), allowed).not_())


invalid_sleep_levels = Rule(
    name="invalid_sleep_levels",
    description="Remove sleep_level rows whose level is not one of wearables.sleep_levels.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("sleep_level",),
    build=_sleep_levels,
    reference="DropInvalidSleepLevelRecords",
)

# Child table → (its key column, parent table, parent key column).
CHILDREN = {
    t.name: (t.primary_key[0], t.name[: -len("_ext")], t.primary_key[0])
    for t in cdm().tables.values()
    if t.name.endswith("_ext") and t.name != "person_ext"
} | {"note_nlp": ("note_id", "note", "note_id")}


def _orphans(ctx: RuleContext):
    queries = []
    for child, (key, parent, parent_key) in CHILDREN.items():
        queries += remove(child, col(key).isin(query=exp.select(col(parent_key)).from_(table(parent))).not_())
    return queries


def orphaned_child_rows(stage: Stage) -> Rule:
    return Rule(
        name="orphaned_child_rows",
        description="Remove provenance rows (<table>_ext) and note_nlp rows whose parent row is gone.",
        stage=stage,
        tiers=BOTH,
        tables=tuple(CHILDREN),
        build=_orphans,
        reference="CleanMappingExtTables",
    )
