"""Run a Circe cohort expression over a CDR, in Circe's processing order.

codesets → primary events (observation-period join, observation window, primary limit) → qualified events
(additional criteria, qualified limit) → inclusion rules (per-rule counts and attrition) → expression limit →
cohort end (end strategy, censoring criteria) → collapse into eras with the era pad → censor window.
Each step is a temporary table in one DuckDB connection over the CDR's views.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from sqlglot import exp

from ...cdr.engine import connect
from ...cdr.store import Cdr
from . import model as m
from .codesets import resolve_codesets
from .criteria import criterion_events, with_observation_period
from .groups import passing_events
from .sql import Session, add_days, alias, col, date_literal, ident, in_codeset, least, number, row_number, table, union_all

EVENT_TABLE_COLUMNS = ("person_id", "event_id", "start_date", "end_date", "op_start_date", "op_end_date", "visit_occurrence_id")


class CohortRow(NamedTuple):
    subject_id: int
    cohort_start_date: date
    cohort_end_date: date


@dataclass(frozen=True)
class InclusionRuleResult:
    """One inclusion rule on the qualified events: alone (passing) and in order (remaining after it, lost)."""

    index: int
    name: str
    persons_passing: int
    events_passing: int
    persons_remaining: int
    events_remaining: int
    persons_lost: int
    events_lost: int


@dataclass(frozen=True)
class Step:
    name: str
    events: int
    persons: int


@dataclass
class CirceResult:
    rows: list[CohortRow]
    entry_count: int  # entry events after inclusion rules and the expression limit
    subject_count: int
    inclusion_rules: list[InclusionRuleResult]
    attrition: list[Step]
    timings_ms: dict[str, float] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "subject_count": self.subject_count,
            "entry_count": self.entry_count,
            "row_count": len(self.rows),
            "inclusion_rules": [asdict(r) for r in self.inclusion_rules],
            "attrition": [asdict(s) for s in self.attrition],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def _cols(alias_: str, names=EVENT_TABLE_COLUMNS) -> list[exp.Column]:
    return [col(alias_, n) for n in names]


def _sub(query: exp.Expression, name: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=ident(name)))


def _limit(query: exp.Expression, limit: str, order: list[str], name: str = "L") -> exp.Expression:
    """First / Last / All per person, ordered by ``order`` (ties broken by the later columns)."""
    if limit == "ALL":
        return query
    ranked = exp.select(
        exp.Column(this=exp.Star(), table=ident(name)),
        alias(row_number([col(name, "person_id")], [col(name, c) for c in order], desc=limit == "LAST"), "_rank"),
    ).from_(_sub(query, name))
    return exp.select(*_cols("R")).from_(_sub(ranked, "R")).where(exp.EQ(this=col("R", "_rank"), expression=number(1)))


def _primary_events(session: Session, primary: m.PrimaryCriteria) -> str:
    union = union_all([criterion_events(session, wrapper.criteria) for wrapper in primary.criteria_list])
    with_op = with_observation_period(union, "E")  # type: ignore[arg-type]
    window = primary.observation_window
    observed = with_op.where(
        exp.and_(
            exp.LTE(this=add_days(col("OP", "observation_period_start_date"), window.prior_days), expression=col("E", "start_date")),
            exp.LTE(this=add_days(col("E", "start_date"), window.post_days), expression=col("OP", "observation_period_end_date")),
        )
    )
    names = ("person_id", "event_id", "start_date", "end_date", "op_start_date", "op_end_date", "visit_occurrence_id", "sort_date")
    limit = primary.primary_criteria_limit.type
    if limit != "ALL":
        ranked = exp.select(
            exp.Column(this=exp.Star(), table=ident("O")),
            alias(row_number([col("O", "person_id")], [col("O", "sort_date"), col("O", "event_id")], desc=limit == "LAST"), "_rank"),
        ).from_(_sub(observed, "O"))
        observed = exp.select(*[col("R", n) for n in names]).from_(_sub(ranked, "R")).where(
            exp.EQ(this=col("R", "_rank"), expression=number(1))
        )
    # Renumber event_id per person: events of different domains may share ids.
    renumbered = exp.select(
        col("S", "person_id"),
        alias(row_number([col("S", "person_id")], [col("S", "sort_date"), col("S", "event_id")]), "event_id"),
        *[col("S", n) for n in ("start_date", "end_date", "op_start_date", "op_end_date", "visit_occurrence_id")],
    ).from_(_sub(observed, "S"))
    return session.materialize(renumbered, "primary_events")


def _qualified_events(session: Session, expression: m.CirceExpression, primary: str) -> str:
    group = expression.additional_criteria
    if group is None or group.members == 0:
        return primary  # no additional criteria: every primary event qualifies and QualifiedLimit is ignored
    passing = passing_events(session, group, primary)
    kept = (
        exp.select(*_cols("PE"))
        .from_(table(primary, "PE"))
        .join(
            table(passing, "G"),
            on=exp.and_(
                exp.EQ(this=col("G", "person_id"), expression=col("PE", "person_id")),
                exp.EQ(this=col("G", "event_id"), expression=col("PE", "event_id")),
            ),
        )
    )
    return session.materialize(_limit(kept, expression.qualified_limit.type, ["start_date", "event_id"]), "qualified_events")


def _inclusion_rules(
    session: Session, expression: m.CirceExpression, qualified: str
) -> tuple[str, list[InclusionRuleResult]]:
    rules = expression.inclusion_rules
    flags = []
    for i, rule in enumerate(rules):
        passing = passing_events(session, rule.expression, qualified)
        hit = exp.Exists(
            this=exp.select(number(1))
            .from_(table(passing, "G"))
            .where(
                exp.and_(
                    exp.EQ(this=col("G", "person_id"), expression=col("Q", "person_id")),
                    exp.EQ(this=col("G", "event_id"), expression=col("Q", "event_id")),
                )
            )
        )
        flags.append(alias(hit, f"rule_{i}"))
    masked = session.materialize(exp.select(*_cols("Q"), *flags).from_(table(qualified, "Q")), "inclusion_mask")

    results: list[InclusionRuleResult] = []
    if rules:
        aggregates: list[exp.Expression] = [exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col(None, "person_id")]))]
        for i in range(len(rules)):
            alone = col(None, f"rule_{i}")
            in_order = exp.and_(*[col(None, f"rule_{j}") for j in range(i + 1)])
            for cond in (alone, in_order):
                aggregates.append(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=cond)))
                aggregates.append(
                    exp.Filter(
                        this=exp.Count(this=exp.Distinct(expressions=[col(None, "person_id")])), expression=exp.Where(this=cond.copy())
                    )
                )
        counts = session.fetchall(exp.select(*aggregates).from_(table(masked)))[0]
        events_before, persons_before = counts[0], counts[1]
        for i, rule in enumerate(rules):
            ev_pass, pe_pass, ev_rem, pe_rem = counts[2 + 4 * i : 6 + 4 * i]
            results.append(
                InclusionRuleResult(
                    index=i,
                    name=rule.name,
                    persons_passing=pe_pass,
                    events_passing=ev_pass,
                    persons_remaining=pe_rem,
                    events_remaining=ev_rem,
                    persons_lost=persons_before - pe_rem,
                    events_lost=events_before - ev_rem,
                )
            )
            events_before, persons_before = ev_rem, pe_rem

    included = exp.select(*_cols("Q")).from_(table(masked, "Q"))
    if rules:
        included = included.where(exp.and_(*[col("Q", f"rule_{i}") for i in range(len(rules))]))
    limited = _limit(included, expression.expression_limit.type, ["start_date", "event_id"])
    return session.materialize(limited, "included_events"), results


def _custom_era_ends(session: Session, era: m.CustomEra, included: str) -> exp.Expression:
    """Exit at the end of the drug era (exposures of the codeset, gaps ≤ GapDays merged) holding the entry, + Offset."""
    de = lambda n: col("DE", n)  # noqa: E731
    start = de("drug_exposure_start_date")
    if era.days_supply_override is not None:
        end = add_days(start, era.days_supply_override)
    else:
        end = exp.func(
            "COALESCE",
            de("drug_exposure_end_date"),
            exp.Add(this=start, expression=exp.cast(de("days_supply"), "INTEGER")),
            add_days(start, 1),
        )
    persons = exp.select(col(None, "person_id")).distinct().from_(table(included))
    exposures = (
        exp.select(alias(de("person_id"), "person_id"), alias(start, "start_date"), alias(end, "end_date"))
        .from_(table("drug_exposure", "DE"))
        .where(
            exp.and_(
                de("person_id").isin(query=persons),
                exp.or_(in_codeset(de("drug_concept_id"), era.drug_codeset_id), in_codeset(de("drug_source_concept_id"), era.drug_codeset_id)),
            )
        )
    )
    eras = session.materialize(_eras(exposures, era.gap_days), "custom_eras")
    era_end = add_days(col("ER", "end_date"), era.offset)
    return (
        exp.select(col("I", "person_id"), col("I", "event_id"), alias(era_end, "end_date"))
        .from_(table(included, "I"))
        .join(
            table(eras, "ER"),
            on=exp.and_(
                exp.EQ(this=col("ER", "person_id"), expression=col("I", "person_id")),
                exp.Between(this=col("I", "start_date"), low=col("ER", "start_date"), high=era_end.copy()),
            ),
        )
    )


def _censoring_ends(session: Session, censoring: list[m.CriteriaWrapper], included: str) -> list[exp.Expression]:
    ends = []
    for wrapper in censoring:
        events = session.materialize(criterion_events(session, wrapper.criteria), "censor_events")
        ends.append(
            exp.select(col("I", "person_id"), col("I", "event_id"), alias(exp.func("MIN", col("C", "start_date")), "end_date"))
            .from_(table(included, "I"))
            .join(
                table(events, "C"),
                on=exp.and_(
                    exp.EQ(this=col("C", "person_id"), expression=col("I", "person_id")),
                    exp.GTE(this=col("C", "start_date"), expression=col("I", "start_date")),
                    exp.LTE(this=col("C", "start_date"), expression=col("I", "op_end_date")),
                ),
            )
            .group_by(col("I", "person_id"), col("I", "event_id"))
        )
    return ends


def _cohort_rows(session: Session, expression: m.CirceExpression, included: str) -> str:
    i = lambda n: col("I", n)  # noqa: E731
    op_end = exp.select(i("person_id"), i("event_id"), alias(i("op_end_date"), "end_date")).from_(table(included, "I"))
    strategy = expression.end_strategy
    candidates: list[exp.Expression] = []
    if strategy is None:
        candidates.append(op_end)
    elif strategy.date_offset is not None:
        offset = strategy.date_offset
        base = i("start_date") if offset.date_field == "StartDate" else i("end_date")
        capped = least(add_days(base, offset.offset), i("op_end_date"))
        candidates.append(exp.select(i("person_id"), i("event_id"), alias(capped, "end_date")).from_(table(included, "I")))
    else:
        candidates += [_custom_era_ends(session, strategy.custom_era, included), op_end]  # type: ignore[arg-type]
    candidates += _censoring_ends(session, expression.censoring_criteria, included)
    union = union_all(candidates)
    first_end = (
        exp.select(alias(i("person_id"), "person_id"), alias(i("start_date"), "start_date"), alias(exp.func("MIN", col("CE", "end_date")), "end_date"))
        .from_(table(included, "I"))
        .join(
            _sub(union, "CE"),
            on=exp.and_(
                exp.EQ(this=col("CE", "person_id"), expression=i("person_id")),
                exp.EQ(this=col("CE", "event_id"), expression=i("event_id")),
                exp.GTE(this=col("CE", "end_date"), expression=i("start_date")),
            ),
        )
        .group_by(i("person_id"), i("event_id"), i("start_date"))
    )
    return session.materialize(first_end, "cohort_rows")


def _eras(rows: exp.Expression, pad: int) -> exp.Select:
    """Merge each person's intervals whose [start, end + pad] overlap; the era ends at max(end + pad) − pad."""
    padded = exp.select(col("X", "person_id"), col("X", "start_date"), alias(add_days(col("X", "end_date"), pad), "end_date")).from_(
        _sub(rows, "X")
    )
    order = exp.Order(expressions=[exp.Ordered(this=col("P", "start_date")), exp.Ordered(this=col("P", "end_date"))])
    previous_end = exp.Window(
        this=exp.func("MAX", col("P", "end_date")),
        partition_by=[col("P", "person_id")],
        order=order,
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=number(1), end_side="PRECEDING"),
    )
    is_start = exp.Case(
        ifs=[exp.If(this=exp.GTE(this=previous_end, expression=col("P", "start_date")), true=number(0))], default=number(1)
    )
    flagged = exp.select(col("P", "person_id"), col("P", "start_date"), col("P", "end_date"), alias(is_start, "is_start")).from_(
        _sub(padded, "P")
    )
    group_index = exp.Window(
        this=exp.func("SUM", col("F", "is_start")),
        partition_by=[col("F", "person_id")],
        order=exp.Order(expressions=[exp.Ordered(this=col("F", "start_date")), exp.Ordered(this=col("F", "end_date"))]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING"),
    )
    grouped = exp.select(col("F", "person_id"), col("F", "start_date"), col("F", "end_date"), alias(group_index, "era")).from_(
        _sub(flagged, "F")
    )
    return (
        exp.select(
            alias(col("G", "person_id"), "person_id"),
            alias(exp.func("MIN", col("G", "start_date")), "start_date"),
            alias(add_days(exp.func("MAX", col("G", "end_date")), -pad), "end_date"),
        )
        .from_(_sub(grouped, "G"))
        .group_by(col("G", "person_id"), col("G", "era"))
    )


def _censor_window(session: Session, window: m.CensorWindow | None, cohort: str) -> str:
    if window is None or (window.start_date is None and window.end_date is None):
        return cohort
    start: exp.Expression = col("F", "start_date")
    end: exp.Expression = col("F", "end_date")
    if window.start_date is not None:
        start = exp.func("GREATEST", start, date_literal(window.start_date))
    if window.end_date is not None:
        end = least(end, date_literal(window.end_date))
    clipped = exp.select(col("F", "person_id"), alias(start, "start_date"), alias(end, "end_date")).from_(table(cohort, "F"))
    kept = exp.select("*").from_(_sub(clipped, "W")).where(exp.LTE(this=col("W", "start_date"), expression=col("W", "end_date")))
    return session.materialize(kept, "censored_cohort")


def _counts(session: Session, name: str, step: str) -> Step:
    events, persons = session.fetchall(
        exp.select(exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col(None, "person_id")]))).from_(table(name))
    )[0]
    return Step(step, events, persons)


