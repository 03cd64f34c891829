"""Cleaning rules for measurements and drugs: physical measurement ranges, latest physical measurement only,
lab unit normalisation from a mapping table, implausible refills and days supply."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.sql import col, num, table
from ..rule import BOTH, Query, Rule, RuleContext, Stage, change, remove, setup
from .expressions import is_one_of


def _pm_concept(ctx: RuleContext, ids: list[int]) -> exp.Expression:
    """Whether a measurement row is one of ``ids`` (by its source concept or its concept)."""
    return exp.or_(is_one_of(ctx, col("measurement_source_concept_id"), ids), is_one_of(ctx, col("measurement_concept_id"), ids))


def _pm_ranges(ctx: RuleContext):
    pm = ctx.config.physical_measurements
    outside = []
    for ids, (low, high) in ((pm.height_concept_ids, pm.height_cm), (pm.weight_concept_ids, pm.weight_kg), (pm.bmi_concept_ids, pm.bmi)):
        value = col("value_as_number")
        out = exp.or_(exp.LT(this=value, expression=ctx.param(low)), exp.GT(this=value, expression=ctx.param(high)))
        outside.append(exp.and_(_pm_concept(ctx, ids), out))
    return remove("measurement", exp.or_(*outside))


physical_measurement_ranges = Rule(
    name="physical_measurement_ranges",
    description="Remove physical measurements outside plausible ranges: height 90–228 cm, weight 30–250 kg, BMI 10–125 (physical_measurements.*).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("measurement",),
    build=_pm_ranges,
    reference="DropExtremeMeasurements",
)


def _latest_pm(ctx: RuleContext):
    ids = ctx.config.physical_measurements.concept_ids
    which = exp.Case().when(is_one_of(ctx, col("measurement_source_concept_id"), ids), col("measurement_source_concept_id")).else_(col("measurement_concept_id"))
    number = exp.Window(
        this=exp.func("ROW_NUMBER"),
        partition_by=[col("person_id"), which],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=col("measurement_datetime"), desc=True, nulls_first=False),
                exp.Ordered(this=col("measurement_date"), desc=True, nulls_first=False),
                exp.Ordered(this=col("measurement_id"), desc=True, nulls_first=False),
            ]
        ),
    )
    ranked = exp.select(col("_rid"), number.as_("n")).from_(table("measurement")).where(_pm_concept(ctx, ids))
    older = exp.select(col("_rid")).from_(ranked.subquery("r")).where(exp.GT(this=col("n"), expression=num(1)))
    return remove("measurement", col("_rid").isin(query=older))


latest_physical_measurement = Rule(
    name="latest_physical_measurement",
    description="Keep only each participant's latest value of each physical measurement concept; remove the older ones.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("measurement",),
    build=_latest_pm,
    reference="DropMultipleMeasurements",
)


def _units(ctx: RuleContext):
    mapping = ctx.config.unit_mapping()
    columns = ["measurement_concept_id", "from_unit_concept_id", "to_unit_concept_id", "factor", "offset"]
    load = Query(
        "load",
        target=f"{ctx.rule_name}__mapping",
        data={c: [row[c] for row in mapping] for c in columns},
        types={"measurement_concept_id": "int64", "from_unit_concept_id": "int64", "to_unit_concept_id": "int64", "factor": "float64", "offset": "float64"},
    )
    mapping_table = ctx.scratch("mapping")
    # For each measurement row: the conversion for its (concept, unit), a concept-specific one winning over 0.
    u = "u"
    rank = exp.Window(
        this=exp.func("ROW_NUMBER"),
        partition_by=[col("_rid", table="m")],
        order=exp.Order(expressions=[exp.Ordered(this=col("measurement_concept_id", table=u), desc=True)]),
    )
    candidates = (
        exp.select(col("_rid", table="m").as_("target_rid"), col("to_unit_concept_id", table=u), col("factor", table=u), col("offset", table=u), rank.as_("n"))
        .from_(table("measurement", alias="m"))
        .join(
            mapping_table.copy().as_(u),
            on=exp.and_(
                col("from_unit_concept_id", table=u).eq(col("unit_concept_id", table="m")),
                exp.or_(col("measurement_concept_id", table=u).eq(col("measurement_concept_id", table="m")), col("measurement_concept_id", table=u).eq(num(0))),
            ),
        )
    )
    q, conversions = setup(ctx, "conversions", exp.select(exp.Star()).from_(candidates.subquery("c")).where(col("n").eq(num(1))))

    def convert(column: str) -> exp.Expression:
        return exp.Add(this=exp.Mul(this=col(column, table="measurement"), expression=col("factor", table="v")), expression=col("offset", table="v"))

    targets = exp.select(col("target_rid")).from_(conversions)
    return [
        load,
        q,
        *change(
            "measurement",
            col("_rid").isin(query=targets),
            {
                "value_as_number": convert("value_as_number"),
                "range_low": convert("range_low"),
                "range_high": convert("range_high"),
                "unit_concept_id": col("to_unit_concept_id", table="v"),
            },
            from_=conversions.copy().as_("v"),
            join=col("target_rid", table="v").eq(col("_rid", table="measurement")),
        ),
    ]


lab_unit_normalisation = Rule(
    name="lab_unit_normalisation",
    description="Convert lab values (and their reference ranges) to the normal unit given by the unit mapping table (units.mapping_file).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("measurement",),
    build=_units,
    reference="UnitNormalization",
)


def _drugs(ctx: RuleContext):
    refills = exp.GTE(this=col("refills"), expression=ctx.param(ctx.config.drugs.max_refills))
    supply = exp.GTE(this=col("days_supply"), expression=ctx.param(ctx.config.drugs.max_days_supply))
    return change(
        "drug_exposure",
        exp.or_(refills, supply),
        {
            "refills": exp.Case().when(refills.copy(), exp.Null()).else_(col("refills")),
            "days_supply": exp.Case().when(supply.copy(), exp.Null()).else_(col("days_supply")),
        },
    )


drug_refills_days_supply = Rule(
    name="drug_refills_days_supply",
    description="Set refills >= drugs.max_refills (10) and days_supply >= drugs.max_days_supply (180) to NULL.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("drug_exposure",),
    build=_drugs,
    reference="DrugRefillsDaysSupply",
)
