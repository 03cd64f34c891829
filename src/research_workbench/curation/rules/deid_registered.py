"""Registered Tier de-identification: age cap, recent concepts, generalised demographics, state and zip
suppression, the tables released in the Controlled Tier only, and the per-participant date shift."""

from __future__ import annotations

from sqlglot import exp

from ...cdr.facts import age_at, birth_date
from ...cdr.model import cdm
from ...cdr.sql import col, num, table, union_all
from ...engines.portable import subtract_days
from ..rule import (
    REGISTERED,
    Query,
    Rule,
    RuleContext,
    Stage,
    change,
    person_column,
    person_tables,
    remap,
    remove,
    remove_persons,
    setup,
)
from .clean_concepts import EVENT_TABLES
from .expressions import is_one_of, timestamp_days_earlier

GENERALISED = {
    "another_population": 2000000001,
    "gender": 2000000002,
    "orientation": 2000000003,
    "employed": 2000000004,
    "not_employed": 2000000005,
    "college": 2000000006,
    "no_high_school": 2000000007,
    "several_populations": 2000000008,
    "sex_at_birth": 2000000009,
    "state": 2000000011,
}


def _age_cap(ctx: RuleContext):
    age = age_at(birth_date(table="p"), exp.cast(ctx.param(ctx.cutoff), "DATE"))
    persons = exp.select(col("person_id", table="p")).from_(table("person", alias="p")).where(exp.GTE(this=age, expression=ctx.param(ctx.config.registered.max_age)))
    return remove_persons(ctx, persons)


age_89_or_over = Rule(
    name="age_89_or_over",
    description="Exclude participants aged registered.max_age (89) or over at the cut-off, with all their rows (wearables included).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=person_tables(),
    build=_age_cap,
    reference="RemoveFitbitDataIfMaxAgeExceeded; deid MAX_AGE",
)


def _recent_concepts(ctx: RuleContext):
    union = union_all([exp.select(col(t.concept).as_("concept_id"), col(t.start_date).as_("d")).from_(table(t.table)) for t in EVENT_TABLES.values()])
    first_seen = exp.select(col("concept_id"), exp.func("MIN", col("d")).as_("first")).from_(union.subquery("u")).group_by(col("concept_id"))
    since = subtract_days(exp.cast(ctx.param(ctx.cutoff), "DATE"), ctx.param(ctx.config.registered.recent_concept_days))
    q, recent = setup(ctx, "recent", exp.select(col("concept_id")).from_(first_seen.subquery("f")).where(exp.GTE(this=col("first"), expression=since), col("concept_id").neq(num(0))))
    queries = [q]
    for t in EVENT_TABLES.values():
        queries += remove(t.table, col(t.concept).isin(query=exp.select(col("concept_id")).from_(recent)))
    return queries


recent_concepts = Rule(
    name="recent_concepts",
    description="Suppress rows whose concept was first seen on or after the cut-off minus registered.recent_concept_days (365).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=tuple(EVENT_TABLES),
    build=_recent_concepts,
    reference="RecentConceptSuppression",
)


# --- generalised demographics ---------------------------------------------------------------------------------


def _answers(ctx: RuleContext, question: int, exempt: list[int] | None = None) -> exp.Select:
    select = exp.select(col("_rid"), col("person_id"), col("value_source_concept_id").as_("a")).from_(table("observation")).where(
        col("observation_source_concept_id").eq(ctx.param(question))
    )
    if exempt:
        select = select.where(is_one_of(ctx, col("value_source_concept_id"), exempt).not_())
    return select


