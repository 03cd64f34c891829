"""Cleaning rules about concepts: rows with no concept at all, non-standard concepts replaced by their
standard "Maps to" concept, and rows moved to the table of their concept's domain (both logged)."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.facts import EventTable, event_table
from ...cdr.sql import col, lit, num, table, union_all
from ..rule import BOTH, Rule, RuleContext, Stage, change, insert, log, remove, setup


# The event tables whose concepts these rules check, replace and move (their columns come from ``cdr.facts``), in
# the order the rules go through them. The order is part of a release's content: domain_alignment numbers the rows
# moved into a table one source table after another, in this order.
EVENT_TABLES: dict[str, EventTable] = {
    name: event_table(name)
    for name in ("condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation")
}
# Tables checked for rows with no concept at all: the event tables, and visits (which have a source concept too).
ZERO_CONCEPT_TABLES: dict[str, EventTable] = EVENT_TABLES | {"visit_occurrence": event_table("visit_occurrence")}


def vocabulary_domain(table: EventTable) -> str:
    """The ``concept.domain_id`` of a table's concepts in the OMOP vocabulary (``Condition``, ``Drug`` …)."""
    return table.domain.value.title()


# Columns shared by the event tables, carried over when a row moves table.
SHARED = ("person_id", "provider_id", "visit_occurrence_id", "visit_detail_id")
VALUES = ("value_as_number", "value_as_concept_id", "unit_concept_id", "unit_source_value")  # measurement ↔ observation


def _is_zero(column: str) -> exp.Expression:
    return exp.func("COALESCE", col(column), num(0)).eq(num(0))


def _zero_concepts(ctx: RuleContext):
    queries = []
    for name, t in ZERO_CONCEPT_TABLES.items():
        queries += remove(name, exp.and_(_is_zero(t.concept), _is_zero(t.source_concept)))
    return queries


zero_concept_rows = Rule(
    name="zero_concept_rows",
    description="Remove event rows whose standard and source concept ids are both 0 (or NULL).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(ZERO_CONCEPT_TABLES),
    build=_zero_concepts,
    reference="DropZeroConceptIDs",
)


def _maps_to(ctx: RuleContext, *, include_standard: bool) -> exp.Select:
    """concept_id → its standard 'Maps to' target (the lowest id when several); standard concepts map to
    themselves when ``include_standard``."""
    mapped = (
        exp.select(col("concept_id_1", table="r").as_("source"), exp.func("MIN", col("concept_id_2", table="r")).as_("target"))
        .from_(table("concept_relationship", alias="r"))
        .join(table("concept", alias="s"), on=col("concept_id", table="s").eq(col("concept_id_1", table="r")))
        .join(table("concept", alias="c"), on=col("concept_id", table="c").eq(col("concept_id_2", table="r")))
        .where(
            col("relationship_id", table="r").eq(lit("Maps to")),
            col("invalid_reason", table="r").is_(exp.Null()),
            col("standard_concept", table="c").eq(lit("S")),
            exp.func("COALESCE", col("standard_concept", table="s"), lit("")).neq(lit("S")),
            col("concept_id_1", table="r").neq(num(0)),
        )
        .group_by(col("concept_id_1", table="r"))
    )
    if include_standard:
        standard = exp.select(col("concept_id").as_("source"), col("concept_id").as_("target")).from_(table("concept")).where(
            col("standard_concept").eq(lit("S"))
        )
        return exp.union(mapped, standard, distinct=False)  # type: ignore[return-value]
    return mapped


def _standard(ctx: RuleContext):
    q1, nonstandard = setup(ctx, "maps_to", _maps_to(ctx, include_standard=False))
    q2, any_concept = setup(ctx, "maps_to_any", _maps_to(ctx, include_standard=True))
    queries = [q1, q2]
    for name, t in EVENT_TABLES.items():
        for column, key, lookup in (
            (t.concept, col(t.concept, table=name), nonstandard),
            (t.concept, col(t.source_concept, table=name), any_concept),
        ):
            if lookup is nonstandard:
                where = col(t.concept).isin(query=exp.select(col("source")).from_(nonstandard))
            else:
                where = exp.and_(_is_zero(t.concept), col(t.source_concept).isin(query=exp.select(col("source")).from_(any_concept)))
            m = lookup.copy().as_("m")
            queries.append(
                log(
                    ctx,
                    "replacements",
                    exp.select(
                        exp.Literal.string(name).as_("table_name"),
                        col(t.id, table="x").as_("row_id"),
                        col("_rid", table="x"),
                        col(t.concept, table="x").as_("old_concept_id"),
                        col("target", table="m").as_("new_concept_id"),
                    )
                    .from_(table(name, alias="x"))
                    .join(m, on=col("source", table="m").eq(col(key.name, table="x")))
                    .where(where.transform(lambda n: col(n.name, table="x") if isinstance(n, exp.Column) and n.name in (t.concept, t.source_concept) and not n.table else n)),
                )
            )
            queries += change(name, where, {column: col("target", table="m")}, from_=lookup.copy().as_("m"), join=col("source", table="m").eq(key))
    return queries


