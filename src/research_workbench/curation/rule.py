"""The Rule model: a small declarative unit of curation, and the queries it hands to the engine.

A rule says what it is (name, description, stage, tiers, the tables it may touch) and, given a
:class:`RuleContext`, returns an ordered list of :class:`Query`: setup queries first (scratch tables of the ids
it will act on), then for each affected table a *sandbox* query that copies the rows it will delete or change,
followed by the delete or update itself. The engine refuses a delete or update that no sandbox query of the
same table precedes, and after the rule checks, per table, rows before + rows added = rows after + rows removed.

Queries are SQLGlot expressions over unqualified model table names (the engine points DuckDB's default schema
at the data being curated); values from the config are bound parameters made with :meth:`RuleContext.param`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp

from ..cdr.model import cdm
from ..cdr.sql import alias, col, ident, table
from .config import CurationConfig


class Stage(str, Enum):
    """Stages run in this order: clean (shared by both tiers) → de-identify (per tier) → post-de-id clean."""

    CLEAN = "clean"
    DEID = "deid"
    POST_DEID = "post_deid"


class Tier(str, Enum):
    REGISTERED = "registered"
    CONTROLLED = "controlled"


BOTH = frozenset({Tier.REGISTERED, Tier.CONTROLLED})
REGISTERED = frozenset({Tier.REGISTERED})
CONTROLLED = frozenset({Tier.CONTROLLED})

QueryKind = Literal["setup", "load", "sandbox", "delete", "update", "insert", "remap", "log"]
Action = Literal["removed", "changed", "added"]


@dataclass
class Query:
    """One statement of a rule.

    - ``setup``: CREATE TABLE of a scratch table (``sql`` is the SELECT; ``target`` names the scratch table;
      ``table``, when given, the working table it checks: skipped when that table is empty);
    - ``load``: a scratch table from rows given in Python (``data``: column → values), inserted as parameters;
    - ``sandbox``: ``sql`` is the SELECT of the rows of ``table`` to copy, with ``action``;
    - ``delete`` / ``update``: the statement itself, on ``table``;
    - ``insert``: INSERT into ``table`` (the engine expects a following sandbox query with action ``added``);
    - ``remap``: a whole-table rewrite through a private map (de-identification: person, response, device and
      site ids, date shifts); every row counts as *remapped*, and the map, kept outside the release, is the
      record of the original values;
    - ``log``: rows appended to the rule's log (``target``), written beside the sandbox.
    """

    kind: QueryKind
    sql: exp.Expression | None = None
    table: str | None = None
    action: Action | None = None
    target: str | None = None
    data: dict[str, list[Any]] | None = None
    types: dict[str, str] | None = None


class RuleContext:
    """What a rule sees when it builds its queries: the config, the tier, the cut-off date, parameters."""

    def __init__(self, config: CurationConfig, tier: Tier | None, cutoff: date, rule_name: str, private_schema: str = "private"):
        self.config = config
        self.tier = tier
        self.cutoff = cutoff
        self.rule_name = rule_name
        self.private_schema = private_schema
        self.params: dict[str, Any] = {}
        self._counter = itertools.count(1)
        self.model = cdm()

    def param(self, value: Any) -> exp.Expression:
        """A bound parameter holding ``value`` (config values never become SQL text)."""
        name = f"p{next(self._counter)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def list_param(self, values: Sequence[Any]) -> exp.Expression:
        return self.param(list(values))

    def scratch(self, name: str) -> exp.Table:
        """A scratch table of this rule (dropped after it)."""
        return exp.Table(this=ident(f"{self.rule_name}__{name}"), db=ident("scratch"))

    def private(self, name: str) -> exp.Table:
        """A private map (person → research id and date shift, responses, devices, sites)."""
        return exp.Table(this=ident(name), db=ident(self.private_schema))


Build = Callable[[RuleContext], list[Query]]


class Rule(BaseModel):
    """A cleaning or de-identification rule."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    stage: Stage
    tiers: frozenset[Tier]
    tables: tuple[str, ...] = Field(description="Every table the rule may change")
    build: Build = Field(exclude=True)
    reference: str = Field("", description="The All of Us rule it follows, if any")

    @field_validator("tables")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            cdm().table(name)
        return value

    @field_validator("tiers")
    @classmethod
    def _some(cls, value: frozenset[Tier]) -> frozenset[Tier]:
        if not value:
            raise ValueError("a rule applies to at least one tier")
        return value

    def queries(self, ctx: RuleContext) -> list[Query]:
        return self.build(ctx)

    def applies_to(self, tier: Tier) -> bool:
        return tier in self.tiers

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "stage": self.stage.value,
            "tiers": sorted(t.value for t in self.tiers),
            "tables": list(self.tables),
            "reference": self.reference,
        }


# --- the statements of a rule ----------------------------------------------------------------------------------


