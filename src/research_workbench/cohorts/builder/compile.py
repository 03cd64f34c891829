"""Compile a cohort definition into one SQL expression over the search index, with every value bound.

The SQL is a SQLGlot expression over two tables, ``search_person`` (alias p) and ``search_all_events`` (alias e),
rendered for DuckDB here and transpilable to Spark SQL and PostgreSQL. Values (concept ids, numbers, dates,
flags) are never formatted into the text: each is a named placeholder (p0, p1, …) with its value in
``CompiledQuery.params``. Concept lists are bound as arrays and tested with ARRAY_CONTAINS.

A variant criterion's carriers are read from the genotype store when compiling (``semantics.item_carriers``) and
travel beside the SQL as an Arrow table (``CompiledQuery.tables``: ``variant_carriers_0``, ``_1``… with one column,
person_id), which the engine registers before running the statement (DuckDB ``register``; Spark
``createDataFrame``): the SQL only names it, so it stays small and engine-neutral however many variants a gene or
region holds.

Semantics (All of Us Workbench, see shared/reference/aou-workbench-model.md §1.3; concept expansion and where
each item is answered are stated once in ``semantics.py``, which the accelerated engine reads too):
- parameters in an item OR; items in a group OR (distinct persons); groups AND (includes) / AND NOT (excludes);
- a parameter matches (is_standard, concept) — with ``group`` (and always for DRUG) every descendant too;
- NUM and CAT attributes on one parameter are OR-ed; blood-pressure attributes test systolic/diastolic;
- modifiers filter events; NUM_OF_OCCURRENCES is applied last and counts per (person, concept);
- temporal groups relate group-0 events (after FIRST/LAST mention) to group-1 events of the same person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp

from ...cdr.facts import DIASTOLIC, SYSTOLIC, Domain, age_at
from ...cdr.sql import alias, col, table, union
from .model import (
    AttrName,
    CohortDefinition,
    DefinitionError,
    ModifierType,
    Operator,
    SearchGroup,
    SearchGroupItem,
    SearchParameter,
    TemporalMention,
    TemporalTime,
    VariantCriterion,
)
from .semantics import (
    PERSON_COLUMNS,
    Carriers,
    Expander,
    ItemSource,
    age_attribute,
    counted_groups,
    item_carriers,
    item_source,
    parameter_concepts,
    person_flag,
)

PERSON_TABLE = "search_person"
EVENTS_TABLE = "search_all_events"
CARRIERS_TABLE = "variant_carriers_{}"  # a variant item's carriers, numbered in the order the compiler meets them


def no_genotypes(kind: str, criterion: VariantCriterion) -> pa.Table:
    """The carriers of a compiler given no genotype store: a variant criterion is refused."""
    raise DefinitionError([f"{criterion.describe()}: variant criteria need the index of a Controlled Tier release with "
                           f"genomes (no {kind} genotypes were given)"])


@dataclass
class CompiledQuery:
    expression: exp.Expression
    params: dict[str, object] = field(default_factory=dict)
    tables: dict[str, pa.Table] = field(default_factory=dict)  # to register under these names before running it

    def sql(self, dialect: str = "duckdb", pretty: bool = False) -> str:
        return self.expression.sql(dialect=dialect, pretty=pretty)


def _select(*columns: exp.Expression) -> exp.Select:
    """A SELECT of fresh column expressions, built in place.

    The compiler builds every subtree once and never shares one, so SQLGlot's builder methods are called with
    ``copy=False`` throughout: with their default (a deep copy of the tree so far at each call) compiling was
    quadratic in the size of a definition (a union of n items copied the union of the first k at each step).
    """
    return exp.Select(expressions=list(columns))


class Compiler:
    def __init__(self, expand: Expander, carriers: Carriers = no_genotypes):
        self.expand = expand
        self.carriers = carriers
        self.params: dict[str, object] = {}
        self.tables: dict[str, pa.Table] = {}

    # -- values -------------------------------------------------------------------------------------------
    def bind(self, value: object) -> exp.Placeholder:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return exp.Placeholder(this=name)

    def compare(self, column: exp.Expression, operator: Operator, operands: list[str], kind: str) -> exp.Expression:
        convert = {"number": float, "integer": int, "date": dt.date.fromisoformat}[kind]
        values = [convert(o) for o in operands]
        if operator is Operator.BETWEEN:
            return exp.Between(this=column, low=self.bind(values[0]), high=self.bind(values[1]))
        if operator is Operator.IN:
            return exp.ArrayContains(this=self.bind(values), expression=column)
        node = {
            Operator.EQUAL: exp.EQ, Operator.NOT_EQUAL: exp.NEQ, Operator.LESS_THAN: exp.LT,
            Operator.GREATER_THAN: exp.GT, Operator.LESS_THAN_OR_EQUAL_TO: exp.LTE,
            Operator.GREATER_THAN_OR_EQUAL_TO: exp.GTE,
        }[operator]
        return node(this=column, expression=self.bind(values[0]))

    # -- items --------------------------------------------------------------------------------------------
    def parameter_condition(self, item: SearchGroupItem, param: SearchParameter) -> exp.Expression:
        concepts = parameter_concepts(item, param, self.expand)
        condition = exp.and_(
            exp.EQ(this=col("is_standard", table="e"), expression=self.bind(param.standard)),
            exp.ArrayContains(this=self.bind(sorted(set(concepts))), expression=col("concept_id", table="e")),
            copy=False,
        )
        values = self.attribute_condition(item, param)
        return exp.and_(condition, values, copy=False) if values is not None else condition

    def attribute_condition(self, item: SearchGroupItem, param: SearchParameter) -> exp.Expression | None:
        numbers, categories, pressures = [], [], []
        for attribute in param.attributes:
            if attribute.name is AttrName.ANY:
                if item.type is Domain.SURVEY:
                    numbers.append(exp.Not(this=exp.Is(this=col("value_as_number", table="e"), expression=exp.Null())))
            elif attribute.name is AttrName.CAT:
                column = "value_source_concept_id" if item.type is Domain.SURVEY else "value_as_concept_id"
                categories.append(self.compare(col(column, table="e"), Operator.IN, attribute.operands, "integer"))
            elif attribute.conceptId in SYSTOLIC:
                pressures.append(self.compare(col("systolic", table="e"), attribute.operator, attribute.operands, "number"))
            elif attribute.conceptId in DIASTOLIC:
                pressures.append(self.compare(col("diastolic", table="e"), attribute.operator, attribute.operands, "number"))
            else:
                numbers.append(self.compare(col("value_as_number", table="e"), attribute.operator, attribute.operands, "number"))
        parts = []
        number_part = exp.and_(*numbers, copy=False) if numbers else None
        category_part = exp.or_(*categories, copy=False) if categories else None
        if number_part is not None and category_part is not None:
            parts.append(exp.Paren(this=exp.or_(number_part, category_part, copy=False)))  # NUM and CAT on one item: either
        elif number_part is not None or category_part is not None:
            parts.append(number_part if number_part is not None else category_part)
        parts += pressures
        return exp.and_(*parts, copy=False) if parts else None

    def modifier_conditions(self, item: SearchGroupItem) -> list[exp.Expression]:
        conditions = []
        for modifier in item.modifiers:
            if modifier.name is ModifierType.AGE_AT_EVENT:
                conditions.append(self.compare(col("age_at_event", table="e"), modifier.operator, modifier.operands, "integer"))
            elif modifier.name is ModifierType.EVENT_DATE:
                conditions.append(self.compare(col("entry_date", table="e"), modifier.operator, modifier.operands, "date"))
            elif modifier.name is ModifierType.ENCOUNTERS:
                conditions.append(self.compare(col("visit_concept_id", table="e"), Operator.IN, modifier.operands, "integer"))
        return conditions

    def item_events(self, item: SearchGroupItem, columns: list[str]) -> exp.Select:
        """The item's matching events (``columns`` of e), NUM_OF_OCCURRENCES applied last."""
        matches = exp.or_(*[exp.Paren(this=self.parameter_condition(item, p)) for p in item.searchParameters], copy=False)
        where = exp.and_(
            exp.EQ(this=col("domain", table="e"), expression=self.bind(item.type.value)),
            exp.Paren(this=matches),
            *self.modifier_conditions(item),
            copy=False,
        )
        select = _select(*[col(c, table="e") for c in columns]).from_(table(EVENTS_TABLE, alias="e"), copy=False)
        occurrences = next((m for m in item.modifiers if m.name is ModifierType.NUM_OF_OCCURRENCES), None)
        if occurrences is None:
            return select.where(where, copy=False)
        # Counted per (person, concept): one event of each of two child concepts is not two occurrences.
        # The one copy of a subtree the compiler makes: the item's condition, used in both selects.
        counted = (
            _select(col("person_id", table="e"), col("concept_id", table="e"))
            .from_(table(EVENTS_TABLE, alias="e"), copy=False)
            .where(where.copy(), copy=False)
            .group_by(col("person_id", table="e"), col("concept_id", table="e"), copy=False)
            .having(self.compare(exp.func("COUNT", exp.Star()), occurrences.operator, occurrences.operands, "integer"), copy=False)
        )
        select = select.where(where, copy=False)
        same = exp.and_(
            exp.EQ(this=col("person_id", table="o"), expression=col("person_id", table="e")),
            exp.EQ(this=col("concept_id", table="o"), expression=col("concept_id", table="e")),
            copy=False,
        )
        return select.join(counted.subquery("o", copy=False), on=same, copy=False)

    def person_item(self, item: SearchGroupItem) -> exp.Select:
        conditions = []
        for param in item.searchParameters:
            conditions.append(self.person_condition(item, param))
        return (_select(col("person_id", table="p")).from_(table(PERSON_TABLE, alias="p"), copy=False)
                .where(exp.or_(*conditions, copy=False), copy=False))

    def person_condition(self, item: SearchGroupItem, param: SearchParameter) -> exp.Expression:
        flag = person_flag(item)  # a has-data item, or "has physical measurements"
        if flag is not None:
            return exp.EQ(this=col(flag, table="p"), expression=self.bind(True))
        kind = param.type.upper()
        def alive() -> exp.Expression:  # bound only where used: an unused parameter is an error
            return exp.EQ(this=col("is_deceased", table="p"), expression=self.bind(False))

        if kind == "DECEASED":
            return exp.EQ(this=col("is_deceased", table="p"), expression=self.bind(True))
        if kind == "AGE":
            attribute = age_attribute(param)
            if attribute.name is AttrName.AGE_AT_CONSENT:
                return self.compare(col("age_at_consent", table="p"), attribute.operator, attribute.operands, "integer")
            if attribute.name is AttrName.AGE_AT_CDR:
                return exp.and_(alive(), self.compare(col("age_at_cdr", table="p"), attribute.operator, attribute.operands, "integer"), copy=False)
            age = age_at(col("birth_date", table="p"), exp.CurrentDate())  # AGE: current age
            return exp.and_(alive(), self.compare(age, attribute.operator, attribute.operands, "integer"), copy=False)
        return exp.EQ(this=col(PERSON_COLUMNS[kind], table="p"), expression=self.bind(param.conceptId))

    def variant_item(self, item: SearchGroupItem) -> exp.Select:
        """The item's carriers, from a table registered beside the statement (see the module's docstring)."""
        name = CARRIERS_TABLE.format(len(self.tables))
        self.tables[name] = item_carriers(item, self.carriers)
        return _select(col("person_id", table="c")).from_(table(name, alias="c"), copy=False)

    def item_persons(self, item: SearchGroupItem) -> exp.Select:
        source = item_source(item)
        if source is ItemSource.PERSON:
            return self.person_item(item)
        if source is ItemSource.VARIANTS:
            return self.variant_item(item)
        return self.item_events(item, ["person_id"])

    # -- groups -------------------------------------------------------------------------------------------
    def group_persons(self, group: SearchGroup) -> exp.Expression:
        if group.temporal:
            return self.temporal_persons(group)
        return union([self.item_persons(item) for item in group.items], distinct=True)

    def temporal_persons(self, group: SearchGroup) -> exp.Expression:
        columns = ["person_id", "entry_date", "visit_occurrence_id"]

        def side(n: int) -> exp.Expression:
            return union([self.item_events(item, columns) for item in group.items if item.temporalGroup == n], distinct=False)

        first = side(0)
        if group.mention in (TemporalMention.FIRST_MENTION, TemporalMention.LAST_MENTION):
            # Each person's first (last) group-0 event date; every event on that date counts.
            pick = "MIN" if group.mention is TemporalMention.FIRST_MENTION else "MAX"
            # Group 0 appears twice (the events, and the per-person date to pick): the second is a copy.
            earliest = first.copy()
            ranked = (
                _select(*[col(c, table="a0") for c in columns])
                .from_(first.subquery("a0", copy=False), copy=False)
                .where(
                    exp.EQ(
                        this=col("entry_date", table="a0"),
                        expression=_select(exp.func(pick, col("entry_date", table="a1")))
                        .from_(earliest.subquery("a1", copy=False), copy=False)
                        .where(exp.EQ(this=col("person_id", table="a1"), expression=col("person_id", table="a0")), copy=False)
                        .subquery(copy=False),
                    ),
                    copy=False,
                )
            )
            first = ranked
        a_date, b_date = col("entry_date", table="a"), col("entry_date", table="b")
        gap = exp.DateDiff(this=b_date, expression=a_date, unit=exp.var("DAY"))  # days from A to B
        days = self.bind(group.timeValue) if group.timeValue is not None else None
        relation = {
            TemporalTime.DURING_SAME_ENCOUNTER_AS: lambda: exp.EQ(this=col("visit_occurrence_id", table="a"), expression=col("visit_occurrence_id", table="b")),
            TemporalTime.X_DAYS_BEFORE: lambda: exp.GTE(this=gap, expression=days),  # A ≤ B − N
            TemporalTime.X_DAYS_AFTER: lambda: exp.LTE(this=gap, expression=exp.Neg(this=days)),  # A ≥ B + N
            TemporalTime.WITHIN_X_DAYS_OF: lambda: exp.LTE(this=exp.Abs(this=gap), expression=days),
        }[group.time]()
        on = exp.and_(exp.EQ(this=col("person_id", table="a"), expression=col("person_id", table="b")), relation, copy=False)
        return (
            _select(col("person_id", table="a")).distinct(copy=False)
            .from_(first.subquery("a", copy=False), copy=False)
            .join(side(1).subquery("b", copy=False), on=on, copy=False)
        )

    # -- the definition -----------------------------------------------------------------------------------
    def cohort_filter(self, definition: CohortDefinition) -> exp.Expression:
        """The WHERE condition on search_person (alias p) that selects the cohort."""
        conditions: list[exp.Expression] = []
        for data_filter in definition.dataFilters:
            conditions.append(exp.EQ(this=col(data_filter.value, table="p"), expression=self.bind(True)))
        includes, excludes = counted_groups(definition)
        for group in includes:
            conditions.append(exp.In(this=col("person_id", table="p"), query=self.group_persons(group).subquery(copy=False)))
        for group in excludes:
            conditions.append(exp.Not(this=exp.In(this=col("person_id", table="p"), query=self.group_persons(group).subquery(copy=False))))
        return exp.and_(*conditions, copy=False) if conditions else exp.true()


def compile_definition(definition: CohortDefinition, expand: Expander, select: str = "count",
                       carriers: Carriers = no_genotypes) -> CompiledQuery:
    """``select``: "count" (one row, the count) or "persons" (the cohort's rows of the person table).
    ``carriers``: the variant criteria's carriers (``semantics.Carriers``), from the index's genotype stores."""
    compiler = Compiler(expand, carriers)
    where = compiler.cohort_filter(definition)
    if select == "count":
        query = _select(alias(exp.func("COUNT", exp.Star()), "count")).from_(table(PERSON_TABLE, alias="p"), copy=False).where(where, copy=False)
    elif select == "persons":
        query = _select(exp.Star()).from_(table(PERSON_TABLE, alias="p"), copy=False).where(where, copy=False)
    else:
        raise ValueError(f"unknown select {select!r}")
    return CompiledQuery(query, compiler.params, compiler.tables)
