"""Run a Circe cohort expression over a CDR, in Circe's processing order.

codesets → primary events (observation-period join, observation window, primary limit) → qualified events
(additional criteria, qualified limit) → inclusion rules (per-rule counts and attrition) → expression limit →
cohort end (end strategy, censoring criteria) → collapse into eras with the era pad → censor window.

The whole run is one statement on one DuckDB connection (to a database kept for the process), reading only the
CDR tables the definition names, straight from their Parquet files: each stage is a CTE, materialized when it is
read more than once; a criteria group is one predicate on the index row; a First or Last limit is one grouped
pass (``arg_min``), not a window over every row; with an expression limit of First or Last each person has one
entry, so the collapse into eras needs no window either. The statement returns the cohort rows with every count
of the attrition and the inclusion-rule report beside them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlglot import exp

from ...cdr.facts import event_table
from ...cdr.sql import alias, col, date_literal, num, table, union_all
from ...cdr.store import Cdr
from . import model as m
from .codesets import codeset_query
from .criteria import EVENT_COLUMNS, drug_exposure_end
from .groups import criterion_events, group_predicate
from .sql import CODESETS, Aliases, Session, add_days, earlier_of, in_codeset, later_of, run_connection, subquery

if TYPE_CHECKING:
    from ...engines.base import Engine

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


def _eq(a: exp.Expression, b: exp.Expression) -> exp.EQ:
    return exp.EQ(this=a, expression=b)


def _same_event(left: str, right: str) -> exp.Expression:
    return exp.and_(_eq(col("person_id", table=left), col("person_id", table=right)),
                    _eq(col("event_id", table=left), col("event_id", table=right)))


def _one_per_person(query: exp.Expression, columns: tuple[str, ...], order: tuple[str, str], last: bool, name: str) -> exp.Select:
    """Each person's first row of ``query`` by ``order`` (its second column breaks ties, ascending), or with
    ``last`` the row latest by the first column, ties still to the lowest second column: the row circe-be's
    ``row_number() … = 1`` keeps, found by one grouped pass (``arg_min`` / ``arg_max`` on the ordering pair)
    rather than a window over every row."""
    first, tie = col(order[0], table=name), col(order[1], table=name)
    key = exp.Tuple(expressions=[first, exp.Neg(this=tie) if last else tie])
    pick = "ARG_MAX" if last else "ARG_MIN"
    picked = [alias(exp.func(pick, col(c, table=name), key.copy()), c) for c in columns if c != "person_id"]
    return (
        exp.select(alias(col("person_id", table=name), "person_id"), *picked, copy=False)
        .from_(subquery(query, name), copy=False)
        .group_by(col("person_id", table=name), copy=False)
    )


def _limit(query: exp.Expression, limit: str, name: str = "L") -> exp.Expression:
    """First / Last / All per person by start date (ties: the lower event id), as circe-be's qualified and
    expression limits (``row_number() over (partition by person_id order by start_date [DESC])``)."""
    if limit == "ALL":
        return query
    return _one_per_person(query, EVENT_TABLE_COLUMNS, ("start_date", "event_id"), limit == "LAST", name)


def _primary_events(primary: m.PrimaryCriteria, names: Aliases) -> exp.Expression:
    """circe-be's primary events: each event joined to the observation period holding its start, kept if the period
    has ``PriorDays`` before and ``PostDays`` after it; a First or Last limit keeps each person's first (last) event
    by sort date, then event id.

    circe-be renumbers the events per person in that order; here an event keeps its table's id, which orders the
    same way, made unique across the criteria of the list (two tables may hold the same id) as
    ``id × criteria + position``."""
    e = lambda n: col(n, table="E")  # noqa: E731
    op = lambda n: col(n, table="OP")  # noqa: E731
    events = []
    width = len(primary.criteria_list)
    for position, wrapper in enumerate(primary.criteria_list):
        query = criterion_events(wrapper.criteria, names)
        if width > 1:
            x = names("U")
            unique_id = exp.Add(this=exp.Mul(this=exp.cast(col("event_id", table=x), "BIGINT"), expression=num(width)), expression=num(position))
            query = exp.select(
                *[alias(unique_id, "event_id") if n == "event_id" else col(n, table=x) for n in EVENT_COLUMNS], copy=False
            ).from_(subquery(query, x), copy=False)
        events.append(query)
    window = primary.observation_window
    limit = primary.primary_criteria_limit.type
    observed = (
        exp.select(
            e("person_id"), e("event_id"), e("start_date"), e("end_date"),
            alias(op("observation_period_start_date"), "op_start_date"), alias(op("observation_period_end_date"), "op_end_date"),
            alias(exp.cast(e("visit_occurrence_id"), "BIGINT"), "visit_occurrence_id"), e("sort_date"),
            copy=False,
        )
        .from_(subquery(union_all(events), "E"), copy=False)
        .join(
            table("observation_period", alias="OP"),
            on=exp.and_(
                _eq(op("person_id"), e("person_id")),
                exp.GTE(this=e("start_date"), expression=op("observation_period_start_date")),
                exp.LTE(this=e("start_date"), expression=op("observation_period_end_date")),
            ),
            copy=False,
        )
        .where(
            exp.and_(
                exp.LTE(this=add_days(op("observation_period_start_date"), window.prior_days), expression=e("start_date")),
                exp.LTE(this=add_days(e("start_date"), window.post_days), expression=op("observation_period_end_date")),
            ),
            copy=False,
        )
    )
    if limit == "ALL":
        return exp.select(*_cols("P"), copy=False).from_(subquery(observed, "P"), copy=False)
    return _one_per_person(observed, EVENT_TABLE_COLUMNS, ("sort_date", "event_id"), limit == "LAST", "P")


PRIMARY, QUALIFIED, MASK, INCLUDED, ROWS = "circe_primary_events", "circe_qualified_events", "circe_rule_flags", "circe_included_events", "circe_rows"
STEP_NAMES = ("primary_events", "qualified_events", "included_events")


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)  # type: ignore[return-value]


class _Plan:
    """The named stages of one run, in order, each a CTE of the one statement; ``step`` names the table holding
    each attrition step's events."""

    def __init__(self) -> None:
        self.ctes: dict[str, exp.Expression] = {}
        self.step: dict[str, str] = {}

    def add(self, name: str, query: exp.Expression) -> str:
        self.ctes[name] = query
        return name


