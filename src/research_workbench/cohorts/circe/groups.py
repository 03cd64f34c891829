"""Criteria groups as one boolean predicate on an index event; and a criterion's events with its nested
``CorrelatedCriteria`` group applied (``criterion_events``).

A group holds criteria and a criterion may hold a group, so the two recursive functions live here together;
``criteria.py`` (one criterion's own event query) imports nothing of this module.

circe-be evaluates a group as a UNION ALL of its members' ``(person_id, event_id)`` rows grouped by index event,
``HAVING COUNT(index_id)`` compared with the number of members (ALL), ``> 0`` (ANY), ``>= n`` (AT_LEAST) or
``<= n`` (AT_MOST, over a LEFT JOIN so that events with no member keep a count of 0). Each member yields at most
one row per index event, so the count is the number of members that hold, and the same test is written here as
a predicate on the index row: ALL is AND, ANY is OR, AT_LEAST / AT_MOST compare the sum of the members' truth
values. A windowed criterion's member holds when the number of candidate events in its window (distinct values
of ``CountColumn`` with ``IsDistinct``) passes its ``Occurrence`` test; "at least 1" is an EXISTS and "exactly 0"
or "at most 0" a NOT EXISTS, which DuckDB runs as semi and anti joins. Every member predicate is TRUE or FALSE,
never NULL. An empty group holds for every event.

The index rows have ``(person_id, event_id, start_date, end_date, visit_occurrence_id, op_start_date,
op_end_date)``; the predicate refers to them through the alias given.
"""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import col, num, table
from . import model as m
from .criteria import EVENT_COLUMNS, circe_age, event_query, with_observation_period
from .sql import Aliases, add_days, concept_clause, range_clause, subquery

COUNT_COLUMN = {
    "DOMAIN_CONCEPT": "domain_concept_id",
    "START_DATE": "start_date",
    "END_DATE": "end_date",
    "VISIT_ID": "visit_occurrence_id",
}


def _bound(endpoint: m.Endpoint, anchor: exp.Expression, index: str, check_op: bool) -> exp.Expression | None:
    """One end of a window: anchor ± days, or (Days null) the observation period's edge, or open."""
    if endpoint.days is not None:
        return add_days(anchor, endpoint.coeff * endpoint.days)
    if not check_op:
        return None
    return col("op_start_date" if endpoint.coeff == -1 else "op_end_date", table=index)


def _window(window: m.Window, use_event_end: bool, check_op: bool, index: str, candidate: str) -> list[exp.Expression]:
    anchor = col("end_date" if window.use_index_end else "start_date", table=index)
    date = col("end_date" if use_event_end else "start_date", table=candidate)
    clauses = []
    low = _bound(window.start, anchor, index, check_op)
    if low is not None:
        clauses.append(exp.GTE(this=date, expression=low))
    high = _bound(window.end, anchor.copy(), index, check_op)
    if high is not None:
        clauses.append(exp.LTE(this=date.copy(), expression=high))
    return clauses


def window_clauses(cc: m.CorelatedCriteria, index: str, candidate: str) -> list[exp.Expression]:
    """How a candidate event must sit relative to the index event."""
    a = lambda n: col(n, table=candidate)  # noqa: E731
    p = lambda n: col(n, table=index)  # noqa: E731
    check_op = not cc.ignore_observation_period
    clauses: list[exp.Expression] = [exp.EQ(this=a("person_id"), expression=p("person_id"))]
    if check_op:
        clauses += [exp.GTE(this=a("start_date"), expression=p("op_start_date")), exp.LTE(this=a("start_date"), expression=p("op_end_date"))]
    clauses += _window(cc.start_window, bool(cc.start_window.use_event_end), check_op, index, candidate)
    if cc.end_window is not None:
        # An EndWindow tests the candidate's end unless UseEventEnd is explicitly false.
        clauses += _window(cc.end_window, cc.end_window.use_event_end is not False, check_op, index, candidate)
    if cc.restrict_visit:
        clauses.append(exp.EQ(this=a("visit_occurrence_id"), expression=p("visit_occurrence_id")))
    return clauses


