"""Per-domain event queries: one Circe criterion → its events.

Every query yields ``(person_id, event_id, start_date, end_date, visit_occurrence_id, sort_date,
domain_concept_id)``. Shape of each query (as circe-be's criteria SQL builders):

- inner ``C``: the domain table filtered on the concept set (``CodesetId``), with the event's start and end
  (``DateAdjustment`` already applied: circe-be adjusts the dates in this inner select, so every filter below sees
  the adjusted dates) and, for ``First``, the row's rank among the person's rows of that concept set over the whole
  table, by the table's own start date. End dates as circe-be reads them: a NULL condition or device end becomes
  start + 1 day; a drug exposure ends at its end date, else start + days_supply, else start + 1; a procedure,
  measurement or observation ends the day after it starts whatever its table holds; a visit ends at
  ``visit_end_date`` as it is (NULL stays NULL); a death is one day long and its event id is the person id;
- outer: every other attribute as a WHERE clause on ``C`` (joined to person, visit, provider and care site only
  when an attribute needs them); with a DateAdjustment, also ``end >= start``.

``CorrelatedCriteria`` (a criterion holding a group, which holds criteria) are applied in ``groups.py``, which
imports this module; this module imports nothing of it.

The OMOP event tables' columns (id, concept, source concept, start and end date, type concept, visit) are read from
``cdr.facts.event_tables()``; the tables Circe alone reads (eras, death, observation periods) are described here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from ...cdr.facts import event_table
from ...cdr.sql import alias, col, date_literal, ident, num, table
from . import model as m
from .sql import add_days, concept_clause, days_between, in_codeset, range_clause, row_number, text_clause

C, P, V, PR, CS = "C", "P", "V", "PR", "CS"


def _c(name: str) -> exp.Column:
    return col(name, table=C)


START, END = _c("_start_date"), _c("_end_date")


def _plus_one(start: str, end: str | None = None) -> Callable[[], exp.Expression]:
    def build() -> exp.Expression:
        tomorrow = add_days(col(start, table="T"), 1)
        return exp.func("COALESCE", col(end, table="T"), tomorrow) if end else tomorrow

    return build


def drug_exposure_end(alias: str) -> exp.Expression:
    """A drug exposure's end as Circe reads it: its end date, else start + days_supply, else start + 1 day."""
    drugs = event_table("drug_exposure")
    start = col(drugs.start_date, table=alias)
    return exp.func(
        "COALESCE",
        col(drugs.end_date, table=alias),  # type: ignore[arg-type]
        exp.Add(this=start, expression=exp.cast(col("days_supply", table=alias), "INTEGER")),
        add_days(start.copy(), 1),
    )


def _column(name: str) -> Callable[[], exp.Expression]:
    """A date that is a column of the table as it is (the eras, observation periods and visits)."""
    return lambda: col(name, table="T")


@dataclass(frozen=True)
class CriterionTable:
    """The table a Circe criterion reads and the columns it uses."""

    table: str
    event_id: str  # the column holding the event id (death: person_id, as circe-be)
    concept: str  # matched against CodesetId; also what DOMAIN_CONCEPT counts
    start: str
    end: Callable[[], exp.Expression]
    visit: str | None = "visit_occurrence_id"  # None: no visit (NULL in the output)
    type_field: str | None = None  # e.g. "condition_type" (+ "_cs", "_exclude")
    type_column: str | None = None
    source_field: str | None = None
    source_column: str | None = None


def _omop(name: str, field: str, *, drug: bool = False, read_end: bool = True, raw_end: bool = False) -> CriterionTable:
    """A criterion over an OMOP event table: its columns from ``cdr.facts``; ``field`` is the prefix of the
    criterion's type and source-concept attributes (``condition`` → ``condition_type``, ``condition_source_concept``).
    ``read_end=False``: the event ends the day after it starts whatever the table's end column holds (circe-be's
    ``DATEADD(day,1,po.procedure_date) as end_date``). ``raw_end``: the end column as it is, NULL included (circe-be's
    ``vo.visit_end_date as end_date``)."""
    t = event_table(name)
    if drug:
        end = lambda: drug_exposure_end("T")  # noqa: E731
    elif raw_end:
        end = _column(t.end_date)  # type: ignore[arg-type]
    else:
        end = _plus_one(t.start_date, t.end_date if read_end else None)
    return CriterionTable(
        t.table, t.id, t.concept, t.start_date, end, visit=t.visit, type_field=f"{field}_type", type_column=t.type_concept,
        source_field=f"{field}_source_concept", source_column=t.source_concept,
    )


