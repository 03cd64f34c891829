"""The Dataset Builder's column catalogue: for each domain a dataset can draw, the columns it may select, each with
its data dictionary entry (what the Values box shows beside it, and ``workbench dataset columns`` prints).

Columns are named for what they hold, the same in every event domain (``standard_concept_name`` for a condition as
for a drug), so that code written against one domain's data frame reads another's. Which CDR column feeds each is
not written here but in ``cdr.facts.event_tables`` (the tables' roles) and ``datasets.query``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cdr.facts import Domain
from ..cdr.model import cdm


@dataclass(frozen=True)
class DatasetColumn:
    name: str
    type: str  # the DuckDB type of the value in the exported data
    description: str


def _c(name: str, type_: str, description: str) -> DatasetColumn:
    return DatasetColumn(name, type_, description)


_CONCEPT_ROLES = (
    ("standard", "the standard concept of the event (the one cohorts count)"),
    ("source", "the concept of the code as the site recorded it (ICD10CM, CPT4, …)"),
)


def _concept_columns(role: str, what: str) -> list[DatasetColumn]:
    return [_c(f"{role}_concept_id", "BIGINT", f"Concept id of {what}."),
            _c(f"{role}_concept_name", "VARCHAR", f"Name of {what}."),
            _c(f"{role}_concept_code", "VARCHAR", f"Code of {what} in its vocabulary."),
            _c(f"{role}_vocabulary", "VARCHAR", f"Vocabulary of {what}.")]


_EVENT_BASE = [
    _c("person_id", "BIGINT", "The participant's research id (the same in every table of this data version)."),
    _c("event_id", "BIGINT", "The row's id in its OMOP table (condition_occurrence_id, drug_exposure_id, …)."),
    *[column for role, what in _CONCEPT_ROLES for column in _concept_columns(role, what)],
    _c("source_value", "VARCHAR", "The code or text as the site recorded it."),
    _c("start_date", "DATE", "The date of the event (its start, for spans). Shifted per participant in the Registered Tier."),
    _c("start_datetime", "TIMESTAMP", "The date and time of the event, where recorded."),
    _c("age_at_event", "INTEGER", "The participant's age in whole years on the event's date."),
    _c("type_concept_name", "VARCHAR", "Where the record came from (EHR, claim, patient-reported, …)."),
    _c("visit_occurrence_id", "BIGINT", "The visit during which the event was recorded, where known."),
    _c("visit_concept_name", "VARCHAR", "The kind of that visit (inpatient, outpatient, emergency, …)."),
]
_END = [_c("end_date", "DATE", "The last date of the event's span, where recorded.")]
_VALUES = [
    _c("value_as_number", "DOUBLE", "The result as a number."),
    _c("value_as_concept_name", "VARCHAR", "The result as a concept (positive, high, …)."),
    _c("unit_concept_name", "VARCHAR", "The unit of the number (UCUM)."),
]
_SURVEY = [
    _c("person_id", "BIGINT", "The participant's research id."),
    _c("survey_datetime", "DATE", "The date the answer was given. Shifted per participant in the Registered Tier."),
    _c("survey", "VARCHAR", "The survey (module) the question belongs to, e.g. The Basics."),
    _c("question_concept_id", "BIGINT", "Concept id of the question (PPI vocabulary)."),
    _c("question", "VARCHAR", "The question's text."),
    _c("answer_concept_id", "BIGINT", "Concept id of the answer chosen, for a multiple-choice question."),
    _c("answer", "VARCHAR", "The answer: the choice's text, or the text or number entered."),
    _c("questionnaire_response_id", "BIGINT", "The completed survey the answer belongs to."),
]
_PERSON = [
    _c("person_id", "BIGINT", "The participant's research id."),
    _c("date_of_birth", "DATE", "Date of birth (the year only, as 1 January, in the Registered Tier)."),
    _c("age_at_cdr", "INTEGER", "Age in whole years at the data version's cut-off date."),
    _c("gender_concept_id", "BIGINT", "Concept id of the gender identity given in The Basics."),
    _c("gender", "VARCHAR", "The gender identity given in The Basics (generalised in the Registered Tier)."),
    _c("sex_at_birth_concept_id", "BIGINT", "Concept id of the sex assigned at birth."),
    _c("sex_at_birth", "VARCHAR", "The sex assigned at birth."),
    _c("race_concept_id", "BIGINT", "Concept id of the race given."),
    _c("race", "VARCHAR", "The race given (generalised in the Registered Tier)."),
    _c("ethnicity_concept_id", "BIGINT", "Concept id of the ethnicity given."),
    _c("ethnicity", "VARCHAR", "The ethnicity given."),
    _c("is_deceased", "BOOLEAN", "Whether a death is recorded."),
]

# Zip code socioeconomic status: a participant's answer to The Basics' zip question, cut to its three-digit area,
# joined to the area's American Community Survey measures (``zip3_ses_map``). Controlled Tier only.
_ZIP_SES = [
    _c("person_id", "BIGINT", "The participant's research id."),
    _c("observation_datetime", "TIMESTAMP", "When the participant gave the zip code (The Basics survey), the date "
                                           "at midnight where no time is recorded."),
    _c("zip3_as_string", "VARCHAR", "The three-digit zip code area of the participant's residence, as '070**' (areas "
                                    "with few participants are merged into a neighbouring area in curation)."),
    _c("fraction_assisted_income", "DOUBLE", "Fraction of the area's households receiving public assistance income "
                                             "(American Community Survey)."),
    _c("fraction_high_school_edu", "DOUBLE", "Fraction of the area's adults (25 and over) with at least a high school "
                                             "education."),
    _c("median_income", "DOUBLE", "Median household income of the area, in US dollars."),
    _c("fraction_no_health_ins", "DOUBLE", "Fraction of the area's population without health insurance."),
    _c("fraction_poverty", "DOUBLE", "Fraction of the area's population with an income below the poverty level in the "
                                     "past 12 months."),
    _c("fraction_vacant_housing", "DOUBLE", "Fraction of the area's housing units that are vacant."),
    _c("deprivation_index", "DOUBLE", "The area's community deprivation index (0 least to 1 most deprived; Brokamp et "
                                      "al.), from the six measures above."),
    _c("american_community_survey_year", "BIGINT", "The year of the American Community Survey 5-year estimates the "
                                                   "measures come from."),
]
# The map's column behind each measure column (the others are the answer's).
ZIP_SES_MEASURES: dict[str, str] = {c.name: c.name for c in _ZIP_SES[3:-1]} | {
    "american_community_survey_year": "acs_year"}

# Whole genome variants: genotype calls in long form at the dataset's chosen variants (``datasets.genotypes``),
# read from the index's genotype store. Controlled Tier only.
_WHOLE_GENOME = [
    _c("person_id", "BIGINT", "The participant's research id (participants with a whole genome only)."),
    _c("variant_id", "VARCHAR", "The variant as CHROM-POS-REF-ALT, the chromosome without 'chr' (10-114758349-C-T)."),
    _c("chrom", "VARCHAR", "The chromosome, as the genome's VCF names it (chr10)."),
    _c("pos", "BIGINT", "The variant's position on the chromosome (GRCh38, 1-based)."),
    _c("ref", "VARCHAR", "The reference allele."),
    _c("alt", "VARCHAR", "The alternate allele, the one the genotype counts."),
    _c("rsid", "VARCHAR", "The variant's dbSNP id (rs7903146), where it has one."),
    _c("gene", "VARCHAR", "The gene the variant is annotated to (HGNC symbol), where annotated."),
    _c("genotype", "TINYINT", "How many copies of the alternate allele the participant carries: 1 (heterozygous) or "
                              "2 (homozygous); empty for a missing call. A participant with a genome and no row for "
                              "a variant carries two reference alleles there."),
]

# The event domains (their rows come from ``cdr.facts.event_table_of``): base columns, then what the table adds.
EVENT_COLUMNS: dict[Domain, list[DatasetColumn]] = {
    Domain.CONDITION: _EVENT_BASE + _END,
    Domain.PROCEDURE: _EVENT_BASE + _END,
    Domain.DRUG: _EVENT_BASE + _END,
    Domain.DEVICE: _EVENT_BASE + _END,
    Domain.VISIT: _EVENT_BASE + _END,
    Domain.MEASUREMENT: _EVENT_BASE + _VALUES,
    Domain.PHYSICAL_MEASUREMENT: _EVENT_BASE + _VALUES,
    Domain.OBSERVATION: _EVENT_BASE + _VALUES,
}
# The wearable domains: one program table each, taken whole (a prepackaged set), with every column the CDR model
# gives the table.
WEARABLE_TABLES: dict[Domain, str] = {
    Domain.FITBIT_ACTIVITY: "activity_summary", Domain.FITBIT_HEART_RATE_SUMMARY: "heart_rate_summary",
    Domain.FITBIT_HEART_RATE_LEVEL: "heart_rate_intraday", Domain.FITBIT_INTRADAY_STEPS: "steps_intraday",
    Domain.FITBIT_SLEEP_DAILY_SUMMARY: "sleep_daily_summary", Domain.FITBIT_SLEEP_LEVEL: "sleep_level",
    Domain.FITBIT_DEVICE: "device",
}


def _wearable_columns(table_name: str) -> list[DatasetColumn]:
    table = cdm().table(table_name)
    day = table.event_date_column
    return [_c(c.name, c.sql_type, "The participant's research id." if c.name == "person_id" else
               f"{table.description} Column {c.name} as the program stores it"
               + (" (the day; shifted per participant in the Registered Tier)." if c.name == day else "."))
            for c in table.columns]


WEARABLE_COLUMNS: dict[Domain, list[DatasetColumn]] = {d: _wearable_columns(t) for d, t in WEARABLE_TABLES.items()}
CATALOGUE: dict[Domain, list[DatasetColumn]] = {Domain.PERSON: _PERSON, **EVENT_COLUMNS, Domain.SURVEY: _SURVEY,
                                               **WEARABLE_COLUMNS, Domain.ZIP_CODE_SOCIOECONOMIC: _ZIP_SES,
                                               Domain.WHOLE_GENOME_VARIANT: _WHOLE_GENOME}
# What "Select all" is not needed for: the columns a domain starts with when it is added.
DEFAULT_COLUMNS: dict[Domain, tuple[str, ...]] = {
    Domain.PERSON: ("person_id", "date_of_birth", "gender", "sex_at_birth", "race", "ethnicity"),
    Domain.SURVEY: ("person_id", "survey_datetime", "survey", "question", "answer"),
    **{d: ("person_id", "standard_concept_name", "standard_concept_code", "start_date") for d in EVENT_COLUMNS},
}
for _domain in (Domain.MEASUREMENT, Domain.PHYSICAL_MEASUREMENT, Domain.OBSERVATION):
    DEFAULT_COLUMNS[_domain] += ("value_as_number", "unit_concept_name")
for _domain, _columns in WEARABLE_COLUMNS.items():  # a wearable table is narrow: every column by default
    DEFAULT_COLUMNS[_domain] = tuple(c.name for c in _columns)
DEFAULT_COLUMNS[Domain.ZIP_CODE_SOCIOECONOMIC] = tuple(c.name for c in _ZIP_SES)  # narrow too: all of it
DEFAULT_COLUMNS[Domain.WHOLE_GENOME_VARIANT] = tuple(c.name for c in _WHOLE_GENOME)  # and this


def columns_of(domain: Domain) -> list[DatasetColumn]:
    """The columns a dataset may select in ``domain``; KeyError naming the domains that have a catalogue."""
    try:
        return CATALOGUE[domain]
    except KeyError:
        raise KeyError(f"{domain.value} has no dataset columns (domains with columns: "
                       f"{', '.join(d.value for d in CATALOGUE)})") from None


def column_problems(domain: Domain, names: list[str]) -> list[str]:
    """What is wrong with selecting ``names`` in ``domain`` (empty: nothing), each naming the column."""
    if domain not in CATALOGUE:
        return [f"{domain.value}: no dataset columns in this domain (one of {', '.join(d.value for d in CATALOGUE)})"]
    known = {c.name for c in CATALOGUE[domain]}
    return [f"{domain.value}[{i}]: no column {name!r} in {domain.value} (see the column catalogue)"
            for i, name in enumerate(names) if name not in known]
