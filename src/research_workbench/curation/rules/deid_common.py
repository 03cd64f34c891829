"""De-identification rules of both tiers: program concepts in the vocabulary, birth month and day, identifying
tables, row ids through the keyed permutation, site, device, sample, survey response and person ids through the
private maps. Which column holds which kind of identifier is written once, in ``cdr/schema/identifiers.csv``."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

from sqlglot import exp

from ...cdr.model import cdm
from ...cdr.sql import col, lit, num, table
from ..row_ids import ROW_ID_LIMIT, SQL_FUNCTION
from ..rule import (
    BOTH,
    Query,
    Rule,
    RuleContext,
    Stage,
    change,
    insert,
    person_column,
    person_tables,
    remap,
    remove,
    setup,
)
from .expressions import fail_when

PROGRAM_CONCEPTS_FILE = "program_concepts.csv"


def program_concepts() -> list[dict[str, str]]:
    """The program's custom concepts (generalised values), from ``program_concepts.csv``."""
    text = resources.files("research_workbench.curation").joinpath(PROGRAM_CONCEPTS_FILE).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _program_concepts(ctx: RuleContext):
    rows = program_concepts()
    columns = ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept", "concept_code", "valid_start_date", "valid_end_date"]
    data = {c: [r[c] for r in rows] for c in columns}
    data["concept_id"] = [int(v) for v in data["concept_id"]]
    data["valid_start_date"] = [date.fromisoformat(v) for v in data["valid_start_date"]]
    data["valid_end_date"] = [date.fromisoformat(v) for v in data["valid_end_date"]]
    load = Query("load", target=f"{ctx.rule_name}__rows", data=data)
    rows_table = ctx.scratch("rows")
    existing = exp.select(col("concept_id")).from_(table("concept"))
    new_rows = exp.select(*[col(c) for c in columns], exp.Neg(this=col("concept_id")).as_("_rid")).from_(rows_table).where(col("concept_id").isin(query=existing).not_())
    added = exp.and_(exp.LT(this=col("_rid"), expression=num(0)), exp.Neg(this=col("_rid")).isin(query=exp.select(col("concept_id")).from_(rows_table.copy())))
    vocabulary_row = exp.select(
        lit("AoU_Custom").as_("vocabulary_id"), lit("All of Us-style program custom concepts").as_("vocabulary_name"),
        lit("research_workbench.curation").as_("vocabulary_reference"), num(0).as_("vocabulary_concept_id"), num(-1).as_("_rid"),
    ).where(lit("AoU_Custom").isin(query=exp.select(col("vocabulary_id")).from_(table("vocabulary"))).not_())
    return [
        load,
        *insert("concept", [*columns, "_rid"], new_rows, added),
        *insert("vocabulary", ["vocabulary_id", "vocabulary_name", "vocabulary_reference", "vocabulary_concept_id", "_rid"], vocabulary_row, col("_rid").eq(num(-1))),
    ]


program_concepts_rule = Rule(
    name="program_concepts",
    description="Add the program's custom concepts (2000000001 … 2000000013, 2100000001; vocabulary AoU_Custom) that generalised values use, when absent.",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=("concept", "vocabulary"),
    build=_program_concepts,
    reference="resource_files/aou_vocab/CONCEPT.csv",
)


def _birth(ctx: RuleContext):
    fields = ("month_of_birth", "day_of_birth", "birth_datetime")
    return change("person", exp.or_(*[col(f).is_(exp.Null()).not_() for f in fields]), {f: exp.Null() for f in fields})


birth_month_and_day = Rule(
    name="birth_month_and_day",
    description="Remove birth month, day and datetime; the year of birth is kept.",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=("person",),
    build=_birth,
    reference="NullPersonBirthdate",
)

SUPPRESSED_TABLES = ("note", "note_nlp", "location", "provider", "care_site", "participant_status")


def _suppress(ctx: RuleContext):
    queries = []
    for name in SUPPRESSED_TABLES:
        queries += remove(name, exp.true())
    return queries


identifying_tables = Rule(
    name="identifying_tables",
    description="Empty note and note_nlp (free text), location (addresses, zip codes), provider and care_site (names, NPIs) and participant_status (program records).",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=SUPPRESSED_TABLES,
    build=_suppress,
    reference="TableSuppression",
)

def _row_id_columns() -> dict[str, list[str]]:
    """Table → its columns holding row ids (keys, references to rows, providers, care sites, locations)."""
    columns: dict[str, list[str]] = {}
    for identifier in cdm().identifiers("row"):
        columns.setdefault(identifier.table, []).append(identifier.column)
    return columns


ROW_ID_COLUMNS = _row_id_columns()