CRITERION_TABLES: dict[str, CriterionTable] = {
    "ConditionOccurrence": _omop("condition_occurrence", "condition"),
    "ConditionEra": CriterionTable(
        "condition_era", "condition_era_id", "condition_concept_id", "condition_era_start_date",
        _column("condition_era_end_date"), visit=None,
    ),
    "DrugExposure": _omop("drug_exposure", "drug", drug=True),
    "DrugEra": CriterionTable(
        "drug_era", "drug_era_id", "drug_concept_id", "drug_era_start_date", _column("drug_era_end_date"),
        visit=None,
    ),
    "Measurement": _omop("measurement", "measurement"),
    "Observation": _omop("observation", "observation"),
    "ProcedureOccurrence": _omop("procedure_occurrence", "procedure", read_end=False),  # procedure_end_date unread
    "DeviceExposure": _omop("device_exposure", "device"),
    "VisitOccurrence": _omop("visit_occurrence", "visit", raw_end=True),  # no COALESCE: a NULL end stays NULL
    "Death": CriterionTable(
        "death", "person_id", "cause_concept_id", "death_date", _plus_one("death_date"), visit=None,
        type_field="death_type", type_column="death_type_concept_id", source_field="death_source_concept",
        source_column="cause_source_concept_id",
    ),
    "ObservationPeriod": CriterionTable(
        "observation_period", "observation_period_id", "period_type_concept_id", "observation_period_start_date",
        _column("observation_period_end_date"), visit=None,
    ),
}


def circe_age(on: exp.Expression, year_of_birth: exp.Expression) -> exp.Expression:
    """Circe's age: ``YEAR(date) − year_of_birth``.

    Deliberately not ``cdr.facts.age_at`` (whole years, birthday-aware): OHDSI Circe computes age from the year of
    birth alone, and a Circe definition must select the cohort ATLAS selects, so this keeps Circe's rule (it can be
    one year more than the birthday-aware age before the birthday in that year).
    """
    return exp.Sub(this=exp.func("YEAR", on), expression=year_of_birth)


class _Joins:
    """Which lookup tables the outer query needs."""

    def __init__(self) -> None:
        self.person = self.visit = self.provider = self.care_site = False


def _age(start: exp.Expression, joins: _Joins) -> exp.Expression:
    joins.person = True
    return circe_age(start, col("year_of_birth", table=P))


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
        clauses += concept_clause(col("gender_concept_id", table=P), c.gender, c.gender_cs)
    return clauses


