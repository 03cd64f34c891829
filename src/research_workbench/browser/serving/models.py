"""Response models of the Data Browser's JSON API (they make up its OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ...hub.directory import DirectoryEntry

Count = int


class StoreInfo(BaseModel):
    release: str
    bin_size: int = Field(description="Counts are rounded up to a multiple of this; 1 to bin_size is shown as ≤ bin_size")
    built_at: str
    cutoff_date: str
    source_manifest_sha256: str
    counts_note: str


class Stratum(BaseModel):
    stratum: str = Field(description="Concept id, age group, year or ancestry code")
    label: str
    participant_count: Count
    percent: float | None = None


class DomainCard(BaseModel):
    domain: str
    label: str
    participant_count: Count
    percent: float | None
    concepts_with_data: int = Field(description="Concepts (or modules, data types) with at least one participant")
    url: str


class Summary(BaseModel):
    info: StoreInfo
    participant_count: Count
    domains: list[DomainCard]


class Demographics(BaseModel):
    info: StoreInfo
    participant_count: Count
    dimensions: dict[str, list[Stratum]]


class SearchResult(BaseModel):
    kind: Literal["concept", "survey_module", "survey_question", "physical_measurement"]
    domain: str
    concept_id: int
    parent_id: int | None
    name: str
    code: str
    vocabulary_id: str
    participant_count: Count
    url: str


class SearchResponse(BaseModel):
    query: str
    domain: str | None
    results: list[SearchResult]


class ConceptSummary(BaseModel):
    domain: str
    concept_id: int
    name: str
    vocabulary_id: str
    code: str
    participant_count: Count
    percent: float | None
    url: str


class ConceptList(BaseModel):
    domain: str
    label: str
    participant_count: Count
    total_concepts: int
    offset: int
    limit: int
    concepts: list[ConceptSummary]


class SourceConcept(BaseModel):
    source_concept_id: int
    name: str
    vocabulary_id: str
    code: str
    participant_count: Count


class ConceptDetail(BaseModel):
    domain: str
    concept_id: int
    name: str
    vocabulary_id: str
    code: str
    concept_class_id: str
    synonyms: list[str]
    participant_count: Count
    percent: float | None
    strata: dict[str, list[Stratum]] = Field(description="gender, sex_at_birth, age (at first occurrence), year")
    sources: list[SourceConcept]
    other_domains: list[str]
    measurement_url: str | None = None


class SurveyModule(BaseModel):
    module_concept_id: int
    name: str
    code: str
    question_count: int
    participant_count: Count
    percent: float | None
    url: str


class SurveyAnswer(BaseModel):
    answer_concept_id: int
    name: str
    code: str
    participant_count: Count
    percent: float | None
    strata: dict[str, list[Stratum]] | None = None


class SurveyQuestion(BaseModel):
    question_concept_id: int
    name: str
    code: str
    participant_count: Count
    answers: list[SurveyAnswer]
    url: str


class SurveyModuleDetail(BaseModel):
    module: SurveyModule
    questions: list[SurveyQuestion]


class SurveyQuestionDetail(BaseModel):
    module: SurveyModule
    question: SurveyQuestion
    dimensions: list[str]


class MeasurementSummary(BaseModel):
    kind: Literal["physical", "lab"]
    concept_id: int
    name: str
    code: str
    vocabulary_id: str
    unit: str
    participant_count: Count
    other_unit_participant_count: Count
    url: str


class MeasurementStats(BaseModel):
    stratum: str
    label: str
    participant_count: Count
    mean: float | None
    sd: float | None
    p10: float | None
    p25: float | None
    median: float | None
    p75: float | None
    p90: float | None


class HistogramBin(BaseModel):
    bin: int
    low: float
    high: float
    open_low: bool
    open_high: bool
    participant_count: Count


class MeasurementDetail(BaseModel):
    measurement: MeasurementSummary
    bin_width: float
    stats: list[MeasurementStats]
    histograms: dict[str, list[HistogramBin]]
    note: str


class DataTypeStrata(BaseModel):
    data_type: str
    label: str
    participant_count: Count
    strata: dict[str, list[Stratum]]


class Wearables(BaseModel):
    participant_count: Count
    data_types: list[DataTypeStrata]


class Genomes(BaseModel):
    participant_count: Count
    data_types: list[DataTypeStrata]
    variant_count: int


class AncestryRow(BaseModel):
    ancestry: str
    label: str
    allele_count: Count
    allele_number: Count
    allele_frequency: float | None
    homozygote_count: Count


class Variant(BaseModel):
    variant_id: str
    chrom: str
    pos: int
    ref: str
    alt: str
    rsid: str
    gene: str
    allele_count: Count
    allele_number: Count
    allele_frequency: float | None
    homozygote_count: Count
    url: str
    ancestries: list[AncestryRow] | None = None


class VariantSearch(BaseModel):
    query: str
    query_type: Literal["rsid", "gene", "region", "variant"]
    page: int
    page_size: int
    total_results: int
    variants: list[Variant]


class ResearchProjects(BaseModel):
    """The Research Projects Directory, read from the Research Hub when asked (not from the results store)."""

    available: bool = Field(description="Whether this Data Browser reads the Research Hub's directory. False: it is "
                                        "served without one, the list is empty, and the directory is on the Research "
                                        "Hub of the Researcher Workbench")
    count: int = Field(description="Projects that match the query (all projects without one)")
    projects: list[DirectoryEntry] = Field(description="Active workspaces, the most recently changed first; locked "
                                                       "and deleted workspaces are not listed")
