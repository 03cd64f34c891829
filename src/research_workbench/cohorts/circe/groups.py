"""Criteria groups: which index events satisfy a group, evaluated against a table of index events; and a
criterion's events with its nested ``CorrelatedCriteria`` group applied (``criterion_events``).

A group holds criteria and a criterion may hold a group, so the two recursive functions live here together;
``criteria.py`` (one criterion's own event query) imports nothing of this module.

The index table has ``(person_id, event_id, start_date, end_date, visit_occurrence_id, op_start_date,
op_end_date)``. Each member of a group (a windowed criterion with an occurrence count, a demographic
criterion or a sub-group) yields the index events it holds for; the group keeps an index event by how many
members hold: ALL every one, ANY at least one, AT_LEAST n, AT_MOST n. An empty group keeps every event.
Occurrence counts are taken over a LEFT JOIN, so "exactly 0" and "at most n" keep events with no candidates.
"""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import alias, col, ident, num, table, union_all
from . import model as m
from .criteria import EVENT_COLUMNS, circe_age, event_query, with_observation_period
from .sql import Session, add_days, concept_clause, range_clause

COUNT_COLUMN = {
    "DOMAIN_CONCEPT": "domain_concept_id",
    "START_DATE": "start_date",
    "END_DATE": "end_date",
    "VISIT_ID": "visit_occurrence_id",
}


def _p(name: str) -> exp.Column:
    return col(name, table="P")


def _a(name: str) -> exp.Column:
    return col(name, table="A")


def _bound(endpoint: m.Endpoint, anchor: exp.Expression, check_op: bool) -> exp.Expression | None:
    """One end of a window: anchor ± days, or (Days null) the observation period's edge, or open."""
    if endpoint.days is not None:
        return add_days(anchor, endpoint.coeff * endpoint.days)
    if not check_op:
        return None
    return _p("op_start_date") if endpoint.coeff == -1 else _p("op_end_date")


def _window(window: m.Window, use_event_end: bool, check_op: bool) -> list[exp.Expression]:
    anchor = _p("end_date") if window.use_index_end else _p("start_date")
    candidate = _a("end_date") if use_event_end else _a("start_date")
    clauses = []
    low = _bound(window.start, anchor, check_op)
    if low is not None:
        clauses.append(exp.GTE(this=candidate, expression=low))
    high = _bound(window.end, anchor, check_op)
    if high is not None:
        clauses.append(exp.LTE(this=candidate, expression=high))
    return clauses


def window_clauses(cc: m.CorelatedCriteria) -> list[exp.Expression]:
    """How a candidate event ``A`` must sit relative to the index event ``P``."""
    check_op = not cc.ignore_observation_period
    clauses: list[exp.Expression] = [exp.EQ(this=_a("person_id"), expression=_p("person_id"))]
    if check_op:
        clauses += [
            exp.GTE(this=_a("start_date"), expression=_p("op_start_date")),
            exp.LTE(this=_a("start_date"), expression=_p("op_end_date")),
        ]
    clauses += _window(cc.start_window, bool(cc.start_window.use_event_end), check_op)
    if cc.end_window is not None:
        # An EndWindow tests the candidate's end unless UseEventEnd is explicitly false.
        clauses += _window(cc.end_window, cc.end_window.use_event_end is not False, check_op)
    if cc.restrict_visit:
        clauses.append(exp.EQ(this=_a("visit_occurrence_id"), expression=_p("visit_occurrence_id")))
    return clauses


def _occurrence_test(occurrence: m.Occurrence) -> exp.Expression:
    if occurrence.is_distinct:
        counted = exp.Count(this=exp.Distinct(expressions=[_a(COUNT_COLUMN[occurrence.count_column or "DOMAIN_CONCEPT"])]))
    else:
        counted = exp.Count(this=_a("event_id"))
    build = {0: exp.EQ, 1: exp.LTE, 2: exp.GTE}[occurrence.type]
    return build(this=counted, expression=num(occurrence.count))


def correlated_member(session: Session, cc: m.CorelatedCriteria, index: str) -> exp.Select:
    candidates = session.materialize(criterion_events(session, cc.criteria.criteria), "candidates")
    return (
        exp.select(_p("person_id"), _p("event_id"))
        .from_(table(index, alias="P"))
        .join(table(candidates, alias="A"), on=exp.and_(*window_clauses(cc)), join_type="LEFT")
        .group_by(_p("person_id"), _p("event_id"))
        .having(_occurrence_test(cc.occurrence))
    )