RID = "_rid"  # the engine's row identity (unique across all tables of a run); never written to a release


def sandbox(tbl: str, where: exp.Expression, action: Action) -> Query:
    return Query("sandbox", exp.select(exp.Star()).from_(table(tbl)).where(where), table=tbl, action=action)


def delete(tbl: str, where: exp.Expression) -> Query:
    return Query("delete", exp.Delete(this=table(tbl), where=exp.Where(this=where)), table=tbl)


def remove(tbl: str, where: exp.Expression) -> list[Query]:
    """Copy the rows of ``tbl`` matching ``where`` to the sandbox, then delete them."""
    return [sandbox(tbl, where, "removed"), delete(tbl, where)]


def change(
    tbl: str,
    where: exp.Expression,
    assignments: dict[str, exp.Expression],
    *,
    from_: exp.Table | None = None,
    join: exp.Expression | None = None,
) -> list[Query]:
    """Copy the rows of ``tbl`` matching ``where`` to the sandbox, then update them.

    With ``from_``, the update reads from that table and ``join`` relates it to ``tbl`` (``where`` must then
    select the same rows on ``tbl`` alone, e.g. as ``_rid IN (…)``).
    """
    update_where = where.copy()
    if from_ is not None:  # columns of ``tbl`` must be named with it next to the FROM table's
        for node in list(update_where.walk(prune=lambda n: isinstance(n, (exp.Select, exp.Subquery)))):
            if isinstance(node, exp.Column) and not node.table:
                node.set("table", ident(tbl))
    update = exp.Update(
        this=table(tbl),
        expressions=[exp.EQ(this=col(c), expression=v) for c, v in assignments.items()],
        where=exp.Where(this=exp.and_(update_where, join) if join is not None else update_where),
    )
    if from_ is not None:
        update.set("from_", exp.From(this=from_))
    return [sandbox(tbl, where, "changed"), Query("update", update, table=tbl)]


def setup(ctx: RuleContext, name: str, select: exp.Expression, *, about: str | None = None) -> tuple[Query, exp.Table]:
    """A scratch table of the rule. ``about``: the one working table it reads (a check of that table, which no
    query reads), so that it is skipped, as the rule's other queries on that table are, when the table is empty."""
    target = ctx.scratch(name)
    return Query("setup", select, table=about, target=f"{ctx.rule_name}__{name}"), target


def insert(tbl: str, columns: list[str], select: exp.Expression, added: exp.Expression) -> list[Query]:
    """INSERT rows into ``tbl``, then copy them (rows matching ``added``) to the sandbox as added."""
    statement = exp.Insert(
        this=exp.Schema(this=table(tbl), expressions=[ident(c) for c in columns]),
        expression=select,
    )
    return [Query("insert", statement, table=tbl), sandbox(tbl, added, "added")]


def log(ctx: RuleContext, name: str, select: exp.Expression) -> Query:
    return Query("log", select, target=f"{ctx.rule_name}__{name}")


def remap(tbl: str, replacements: dict[str, exp.Expression], joins: list[tuple[exp.Table, exp.Expression]]) -> Query:
    """Rewrite ``tbl`` with some columns replaced (the others and their order unchanged), through LEFT JOINs."""
    star = exp.Star(replace=[alias(v, c) for c, v in replacements.items()])
    select = exp.select(exp.Column(this=star, table=ident("t"))).from_(table(tbl, alias="t"))
    for other, on in joins:
        select = select.join(other, on=on, join_type="left")
    return Query("remap", select, table=tbl)


def event_date(table_name: str, *, alias: str | None = None) -> exp.Expression | None:
    """The table's event date column (the model's ``event_date_column``) as a DATE, or None when it has none."""
    t = cdm().table(table_name)
    if not t.event_date_column:
        return None
    column = col(t.event_date_column, table=alias)
    return exp.cast(column, "DATE") if t.column(t.event_date_column).type == "datetime" else column


def person_tables() -> tuple[str, ...]:
    """Every table holding a person's rows (its person column), wearables and program records included."""
    return tuple(t.name for t in cdm().tables.values() if t.person_column)


def person_column(table_name: str) -> str:
    column = cdm().table(table_name).person_column
    assert column is not None
    return column


def dated_person_tables(exclude: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(t for t in person_tables() if cdm().table(t).event_date_column and t not in exclude)


def remove_persons(ctx: RuleContext, persons: exp.Expression, tables: Sequence[str] | None = None) -> list[Query]:
    """Remove every row of the persons selected by ``persons`` (a SELECT of one person id column)."""
    q, target = setup(ctx, "persons", persons)
    queries = [q]
    for name in tables or person_tables():
        pcol = person_column(name)
        queries += remove(name, col(pcol).isin(query=exp.select(exp.Star()).from_(target)))
    return queries