def _apply_decisions(ctx: RuleContext, decisions: exp.Select) -> list[Query]:
    """``decisions``: target_rid, action ('change' | 'remove'), value. Changes set the answer (and its code)."""
    with_code = (
        exp.select(col("target_rid", table="d"), col("action", table="d"), col("value", table="d"), col("concept_code", table="c").as_("code"))
        .from_(decisions.subquery("d"))
        .join(table("concept", alias="c"), on=col("concept_id", table="c").eq(col("value", table="d")), join_type="left")
    )
    q, target = setup(ctx, "decisions", with_code)
    changed = exp.select(col("target_rid")).from_(target).where(col("action").eq(exp.Literal.string("change")))
    removed = exp.select(col("target_rid")).from_(target).where(col("action").eq(exp.Literal.string("remove")))
    return [
        q,
        *change(
            "observation",
            col("_rid").isin(query=changed),
            {"value_source_concept_id": col("value", table="v"), "value_as_concept_id": col("value", table="v"), "value_source_value": col("code", table="v")},
            from_=target.copy().as_("v"),
            join=exp.and_(col("target_rid", table="v").eq(col("_rid", table="observation")), col("action", table="v").eq(exp.Literal.string("change"))),
        ),
        *remove("observation", col("_rid").isin(query=removed)),
    ]


def _collapse(ctx: RuleContext, answers: exp.Select, trigger: exp.Expression, value: exp.Expression) -> tuple[list[Query], exp.Table]:
    """Persons whose answers (``answers``: _rid, person_id, a) meet ``trigger`` keep one answer row, set to
    ``value``; their other rows of the question are removed. ``trigger`` and ``value`` are aggregates over a
    person's answer rows (``_distinct_answers``, ``_some``), so no list of answers is built: DuckDB's lists and
    Spark's arrays differ in their functions and in how they keep NULLs. Returns the queries and the scratch
    table of the persons (person_id, value)."""
    per_person = (
        exp.select(col("person_id"), exp.func("MIN", col("_rid")).as_("keep"), value.as_("value"))
        .from_(answers.subquery("a"))
        .group_by(col("person_id"))
        .having(trigger)
    )
    q, persons = setup(ctx, "persons", per_person)
    decisions = (
        exp.select(
            col("_rid", table="x").as_("target_rid"),
            exp.Case().when(col("_rid", table="x").eq(col("keep", table="g")), exp.Literal.string("change")).else_(exp.Literal.string("remove")).as_("action"),
            col("value", table="g"),
        )
        .from_(answers.subquery("x"))
        .join(persons.copy().as_("g"), on=col("person_id", table="x").eq(col("person_id", table="g")))
    )
    return [q, *_apply_decisions(ctx, decisions)], persons


def _distinct_answers() -> exp.Expression:
    """How many different answers a person gave (NULL answers not counted)."""
    return exp.Count(this=exp.Distinct(expressions=[col("a")]))


def _some(condition: exp.Expression) -> exp.Expression:
    """Some answer row of the person meets ``condition``."""
    return exp.GT(this=exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition)), expression=num(0))


def _any_outside(ctx: RuleContext, allowed: list[int]) -> exp.Expression:
    """Some answer is not in ``allowed`` (a NULL answer counts as outside)."""
    return _some(is_one_of(ctx, col("a"), allowed).not_())


def _race(ctx: RuleContext):
    d = ctx.config.demographics
    answers = _answers(ctx, d.race_question, d.race_exempt_answers)
    several = exp.GTE(this=_distinct_answers(), expression=num(2))
    single = exp.and_(_distinct_answers().eq(num(1)), _some(is_one_of(ctx, col("a"), d.race_generalise_single)))
    value = exp.Case().when(several.copy(), ctx.param(GENERALISED["several_populations"])).else_(ctx.param(GENERALISED["another_population"]))
    queries, persons = _collapse(ctx, answers, exp.or_(several, single), value)
    queries += change(
        "person",
        col("person_id").isin(query=exp.select(col("person_id")).from_(persons)),
        {"race_concept_id": col("value", table="g"), "race_source_concept_id": col("value", table="g")},
        from_=persons.copy().as_("g"),
        join=col("person_id", table="g").eq(col("person_id", table="person")),
    )
    return queries


generalise_race = Rule(
    name="generalise_race",
    description="Race: several answers (Hispanic not counted) → one 'more than one population' answer 2000000008; a single answer of demographics.race_generalise_single → 2000000001; person.race_concept_id likewise.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation", "person"),
    build=_race,
    reference="deid/aou.py generalization rules (race)",
)