def demographic_member(dc: m.DemographicCriteria, index: str) -> exp.Select:
    person = lambda n: col(n, table="PE")  # noqa: E731
    clauses: list[exp.Expression] = []
    if dc.age:
        clauses.append(range_clause(circe_age(_p("start_date"), person("year_of_birth")), dc.age))  # Circe's age rule
    clauses += concept_clause(person("gender_concept_id"), dc.gender, dc.gender_cs)
    clauses += concept_clause(person("race_concept_id"), dc.race, dc.race_cs)
    clauses += concept_clause(person("ethnicity_concept_id"), dc.ethnicity, dc.ethnicity_cs)
    if dc.occurrence_start_date:
        clauses.append(range_clause(_p("start_date"), dc.occurrence_start_date))
    if dc.occurrence_end_date:
        clauses.append(range_clause(_p("end_date"), dc.occurrence_end_date))
    query = (
        exp.select(_p("person_id"), _p("event_id"))
        .distinct()
        .from_(table(index, alias="P"))
        .join(table("person", alias="PE"), on=exp.EQ(this=person("person_id"), expression=_p("person_id")))
    )
    return query.where(exp.and_(*clauses)) if clauses else query


def passing_events(session: Session, group: m.CriteriaGroup, index: str) -> str:
    """Name of a temporary table of the ``(person_id, event_id)`` of ``index`` that satisfy ``group``."""
    members: list[exp.Expression] = []
    for cc in group.criteria_list:
        members.append(correlated_member(session, cc, index))
    for dc in group.demographic_criteria_list:
        members.append(demographic_member(dc, index))
    for sub in group.groups:
        members.append(exp.select("person_id", "event_id").from_(table(passing_events(session, sub, index))))

    i = lambda n: col(n, table="I")  # noqa: E731
    if not members:
        return session.materialize(exp.select(i("person_id"), i("event_id")).distinct().from_(table(index, alias="I")), "group")

    tagged = [
        exp.select(col("person_id", table="X"), col("event_id", table="X"), alias(num(k), "member")).from_(
            exp.Subquery(this=member, alias=exp.TableAlias(this=ident("X")))
        )
        for k, member in enumerate(members)
    ]
    union = union_all(tagged)
    satisfied = exp.Count(this=exp.Distinct(expressions=[col("member", table="M")]))
    test = {
        "ALL": lambda: exp.EQ(this=satisfied, expression=num(len(members))),
        "ANY": lambda: exp.GT(this=satisfied, expression=num(0)),
        "AT_LEAST": lambda: exp.GTE(this=satisfied, expression=num(group.count or 0)),
        "AT_MOST": lambda: exp.LTE(this=satisfied, expression=num(group.count or 0)),
    }[group.type]()
    query = (
        exp.select(i("person_id"), i("event_id"))
        .from_(table(index, alias="I"))
        .join(
            exp.Subquery(this=union, alias=exp.TableAlias(this=ident("M"))),
            on=exp.and_(
                exp.EQ(this=col("person_id", table="M"), expression=i("person_id")),
                exp.EQ(this=col("event_id", table="M"), expression=i("event_id")),
            ),
            join_type="LEFT",
        )
        .group_by(i("person_id"), i("event_id"))
        .having(test)
    )
    return session.materialize(query, "group")


def criterion_events(session: Session, c: m.Criteria) -> exp.Expression:
    """The events of one criterion, nested ``CorrelatedCriteria`` applied (materialized when present)."""
    query = event_query(c)
    group = c.correlated_criteria
    if group is None or group.members == 0:
        return query
    indexed = session.materialize(with_observation_period(query), "nested")
    passing = passing_events(session, group, indexed)
    e = lambda n: col(n, table="E")  # noqa: E731
    return (
        exp.select(*[e(n) for n in EVENT_COLUMNS])
        .from_(table(indexed, alias="E"))
        .where(
            exp.Exists(
                this=exp.select(num(1))
                .from_(table(passing, alias="G"))
                .where(
                    exp.and_(
                        exp.EQ(this=col("person_id", table="G"), expression=e("person_id")),
                        exp.EQ(this=col("event_id", table="G"), expression=e("event_id")),
                    )
                )
            )
        )
    )