def _qualified_events(plan: _Plan, expression: m.CirceExpression, primary: str, names: Aliases) -> str:
    group = expression.additional_criteria
    if group is None:
        return primary  # no additional criteria: every primary event qualifies and QualifiedLimit is ignored
    # circe-be applies QualifiedLimit whenever AdditionalCriteria is present, even as an empty group
    kept = exp.select(*_cols("Q"), copy=False).from_(table(primary, alias="Q"), copy=False)
    if group.members:
        kept = kept.where(group_predicate(group, "Q", names), copy=False)
    return plan.add(QUALIFIED, _limit(kept, expression.qualified_limit.type))


def _rule_flags(plan: _Plan, rules: list[m.InclusionRule], qualified: str, names: Aliases) -> str:
    """The qualified events, each with one boolean column ``rule_i`` per inclusion rule."""
    flags = [alias(group_predicate(rule.expression, "Q", names), f"rule_{i}") for i, rule in enumerate(rules)]
    return plan.add(MASK, exp.select(*_cols("Q"), *flags, copy=False).from_(table(qualified, alias="Q"), copy=False))


def _included_events(plan: _Plan, expression: m.CirceExpression, qualified: str, masked: str | None) -> str:
    rules = expression.inclusion_rules
    limit = expression.expression_limit.type
    if masked is None:
        if limit == "ALL":
            return qualified
        source: exp.Expression = exp.select(*_cols("Q"), copy=False).from_(table(qualified, alias="Q"), copy=False)
    else:
        source = exp.select(*_cols("Q"), copy=False).from_(table(masked, alias="Q"), copy=False).where(
            exp.and_(*[col(f"rule_{i}", table="Q") for i in range(len(rules))]), copy=False
        )
    return plan.add(INCLUDED, _limit(source, limit))


def _count_pair(name: str) -> exp.Expression:
    """``(events, persons)`` of a stage, in one pass over it."""
    pair = exp.Tuple(expressions=[exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col("person_id")]))])
    return exp.Subquery(this=exp.select(pair).from_(table(name)))