standard_concept_replacement = Rule(
    name="standard_concept_replacement",
    description="Replace non-standard concept ids by their standard 'Maps to' concept (and 0 by the source concept's); each replacement logged.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(EVENT_TABLES),
    build=_standard,
    reference="ReplaceWithStandardConceptId",
)


def _movable(t: EventTable) -> exp.Expression:
    """Rows of ``t`` that may move: not survey answers (which stay in observation)."""
    return col("questionnaire_response_id").is_(exp.Null()) if t.table == "observation" else exp.true()


def _domain_alignment(ctx: RuleContext):
    # One scratch table of every row to move: its source table, id, and target table.
    parts = []
    for source in EVENT_TABLES.values():
        target_case = exp.Case()
        for target in EVENT_TABLES.values():
            if target.table != source.table:
                target_case = target_case.when(col("domain_id", table="c").eq(lit(vocabulary_domain(target))), exp.Literal.string(target.table))
        part = (
            exp.select(exp.Literal.string(source.table).as_("from_table"), col("_rid", table="x").as_("rid"), col(source.id, table="x").as_("from_id"), target_case.as_("to_table"))
            .from_(table(source.table, alias="x"))
            .join(table("concept", alias="c"), on=col("concept_id", table="c").eq(col(source.concept, table="x")))
            .where(exp.and_(_movable(source).transform(lambda n: col(n.name, table="x") if isinstance(n, exp.Column) else n), col("domain_id", table="c").neq(lit(vocabulary_domain(source)))))
        )
        parts.append(part)
    q, moves = setup(ctx, "moves", exp.select(exp.Star()).from_(union_all(parts).subquery("u")).where(col("to_table").is_(exp.Null()).not_()))
    queries = [q]
    # Insert into each target table, ids continuing after its largest, then log and remove from the source.
    for target in EVENT_TABLES.values():
        for source in EVENT_TABLES.values():
            if source.table == target.table:
                continue
            picked = exp.select(col("rid")).from_(moves).where(col("from_table").eq(exp.Literal.string(source.table)), col("to_table").eq(exp.Literal.string(target.table)))
            offset = exp.select(exp.func("COALESCE", exp.func("MAX", col(target.id)), num(0))).from_(table(target.table)).subquery()
            new_id = exp.Add(this=offset, expression=exp.Window(this=exp.func("ROW_NUMBER"), order=exp.Order(expressions=[exp.Ordered(this=col("_rid", table="x"))])))
            columns = {
                target.id: new_id,
                target.concept: col(source.concept, table="x"),
                target.source_concept: col(source.source_concept, table="x"),
                target.start_date: col(source.start_date, table="x"),
                target.start_datetime: col(source.start_datetime, table="x"),
                target.type_concept: col(source.type_concept, table="x"),
                target.source_value: col(source.source_value, table="x"),
                **{c: col(c, table="x") for c in SHARED},
                "_rid": col("_rid", table="x"),
            }
            if target.table == "drug_exposure":  # its end date is required
                columns[target.end_date] = col(source.start_date, table="x")  # type: ignore[index]
            if {source.table, target.table} == {"measurement", "observation"}:
                columns.update({c: col(c, table="x") for c in VALUES})
            select = exp.select(*[v.as_(k) if not isinstance(v, exp.Column) or v.name != k else v for k, v in columns.items()]).from_(table(source.table, alias="x")).where(col("_rid", table="x").isin(query=picked))
            queries.append(
                log(
                    ctx,
                    "moves",
                    exp.select(
                        exp.Literal.string(source.table).as_("from_table"), col(source.id, table="x").as_("from_id"),
                        exp.Literal.string(target.table).as_("to_table"), new_id.as_("to_id"), col("_rid", table="x"),
                        col(source.concept, table="x").as_("concept_id"),
                    ).from_(table(source.table, alias="x")).where(col("_rid", table="x").isin(query=picked)),
                )
            )
            queries += insert(target.table, list(columns), select, col("_rid").isin(query=picked))
    for source in EVENT_TABLES.values():
        picked = exp.select(col("rid")).from_(moves).where(col("from_table").eq(exp.Literal.string(source.table)))
        queries += remove(source.table, col("_rid").isin(query=picked))
    return queries


domain_alignment = Rule(
    name="domain_alignment",
    description="Move event rows whose concept belongs to another domain to that domain's table (new ids continue the target's), each move logged; survey answers stay.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(EVENT_TABLES),
    build=_domain_alignment,
    reference="DomainAlignment",
)
