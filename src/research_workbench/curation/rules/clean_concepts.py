"""Cleaning rules about concepts: rows with no concept at all, non-standard concepts replaced by their
standard "Maps to" concept, and rows moved to the table of their concept's domain (both logged)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..rule import BOTH, Rule, RuleContext, Stage, change, col, insert, lit, log, num, remove, setup, table


@dataclass(frozen=True)
class EventTable:
    name: str
    domain: str
    id: str
    concept: str
    source_concept: str
    date: str
    datetime: str
    type_concept: str
    source_value: str


EVENT_TABLES = {
    t.name: t
    for t in (
        EventTable("condition_occurrence", "Condition", "condition_occurrence_id", "condition_concept_id", "condition_source_concept_id",
                   "condition_start_date", "condition_start_datetime", "condition_type_concept_id", "condition_source_value"),
        EventTable("drug_exposure", "Drug", "drug_exposure_id", "drug_concept_id", "drug_source_concept_id",
                   "drug_exposure_start_date", "drug_exposure_start_datetime", "drug_type_concept_id", "drug_source_value"),
        EventTable("procedure_occurrence", "Procedure", "procedure_occurrence_id", "procedure_concept_id", "procedure_source_concept_id",
                   "procedure_date", "procedure_datetime", "procedure_type_concept_id", "procedure_source_value"),
        EventTable("device_exposure", "Device", "device_exposure_id", "device_concept_id", "device_source_concept_id",
                   "device_exposure_start_date", "device_exposure_start_datetime", "device_type_concept_id", "device_source_value"),
        EventTable("measurement", "Measurement", "measurement_id", "measurement_concept_id", "measurement_source_concept_id",
                   "measurement_date", "measurement_datetime", "measurement_type_concept_id", "measurement_source_value"),
        EventTable("observation", "Observation", "observation_id", "observation_concept_id", "observation_source_concept_id",
                   "observation_date", "observation_datetime", "observation_type_concept_id", "observation_source_value"),
    )
}
# Concept columns checked for "no concept at all" (visits have a source concept too).
ZERO_CONCEPT_COLUMNS = {n: (t.concept, t.source_concept) for n, t in EVENT_TABLES.items()} | {
    "visit_occurrence": ("visit_concept_id", "visit_source_concept_id"),
}
# Columns shared by the event tables, carried over when a row moves table.
SHARED = ("person_id", "provider_id", "visit_occurrence_id", "visit_detail_id")
VALUES = ("value_as_number", "value_as_concept_id", "unit_concept_id", "unit_source_value")  # measurement ↔ observation


def _is_zero(column: str) -> exp.Expression:
    return exp.func("COALESCE", col(column), num(0)).eq(num(0))


def _zero_concepts(ctx: RuleContext):
    queries = []
    for name, (concept, source) in ZERO_CONCEPT_COLUMNS.items():
        queries += remove(name, exp.and_(_is_zero(concept), _is_zero(source)))
    return queries


zero_concept_rows = Rule(
    name="zero_concept_rows",
    description="Remove event rows whose standard and source concept ids are both 0 (or NULL).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(ZERO_CONCEPT_COLUMNS),
    build=_zero_concepts,
    reference="DropZeroConceptIDs",
)


def _maps_to(ctx: RuleContext, *, include_standard: bool) -> exp.Select:
    """concept_id → its standard 'Maps to' target (the lowest id when several); standard concepts map to
    themselves when ``include_standard``."""
    mapped = (
        exp.select(col("concept_id_1", "r").as_("source"), exp.func("MIN", col("concept_id_2", "r")).as_("target"))
        .from_(table("concept_relationship", "r"))
        .join(table("concept", "s"), on=col("concept_id", "s").eq(col("concept_id_1", "r")))
        .join(table("concept", "c"), on=col("concept_id", "c").eq(col("concept_id_2", "r")))
        .where(
            col("relationship_id", "r").eq(lit("Maps to")),
            col("invalid_reason", "r").is_(exp.Null()),
            col("standard_concept", "c").eq(lit("S")),
            exp.func("COALESCE", col("standard_concept", "s"), lit("")).neq(lit("S")),
            col("concept_id_1", "r").neq(num(0)),
        )
        .group_by(col("concept_id_1", "r"))
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
            (t.concept, col(t.concept, name), nonstandard),
            (t.concept, col(t.source_concept, name), any_concept),
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
                        col(t.id, "x").as_("row_id"),
                        col("_rid", "x"),
                        col(t.concept, "x").as_("old_concept_id"),
                        col("target", "m").as_("new_concept_id"),
                    )
                    .from_(table(name, "x"))
                    .join(m, on=col("source", "m").eq(exp.column(key.name, table="x", quoted=True)))
                    .where(where.transform(lambda n: exp.column(n.name, table="x", quoted=True) if isinstance(n, exp.Column) and n.name in (t.concept, t.source_concept) and not n.table else n)),
                )
            )
            queries += change(name, where, {column: col("target", "m")}, from_=lookup.copy().as_("m"), join=col("source", "m").eq(key))
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
    return col("questionnaire_response_id").is_(exp.Null()) if t.name == "observation" else exp.true()


def _domain_alignment(ctx: RuleContext):
    # One scratch table of every row to move: its source table, id, and target table.
    union = None
    for source in EVENT_TABLES.values():
        target_case = exp.Case()
        for target in EVENT_TABLES.values():
            if target.name != source.name:
                target_case = target_case.when(col("domain_id", "c").eq(lit(target.domain)), exp.Literal.string(target.name))
        part = (
            exp.select(exp.Literal.string(source.name).as_("from_table"), col("_rid", "x").as_("rid"), col(source.id, "x").as_("from_id"), target_case.as_("to_table"))
            .from_(table(source.name, "x"))
            .join(table("concept", "c"), on=col("concept_id", "c").eq(col(source.concept, "x")))
            .where(exp.and_(_movable(source).transform(lambda n: exp.column(n.name, table="x", quoted=True) if isinstance(n, exp.Column) else n), col("domain_id", "c").neq(lit(source.domain))))
        )
        union = part if union is None else exp.union(union, part, distinct=False)
    q, moves = setup(ctx, "moves", exp.select(exp.Star()).from_(union.subquery("u")).where(col("to_table").is_(exp.Null()).not_()))  # type: ignore[union-attr]
    queries = [q]
    # Insert into each target table, ids continuing after its largest, then log and remove from the source.
    for target in EVENT_TABLES.values():
        for source in EVENT_TABLES.values():
            if source.name == target.name:
                continue
            picked = exp.select(col("rid")).from_(moves).where(col("from_table").eq(exp.Literal.string(source.name)), col("to_table").eq(exp.Literal.string(target.name)))
            offset = exp.select(exp.func("COALESCE", exp.func("MAX", col(target.id)), num(0))).from_(table(target.name)).subquery()
            new_id = exp.Add(this=offset, expression=exp.Window(this=exp.func("ROW_NUMBER"), order=exp.Order(expressions=[exp.Ordered(this=col("_rid", "x"))])))
            columns = {
                target.id: new_id,
                target.concept: col(source.concept, "x"),
                target.source_concept: col(source.source_concept, "x"),
                target.date: col(source.date, "x"),
                target.datetime: col(source.datetime, "x"),
                target.type_concept: col(source.type_concept, "x"),
                target.source_value: col(source.source_value, "x"),
                **{c: col(c, "x") for c in SHARED},
                "_rid": col("_rid", "x"),
            }
            if target.name == "drug_exposure":
                columns["drug_exposure_end_date"] = col(source.date, "x")
            if {source.name, target.name} == {"measurement", "observation"}:
                columns.update({c: col(c, "x") for c in VALUES})
            select = exp.select(*[v.as_(k) if not isinstance(v, exp.Column) or v.name != k else v for k, v in columns.items()]).from_(table(source.name, "x")).where(col("_rid", "x").isin(query=picked))
            queries.append(
                log(
                    ctx,
                    "moves",
                    exp.select(
                        exp.Literal.string(source.name).as_("from_table"), col(source.id, "x").as_("from_id"),
                        exp.Literal.string(target.name).as_("to_table"), new_id.as_("to_id"), col("_rid", "x"),
                        col(source.concept, "x").as_("concept_id"),
                    ).from_(table(source.name, "x")).where(col("_rid", "x").isin(query=picked)),
                )
            )
            queries += insert(target.name, list(columns), select, col("_rid").isin(query=picked))
    for source in EVENT_TABLES.values():
        picked = exp.select(col("rid")).from_(moves).where(col("from_table").eq(exp.Literal.string(source.name)))
        queries += remove(source.name, col("_rid").isin(query=picked))
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
