"""Cleaning rules for survey answers and free text: skip logic, free-text answers, free-text string fields,
and survey_conduct rows left without answers."""

from __future__ import annotations

from collections import defaultdict

from sqlglot import exp

from ...cdr.model import cdm
from ...cdr.sql import col, table
from ..rule import BOTH, Query, Rule, RuleContext, Stage, change, remove
from .expressions import is_number_text, is_one_of


def _skip_logic(ctx: RuleContext):
    branching = ctx.config.survey_branching()
    if not branching:
        return []
    columns = ["child_question_concept_id", "parent_question_concept_id", "parent_answer_concept_id"]
    load = Query("load", target=f"{ctx.rule_name}__branching", data={c: [r[c] for r in branching] for c in columns}, types={c: "int64" for c in columns})
    rules = ctx.scratch("branching")
    # A child answer is allowed when the participant answered the parent with an enabling answer (in any survey).
    enabled = (
        exp.select(exp.Literal.number(1))
        .from_(table("observation", alias="p"))
        .join(rules.copy().as_("b"), on=exp.and_(
            col("parent_question_concept_id", table="b").eq(col("observation_source_concept_id", table="p")),
            col("parent_answer_concept_id", table="b").eq(col("value_source_concept_id", table="p")),
        ))
        .where(
            col("person_id", table="p").eq(col("person_id", table="c")),
            col("child_question_concept_id", table="b").eq(col("observation_source_concept_id", table="c")),
        )
    )
    children = exp.select(col("child_question_concept_id")).from_(rules)
    broken = (
        exp.select(col("_rid", table="c"))
        .from_(table("observation", alias="c"))
        .where(
            col("observation_source_concept_id", table="c").isin(query=children),
            col("questionnaire_response_id", table="c").is_(exp.Null()).not_(),
            exp.Exists(this=enabled).not_(),
        )
    )
    return [load, *remove("observation", col("_rid").isin(query=broken))]


survey_skip_logic = Rule(
    name="survey_skip_logic",
    description="Remove answers to questions the branching should have skipped: the participant's answer to the parent question does not enable them (surveys.branching_file).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("observation",),
    build=_skip_logic,
    reference="PpiBranching",
)


def _free_text_answers(ctx: RuleContext):
    code = exp.func("LOWER", col("concept_code"))
    matches = [exp.func("contains", code, ctx.param(p.lower())) for p in ctx.config.surveys.free_text_code_patterns]
    free_text_questions = exp.select(col("concept_id")).from_(table("concept")).where(exp.or_(*matches) if matches else exp.false())
    text_answer = exp.and_(
        col("questionnaire_response_id").is_(exp.Null()).not_(),
        col("value_as_string").is_(exp.Null()).not_(),
        is_number_text(col("value_as_string")).not_(),
        # An answer to no question (NULL) is not to a kept one, as in free_text_string_fields.
        is_one_of(ctx, col("observation_source_concept_id"), ctx.config.surveys.keep_string_questions).not_(),
    )
    return remove("observation", exp.or_(col("observation_source_concept_id").isin(query=free_text_questions), text_answer))


free_text_survey_answers = Rule(
    name="free_text_survey_answers",
    description="Remove survey answers to free-text questions (concept code matching surveys.free_text_code_patterns) and text answers to other questions (except surveys.keep_string_questions).",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=("observation",),
    build=_free_text_answers,
    reference="FreeTextSurveyResponseSuppression",
)


def _string_fields(ctx: RuleContext):
    by_table: dict[str, list[str]] = defaultdict(list)
    for item in ctx.config.string_fields.suppress:
        name, _, column = item.partition(".")
        by_table[name].append(column)
    queries = []
    for name, columns in by_table.items():
        conditions = []
        for column in columns:
            present = col(column).is_(exp.Null()).not_()
            if name == "observation" and column == "value_as_string":
                keep = is_one_of(ctx, col("observation_source_concept_id"), ctx.config.surveys.keep_string_questions)
                present = exp.and_(present, keep.not_())
            conditions.append((column, present))
        assignments = {c: exp.Case().when(p.copy(), exp.Null()).else_(col(c)) for c, p in conditions}
        queries += change(name, exp.or_(*[p for _, p in conditions]), assignments)
    return queries


# Any table with an optional string column may be named in string_fields.suppress.
STRING_TABLES = tuple(
    t.name for t in cdm().tables.values() if not t.is_vocabulary and any(c.type == "string" and not c.required for c in t.columns)
)


free_text_string_fields = Rule(
    name="free_text_string_fields",
    description="Set free-text string columns (string_fields.suppress) to NULL; zip answers are kept for de-identification.",
    stage=Stage.CLEAN,
    tiers=BOTH,
    tables=STRING_TABLES,
    build=_string_fields,
    reference="StringFieldsSuppression",
)


def _orphan_surveys(ctx: RuleContext):
    answered = exp.select(col("questionnaire_response_id")).from_(table("observation")).where(col("questionnaire_response_id").is_(exp.Null()).not_())
    return remove("survey_conduct", col("survey_conduct_id").isin(query=answered).not_())


def orphaned_survey_conduct(stage: Stage) -> Rule:
    return Rule(
        name="orphaned_survey_conduct",
        description="Remove survey_conduct rows with no answer left in observation.",
        stage=stage,
        tiers=BOTH,
        tables=("survey_conduct",),
        build=_orphan_surveys,
        reference="DropOrphanedSurveyConductIds",
    )