def _not_in(ctx: RuleContext, value: exp.Expression, allowed: list[int]) -> exp.Expression:
    """``value`` is set and not one of ``allowed``."""
    return exp.and_(value.is_(exp.Null()).not_(), is_one_of(ctx, value.copy(), allowed).not_())


def _person_race_ethnicity(ctx: RuleContext):
    d = ctx.config.demographics
    race, race_src = col("race_concept_id"), col("race_source_concept_id")
    eth, eth_src = col("ethnicity_concept_id"), col("ethnicity_source_concept_id")
    generalise = exp.or_(
        _not_in(ctx, race, d.person_race_allowed),
        is_one_of(ctx, race_src.copy(), d.race_generalise_single),
    )
    other = ctx.param(GENERALISED["another_population"])
    race_out = exp.Case().when(generalise, other).else_(race.copy())
    race_src_out = exp.Case().when(generalise.copy(), other.copy()).when(_not_in(ctx, race_src.copy(), d.person_race_source_allowed), race.copy()).else_(race_src.copy())
    eth_bad = _not_in(ctx, eth, d.person_ethnicity_allowed)
    eth_out = exp.Case().when(eth_bad, num(0)).else_(eth.copy())
    eth_src_out = exp.Case().when(eth_bad.copy(), num(0)).when(_not_in(ctx, eth_src.copy(), d.person_ethnicity_source_allowed), eth.copy()).else_(eth_src.copy())
    outputs = {"race_concept_id": race_out, "race_source_concept_id": race_src_out, "ethnicity_concept_id": eth_out, "ethnicity_source_concept_id": eth_src_out}
    differs = exp.or_(*[exp.NullSafeNEQ(this=col(c), expression=v.copy()) for c, v in outputs.items()])
    return change("person", differs, outputs)


generalise_person_race_ethnicity = Rule(
    name="generalise_person_race_ethnicity",
    description="The person table's race and ethnicity, whatever their source (EHR or survey): a race outside demographics.person_race_allowed, or a single-population answer generalised by generalise_race, → 2000000001; an ethnicity outside demographics.person_ethnicity_allowed → 0; detailed source concepts → the generalised concept.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("person",),
    build=_person_race_ethnicity,
    reference="RepopulatePersonPostDeid (person race and ethnicity from de-identified values)",
)


def _gender(ctx: RuleContext):
    d = ctx.config.demographics
    answers = _answers(ctx, d.gender_question)
    # Each person's answers to the sex-at-birth question, before generalise_sex_at_birth changes them.
    sex = exp.select(col("person_id"), col("value_source_concept_id").as_("sex")).distinct().from_(table("observation")).where(
        col("observation_source_concept_id").eq(ctx.param(d.sex_at_birth_question))
    )
    q_sex, sex_table = setup(ctx, "sex", sex)
    conflicts = []
    for gender_answer, sex_answer in d.gender_sex_conflicts:
        in_sex = exp.select(col("person_id", table="s")).from_(sex_table.copy().as_("s")).where(col("sex", table="s").eq(ctx.param(sex_answer)))
        conflicts.append(exp.and_(_some(col("a").eq(ctx.param(gender_answer))), col("person_id").isin(query=in_sex)))
    trigger = exp.or_(exp.GTE(this=_distinct_answers(), expression=num(2)), _any_outside(ctx, d.gender_allowed), *conflicts)
    queries, _ = _collapse(ctx, answers, trigger, ctx.param(GENERALISED["gender"]))
    return [q_sex, *queries]


generalise_gender_identity = Rule(
    name="generalise_gender_identity",
    description="Gender identity: several answers, an answer other than man/woman (skip and prefer-not-to-answer included), or one at odds with sex at birth → one answer 2000000002.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation",),
    build=_gender,
    reference="deid/aou.py generalization rules (gender)",
)