def _count_columns(rules: list[m.InclusionRule], steps: list[str], masked: str | None) -> list[exp.Expression]:
    """Events and persons of each step, then (with inclusion rules) events and persons of the qualified events,
    and for each rule those passing it alone and those passing it and every rule before it."""
    selects: list[exp.Expression] = [_count_pair(name) for name in dict.fromkeys(steps)]  # a stage read once
    if masked is not None:
        aggregates: list[exp.Expression] = [exp.Count(this=exp.Star()), exp.Count(this=exp.Distinct(expressions=[col("person_id")]))]
        for i in range(len(rules)):
            alone = col(f"rule_{i}")
            in_order = exp.and_(*[col(f"rule_{j}") for j in range(i + 1)])
            for cond in (alone, in_order):
                aggregates.append(exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=cond)))
                aggregates.append(
                    exp.Filter(this=exp.Count(this=exp.Distinct(expressions=[col("person_id")])), expression=exp.Where(this=cond.copy()))
                )
        selects.append(exp.Subquery(this=exp.select(exp.Struct(expressions=aggregates)).from_(table(masked))))
    return [alias(value, f"_count_{k}") for k, value in enumerate(selects)]


def _rule_report(rules: list[m.InclusionRule], counts: tuple) -> list[InclusionRuleResult]:
    if not rules:
        return []
    rest = list(counts[0].values()) if isinstance(counts[0], dict) else list(counts[0])
    events_before, persons_before = rest[0], rest[1]
    results = []
    for i, rule in enumerate(rules):
        ev_pass, pe_pass, ev_rem, pe_rem = rest[2 + 4 * i : 6 + 4 * i]
        results.append(
            InclusionRuleResult(
                index=i, name=rule.name, persons_passing=pe_pass, events_passing=ev_pass, persons_remaining=pe_rem,
                events_remaining=ev_rem, persons_lost=persons_before - pe_rem, events_lost=events_before - ev_rem,
            )
        )
        events_before, persons_before = ev_rem, pe_rem
    return results


CUSTOM_ERAS = "circe_custom_eras"
READ_ONCE = {ROWS, CUSTOM_ERAS}  # inlined; every other stage is read more than once and is materialized


def _custom_eras(era: m.CustomEra, included: str) -> exp.Expression:
    """The drug eras of the codeset's exposures (concept or source concept) of the cohort's persons: an exposure
    ends at its end date, else start + days_supply, else start + 1, or at start + DaysSupplyOverride when given;
    exposures at most GapDays apart merge (circe-be's ``customEraStrategy.sql``)."""
    drugs = event_table("drug_exposure")
    de = lambda n: col(n, table="DE")  # noqa: E731
    start = de(drugs.start_date)
    end = add_days(start.copy(), era.days_supply_override) if era.days_supply_override is not None else drug_exposure_end("DE")
    persons = exp.select(col("person_id")).distinct().from_(table(included))
    exposures = (
        exp.select(alias(de("person_id"), "person_id"), alias(start, "start_date"), alias(end, "end_date"), copy=False)
        .from_(table(drugs.table, alias="DE"), copy=False)
        .where(
            exp.and_(
                de("person_id").isin(query=persons),
                exp.or_(in_codeset(de(drugs.concept), era.drug_codeset_id), in_codeset(de(drugs.source_concept), era.drug_codeset_id)),
            ),
            copy=False,
        )
    )
    return _eras(exposures, era.gap_days)


def _end_candidates(expression: m.CirceExpression, included: str, names: Aliases) -> tuple[list[exp.Expression], dict[str, exp.Expression]]:
    """Each included event's possible exits ``(person_id, event_id, end_date)``, and the CTEs they read."""
    i = lambda n: col(n, table="I")  # noqa: E731
    op_end = exp.select(i("person_id"), i("event_id"), alias(i("op_end_date"), "end_date")).from_(table(included, alias="I"))
    strategy = expression.end_strategy
    ctes: dict[str, exp.Expression] = {}
    candidates: list[exp.Expression] = []
    if strategy is None:
        candidates.append(op_end)
    elif strategy.date_offset is not None:
        # circe-be: "case when DATEADD(day, Offset, date) > op_end_date then op_end_date else ... end" (NULL stays NULL)
        offset = strategy.date_offset
        base = i("start_date") if offset.date_field == "StartDate" else i("end_date")
        capped = earlier_of(add_days(base, offset.offset), i("op_end_date"))
        candidates.append(exp.select(i("person_id"), i("event_id"), alias(capped, "end_date")).from_(table(included, alias="I")))
    else:
        era = strategy.custom_era
        ctes[CUSTOM_ERAS] = _custom_eras(era, included)  # type: ignore[arg-type]
        era_end = add_days(col("end_date", table="ER"), era.offset)  # type: ignore[union-attr]
        candidates.append(
            exp.select(i("person_id"), i("event_id"), alias(era_end, "end_date"))
            .from_(table(included, alias="I"))
            .join(
                table(CUSTOM_ERAS, alias="ER"),
                on=exp.and_(
                    _eq(col("person_id", table="ER"), i("person_id")),
                    exp.Between(this=i("start_date"), low=col("start_date", table="ER"), high=era_end.copy()),
                ),
            )
        )
        candidates.append(op_end)
    for wrapper in expression.censoring_criteria:
        censor = subquery(criterion_events(wrapper.criteria, names), "C")
        candidates.append(
            exp.select(i("person_id"), i("event_id"), alias(exp.func("MIN", col("start_date", table="C")), "end_date"))
            .from_(table(included, alias="I"))
            .join(
                censor,
                on=exp.and_(
                    _eq(col("person_id", table="C"), i("person_id")),
                    exp.GTE(this=col("start_date", table="C"), expression=i("start_date")),
                    exp.LTE(this=col("start_date", table="C"), expression=i("op_end_date")),
                ),
            )
            .group_by(i("person_id"), i("event_id"))
        )
    return candidates, ctes