def run_circe(definition: dict | m.CirceExpression, cdr: Path, *, memory_limit: str | None = None) -> CirceResult:
    """Execute a Circe cohort expression over the CDR at ``cdr``; raises CirceError for a refused definition."""
    started = time.perf_counter()
    expression = m.parse_expression(definition)
    source = Cdr(Path(cdr))
    con = source.connect(connect(memory_limit=memory_limit))
    session = Session(con)
    try:
        with source.query_errors():  # a table file that cannot be read is named
            with session.step("codesets"):
                resolve_codesets(session, expression.concept_sets)
            with session.step("primary_events"):
                primary = _primary_events(session, expression.primary_criteria)
            with session.step("qualified_events"):
                qualified = _qualified_events(session, expression, primary)
            with session.step("inclusion_rules"):
                included, rules = _inclusion_rules(session, expression, qualified)
            with session.step("cohort_ends"):
                cohort_rows = _cohort_rows(session, expression, included)
            with session.step("collapse"):
                collapsed = session.materialize(_eras(exp.select("*").from_(table(cohort_rows)), expression.collapse_settings.era_pad), "final")
            with session.step("censor_window"):
                final = _censor_window(session, expression.censor_window, collapsed)
            attrition = [
                _counts(session, primary, "primary_events"),
                _counts(session, qualified, "qualified_events"),
                _counts(session, included, "included_events"),
                _counts(session, final, "cohort_rows"),
            ]
            fetched = session.fetchall(
                exp.select("person_id", "start_date", "end_date").from_(table(final)).order_by("person_id", "start_date")
            )
    finally:
        con.close()
    rows = [CohortRow(*r) for r in fetched]
    return CirceResult(
        rows=rows,
        entry_count=attrition[2].events,
        subject_count=len({r.subject_id for r in rows}),
        inclusion_rules=rules,
        attrition=attrition,
        timings_ms=session.timings,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )
