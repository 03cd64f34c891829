"""The tables of the results store, written once as data: every column with its type and its role.

Roles say what the disclosure pass (``protect.py``) does with a column:

- ``count``   a number of participants (or of alleles, which counts participants too): rounded by the bin rule;
- ``derived`` a percentage or frequency: recomputed from *published* counts (never from raw ones);
- ``stat``    a value statistic (mean, quantile): published only when its group has at least ``bin`` participants;
- ``key``, ``label``, ``info``: identifiers, display text and facts that are not counts of people (bin edges,
  a unit, the number of concepts in a domain).

The aggregate builders give rows by column name (``building.protect.RawTable.from_records`` lays them out in the
order given here); the store writer creates its SQLite tables from the same specs and records every column's role
in ``store_columns``, so a test can check every count column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["key", "label", "info", "count", "derived", "stat"]
SqlType = Literal["INTEGER", "REAL", "TEXT"]


@dataclass(frozen=True)
class Col:
    name: str
    type: SqlType
    role: Role


@dataclass(frozen=True)
class Derived:
    """``column`` = ``numerator`` / denominator × ``scale``, from published counts.

    The denominator is ``denominator`` in the same row when ``table`` is None; otherwise the ``denominator``
    column of the one row of ``table`` whose ``match`` columns equal this row's (``{their column: our column}``)
    and whose ``where`` columns equal the given constants.
    """

    column: str
    numerator: str
    denominator: str
    table: str | None = None
    match: dict[str, str] = field(default_factory=dict)
    where: dict[str, Any] = field(default_factory=dict)
    kind: Literal["percent", "frequency"] = "percent"


@dataclass(frozen=True)
class Rank:
    """``column`` (a sort order) ranks the rows of each ``group`` by their *published* ``count``, largest first,
    ties broken by ``tiebreak`` (names and ids, never a count). Only rows whose ``column`` the builder left None are
    ranked; a fixed order (age bands, "not reported" last) is kept. Ranking by true counts would say which of two
    equal published values is the larger."""

    column: str
    count: str
    group: tuple[str, ...]
    tiebreak: tuple[str, ...]


@dataclass(frozen=True)
class GroupGate:
    """Rows are published only when their group reaches the bin: the *raw* ``count`` of the one row of ``table``
    whose ``match`` columns equal this row's (``{their column: our column}``) must be at least the bin size.
    Rows without such a group row are not published either."""

    table: str
    match: dict[str, str]
    count: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Col, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    derived: tuple[Derived, ...] = ()
    stats_require: str | None = None  # the count column whose raw value must reach the bin for stats to show
    rank: Rank | None = None  # a sort order computed from published counts by the disclosure pass
    publish_if: GroupGate | None = None  # rows of groups smaller than the bin are not published at all

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def index(self, name: str) -> int:
        return self.names.index(name)

    def role_columns(self, role: Role) -> list[str]:
        return [c.name for c in self.columns if c.role == role]


def _c(name: str, type_: SqlType, role: Role) -> Col:
    return Col(name, type_, role)


K_INT, K_TEXT = "INTEGER", "TEXT"
PARTICIPANTS = _c("participant_count", "INTEGER", "count")

# Dimensions of the person-level strata (what the ``dimension`` key column may hold).
PERSON_DIMENSIONS = ("total", "gender", "sex_at_birth", "race", "ethnicity", "age", "state")
CONCEPT_DIMENSIONS = ("gender", "sex_at_birth", "age", "year")
SURVEY_DIMENSIONS = ("gender", "sex_at_birth", "age")
WEARABLE_DIMENSIONS = ("total", "gender", "sex_at_birth", "age")
GENOME_DIMENSIONS = ("total", "gender", "sex_at_birth", "age", "ancestry")
ANCESTRIES = ("afr", "amr", "eas", "eur", "mid", "sas", "oth")
ANCESTRY_LABELS = {
    "afr": "African", "amr": "Latino / Admixed American", "eas": "East Asian", "eur": "European",
    "mid": "Middle Eastern", "sas": "South Asian", "oth": "Other", "total": "Total",
}
MEASUREMENT_KINDS = ("physical", "lab")

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "demographics", "Participants in total and by gender, sex at birth, race, ethnicity, age group and state.",
        (_c("dimension", K_TEXT, "key"), _c("stratum", K_TEXT, "key"), _c("label", K_TEXT, "label"),
         _c("sort_order", K_INT, "info"), PARTICIPANTS, _c("percent", "REAL", "derived")),
        primary_key=("dimension", "stratum"),
        derived=(Derived("percent", "participant_count", "participant_count", "demographics", where={"dimension": "total"}),),
        rank=Rank("sort_order", "participant_count", ("dimension",), ("label", "stratum")),
    ),
    TableSpec(
        "domain_summary", "A card per domain: participants with any data in it and concepts with data.",
        (_c("domain", K_TEXT, "key"), _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"),
         _c("concepts_with_data", K_INT, "info"), PARTICIPANTS, _c("percent", "REAL", "derived")),
        primary_key=("domain",),
        derived=(Derived("percent", "participant_count", "participant_count", "demographics", where={"dimension": "total"}),),
    ),
    TableSpec(
        "concept", "Participants per concept (conditions; drugs rolled up to ingredients; procedures; labs and "
        "measurements; observations).",
        (_c("domain", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("name", K_TEXT, "label"),
         _c("vocabulary_id", K_TEXT, "label"), _c("code", K_TEXT, "label"), _c("concept_class_id", K_TEXT, "label"),
         _c("synonyms", K_TEXT, "label"), PARTICIPANTS, _c("percent", "REAL", "derived")),
        primary_key=("domain", "concept_id"),
        indexes=(("concept_id",), ("domain", "participant_count")),
        derived=(Derived("percent", "participant_count", "participant_count", "demographics", where={"dimension": "total"}),),
    ),
    TableSpec(
        "concept_stratum", "Participants with a concept by gender, sex at birth, age at first occurrence and year.",
        (_c("domain", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("dimension", K_TEXT, "key"),
         _c("stratum", K_TEXT, "key"), _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS,
         _c("percent", "REAL", "derived")),
        primary_key=("domain", "concept_id", "dimension", "stratum"),
        derived=(Derived("percent", "participant_count", "participant_count", "concept",
                         match={"domain": "domain", "concept_id": "concept_id"}),),
        rank=Rank("sort_order", "participant_count", ("domain", "concept_id", "dimension"), ("label", "stratum")),
    ),
    TableSpec(
        "concept_source", "The source codes behind a standard concept, with participants per source concept.",
        (_c("domain", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("source_concept_id", K_INT, "key"),
         _c("name", K_TEXT, "label"), _c("vocabulary_id", K_TEXT, "label"), _c("code", K_TEXT, "label"), PARTICIPANTS),
        primary_key=("domain", "concept_id", "source_concept_id"),
    ),
    TableSpec(
        "survey_module", "Survey modules and the participants who completed each.",
        (_c("module_concept_id", K_INT, "key"), _c("name", K_TEXT, "label"), _c("code", K_TEXT, "label"),
         _c("sort_order", K_INT, "info"), _c("question_count", K_INT, "info"), PARTICIPANTS,
         _c("percent", "REAL", "derived")),
        primary_key=("module_concept_id",),
        derived=(Derived("percent", "participant_count", "participant_count", "demographics", where={"dimension": "total"}),),
    ),
    TableSpec(
        "survey_question", "Survey questions and the participants who answered each.",
        (_c("module_concept_id", K_INT, "key"), _c("question_concept_id", K_INT, "key"), _c("name", K_TEXT, "label"),
         _c("code", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS),
        primary_key=("module_concept_id", "question_concept_id"),
        indexes=(("question_concept_id",),),
    ),
    TableSpec(
        "survey_answer", "The answer distribution of each survey question (a participant may give several answers).",
        (_c("module_concept_id", K_INT, "key"), _c("question_concept_id", K_INT, "key"),
         _c("answer_concept_id", K_INT, "key"), _c("name", K_TEXT, "label"), _c("code", K_TEXT, "label"),
         _c("sort_order", K_INT, "info"), PARTICIPANTS, _c("percent", "REAL", "derived")),
        primary_key=("module_concept_id", "question_concept_id", "answer_concept_id"),
        derived=(Derived("percent", "participant_count", "participant_count", "survey_question",
                         match={"module_concept_id": "module_concept_id", "question_concept_id": "question_concept_id"}),),
        rank=Rank("sort_order", "participant_count", ("module_concept_id", "question_concept_id"), ("name", "answer_concept_id")),
    ),
    TableSpec(
        "survey_answer_stratum", "Answers by gender, sex at birth and age at the survey.",
        (_c("module_concept_id", K_INT, "key"), _c("question_concept_id", K_INT, "key"),
         _c("answer_concept_id", K_INT, "key"), _c("dimension", K_TEXT, "key"), _c("stratum", K_TEXT, "key"),
         _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS),
        primary_key=("module_concept_id", "question_concept_id", "answer_concept_id", "dimension", "stratum"),
        rank=Rank("sort_order", "participant_count", ("module_concept_id", "question_concept_id", "answer_concept_id", "dimension"),
                  ("label", "stratum")),
    ),
    TableSpec(
        "measurement", "Physical measurements and labs with a numeric value, in one unit per concept "
        "(each participant's latest value).",
        (_c("kind", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("name", K_TEXT, "label"),
         _c("code", K_TEXT, "label"), _c("vocabulary_id", K_TEXT, "label"), _c("unit_concept_id", K_INT, "info"),
         _c("unit", K_TEXT, "label"), _c("bin_width", "REAL", "info"), PARTICIPANTS,
         _c("other_unit_participant_count", K_INT, "count")),
        primary_key=("kind", "concept_id"),
    ),
    TableSpec(
        "measurement_stats", "Summary statistics of each participant's latest value, overall and by sex at birth.",
        (_c("kind", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("stratum", K_TEXT, "key"),
         _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS, _c("mean", "REAL", "stat"),
         _c("sd", "REAL", "stat"), _c("p10", "REAL", "stat"), _c("p25", "REAL", "stat"), _c("median", "REAL", "stat"),
         _c("p75", "REAL", "stat"), _c("p90", "REAL", "stat")),
        primary_key=("kind", "concept_id", "stratum"),
        stats_require="participant_count",
    ),
    TableSpec(
        "measurement_histogram", "Participants per value bin, overall and by sex at birth (the first and last bins "
        "are open: they hold every value below or above); only for groups of at least the bin size.",
        (_c("kind", K_TEXT, "key"), _c("concept_id", K_INT, "key"), _c("stratum", K_TEXT, "key"),
         _c("bin", K_INT, "key"), _c("bin_low", "REAL", "info"), _c("bin_high", "REAL", "info"), PARTICIPANTS),
        primary_key=("kind", "concept_id", "stratum", "bin"),
        publish_if=GroupGate("measurement_stats", {"kind": "kind", "concept_id": "concept_id", "stratum": "stratum"},
                             "participant_count"),
    ),
    TableSpec(
        "wearable", "Participants with each kind of wearable data, in total and by gender, sex at birth and age.",
        (_c("data_type", K_TEXT, "key"), _c("dimension", K_TEXT, "key"), _c("stratum", K_TEXT, "key"),
         _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS),
        primary_key=("data_type", "dimension", "stratum"),
        rank=Rank("sort_order", "participant_count", ("data_type", "dimension"), ("label", "stratum")),
    ),
    TableSpec(
        "genome", "Participants with whole-genome and array data (Controlled Tier), in total and by genetic ancestry; "
        "by gender, sex at birth and age only those also in the Registered Tier, in its generalised categories.",
        (_c("data_type", K_TEXT, "key"), _c("dimension", K_TEXT, "key"), _c("stratum", K_TEXT, "key"),
         _c("label", K_TEXT, "label"), _c("sort_order", K_INT, "info"), PARTICIPANTS),
        primary_key=("data_type", "dimension", "stratum"),
        rank=Rank("sort_order", "participant_count", ("data_type", "dimension"), ("label", "stratum")),
    ),
    TableSpec(
        "variant", "Whole-genome variants with their totals over every participant with a genome.",
        (_c("variant_id", K_TEXT, "key"), _c("chrom", K_TEXT, "key"), _c("pos", K_INT, "key"), _c("ref", K_TEXT, "label"),
         _c("alt", K_TEXT, "label"), _c("rsid", K_TEXT, "label"), _c("gene", K_TEXT, "label"),
         _c("allele_count", K_INT, "count"), _c("allele_number", K_INT, "count"), _c("homozygote_count", K_INT, "count"),
         _c("allele_frequency", "REAL", "derived")),
        primary_key=("variant_id",),
        indexes=(("chrom", "pos"), ("rsid",), ("gene",)),
        derived=(Derived("allele_frequency", "allele_count", "allele_number", kind="frequency"),),
    ),
    TableSpec(
        "variant_ancestry", "Allele count, allele number, allele frequency and homozygote count per variant and "
        "genetic ancestry group (and in total).",
        (_c("variant_id", K_TEXT, "key"), _c("ancestry", K_TEXT, "key"), _c("label", K_TEXT, "label"),
         _c("sort_order", K_INT, "info"), _c("allele_count", K_INT, "count"), _c("allele_number", K_INT, "count"),
         _c("homozygote_count", K_INT, "count"), _c("allele_frequency", "REAL", "derived")),
        primary_key=("variant_id", "ancestry"),
        derived=(Derived("allele_frequency", "allele_count", "allele_number", kind="frequency"),),
    ),
    TableSpec(
        "search_item", "What the search box finds: concepts, survey modules and questions, physical measurements.",
        (_c("item_id", K_INT, "key"), _c("kind", K_TEXT, "key"), _c("domain", K_TEXT, "key"),
         _c("concept_id", K_INT, "key"), _c("parent_id", K_INT, "key"), _c("name", K_TEXT, "label"),
         _c("code", K_TEXT, "label"), _c("vocabulary_id", K_TEXT, "label"), _c("synonyms", K_TEXT, "label"),
         PARTICIPANTS),
        primary_key=("item_id",),
    ),
)

TABLE_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}


def spec(name: str) -> TableSpec:
    return TABLE_BY_NAME[name]