def _row_ids(ctx: RuleContext):
    queries: list[Query] = []
    for name, columns in ROW_ID_COLUMNS.items():
        # Refuse ids the permutation does not cover, naming the column and the smallest such id (the message is code,
        # not user data): the check's query then fails, on any engine.
        checks = []
        for c in columns:
            outside = exp.or_(exp.LT(this=col(c), expression=num(0)), exp.GTE(this=col(c), expression=num(ROW_ID_LIMIT)))
            first = exp.func("MIN", exp.Case().when(outside.copy(), col(c)))
            message = f"{name}.{c}: a row id outside 0 … 2^60 − 1, the range release row ids are drawn for"
            checks.append(fail_when(exp.func("bool_or", outside), message, first))
        queries.append(setup(ctx, f"check_{name}", exp.select(*[exp.alias_(e, f"c{i}") for i, e in enumerate(checks)]).from_(table(name)),
                             about=name)[0])
    for name, columns in ROW_ID_COLUMNS.items():
        # CASE: DuckDB then never calls the Python function for a batch of NULLs.
        permuted = {c: exp.Case().when(col(c, table="t").is_(exp.Null()).not_(), exp.Anonymous(this=SQL_FUNCTION, expressions=[col(c, table="t")])) for c in columns}
        queries.append(remap(name, permuted, []))
    return queries


row_ids = Rule(
    name="row_ids",
    description="Replace every row id (keys, references to rows, provider, care site and location ids) by 2^61 + a keyed permutation of it: stable across releases, unlinkable to the raw CDR or a sandbox without the private key.",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=tuple(ROW_ID_COLUMNS),
    build=_row_ids,
    reference="(none: AoU keeps event ids)",
)


SITE_TABLES = tuple(i.table for i in cdm().identifiers("site"))


def _through_map(ctx: RuleContext, name: str, column: str, map_name: str, research_column: str) -> Query:
    """Rewrite ``name``.``column`` through the private map keyed by that column."""
    m = ctx.private(map_name).as_("m")
    return remap(name, {column: col(research_column, table="m")}, [(m, col(column, table="t").eq(col(column, table="m")))])


def _sites(ctx: RuleContext):
    return [_through_map(ctx, name, "src_id", "site_map", "masked_src_id") for name in SITE_TABLES]


site_masking = Rule(
    name="site_masking",
    description="Replace every src_id (the site a row came from) by its stable mask 'site NNN' from the private site map.",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=SITE_TABLES,
    build=_sites,
    reference="GenerateExtTables, FitbitDeidSrcID",
)


def _devices(ctx: RuleContext):
    return [_through_map(ctx, "device", "device_id", "device_map", "research_device_id")]


device_ids = Rule(
    name="device_ids",
    description="Replace wearable device ids by their research device id (random UUID, stable across releases).",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=("device",),
    build=_devices,
    reference="DeidFitbitDeviceId",
)


def _samples(ctx: RuleContext):
    return [_through_map(ctx, "genomic_sample", "sample_id", "sample_map", "research_sample_id")]


sample_ids = Rule(
    name="sample_ids",
    description="Replace genomic sample ids (which may embed the raw person id, as in wgs_<person_id>) by their research sample id (random UUID, stable across releases).",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=("genomic_sample",),
    build=_samples,
    reference="(AoU: research_id-based sample names)",
)


def _responses(ctx: RuleContext):
    def m():
        return ctx.private("response_map").as_("m")

    rid = col("research_response_id", table="m")
    return [
        remap("observation", {"questionnaire_response_id": rid}, [(m(), col("questionnaire_response_id", table="t").eq(col("questionnaire_response_id", table="m")))]),
        remap(
            "survey_conduct",
            {
                "survey_conduct_id": rid.copy(),
                "survey_source_identifier": exp.Case().when(col("survey_source_identifier", table="t").is_(exp.Null()).not_(), exp.cast(rid.copy(), "VARCHAR")),
            },
            [(m(), col("survey_conduct_id", table="t").eq(col("questionnaire_response_id", table="m")))],
        ),
        remap("survey_conduct_ext", {"survey_conduct_id": rid.copy()}, [(m(), col("survey_conduct_id", table="t").eq(col("questionnaire_response_id", table="m")))]),
    ]


survey_response_ids = Rule(
    name="survey_response_ids",
    description="Replace questionnaire_response_id / survey_conduct_id / survey_source_identifier by the research response id (random, stable).",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=("observation", "survey_conduct", "survey_conduct_ext"),
    build=_responses,
    reference="QRIDtoRID",
)


def _person_ids(ctx: RuleContext):
    queries: list[Query] = []
    mapped = exp.select(col("person_id")).from_(ctx.private("person_map"))
    for name in person_tables():
        pcol = person_column(name)
        queries += remove(name, col(pcol).isin(query=mapped.copy()).not_())
        m = ctx.private("person_map").as_("m")
        queries.append(remap(name, {pcol: col("research_id", table="m")}, [(m, col(pcol, table="t").eq(col("person_id", table="m")))]))
    return queries


person_ids = Rule(
    name="person_ids",
    description="Replace person_id (every table, wearables included) by the research_id of the private person map; rows of unmapped persons are removed.",
    stage=Stage.DEID,
    tiers=BOTH,
    tables=person_tables(),
    build=_person_ids,
    reference="RtCtPIDtoRID, FitbitPIDtoRID",
)