def _sex_at_birth(ctx: RuleContext):
    d = ctx.config.demographics
    answers = _answers(ctx, d.sex_at_birth_question)
    trigger = exp.or_(exp.GTE(this=_distinct_answers(), expression=num(2)), _any_outside(ctx, d.sex_at_birth_allowed))
    queries, persons = _collapse(ctx, answers, trigger, ctx.param(GENERALISED["sex_at_birth"]))
    queries += change(
        "person_ext",
        col("person_id").isin(query=exp.select(col("person_id")).from_(persons)),
        {"sex_at_birth_concept_id": col("value", table="g"), "sex_at_birth_source_concept_id": col("value", table="g"), "sex_at_birth_source_value": exp.Null()},
        from_=persons.copy().as_("g"),
        join=col("person_id", table="g").eq(col("person_id", table="person_ext")),
    )
    return queries


generalise_sex_at_birth = Rule(
    name="generalise_sex_at_birth",
    description="Sex at birth other than female/male (intersex, none of these, skip, prefer not to answer) or several answers → one answer 2000000009 (person_ext too).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation", "person_ext"),
    build=_sex_at_birth,
    reference="deid/aou.py generalization rules (sex at birth)",
)


def _orientation(ctx: RuleContext):
    d = ctx.config.demographics
    answers = _answers(ctx, d.orientation_question)
    trigger = exp.or_(exp.GTE(this=_distinct_answers(), expression=num(2)), _any_outside(ctx, d.orientation_allowed))
    queries, _ = _collapse(ctx, answers, trigger, ctx.param(GENERALISED["orientation"]))
    return queries


generalise_sexual_orientation = Rule(
    name="generalise_sexual_orientation",
    description="Sexual orientation other than straight, or several answers → one answer 2000000003.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation",),
    build=_orientation,
    reference="deid/aou.py generalization rules (orientation)",
)


def _coarse(ctx: RuleContext, question: int, groups: list[tuple[list[int], int]]) -> list[Query]:
    """Map answers of ``question`` to coarse categories; repeats of a category within a person are removed."""
    answers = _answers(ctx, question)
    case = exp.Case()
    for members, target in groups:
        case = case.when(is_one_of(ctx, col("a"), members), ctx.param(target))
    mapped = exp.select(col("_rid"), col("person_id"), col("a"), case.else_(col("a")).as_("value")).from_(answers.subquery("x"))
    number = exp.Window(this=exp.func("ROW_NUMBER"), partition_by=[col("person_id"), col("value")], order=exp.Order(expressions=[exp.Ordered(this=col("_rid"))]))
    ranked = exp.select(col("_rid"), col("a"), col("value"), number.as_("n")).from_(mapped.subquery("m"))
    action = exp.Case().when(exp.GT(this=col("n"), expression=num(1)), exp.Literal.string("remove")).when(col("value").neq(col("a")), exp.Literal.string("change"))
    decisions = exp.select(col("_rid").as_("target_rid"), action.as_("action"), col("value")).from_(ranked.subquery("r")).where(action.copy().is_(exp.Null()).not_())
    return _apply_decisions(ctx, decisions)


def _education(ctx: RuleContext):
    d = ctx.config.demographics
    return _coarse(ctx, d.education_question, [(d.education_no_high_school, GENERALISED["no_high_school"]), (d.education_college_and_above, GENERALISED["college"])])


generalise_education = Rule(
    name="generalise_education",
    description="Education: no high-school degree → 2000000007, college graduate or above → 2000000006.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation",),
    build=_education,
    reference="deid/aou.py generalization rules (education)",
)


def _employment(ctx: RuleContext):
    d = ctx.config.demographics
    return _coarse(ctx, d.employment_question, [(d.employment_employed, GENERALISED["employed"]), (d.employment_not_employed, GENERALISED["not_employed"])])


generalise_employment = Rule(
    name="generalise_employment",
    description="Employment: employed answers → 2000000004, not employed answers → 2000000005 (one row per category).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation",),
    build=_employment,
    reference="deid/aou.py generalization rules (employment)",
)


