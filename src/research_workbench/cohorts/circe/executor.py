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
from ...cdr.facts import event_table
from ...cdr.sql import alias, col, date_literal, ident, num, table, union_all
from .criteria import drug_exposure_end, with_observation_period
from .groups import criterion_events, passing_events
from .sql import Session, add_days, in_codeset, least, row_number

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
    return [col(n, table=alias_) for n in names]


def _sub(query: exp.Expression, name: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=ident(name)))


def _limit(query: exp.Expression, limit: str, order: list[str], name: str = "L") -> exp.Expression:
    """First / Last / All per person, ordered by ``order`` (ties broken by the later columns)."""
    if limit == "ALL":
        return query
    ranked = exp.select(
        exp.Column(this=exp.Star(), table=ident(name)),
        alias(row_number([col("person_id", table=name)], [col(c, table=name) for c in order], desc=limit == "LAST"), "_rank"),
    ).from_(_sub(query, name))
    return exp.select(*_cols("R")).from_(_sub(ranked, "R")).where(exp.EQ(this=col("_rank", table="R"), expression=num(1)))


def _primary_events(session: Session, primary: m.PrimaryCriteria) -> str:
    union = union_all([criterion_events(session, wrapper.criteria) for wrapper in primary.criteria_list])
    with_op = with_observation_period(union, "E")  # type: ignore[arg-type]
    window = primary.observation_window
    observed = with_op.where(
        exp.and_(
            exp.LTE(this=add_days(col("observation_period_start_date", table="OP"), window.prior_days), expression=col("start_date", table="E")),
            exp.LTE(this=add_days(col("start_date", table="E"), window.post_days), expression=col("observation_period_end_date", table="OP")),
        )
    )
    names = ("person_id", "event_id", "start_date", "end_date", "op_start_date", "op_end_date", "visit_occurrence_id", "sort_date")
    limit = primary.primary_criteria_limit.type
    if limit != "ALL":
        ranked = exp.select(
            exp.Column(this=exp.Star(), table=ident("O")),
            alias(row_number([col("person_id", table="O")], [col("sort_date", table="O"), col("event_id", table="O")], desc=limit == "LAST"), "_rank"),
        ).from_(_sub(observed, "O"))
        observed = exp.select(*[col(n, table="R") for n in names]).from_(_sub(ranked, "R")).where(
            exp.EQ(this=col("_rank", table="R"), expression=num(1))
        )
    # Renumber event_id per person: events of different domains may share ids.
    renumbered = exp.select(
        col("person_id", table="S"),
        alias(row_number([col("person_id", table="S")], [col("sort_date", table="S"), col("event_id", table="S")]), "event_id"),
        *[col(n, table="S") for n in ("start_date", "end_date", "op_start_date", "op_end_date", "visit_occurrence_id")],
    ).from_(_sub(observed, "S"))
    return session.materialize(renumbered, "primary_events")