def _final_rows(plan: _Plan, expression: m.CirceExpression, included: str, names: Aliases) -> str:
    """The cohort's rows: each included event ends at its earliest exit on or after its start; the rows collapse
    into eras (EraPad); the censor window clips them."""
    i = lambda n: col(n, table="I")  # noqa: E731
    candidates, ctes = _end_candidates(expression, included, names)
    for name, cte in ctes.items():
        plan.add(name, cte)
    first_end = (
        exp.select(alias(i("person_id"), "person_id"), alias(i("start_date"), "start_date"),
                   alias(exp.func("MIN", col("end_date", table="CE")), "end_date"), copy=False)
        .from_(table(included, alias="I"), copy=False)
        .join(
            subquery(union_all(candidates), "CE"),
            on=exp.and_(_same_event("CE", "I"), exp.GTE(this=col("end_date", table="CE"), expression=i("start_date"))),
            copy=False,
        )
        .group_by(i("person_id"), i("event_id"), i("start_date"), copy=False)
    )
    if expression.expression_limit.type == "ALL":
        collapsed: exp.Expression = _eras(first_end, expression.collapse_settings.era_pad)
    else:  # one entry per person: an era of one row is that row whatever the pad, so no windows are needed
        collapsed = first_end
    start: exp.Expression = col("start_date", table="F")
    end: exp.Expression = col("end_date", table="F")
    window = expression.censor_window
    clipped = window is not None and (window.start_date is not None or window.end_date is not None)
    if window is not None and window.start_date is not None:
        start = later_of(start, date_literal(window.start_date))
    if window is not None and window.end_date is not None:
        end = earlier_of(end, date_literal(window.end_date))
    rows = exp.select(alias(col("person_id", table="F"), "person_id"), alias(start, "start_date"), alias(end, "end_date"), copy=False).from_(
        subquery(collapsed, "F"), copy=False
    )
    if clipped:
        rows = rows.where(exp.LTE(this=start.copy(), expression=end.copy()), copy=False)
    return plan.add(ROWS, rows)


def _statement(expression: m.CirceExpression, names: Aliases) -> tuple[exp.Select, int, tuple[str, str, str]]:
    """The whole run as one statement: every stage a CTE (materialized when read more than once), then one row per
    cohort row (ordered) with the counts beside it, or a single row of counts and NULLs for an empty cohort.
    Returns it, the number of count columns and the stages holding the primary, qualified and included events."""
    plan = _Plan()
    plan.add(CODESETS, codeset_query(expression.concept_sets))
    primary = plan.add(PRIMARY, _primary_events(expression.primary_criteria, names))
    qualified = _qualified_events(plan, expression, primary, names)
    rules = expression.inclusion_rules
    masked = _rule_flags(plan, rules, qualified, names) if rules else None
    included = _included_events(plan, expression, qualified, masked)
    rows = _final_rows(plan, expression, included, names)
    counts = _count_columns(rules, [primary, qualified, included], masked)
    r = lambda n: col(n, table="R")  # noqa: E731
    query = (
        exp.select(*[col(c.alias, table="K") for c in counts], r("person_id"), r("start_date"), r("end_date"), copy=False)
        .from_(subquery(exp.select(*counts, copy=False), "K"), copy=False)
        .join(table(rows, alias="R"), on=exp.true(), join_type="LEFT", copy=False)
        .order_by(r("person_id"), r("start_date"), copy=False)
    )
    for name, cte in plan.ctes.items():
        query = query.with_(name, as_=cte, materialized=True if name not in READ_ONCE else None, copy=False)
    return query, len(counts), (primary, qualified, included)