def _specific(c: m.Criteria, joins: _Joins) -> list[exp.Expression]:
    """The attributes particular to each domain."""
    out: list[exp.Expression] = []

    def concepts(column: str, concepts_value, selection) -> None:
        out.extend(concept_clause(_c(column), concepts_value, selection))

    def numeric(value: exp.Expression, rng, decimal: bool = False) -> None:
        if rng is not None:
            out.append(range_clause(value, rng, decimal=decimal))

    def text(column: str, flt) -> None:
        if flt is not None:
            out.append(text_clause(_c(column), flt))

    if isinstance(c, (m.ConditionEra, m.DrugEra)):
        numeric(START, c.era_start_date)  # circe-be: C.start_date, the date after any DateAdjustment
        numeric(END, c.era_end_date)
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
        numeric(_c("quantity"), c.quantity, decimal=True)
        numeric(_c("days_supply"), c.days_supply)
        concepts("route_concept_id", c.route_concept, c.route_concept_cs)
        text("lot_number", c.lot_number)
        text("stop_reason", c.stop_reason)
    elif isinstance(c, m.Measurement):
        concepts("operator_concept_id", c.operator, c.operator_cs)
        numeric(_c("value_as_number"), c.value_as_number, decimal=True)
        concepts("value_as_concept_id", c.value_as_concept, c.value_as_concept_cs)
        concepts("unit_concept_id", c.unit, c.unit_cs)
        numeric(_c("range_low"), c.range_low, decimal=True)
        numeric(_c("range_high"), c.range_high, decimal=True)
        ratio = lambda bound: exp.Div(this=_c("value_as_number"), expression=exp.func("NULLIF", _c(bound), num(0)))  # noqa: E731
        numeric(ratio("range_low"), c.range_low_ratio, decimal=True)
        numeric(ratio("range_high"), c.range_high_ratio, decimal=True)
        if c.abnormal:
            out.append(
                exp.or_(
                    exp.LT(this=_c("value_as_number"), expression=_c("range_low")),
                    exp.GT(this=_c("value_as_number"), expression=_c("range_high")),
                    exp.In(this=_c("value_as_concept_id"), expressions=[num(4155142), num(4155143)]),
                    wrap=True,
                )
            )
    elif isinstance(c, m.Observation):
        numeric(_c("value_as_number"), c.value_as_number, decimal=True)
        text("value_as_string", c.value_as_string)
        concepts("value_as_concept_id", c.value_as_concept, c.value_as_concept_cs)
        concepts("qualifier_concept_id", c.qualifier, c.qualifier_cs)
        concepts("unit_concept_id", c.unit, c.unit_cs)
    elif isinstance(c, m.ProcedureOccurrence):
        concepts("modifier_concept_id", c.modifier, c.modifier_cs)
        numeric(_c("quantity"), c.quantity, decimal=True)
    elif isinstance(c, m.DeviceExposure):
        text("unique_device_id", c.unique_device_id)
        numeric(_c("quantity"), c.quantity, decimal=True)
    elif isinstance(c, m.VisitOccurrence):
        numeric(days_between(START, END), c.visit_length)
        if c.place_of_service or c.place_of_service_cs:
            joins.care_site = True
            out.extend(concept_clause(col("place_of_service_concept_id", table=CS), c.place_of_service, c.place_of_service_cs))
    elif isinstance(c, m.ObservationPeriod):
        numeric(START, c.period_start_date)
        numeric(END, c.period_end_date)
        concepts("period_type_concept_id", c.period_type, c.period_type_cs)
        numeric(days_between(START, END), c.period_length)
        if c.age_at_start:
            numeric(_age(START, joins), c.age_at_start)
        if c.age_at_end:
            numeric(_age(END, joins), c.age_at_end)
        out.extend(_inside_user_defined_period(c))

    if isinstance(c, (m._ProviderVisit, m.VisitOccurrence)):
        if c.provider_specialty or c.provider_specialty_cs:
            joins.provider = True
            out.extend(concept_clause(col("specialty_concept_id", table=PR), c.provider_specialty, c.provider_specialty_cs))
    if isinstance(c, m._ProviderVisit) and (c.visit_type or c.visit_type_cs):
        joins.visit = True
        out.extend(concept_clause(col("visit_concept_id", table=V), c.visit_type, c.visit_type_cs))
    return out


def _inside_user_defined_period(c: m.ObservationPeriod) -> list[exp.Expression]:
    """circe-be's ``C.start_date <= @date and C.end_date >= @date`` for each given UserDefinedPeriod date
    (``C``'s dates after any DateAdjustment, as in circe-be's inner select)."""
    period = c.user_defined_period
    if period is None:
        return []
    return [
        exp.and_(exp.LTE(this=START.copy(), expression=date_literal(d)), exp.GTE(this=END.copy(), expression=date_literal(d)))
        for d in (period.start_date, period.end_date)
        if d is not None
    ]


def _type_and_source(c: m.Criteria, domain: CriterionTable) -> list[exp.Expression]:
    clauses: list[exp.Expression] = []
    if domain.type_field:
        concepts = getattr(c, domain.type_field)
        selection = getattr(c, f"{domain.type_field}_cs")
        exclude = getattr(c, f"{domain.type_field}_exclude")
        clauses += concept_clause(_c(domain.type_column), concepts, selection, exclude=exclude)  # type: ignore[arg-type]
    if domain.source_field and getattr(c, domain.source_field) is not None:
        clauses.append(in_codeset(_c(domain.source_column), getattr(c, domain.source_field)))  # type: ignore[arg-type]
    return clauses