def correlated_member(cc: m.CorelatedCriteria, index: str, names: Aliases) -> exp.Expression:
    """TRUE when the index event has the required number of candidate events in the window."""
    candidate = names("A")
    candidates = subquery(criterion_events(cc.criteria.criteria, names), candidate)
    matching = exp.select(num(1), copy=False).from_(candidates, copy=False).where(
        exp.and_(*window_clauses(cc, index, candidate), copy=False), copy=False
    )
    occurrence = cc.occurrence
    at_least_one = occurrence.type == 2 and occurrence.count == 1
    none = (occurrence.type == 0 or occurrence.type == 1) and occurrence.count == 0
    if not occurrence.is_distinct and at_least_one:
        return exp.Exists(this=matching)
    if not occurrence.is_distinct and none:
        return exp.Not(this=exp.Exists(this=matching))
    if occurrence.is_distinct:
        counted: exp.Expression = exp.Count(
            this=exp.Distinct(expressions=[col(COUNT_COLUMN[occurrence.count_column or "DOMAIN_CONCEPT"], table=candidate)])
        )
    else:
        counted = exp.Count(this=exp.Star())
    count = exp.Subquery(this=matching.select(counted, append=False, copy=False))
    build = {0: exp.EQ, 1: exp.LTE, 2: exp.GTE}[occurrence.type]
    return build(this=count, expression=num(occurrence.count))


def demographic_member(dc: m.DemographicCriteria, index: str, names: Aliases) -> exp.Expression:
    """TRUE when the index event's person (who must exist) matches every given attribute."""
    person_alias = names("PE")
    person = lambda n: col(n, table=person_alias)  # noqa: E731
    p = lambda n: col(n, table=index)  # noqa: E731
    clauses: list[exp.Expression] = [exp.EQ(this=person("person_id"), expression=p("person_id"))]
    if dc.age:
        clauses.append(range_clause(circe_age(p("start_date"), person("year_of_birth")), dc.age))  # Circe's age rule
    clauses += concept_clause(person("gender_concept_id"), dc.gender, dc.gender_cs)
    clauses += concept_clause(person("race_concept_id"), dc.race, dc.race_cs)
    clauses += concept_clause(person("ethnicity_concept_id"), dc.ethnicity, dc.ethnicity_cs)
    if dc.occurrence_start_date:
        clauses.append(range_clause(p("start_date"), dc.occurrence_start_date))
    if dc.occurrence_end_date:
        clauses.append(range_clause(p("end_date"), dc.occurrence_end_date))
    return exp.Exists(
        this=exp.select(num(1), copy=False).from_(table("person", alias=person_alias), copy=False).where(exp.and_(*clauses, copy=False), copy=False)
    )


def group_predicate(group: m.CriteriaGroup, index: str, names: Aliases | None = None) -> exp.Expression:
    """The condition on the index row (alias ``index``) under which ``group`` holds for it."""
    names = names or Aliases()
    members: list[exp.Expression] = [correlated_member(cc, index, names) for cc in group.criteria_list]
    members += [demographic_member(dc, index, names) for dc in group.demographic_criteria_list]
    members += [exp.Paren(this=group_predicate(sub, index, names)) for sub in group.groups]
    if not members:
        return exp.true()
    if group.type == "ALL":
        return exp.and_(*members, copy=False)
    if group.type == "ANY":
        return exp.or_(*members, copy=False)
    held = [exp.Case(ifs=[exp.If(this=member, true=num(1))], default=num(0)) for member in members]
    total = held[0]
    for term in held[1:]:
        total = exp.Add(this=total, expression=term)
    build = exp.GTE if group.type == "AT_LEAST" else exp.LTE
    return build(this=exp.Paren(this=total), expression=num(group.count or 0))


def criterion_events(c: m.Criteria, names: Aliases | None = None) -> exp.Expression:
    """The events of one criterion, nested ``CorrelatedCriteria`` applied: the group is evaluated on the events that
    lie in an observation period (whose dates the windows use), as circe-be's wrapped criteria query does."""
    query = event_query(c)
    group = c.correlated_criteria
    if group is None or group.members == 0:
        return query
    names = names or Aliases()
    inner = names("E")
    indexed = subquery(with_observation_period(query), inner)
    return (
        exp.select(*[col(n, table=inner) for n in EVENT_COLUMNS], copy=False)
        .from_(indexed, copy=False)
        .where(group_predicate(group, inner, names), copy=False)
    )
