"""Controlled Tier de-identification: zip codes to three digits, low-population areas merged."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import col, lit, num, table
from ..rule import CONTROLLED, Rule, RuleContext, Stage, change, setup


def _zip3(ctx: RuleContext):
    question = ctx.param(ctx.config.demographics.zip_question)
    value = col("value_as_string")
    # A partial match from the start: DuckDB's REGEXP_MATCHES (RE2) and Spark's RLIKE (Java) alike; \d is ASCII
    # 0-9 in both (no other script's digits).
    starts_with_digits = exp.RegexpLike(this=value, expression=lit(r"^\d{3}"))
    z3 = exp.Case().when(starts_with_digits, exp.Left(this=value.copy(), expression=num(3))).else_(lit("000"))
    zips = exp.select(col("_rid"), col("person_id"), z3.as_("z3")).from_(table("observation")).where(col("observation_source_concept_id").eq(question))
    q1, rows = setup(ctx, "rows", zips)
    counts = exp.select(col("z3"), exp.Count(this=exp.Distinct(expressions=[col("person_id")])).as_("n")).from_(rows).group_by(col("z3"))
    q2, areas = setup(ctx, "areas", counts)
    threshold = ctx.param(ctx.config.controlled.zip3_min_participants)
    big = exp.select(col("z3")).from_(areas).where(exp.GTE(this=col("n"), expression=threshold), col("z3").neq(lit("000")))
    distance = exp.Add(
        this=exp.Mul(this=exp.Abs(this=exp.Sub(this=exp.cast(col("z3", table="b"), "INT"), expression=exp.cast(col("z3", table="s"), "INT"))), expression=num(1000)),
        expression=exp.cast(col("z3", table="b"), "INT"),
    )
    nearest = (
        exp.select(col("z3", table="s").as_("z3"), exp.func("COALESCE", exp.func("arg_min", col("z3", table="b"), distance), lit("000")).as_("into"))
        .from_(areas.copy().as_("s"))
        .join(big.subquery("b"), join_type="left", on=exp.true())
        .where(exp.LT(this=col("n", table="s"), expression=threshold.copy()), col("z3", table="s").neq(lit("000")))
        .group_by(col("z3", table="s"))
    )
    q3, merged = setup(ctx, "merged", nearest)
    final = (
        exp.select(col("_rid", table="r").as_("target_rid"), exp.func("COALESCE", col("into", table="m"), col("z3", table="r")).as_("z3"))
        .from_(rows.copy().as_("r"))
        .join(merged.copy().as_("m"), on=col("z3", table="m").eq(col("z3", table="r")), join_type="left")
    )
    q4, target = setup(ctx, "final", final)
    return [
        q1, q2, q3, q4,
        *change(
            "observation",
            col("_rid").isin(query=exp.select(col("target_rid")).from_(target)),
            {"value_as_string": exp.func("CONCAT", col("z3", table="f"), lit("**")), "value_source_value": exp.Null()},
            from_=target.copy().as_("f"),
            join=col("target_rid", table="f").eq(col("_rid", table="observation")),
        ),
    ]


zip3 = Rule(
    name="zip3",
    description="Zip code answers → their first three digits as 'NNN**'; areas with fewer than controlled.zip3_min_participants participants merge into the nearest larger area ('000**' when none; malformed zips too).",
    stage=Stage.DEID,
    tiers=CONTROLLED,
    tables=("observation",),
    build=_zip3,
    reference="GeneralizeZipCodes, AggregateZipCodes",
)