def _inner(c: m.Criteria, domain: CriterionTable) -> exp.Select:
    """``C``: the table's rows of the concept set with their (adjusted) dates, id, concept and ``First`` rank."""
    start, end = col(domain.start, table="T"), domain.end()
    adj = c.date_adjustment
    if adj is not None:  # circe-be adjusts in this inner select, from the unadjusted start and end expressions
        start, end = (
            add_days(start.copy() if adj.start_with == "START_DATE" else end.copy(), adj.start_offset),
            add_days(end.copy() if adj.end_with == "END_DATE" else start.copy(), adj.end_offset),
        )
    query = exp.select(
        exp.Column(this=exp.Star(), table=ident("T")),
        alias(start, "_start_date"),
        alias(end, "_end_date"),
        alias(col(domain.event_id, table="T"), "_event_id"),
        alias(col(domain.concept, table="T"), "_concept_id"),
        copy=False,
    ).from_(table(domain.table, alias="T"), copy=False)
    if c.first:  # over the table's own start date: circe-be ranks before adjusting
        rank = row_number([col("person_id", table="T")], [col(domain.start, table="T"), col(domain.event_id, table="T")])
        query = query.select(alias(rank, "_ordinal"), copy=False)
    if c.codeset_id is not None:
        query = query.where(in_codeset(col(domain.concept, table="T"), c.codeset_id), copy=False)
    return query


def event_query(c: m.Criteria) -> exp.Select:
    """The events of one criterion, before any correlated criteria."""
    domain = CRITERION_TABLES[c.domain]
    joins = _Joins()
    where = _type_and_source(c, domain) + _shared(c, joins) + _specific(c, joins)
    if c.first:
        where.append(exp.EQ(this=_c("_ordinal"), expression=num(1)))
    if c.date_adjustment is not None:  # circe-be: "C.end_date >= C.start_date" once the dates are adjusted
        where.append(exp.GTE(this=END.copy(), expression=START.copy()))
    start, end = START.copy(), END.copy()
    if isinstance(c, m.ObservationPeriod) and c.user_defined_period is not None:
        # circe-be: @startDateExpression / @endDateExpression, the given date in place of the period's own
        if c.user_defined_period.start_date is not None:
            start = date_literal(c.user_defined_period.start_date)
        if c.user_defined_period.end_date is not None:
            end = date_literal(c.user_defined_period.end_date)
    visit = _c(domain.visit) if domain.visit else exp.cast(exp.null(), "BIGINT")
    query = exp.select(
        alias(_c("person_id"), "person_id"),
        alias(_c("_event_id"), "event_id"),
        alias(start, "start_date"),
        alias(end, "end_date"),
        alias(visit, "visit_occurrence_id"),
        alias(START, "sort_date"),
        alias(_c("_concept_id"), "domain_concept_id"),
        copy=False,
    ).from_(exp.Subquery(this=_inner(c, domain), alias=exp.TableAlias(this=ident(C))), copy=False)
    if joins.person:
        query = query.join(table("person", alias=P), on=exp.EQ(this=col("person_id", table=P), expression=_c("person_id")), join_type="LEFT", copy=False)
    if joins.visit:
        query = query.join(
            table("visit_occurrence", alias=V), on=exp.EQ(this=col("visit_occurrence_id", table=V), expression=_c("visit_occurrence_id")), join_type="LEFT",
            copy=False,
        )
    if joins.provider:
        query = query.join(table("provider", alias=PR), on=exp.EQ(this=col("provider_id", table=PR), expression=_c("provider_id")), join_type="LEFT", copy=False)
    if joins.care_site:
        query = query.join(table("care_site", alias=CS), on=exp.EQ(this=col("care_site_id", table=CS), expression=_c("care_site_id")), join_type="LEFT", copy=False)
    if where:
        query = query.where(exp.and_(*where, copy=False), copy=False)
    return query


EVENT_COLUMNS = ("person_id", "event_id", "start_date", "end_date", "visit_occurrence_id", "sort_date", "domain_concept_id")


def with_observation_period(events: exp.Expression, name: str = "E") -> exp.Select:
    """Events joined to the observation period containing their start (events outside every period drop out)."""
    e = lambda n: col(n, table=name)  # noqa: E731
    op = lambda n: col(n, table="OP")  # noqa: E731
    return (
        exp.select(
            *[e(n) for n in EVENT_COLUMNS],
            alias(op("observation_period_start_date"), "op_start_date"),
            alias(op("observation_period_end_date"), "op_end_date"),
            copy=False,
        )
        .from_(exp.Subquery(this=events, alias=exp.TableAlias(this=ident(name))), copy=False)
        .join(
            table("observation_period", alias="OP"),
            on=exp.and_(
                exp.EQ(this=op("person_id"), expression=e("person_id")),
                exp.GTE(this=e("start_date"), expression=op("observation_period_start_date")),
                exp.LTE(this=e("start_date"), expression=op("observation_period_end_date")),
                copy=False,
            ),
            copy=False,
        )
    )