def _states(ctx: RuleContext):
    d = ctx.config.demographics
    answers = exp.select(col("person_id"), col("value_source_concept_id").as_("state")).from_(table("observation")).where(col("observation_source_concept_id").eq(ctx.param(d.state_question)))
    ext = exp.select(col("person_id"), col("state_of_residence_concept_id").as_("state")).from_(table("person_ext"))
    counts = (
        exp.select(col("state"))
        .from_(exp.union(answers, ext, distinct=False).subquery("u"))
        .where(col("state").is_(exp.Null()).not_())
        .group_by(col("state"))
        .having(exp.LT(this=exp.Count(this=exp.Distinct(expressions=[col("person_id")])), expression=ctx.param(ctx.config.registered.state_min_participants)))
    )
    q, small = setup(ctx, "small_states", counts)
    value = ctx.param(GENERALISED["state"])
    small_ids = exp.select(col("state")).from_(small)
    obs_rows = exp.and_(col("observation_source_concept_id").eq(ctx.param(d.state_question)), col("value_source_concept_id").isin(query=small_ids.copy()))
    code = exp.select(col("concept_code")).from_(table("concept")).where(col("concept_id").eq(value.copy())).subquery()
    return [
        q,
        *change("observation", obs_rows, {"value_source_concept_id": value, "value_as_concept_id": value.copy(), "value_source_value": code}),
        *change("person_ext", col("state_of_residence_concept_id").isin(query=small_ids.copy()), {"state_of_residence_concept_id": value.copy(), "state_of_residence_source_value": exp.Null()}),
    ]


small_states = Rule(
    name="small_states",
    description="States of residence with fewer than registered.state_min_participants (200) participants → 2000000011 (answers and person_ext).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation", "person_ext"),
    build=_states,
    reference="GeneralizeStateByPopulation",
)


def _zip_rows(ctx: RuleContext):
    return remove("observation", col("observation_source_concept_id").eq(ctx.param(ctx.config.demographics.zip_question)))


zip_codes = Rule(
    name="zip_codes",
    description="Remove every zip code answer.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=("observation",),
    build=_zip_rows,
    reference="deid: zip row suppression",
)

# Tables the Controlled Tier releases and the Registered Tier does not (All of Us: the zip3 socioeconomic map is a
# Controlled Tier table). zip3_ses_map holds no participant, but its only use is to be joined to the three-digit
# zip areas that the Registered Tier suppresses (zip_codes above).
CONTROLLED_TIER_TABLES = ("zip3_ses_map",)


def _controlled_tier_rows(ctx: RuleContext):
    queries = []
    for name in CONTROLLED_TIER_TABLES:
        queries += remove(name, exp.true())
    return queries


controlled_tier_tables = Rule(
    name="controlled_tier_tables",
    description="Empty the tables released in the Controlled Tier only: zip3_ses_map (area measures by three-digit zip code, whose zip answers this tier removes).",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=CONTROLLED_TIER_TABLES,
    build=_controlled_tier_rows,
    reference="CT-only table zip3_ses_map",
)

SHIFT_TABLES = tuple(
    t for t in person_tables() if any(c.type in ("date", "datetime") for c in cdm().table(t).columns)
)


def _date_shift(ctx: RuleContext):
    queries = []
    for name in SHIFT_TABLES:
        t = cdm().table(name)
        shift = col("shift_days", table="m")
        replacements: dict[str, exp.Expression] = {}
        for c in t.columns:
            if c.type == "date":
                replacements[c.name] = subtract_days(col(c.name, table="t"), shift)
            elif c.type == "datetime":
                replacements[c.name] = timestamp_days_earlier(col(c.name, table="t"), shift)
        m = ctx.private("person_map").as_("m")
        queries.append(remap(name, replacements, [(m, col(person_column(name), table="t").eq(col("person_id", table="m")))]))
    return queries


date_shift = Rule(
    name="date_shift",
    description="Move every date and datetime of a participant's rows (wearables included) back by their private shift of 1–364 days, the same in every release.",
    stage=Stage.DEID,
    tiers=REGISTERED,
    tables=SHIFT_TABLES,
    build=_date_shift,
    reference="DateShiftRule, FitbitDateShiftRule",
)