def _qualified_events(session: Session, expression: m.CirceExpression, primary: str) -> str:
    group = expression.additional_criteria
    if group is None or group.members == 0:
        return primary  # no additional criteria: every primary event qualifies and QualifiedLimit is ignored
    passing = passing_events(session, group, primary)
    kept = (
        exp.select(*_cols("PE"))
        .from_(table(primary, alias="PE"))
        .join(
            table(passing, alias="G"),
            on=exp.and_(
                exp.EQ(this=col("person_id", table="G"), expression=col("person_id", table="PE")),
                exp.EQ(this=col("event_id", table="G"), expression=col("event_id", table="PE")),
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
            this=exp.select(num(1))
            .from_(table(passing, alias="G"))
            .where(
                exp.and_(
                    exp.EQ(this=col("person_id", table="G"), expression=col("person_id", table="Q")),
                    exp.EQ(this=col("event_id", table="G"), expression=col("event_id", table="Q")),
                )
            )
        )
        flags.append(alias(hit, f"rule_{i}"))
    masked = session.materialize(exp.select(*_cols("Q"), *flags).from_(table(qualified, alias="Q")), "inclusion_mask")

    results: list[InclusionRuleResult] = []
    if rules:
        aggregates: list[exp.Expression] = [exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col("person_id")]))]
        for i in range(len(rules)):
            alone = col(f"rule_{i}")
            in_order = exp.and_(*[col(f"rule_{j}") for j in range(i + 1)])
            for cond in (alone, in_order):
                aggregates.append(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=cond)))
                aggregates.append(
                    exp.Filter(
                        this=exp.Count(this=exp.Distinct(expressions=[col("person_id")])), expression=exp.Where(this=cond.copy())
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

    included = exp.select(*_cols("Q")).from_(table(masked, alias="Q"))
    if rules:
        included = included.where(exp.and_(*[col(f"rule_{i}", table="Q") for i in range(len(rules))]))
    limited = _limit(included, expression.expression_limit.type, ["start_date", "event_id"])
    return session.materialize(limited, "included_events"), results


def _custom_era_ends(session: Session, era: m.CustomEra, included: str) -> exp.Expression:
    """Exit at the end of the drug era (exposures of the codeset, gaps ≤ GapDays merged) holding the entry, + Offset."""
    drugs = event_table("drug_exposure")
    de = lambda n: col(n, table="DE")  # noqa: E731
    start = de(drugs.start_date)
    end = add_days(start, era.days_supply_override) if era.days_supply_override is not None else drug_exposure_end("DE")
    persons = exp.select(col("person_id")).distinct().from_(table(included))
    exposures = (
        exp.select(alias(de("person_id"), "person_id"), alias(start, "start_date"), alias(end, "end_date"))
        .from_(table(drugs.table, alias="DE"))
        .where(
            exp.and_(
                de("person_id").isin(query=persons),
                exp.or_(in_codeset(de(drugs.concept), era.drug_codeset_id), in_codeset(de(drugs.source_concept), era.drug_codeset_id)),
            )
        )
    )
    eras = session.materialize(_eras(exposures, era.gap_days), "custom_eras")
    era_end = add_days(col("end_date", table="ER"), era.offset)
    return (
        exp.select(col("person_id", table="I"), col("event_id", table="I"), alias(era_end, "end_date"))
        .from_(table(included, alias="I"))
        .join(
            table(eras, alias="ER"),
            on=exp.and_(
                exp.EQ(this=col("person_id", table="ER"), expression=col("person_id", table="I")),
                exp.Between(this=col("start_date", table="I"), low=col("start_date", table="ER"), high=era_end.copy()),
            ),
        )
    )


def _censoring_ends(session: Session, censoring: list[m.CriteriaWrapper], included: str) -> list[exp.Expression]:
    ends = []
    for wrapper in censoring:
        events = session.materialize(criterion_events(session, wrapper.criteria), "censor_events")
        ends.append(
            exp.select(col("person_id", table="I"), col("event_id", table="I"), alias(exp.func("MIN", col("start_date", table="C")), "end_date"))
            .from_(table(included, alias="I"))
            .join(
                table(events, alias="C"),
                on=exp.and_(
                    exp.EQ(this=col("person_id", table="C"), expression=col("person_id", table="I")),
                    exp.GTE(this=col("start_date", table="C"), expression=col("start_date", table="I")),
                    exp.LTE(this=col("start_date", table="C"), expression=col("op_end_date", table="I")),
                ),
            )
            .group_by(col("person_id", table="I"), col("event_id", table="I"))
        )
    return ends


def _cohort_rows(session: Session, expression: m.CirceExpression, included: str) -> str:
    i = lambda n: col(n, table="I")  # noqa: E731
    op_end = exp.select(i("person_id"), i("event_id"), alias(i("op_end_date"), "end_date")).from_(table(included, alias="I"))
    strategy = expression.end_strategy
    candidates: list[exp.Expression] = []
    if strategy is None:
        candidates.append(op_end)
    elif strategy.date_offset is not None:
        offset = strategy.date_offset
        base = i("start_date") if offset.date_field == "StartDate" else i("end_date")
        capped = least(add_days(base, offset.offset), i("op_end_date"))
        candidates.append(exp.select(i("person_id"), i("event_id"), alias(capped, "end_date")).from_(table(included, alias="I")))
    else:
        candidates += [_custom_era_ends(session, strategy.custom_era, included), op_end]  # type: ignore[arg-type]
    candidates += _censoring_ends(session, expression.censoring_criteria, included)
    union = union_all(candidates)
    first_end = (
        exp.select(alias(i("person_id"), "person_id"), alias(i("start_date"), "start_date"), alias(exp.func("MIN", col("end_date", table="CE")), "end_date"))
        .from_(table(included, alias="I"))
        .join(
            _sub(union, "CE"),
            on=exp.and_(
                exp.EQ(this=col("person_id", table="CE"), expression=i("person_id")),
                exp.EQ(this=col("event_id", table="CE"), expression=i("event_id")),
                exp.GTE(this=col("end_date", table="CE"), expression=i("start_date")),
            ),
        )
        .group_by(i("person_id"), i("event_id"), i("start_date"))
    )
    return session.materialize(first_end, "cohort_rows")


def _eras(rows: exp.Expression, pad: int) -> exp.Select:
    """Merge each person's intervals whose [start, end + pad] overlap; the era ends at max(end + pad) − pad.

    As circe-be's ``generateCohort.sql`` builds ``#final_cohort``: a row opens a new era (``is_start`` = 1) unless
    the greatest padded end of the rows before it (``ORDER BY start_date``) is on or after its start, so a padded
    end on the very day of the next start merges the two; eras are numbered by ``SUM(is_start)`` ordered by
    ``start_date, is_start DESC`` (on a tied start the row opening an era counts first, so rows tied with it join
    its era, never the one before).
    """
    padded = exp.select(col("person_id", table="X"), col("start_date", table="X"), alias(add_days(col("end_date", table="X"), pad), "end_date")).from_(
        _sub(rows, "X")
    )
    previous_end = exp.Window(
        this=exp.func("MAX", col("end_date", table="P")),
        partition_by=[col("person_id", table="P")],
        order=exp.Order(expressions=[exp.Ordered(this=col("start_date", table="P"))]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end=num(1), end_side="PRECEDING"),
    )
    is_start = exp.Case(
        ifs=[exp.If(this=exp.GTE(this=previous_end, expression=col("start_date", table="P")), true=num(0))], default=num(1)
    )
    flagged = exp.select(col("person_id", table="P"), col("start_date", table="P"), col("end_date", table="P"), alias(is_start, "is_start")).from_(
        _sub(padded, "P")
    )
    group_index = exp.Window(
        this=exp.func("SUM", col("is_start", table="F")),
        partition_by=[col("person_id", table="F")],
        order=exp.Order(
            expressions=[exp.Ordered(this=col("start_date", table="F")), exp.Ordered(this=col("is_start", table="F"), desc=True)]
        ),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING"),
    )
    grouped = exp.select(col("person_id", table="F"), col("start_date", table="F"), col("end_date", table="F"), alias(group_index, "era")).from_(
        _sub(flagged, "F")
    )
    return (
        exp.select(
            alias(col("person_id", table="G"), "person_id"),
            alias(exp.func("MIN", col("start_date", table="G")), "start_date"),
            alias(add_days(exp.func("MAX", col("end_date", table="G")), -pad), "end_date"),
        )
        .from_(_sub(grouped, "G"))
        .group_by(col("person_id", table="G"), col("era", table="G"))
    )


def _censor_window(session: Session, window: m.CensorWindow | None, cohort: str) -> str:
    if window is None or (window.start_date is None and window.end_date is None):
        return cohort
    start: exp.Expression = col("start_date", table="F")
    end: exp.Expression = col("end_date", table="F")
    if window.start_date is not None:
        start = exp.func("GREATEST", start, date_literal(window.start_date))
    if window.end_date is not None:
        end = least(end, date_literal(window.end_date))
    clipped = exp.select(col("person_id", table="F"), alias(start, "start_date"), alias(end, "end_date")).from_(table(cohort, alias="F"))
    kept = exp.select("*").from_(_sub(clipped, "W")).where(exp.LTE(this=col("start_date", table="W"), expression=col("end_date", table="W")))
    return session.materialize(kept, "censored_cohort")


def _counts(session: Session, name: str, step: str) -> Step:
    events, persons = session.fetchall(
        exp.select(exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col("person_id")]))).from_(table(name))
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
