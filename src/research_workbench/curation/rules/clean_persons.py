"""Cleaning rules that remove whole participants: withdrawn, under age at consent, implausible birth year,
rows of persons the CDR does not know, and persons left with no data."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.facts import age_at, birth_date
from ...cdr.sql import col, table, union_all
from ..rule import BOTH, Rule, RuleContext, Stage, person_column, person_tables, remove, remove_persons


def _withdrawn(ctx: RuleContext):
    persons = exp.select(col("person_id")).from_(table("participant_status")).where(col("withdrawal_date").is_(exp.Null()).not_())
    return remove_persons(ctx, persons)


withdrawn_participants = Rule(
    name="withdrawn_participants",
    description="Remove every row (wearables included) of participants who withdrew (participant_status.withdrawal_date set).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=person_tables(),
    build=_withdrawn,
    reference="SandboxAndRemoveWithdrawnPids",
)


def _under_age(ctx: RuleContext):
    age = age_at(birth_date(table="p"), exp.cast(col("primary_consent_date", table="s"), "DATE"))
    persons = (
        exp.select(col("person_id", table="p"))
        .from_(table("person", alias="p"))
        .join(table("participant_status", alias="s"), on=col("person_id", table="p").eq(col("person_id", table="s")))
        .where(exp.LT(this=age, expression=ctx.param(ctx.config.persons.min_age_at_consent)))
    )
    return remove_persons(ctx, persons)


under_age_at_consent = Rule(
    name="under_age_at_consent",
    description="Remove every row of participants younger than persons.min_age_at_consent (18) at primary consent.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=person_tables(),
    build=_under_age,
    reference="RemoveParticipantsUnder18Years",
)


def _birth_year(ctx: RuleContext):
    year = col("year_of_birth")
    persons = exp.select(col("person_id")).from_(table("person")).where(
        exp.or_(
            exp.LT(this=year, expression=ctx.param(ctx.config.persons.min_birth_year)),
            exp.GT(this=year, expression=ctx.param(ctx.cutoff.year)),
        )
    )
    return remove_persons(ctx, persons)


birth_year_out_of_range = Rule(
    name="birth_year_out_of_range",
    description="Remove every row of participants born before persons.min_birth_year (1900) or after the cut-off year.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=person_tables(),
    build=_birth_year,
    reference="CleanByBirthYear",
)


def _unknown_persons(ctx: RuleContext):
    queries = []
    known = exp.select(col("person_id")).from_(table("person"))
    for name in person_tables():
        if name == "person":
            continue
        queries += remove(name, col(person_column(name)).isin(query=known).not_())
    return queries


unknown_persons = Rule(
    name="unknown_persons",
    description="Remove rows (wearables, program records and clinical rows) whose person_id has no person row.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=tuple(t for t in person_tables() if t != "person"),
    build=_unknown_persons,
    reference="RemoveNonExistingPids",
)


def _no_data(ctx: RuleContext):
    parts = [exp.select(col(person_column(name)).as_("person_id")).from_(table(name)) for name in ctx.config.persons.data_tables]
    persons = exp.select(col("person_id")).from_(table("person"))
    if parts:
        persons = persons.where(col("person_id").isin(query=union_all(parts)).not_())
    return remove_persons(ctx, persons)


def persons_without_data(stage: Stage) -> Rule:
    return Rule(
        name="persons_without_data",
        description="Remove participants with no row in any of persons.data_tables (and their remaining rows elsewhere).",
        stage=stage,
        tiers=BOTH,
        tables=person_tables(),
        build=_no_data,
        reference="DropOrphanedPIDS",
    )
