"""Cleaning rules about dates: before birth or implausibly late, invalid deaths, after death, after
deactivation, and end dates before start dates."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.facts import birth_date
from ...cdr.model import cdm
from ...cdr.sql import col, table
from ...engines.portable import add_days, subtract_days, years_between
from ..rule import BOTH, Query, Rule, RuleContext, Stage, change, dated_person_tables, event_date, person_column, remove, setup


def _per_person_dates(ctx: RuleContext, name: str, select: exp.Select, tables: tuple[str, ...], bad) -> list[Query]:
    """Setup a scratch table ``person_id, d`` then remove rows of ``tables`` for which ``bad(event, d)``."""
    q, target = setup(ctx, name, select)
    queries = [q]
    for t in tables:
        event = event_date(t)
        rows = exp.select(col("_rid")).from_(table(t)).join(target.as_("x"), on=col(person_column(t), table=t).eq(col("person_id", table="x"))).where(bad(event, col("d", table="x")))  # type: ignore[arg-type]
        queries += remove(t, col("_rid").isin(query=rows))
    return queries


BIRTH_TABLES = dated_person_tables(exclude=("death",))


def _before_birth(ctx: RuleContext):
    select = exp.select(col("person_id"), birth_date(table="p").as_("d")).from_(table("person", alias="p"))
    years = ctx.param(ctx.config.persons.max_years_after_birth)

    def bad(event, born):
        # Later than the N-th birthday: the day before it is N whole years after birth (whole years as in
        # engines.portable, so a 29 February birth's anniversary in a common year is 1 March).
        too_old = exp.GTE(this=years_between(born, subtract_days(event, exp.Literal.number(1))), expression=years)
        return exp.or_(exp.LT(this=event, expression=born), too_old)

    return _per_person_dates(ctx, "births", select, BIRTH_TABLES, bad)


records_before_birth_or_too_old = Rule(
    name="records_before_birth_or_too_old",
    description="Remove records dated before the participant's birth or more than persons.max_years_after_birth (150) years after it.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=BIRTH_TABLES,
    build=_before_birth,
    reference="NegativeAges",
)


def _invalid_deaths(ctx: RuleContext):
    born = exp.select(col("person_id"), birth_date(table="p").as_("d")).from_(table("person", alias="p"))
    q, births = setup(ctx, "births", born)
    d = col("death_date")
    conditions = [
        exp.GT(this=d, expression=ctx.param(ctx.cutoff)),
        exp.LT(this=d, expression=exp.select(col("d")).from_(births.as_("b")).where(col("person_id", table="b").eq(col("person_id", table="death"))).subquery()),
    ]
    if ctx.config.death.min_death_date:
        conditions.append(exp.LT(this=d, expression=ctx.param(ctx.config.death.min_death_date)))
    return [q, *remove("death", exp.or_(*conditions))]


invalid_death_dates = Rule(
    name="invalid_death_dates",
    description="Remove death records dated after the cut-off, before the participant's birth, or before death.min_death_date.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("death",),
    build=_invalid_deaths,
    reference="ValidDeathDates",
)


AFTER_DEATH_TABLES = dated_person_tables(exclude=("death", "wear_study"))


def _after_death(ctx: RuleContext):
    primary_date = exp.func(
        "COALESCE",
        exp.Filter(this=exp.func("MIN", col("death_date")), expression=exp.Where(this=col("primary_death_record"))),
        exp.func("MIN", col("death_date")),
    )
    select = exp.select(col("person_id"), primary_date.as_("d")).from_(table("death")).group_by(col("person_id"))
    days = ctx.param(ctx.config.death.max_days_after_death)

    def bad(event, died):
        return exp.GT(this=event, expression=add_days(died, days))

    return _per_person_dates(ctx, "deaths", select, AFTER_DEATH_TABLES, bad)


records_after_death = Rule(
    name="records_after_death",
    description="Remove records dated more than death.max_days_after_death (30) days after the primary death record.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=AFTER_DEATH_TABLES,
    build=_after_death,
    reference="NoDataAfterDeath",
)


DEACTIVATION_TABLES = dated_person_tables()


def _deactivation(ctx: RuleContext):
    select = exp.select(col("person_id"), col("deactivation_date").as_("d")).from_(table("participant_status")).where(
        col("deactivation_date").is_(exp.Null()).not_()
    )
    return _per_person_dates(ctx, "deactivations", select, DEACTIVATION_TABLES, lambda event, d: exp.GTE(this=event, expression=d))


data_after_deactivation = Rule(
    name="data_after_deactivation",
    description="Remove records dated on or after the participant's deactivation date, wearables included.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=DEACTIVATION_TABLES,
    build=_deactivation,
    reference="RemoveParticipantDataPastDeactivationDate",
)


# (table, start date, start datetime, end date, end datetime); when the end is required it is set to the start,
# otherwise set to NULL. survey_conduct is the other way round: its start is the optional one.
SPANS = [
    ("visit_occurrence", "visit_start_date", "visit_start_datetime", "visit_end_date", "visit_end_datetime"),
    ("visit_detail", "visit_detail_start_date", "visit_detail_start_datetime", "visit_detail_end_date", "visit_detail_end_datetime"),
    ("condition_occurrence", "condition_start_date", "condition_start_datetime", "condition_end_date", "condition_end_datetime"),
    ("drug_exposure", "drug_exposure_start_date", "drug_exposure_start_datetime", "drug_exposure_end_date", "drug_exposure_end_datetime"),
    ("procedure_occurrence", "procedure_date", "procedure_datetime", "procedure_end_date", "procedure_end_datetime"),
    ("device_exposure", "device_exposure_start_date", "device_exposure_start_datetime", "device_exposure_end_date", "device_exposure_end_datetime"),
    ("observation_period", "observation_period_start_date", None, "observation_period_end_date", None),
    ("payer_plan_period", "payer_plan_period_start_date", None, "payer_plan_period_end_date", None),
    ("drug_era", "drug_era_start_date", None, "drug_era_end_date", None),
    ("dose_era", "dose_era_start_date", None, "dose_era_end_date", None),
    ("condition_era", "condition_era_start_date", None, "condition_era_end_date", None),
    ("episode", "episode_start_date", "episode_start_datetime", "episode_end_date", "episode_end_datetime"),
    ("survey_conduct", "survey_start_date", "survey_start_datetime", "survey_end_date", "survey_end_datetime"),
]


def _end_before_start(ctx: RuleContext):
    queries = []
    for name, start, start_dt, end, end_dt in SPANS:
        t = cdm().table(name)
        wrong = exp.LT(this=col(end), expression=col(start))
        if start_dt and end_dt:
            wrong = exp.or_(wrong, exp.LT(this=col(end_dt), expression=col(start_dt)))
        if name == "survey_conduct":  # the start is optional: drop it
            fix = {start: exp.Null(), start_dt: exp.Null()}
        elif t.column(end).required:
            fix = {end: col(start)} | ({end_dt: col(start_dt)} if start_dt and end_dt else {})
        else:
            fix = {end: exp.Null()} | ({end_dt: exp.Null()} if end_dt else {})
        queries += change(name, wrong, fix)  # type: ignore[arg-type]
    return queries


end_before_start = Rule(
    name="end_before_start",
    description="Fix spans that end before they start: a required end becomes the start, an optional end becomes NULL.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(s[0] for s in SPANS),
    build=_end_before_start,
    reference="TemporalConsistency",
)


AFTER_CUTOFF_TABLES = dated_person_tables(exclude=("death",))  # death: invalid_death_dates removes late deaths


def _after_cutoff(ctx: RuleContext):
    queries: list[Query] = []
    cutoff = ctx.param(ctx.cutoff)
    for name in AFTER_CUTOFF_TABLES:
        t = cdm().table(name)
        queries += remove(name, exp.GT(this=event_date(name), expression=cutoff.copy()))  # type: ignore[arg-type]
        fix: dict[str, exp.Expression] = {}
        late = []
        for c in t.columns:
            if c.name == t.event_date_column or c.type not in ("date", "datetime"):
                continue
            value = exp.cast(col(c.name), "DATE") if c.type == "datetime" else col(c.name)
            is_late = exp.GT(this=value, expression=cutoff.copy())
            late.append(is_late)
            capped = exp.cast(cutoff.copy(), "TIMESTAMP" if c.type == "datetime" else "DATE")
            fix[c.name] = exp.Case().when(is_late.copy(), capped if c.required else exp.Null()).else_(col(c.name))
        if late:
            queries += change(name, exp.or_(*late), fix)
    return queries


records_after_cutoff = Rule(
    name="records_after_cutoff",
    description="Remove records whose event date is after the cut-off (a release holds nothing later), wearables included; other dates after it (an end date, say) become NULL, or the cut-off when required.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=AFTER_CUTOFF_TABLES,
    build=_after_cutoff,
    reference="RemoveRecordsWithWrongDate (future dates)",
)