def _eras(rows: exp.Expression, pad: int) -> exp.Select:
    """Merge each person's intervals whose [start, end + pad] overlap; the era ends at max(end + pad) − pad.

    As circe-be's ``generateCohort.sql`` builds ``#final_cohort``: a row opens a new era (``is_start`` = 1) unless
    the greatest padded end of the rows before it (``ORDER BY start_date``) is on or after its start, so a padded
    end on the very day of the next start merges the two; eras are numbered by ``SUM(is_start)`` ordered by
    ``start_date, is_start DESC`` (on a tied start the row opening an era counts first, so rows tied with it join
    its era, never the one before).
    """
    padded = exp.select(col("person_id", table="X"), col("start_date", table="X"), alias(add_days(col("end_date", table="X"), pad), "end_date")).from_(
        subquery(rows, "X")
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
        subquery(padded, "P")
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
        subquery(flagged, "F")
    )
    return (
        exp.select(
            alias(col("person_id", table="G"), "person_id"),
            alias(exp.func("MIN", col("start_date", table="G")), "start_date"),
            alias(add_days(exp.func("MAX", col("end_date", table="G")), -pad), "end_date"),
        )
        .from_(subquery(grouped, "G"))
        .group_by(col("person_id", table="G"), col("era", table="G"))
    )


def _on_engine(engine: Engine, source: Cdr, expression: m.CirceExpression, timings: dict[str, float]) -> tuple[list[tuple], int, tuple]:
    """The run's statement on a boundary engine (Spark), over the CDR's tables registered there (once per CDR and
    engine, ``engine_tables``): its rows, the number of count columns and the stages."""
    from ..engine_tables import engine_tables, source_key

    started = time.perf_counter()
    statement, width, stages = _statement(expression, Aliases())
    for cte in statement.find_all(exp.CTE):
        cte.set("materialized", None)  # DuckDB's hint; Spark plans a CTE read twice itself (and cannot parse it)
    tables = engine_tables(engine, source_key("cdr", source.path),
                           lambda name: source.check_file(name) if name in source.manifest.tables else None)
    timings["compile"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    found = tables.run(statement)
    timings["execute"] = (time.perf_counter() - started) * 1000
    return list(zip(*[column.to_pylist() for column in found.columns])), width, stages


def run_circe(definition: dict | m.CirceExpression, cdr: Path, *, memory_limit: str | None = None,
              engine: Engine | None = None) -> CirceResult:
    """Execute a Circe cohort expression over the CDR at ``cdr``; raises CirceError for a refused definition.
    ``engine``: run the statement on that boundary engine (Spark) rather than on an embedded DuckDB connection."""
    started = time.perf_counter()
    expression = m.parse_expression(definition)
    source = Cdr(Path(cdr))
    rules = expression.inclusion_rules
    if engine is not None:
        timings: dict[str, float] = {}
        fetched, width, stages = _on_engine(engine, source, expression, timings)
    else:
        tables = source.manifest.tables
        con = run_connection(memory_limit)
        session = Session(con, locate=lambda name: source.check_file(name) if name in tables else None)
        try:
            with source.query_errors():  # a table file that cannot be read is named
                with session.step("compile"):
                    statement, width, stages = _statement(expression, Aliases())
                with session.step("execute"):
                    fetched = session.fetchall(statement)
        finally:
            con.close()
        timings = session.timings
    counts = fetched[0][:width]
    rows = [CohortRow(*r[width:]) for r in fetched if r[width] is not None]
    subjects = len({r.subject_id for r in rows})
    per_stage = dict(zip(dict.fromkeys(stages), counts))
    attrition = [Step(step, *_pair(per_stage[stage])) for step, stage in zip(STEP_NAMES, stages)]
    attrition.append(Step("cohort_rows", len(rows), subjects))
    return CirceResult(
        rows=rows,
        entry_count=attrition[2].events,
        subject_count=subjects,
        inclusion_rules=_rule_report(rules, counts[len(per_stage):]),
        attrition=attrition,
        timings_ms=timings,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )
