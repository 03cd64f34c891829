"""Per-domain event queries: one Circe criterion → its events.

Every query yields ``(person_id, event_id, start_date, end_date, visit_occurrence_id, sort_date,
domain_concept_id)``. Shape of each query (as Circe's):

- inner ``C``: the domain table filtered on the concept set (``CodesetId``), with the event's start and end
  (a NULL end becomes start + 1 day; drug exposures use days_supply first) and, for ``First``, the row's rank
  among the person's rows of that concept set over the whole table;
- outer: every other attribute as a WHERE clause on ``C`` (joined to person, visit, provider and care site only
  when an attribute needs them), then ``DateAdjustment`` on the output dates;
- ``CorrelatedCriteria``: the events joined to their observation period, kept when the nested group holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from . import model as m
from .sql import (
    Session,
    add_days,
    alias,
    col,
    concept_clause,
    days_between,
    ident,
    in_codeset,
    range_clause,
    table,
    text_clause,
)

C, P, V, PR, CS = "C", "P", "V", "PR", "CS"


def _c(name: str) -> exp.Column:
    return col(C, name)


START, END = _c("_start_date"), _c("_end_date")


def _plus_one(start: str, end: str | None = None) -> Callable[[], exp.Expression]:
    def build() -> exp.Expression:
        tomorrow = add_days(col("T", start), 1)
        return exp.func("COALESCE", col("T", end), tomorrow) if end else tomorrow

    return build


def _drug_end() -> exp.Expression:
    start = col("T", "drug_exposure_start_date")
    return exp.func(
        "COALESCE",
        col("T", "drug_exposure_end_date"),
        exp.Add(this=start, expression=exp.cast(col("T", "days_supply"), "INTEGER")),
        add_days(start, 1),
    )


@dataclass(frozen=True)
class Domain:
    table: str
    event_id: str
    concept: str  # matched against CodesetId; also what DOMAIN_CONCEPT counts
    start: str
    end: Callable[[], exp.Expression]
    visit: bool = True
    provider: bool = True
    type_field: str | None = None  # e.g. "condition_type" (+ "_cs", "_exclude")
    type_column: str | None = None
    source_field: str | None = None
    source_column: str | None = None


DOMAINS: dict[str, Domain] = {
    "ConditionOccurrence": Domain(
        "condition_occurrence", "condition_occurrence_id", "condition_concept_id", "condition_start_date",
        _plus_one("condition_start_date", "condition_end_date"), type_field="condition_type",
        type_column="condition_type_concept_id", source_field="condition_source_concept", source_column="condition_source_concept_id",
    ),
    "ConditionEra": Domain(
        "condition_era", "condition_era_id", "condition_concept_id", "condition_era_start_date",
        lambda: col("T", "condition_era_end_date"), visit=False, provider=False,
    ),
    "DrugExposure": Domain(
        "drug_exposure", "drug_exposure_id", "drug_concept_id", "drug_exposure_start_date", _drug_end,
        type_field="drug_type", type_column="drug_type_concept_id", source_field="drug_source_concept",
        source_column="drug_source_concept_id",
    ),
    "DrugEra": Domain(
        "drug_era", "drug_era_id", "drug_concept_id", "drug_era_start_date", lambda: col("T", "drug_era_end_date"),
        visit=False, provider=False,
    ),
    "Measurement": Domain(
        "measurement", "measurement_id", "measurement_concept_id", "measurement_date", _plus_one("measurement_date"),
        type_field="measurement_type", type_column="measurement_type_concept_id",
        source_field="measurement_source_concept", source_column="measurement_source_concept_id",
    ),
    "Observation": Domain(
        "observation", "observation_id", "observation_concept_id", "observation_date", _plus_one("observation_date"),
        type_field="observation_type", type_column="observation_type_concept_id",
        source_field="observation_source_concept", source_column="observation_source_concept_id",
    ),
    "ProcedureOccurrence": Domain(
        "procedure_occurrence", "procedure_occurrence_id", "procedure_concept_id", "procedure_date",
        _plus_one("procedure_date", "procedure_end_date"), type_field="procedure_type",
        type_column="procedure_type_concept_id", source_field="procedure_source_concept", source_column="procedure_source_concept_id",
    ),
    "DeviceExposure": Domain(
        "device_exposure", "device_exposure_id", "device_concept_id", "device_exposure_start_date",
        _plus_one("device_exposure_start_date", "device_exposure_end_date"), type_field="device_type",
        type_column="device_type_concept_id", source_field="device_source_concept", source_column="device_source_concept_id",
    ),
    "VisitOccurrence": Domain(
        "visit_occurrence", "visit_occurrence_id", "visit_concept_id", "visit_start_date",
        _plus_one("visit_start_date", "visit_end_date"), type_field="visit_type", type_column="visit_type_concept_id",
        source_field="visit_source_concept", source_column="visit_source_concept_id",
    ),
    "Death": Domain(
        "death", "death_id", "cause_concept_id", "death_date", _plus_one("death_date"), visit=False, provider=False,
        type_field="death_type", type_column="death_type_concept_id", source_field="death_source_concept",
        source_column="cause_source_concept_id",
    ),
    "ObservationPeriod": Domain(
        "observation_period", "observation_period_id", "period_type_concept_id", "observation_period_start_date",
        lambda: col("T", "observation_period_end_date"), visit=False, provider=False,
    ),
}


class _Joins:
    """Which lookup tables the outer query needs."""

    def __init__(self) -> None:
        self.person = self.visit = self.provider = self.care_site = False


def _age(start: exp.Expression, joins: _Joins) -> exp.Expression:
    joins.person = True
    return exp.Sub(this=exp.func("YEAR", start), expression=col(P, "year_of_birth"))


def _shared(c: m.Criteria, joins: _Joins) -> list[exp.Expression]:
    clauses: list[exp.Expression] = []
    if c.occurrence_start_date:
        clauses.append(range_clause(START, c.occurrence_start_date))
    if c.occurrence_end_date:
        clauses.append(range_clause(END, c.occurrence_end_date))
    if c.age:
        clauses.append(range_clause(_age(START, joins), c.age))
    if c.gender or c.gender_cs:
        joins.person = True
        clauses += concept_clause(col(P, "gender_concept_id"), c.gender, c.gender_cs)
    return clauses


def _specific(c: m.Criteria, joins: _Joins) -> list[exp.Expression]:
    """The attributes particular to each domain."""
    out: list[exp.Expression] = []

    def concepts(column: str, concepts_value, selection) -> None:
        out.extend(concept_clause(_c(column), concepts_value, selection))

    def numeric(value: exp.Expression, rng) -> None:
        if rng is not None:
            out.append(range_clause(value, rng))

    def text(column: str, flt) -> None:
        if flt is not None:
            out.append(text_clause(_c(column), flt))

    if isinstance(c, (m.ConditionEra, m.DrugEra)):
        prefix = "condition_era" if isinstance(c, m.ConditionEra) else "drug_era"
        numeric(_c(f"{prefix}_start_date"), c.era_start_date)
        numeric(_c(f"{prefix}_end_date"), c.era_end_date)
        numeric(_c("condition_occurrence_count" if isinstance(c, m.ConditionEra) else "drug_exposure_count"), c.occurrence_count)
        numeric(days_between(START, END), c.era_length)
        if c.age_at_start:
            numeric(_age(START, joins), c.age_at_start)
        if c.age_at_end:
            numeric(_age(END, joins), c.age_at_end)
        if isinstance(c, m.DrugEra):
            numeric(_c("gap_days"), c.gap_days)
    elif isinstance(c, m.ConditionOccurrence):
        concepts("condition_status_concept_id", c.condition_status, c.condition_status_cs)
        text("stop_reason", c.stop_reason)
    elif isinstance(c, m.DrugExposure):
        numeric(_c("refills"), c.refills)
        numeric(_c("quantity"), c.quantity)
        numeric(_c("days_supply"), c.days_supply)
        concepts("route_concept_id", c.route_concept, c.route_concept_cs)
        text("lot_number", c.lot_number)
        text("stop_reason", c.stop_reason)
    elif isinstance(c, m.Measurement):
        concepts("operator_concept_id", c.operator, c.operator_cs)
        numeric(_c("value_as_number"), c.value_as_number)
        concepts("value_as_concept_id", c.value_as_concept, c.value_as_concept_cs)
        concepts("unit_concept_id", c.unit, c.unit_cs)
        numeric(_c("range_low"), c.range_low)
        numeric(_c("range_high"), c.range_high)
        ratio = lambda bound: exp.Div(this=_c("value_as_number"), expression=exp.func("NULLIF", _c(bound), exp.Literal.number(0)))  # noqa: E731
        numeric(ratio("range_low"), c.range_low_ratio)
        numeric(ratio("range_high"), c.range_high_ratio)
        if c.abnormal:
            out.append(
                exp.or_(
                    exp.LT(this=_c("value_as_number"), expression=_c("range_low")),
                    exp.GT(this=_c("value_as_number"), expression=_c("range_high")),
                    exp.In(this=_c("value_as_concept_id"), expressions=[exp.Literal.number(4155142), exp.Literal.number(4155143)]),
                    wrap=True,
                )
            )
    elif isinstance(c, m.Observation):
        numeric(_c("value_as_number"), c.value_as_number)
        text("value_as_string", c.value_as_string)
        concepts("value_as_concept_id", c.value_as_concept, c.value_as_concept_cs)
        concepts("qualifier_concept_id", c.qualifier, c.qualifier_cs)
        concepts("unit_concept_id", c.unit, c.unit_cs)
    elif isinstance(c, m.ProcedureOccurrence):
        concepts("modifier_concept_id", c.modifier, c.modifier_cs)
        numeric(_c("quantity"), c.quantity)
    elif isinstance(c, m.DeviceExposure):
        text("unique_device_id", c.unique_device_id)
        numeric(_c("quantity"), c.quantity)
    elif isinstance(c, m.VisitOccurrence):
        numeric(days_between(START, END), c.visit_length)
        if c.place_of_service or c.place_of_service_cs:
            joins.care_site = True
            out.extend(concept_clause(col(CS, "place_of_service_concept_id"), c.place_of_service, c.place_of_service_cs))
    elif isinstance(c, m.ObservationPeriod):
        numeric(START, c.period_start_date)
        numeric(END, c.period_end_date)
        concepts("period_type_concept_id", c.period_type, c.period_type_cs)
        numeric(days_between(START, END), c.period_length)
        if c.age_at_start:
            numeric(_age(START, joins), c.age_at_start)
        if c.age_at_end:
            numeric(_age(END, joins), c.age_at_end)

    if isinstance(c, (m._ProviderVisit, m.VisitOccurrence)):
        if c.provider_specialty or c.provider_specialty_cs:
            joins.provider = True
            out.extend(concept_clause(col(PR, "specialty_concept_id"), c.provider_specialty, c.provider_specialty_cs))
    if isinstance(c, m._ProviderVisit) and (c.visit_type or c.visit_type_cs):
        joins.visit = True
        out.extend(concept_clause(col(V, "visit_concept_id"), c.visit_type, c.visit_type_cs))
    return out


def _type_and_source(c: m.Criteria, domain: Domain) -> list[exp.Expression]:
    clauses: list[exp.Expression] = []
    if domain.type_field:
        concepts = getattr(c, domain.type_field)
        selection = getattr(c, f"{domain.type_field}_cs")
        exclude = getattr(c, f"{domain.type_field}_exclude")
        clauses += concept_clause(_c(domain.type_column), concepts, selection, exclude=exclude)  # type: ignore[arg-type]
    if domain.source_field and getattr(c, domain.source_field) is not None:
        clauses.append(in_codeset(_c(domain.source_column), getattr(c, domain.source_field)))  # type: ignore[arg-type]
    return clauses


def _inner(c: m.Criteria, domain: Domain) -> exp.Select:
    start = col("T", domain.start)
    query = exp.select(
        exp.Column(this=exp.Star(), table=ident("T")),
        alias(start, "_start_date"),
        alias(domain.end(), "_end_date"),
        alias(col("T", domain.event_id), "_event_id"),
        alias(col("T", domain.concept), "_concept_id"),
    ).from_(table(domain.table, "T"))
    if c.first:
        rank = exp.Window(
            this=exp.func("DENSE_RANK"),
            partition_by=[col("T", "person_id")],
            order=exp.Order(expressions=[exp.Ordered(this=start), exp.Ordered(this=col("T", domain.event_id))]),
        )
        query = query.select(alias(rank, "_ordinal"))
    if c.codeset_id is not None:
        query = query.where(in_codeset(col("T", domain.concept), c.codeset_id))
    return query


def _dates(c: m.Criteria) -> tuple[exp.Expression, exp.Expression]:
    adj = c.date_adjustment
    if adj is None:
        return START, END
    start = add_days(START if adj.start_with == "START_DATE" else END, adj.start_offset)
    end = add_days(END if adj.end_with == "END_DATE" else START, adj.end_offset)
    return start, end


def event_query(c: m.Criteria) -> exp.Select:
    """The events of one criterion, before any correlated criteria."""
    domain = DOMAINS[c.domain]
    joins = _Joins()
    where = _type_and_source(c, domain) + _shared(c, joins) + _specific(c, joins)
    if c.first:
        where.append(exp.EQ(this=_c("_ordinal"), expression=exp.Literal.number(1)))
    start, end = _dates(c)
    visit = _c("visit_occurrence_id") if domain.visit else exp.cast(exp.null(), "BIGINT")
    query = exp.select(
        alias(_c("person_id"), "person_id"),
        alias(_c("_event_id"), "event_id"),
        alias(start, "start_date"),
        alias(end, "end_date"),
        alias(visit, "visit_occurrence_id"),
        alias(START, "sort_date"),
        alias(_c("_concept_id"), "domain_concept_id"),
    ).from_(exp.Subquery(this=_inner(c, domain), alias=exp.TableAlias(this=ident(C))))
    if joins.person:
        query = query.join(table("person", P), on=exp.EQ(this=col(P, "person_id"), expression=_c("person_id")), join_type="LEFT")
    if joins.visit:
        query = query.join(
            table("visit_occurrence", V), on=exp.EQ(this=col(V, "visit_occurrence_id"), expression=_c("visit_occurrence_id")), join_type="LEFT"
        )
    if joins.provider:
        query = query.join(table("provider", PR), on=exp.EQ(this=col(PR, "provider_id"), expression=_c("provider_id")), join_type="LEFT")
    if joins.care_site:
        query = query.join(table("care_site", CS), on=exp.EQ(this=col(CS, "care_site_id"), expression=_c("care_site_id")), join_type="LEFT")
    if where:
        query = query.where(exp.and_(*where))
    return query


EVENT_COLUMNS = ("person_id", "event_id", "start_date", "end_date", "visit_occurrence_id", "sort_date", "domain_concept_id")


def with_observation_period(events: exp.Expression, name: str = "E") -> exp.Select:
    """Events joined to the observation period containing their start (events outside every period drop out)."""
    e = lambda n: col(name, n)  # noqa: E731
    op = lambda n: col("OP", n)  # noqa: E731
    return (
        exp.select(
            *[e(n) for n in EVENT_COLUMNS],
            alias(op("observation_period_start_date"), "op_start_date"),
            alias(op("observation_period_end_date"), "op_end_date"),
        )
        .from_(exp.Subquery(this=events, alias=exp.TableAlias(this=ident(name))))
        .join(
            table("observation_period", "OP"),
            on=exp.and_(
                exp.EQ(this=op("person_id"), expression=e("person_id")),
                exp.GTE(this=e("start_date"), expression=op("observation_period_start_date")),
                exp.LTE(this=e("start_date"), expression=op("observation_period_end_date")),
            ),
        )
    )


def criterion_events(session: Session, c: m.Criteria) -> exp.Expression:
    """The events of one criterion, nested ``CorrelatedCriteria`` applied (materialized when present)."""
    query = event_query(c)
    group = c.correlated_criteria
    if group is None or group.members == 0:
        return query
    from .groups import passing_events  # a group holds criteria, a criterion may hold a group

    indexed = session.materialize(with_observation_period(query), "nested")
    passing = passing_events(session, group, indexed)
    e = lambda n: col("E", n)  # noqa: E731
    return (
        exp.select(*[e(n) for n in EVENT_COLUMNS])
        .from_(table(indexed, "E"))
        .where(
            exp.Exists(
                this=exp.select(exp.Literal.number(1))
                .from_(table(passing, "G"))
                .where(
                    exp.and_(
                        exp.EQ(this=col("G", "person_id"), expression=e("person_id")),
                        exp.EQ(this=col("G", "event_id"), expression=e("event_id")),
                    )
                )
            )
        )
    )
