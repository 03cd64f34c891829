"""Pydantic models of a Circe cohort expression, the JSON that OHDSI ATLAS exports.

Lenient where Circe is: unknown keys (ATLAS display fields such as ``CONCEPT_NAME`` or ``*_CAPTION``) are
ignored and missing booleans are false. Strict where silence would change a cohort: a known Circe construct
this executor does not implement is refused, naming its JSON path, instead of being skipped; an unknown
criteria type, an unknown operator and a ``CodesetId`` with no concept set behind it are refused the same way.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

from .. import jsonfile
from ..limits import MAX_CIRCE_BYTES, MAX_CIRCE_GROUP_DEPTH, MAX_CIRCE_JSON_DEPTH
from .errors import CirceError, Problem, json_path

NUMERIC_OPS = ("lt", "lte", "eq", "!eq", "gt", "gte", "bt", "!bt")
TEXT_OPS = ("startsWith", "contains", "endsWith", "!startsWith", "!contains", "!endsWith")
GROUP_TYPES = ("ALL", "ANY", "AT_LEAST", "AT_MOST")
LIMIT_TYPES = ("FIRST", "LAST", "ALL")
# Occurrence.CountColumn values this executor can count distinct values of.
COUNT_COLUMNS = ("DOMAIN_CONCEPT", "START_DATE", "END_DATE", "VISIT_ID")


# ---------------------------------------------------------------------------------------------- value helpers


def _none_is_false(value: Any) -> Any:
    return False if value is None else value


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _refuse_if_used(value: Any) -> None:
    if value is None or value is False or value == [] or value == {}:
        return None
    raise PydanticCustomError("unsupported", "unsupported construct: this executor does not implement it (refused, not ignored)")


def _refuse(value: Any) -> None:
    raise PydanticCustomError("unsupported", "unsupported construct: this executor does not implement this criteria type")


def _known_codeset(value: int, info: ValidationInfo) -> int:
    known = (info.context or {}).get("codeset_ids")
    if known is not None and value not in known:
        listed = ", ".join(str(i) for i in sorted(known)) or "none"
        raise PydanticCustomError(
            "codeset", "concept set {id} is not defined (ConceptSets ids: {listed})", {"id": value, "listed": listed}
        )
    return value


Flag = Annotated[bool, BeforeValidator(_none_is_false)]
Unsupported = Annotated[Any, AfterValidator(_refuse_if_used)]
UnsupportedDomain = Annotated[Any, AfterValidator(_refuse)]
CodesetRef = Annotated[int, AfterValidator(_known_codeset)]
OptionalDate = Annotated[date | None, BeforeValidator(_blank_is_none)]


class CirceModel(BaseModel):
    """PascalCase keys, unknown keys ignored (as the Java reader does)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_pascal, validate_by_name=True, validate_by_alias=True,
                              allow_inf_nan=False)


def _list(item):
    return Annotated[list[item], BeforeValidator(_none_is_empty)]


# ---------------------------------------------------------------------------------------------- value types


class _Range(CirceModel):
    """Shared by NumericRange and DateRange: a known operator, and an Extent for the two between-operators."""

    @model_validator(mode="after")
    def _operator(self):
        if self.op not in NUMERIC_OPS:
            raise PydanticCustomError(
                "operator", 'unknown operator "{op}" (expected one of {ops})', {"op": self.op, "ops": ", ".join(NUMERIC_OPS)}
            )
        if self.op in ("bt", "!bt") and self.extent is None:
            raise PydanticCustomError("extent", 'operator "{op}" needs an Extent', {"op": self.op})
        return self


class NumericRange(_Range):
    value: float
    op: str
    extent: float | None = None


class DateRange(_Range):
    value: date
    op: str
    extent: date | None = None


class TextFilter(CirceModel):
    text: str
    op: str

    @model_validator(mode="after")
    def _operator(self) -> TextFilter:
        if self.op not in TEXT_OPS:
            raise PydanticCustomError(
                "operator", 'unknown operator "{op}" (expected one of {ops})', {"op": self.op, "ops": ", ".join(TEXT_OPS)}
            )
        return self


class Concept(BaseModel):
    """An embedded concept: only CONCEPT_ID matters for execution; the display fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    concept_id: int = Field(alias="CONCEPT_ID")


class ConceptSetSelection(CirceModel):
    codeset_id: CodesetRef
    is_exclusion: Flag = False


Concepts = Annotated[list[Concept] | None, BeforeValidator(lambda v: None if v == [] else v)]


# ---------------------------------------------------------------------------------------------- concept sets


class ConceptSetItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    concept: Concept
    is_excluded: Flag = Field(False, alias="isExcluded")
    include_descendants: Flag = Field(False, alias="includeDescendants")
    include_mapped: Flag = Field(False, alias="includeMapped")


class ConceptSetExpression(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: _list(ConceptSetItem) = []


class ConceptSet(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    name: str = ""
    expression: ConceptSetExpression = ConceptSetExpression()


# ---------------------------------------------------------------------------------------------- criteria


class Criteria(CirceModel):
    """Attributes shared by every domain criterion (``Age``, ``Gender`` and the occurrence dates on all of them)."""

    domain: ClassVar[str] = ""

    codeset_id: CodesetRef | None = None
    first: Flag = False
    occurrence_start_date: DateRange | None = None
    occurrence_end_date: DateRange | None = None
    age: NumericRange | None = None
    gender: Concepts = None
    gender_cs: ConceptSetSelection | None = Field(None, alias="GenderCS")
    correlated_criteria: CriteriaGroup | None = None
    date_adjustment: DateAdjustment | None = None


class _ProviderVisit(Criteria):
    """Domains whose rows carry provider_id and visit_occurrence_id."""

    provider_specialty: Concepts = None
    provider_specialty_cs: ConceptSetSelection | None = Field(None, alias="ProviderSpecialtyCS")
    visit_type: Concepts = None  # the concept of the row's visit (visit_occurrence.visit_concept_id)
    visit_type_cs: ConceptSetSelection | None = Field(None, alias="VisitTypeCS")


class ConditionOccurrence(_ProviderVisit):
    domain: ClassVar[str] = "ConditionOccurrence"
    condition_type: Concepts = None
    condition_type_cs: ConceptSetSelection | None = Field(None, alias="ConditionTypeCS")
    condition_type_exclude: Flag = False
    condition_source_concept: CodesetRef | None = None
    condition_status: Concepts = None
    condition_status_cs: ConceptSetSelection | None = Field(None, alias="ConditionStatusCS")
    stop_reason: TextFilter | None = None


class ConditionEra(Criteria):
    domain: ClassVar[str] = "ConditionEra"
    era_start_date: DateRange | None = None
    era_end_date: DateRange | None = None
    occurrence_count: NumericRange | None = None
    era_length: NumericRange | None = None
    age_at_start: NumericRange | None = None
    age_at_end: NumericRange | None = None


class DrugExposure(_ProviderVisit):
    domain: ClassVar[str] = "DrugExposure"
    drug_type: Concepts = None
    drug_type_cs: ConceptSetSelection | None = Field(None, alias="DrugTypeCS")
    drug_type_exclude: Flag = False
    drug_source_concept: CodesetRef | None = None
    refills: NumericRange | None = None
    quantity: NumericRange | None = None
    days_supply: NumericRange | None = None
    route_concept: Concepts = None
    route_concept_cs: ConceptSetSelection | None = Field(None, alias="RouteConceptCS")
    lot_number: TextFilter | None = None
    stop_reason: TextFilter | None = None
    effective_drug_dose: Unsupported = None  # needs drug_strength arithmetic
    dose_unit: Unsupported = None
    dose_unit_cs: Unsupported = Field(None, alias="DoseUnitCS")


class DrugEra(Criteria):
    domain: ClassVar[str] = "DrugEra"
    era_start_date: DateRange | None = None
    era_end_date: DateRange | None = None
    occurrence_count: NumericRange | None = None
    gap_days: NumericRange | None = None
    era_length: NumericRange | None = None
    age_at_start: NumericRange | None = None
    age_at_end: NumericRange | None = None


class Measurement(_ProviderVisit):
    domain: ClassVar[str] = "Measurement"
    measurement_type: Concepts = None
    measurement_type_cs: ConceptSetSelection | None = Field(None, alias="MeasurementTypeCS")
    measurement_type_exclude: Flag = False
    measurement_source_concept: CodesetRef | None = None
    operator: Concepts = None
    operator_cs: ConceptSetSelection | None = Field(None, alias="OperatorCS")
    value_as_number: NumericRange | None = None
    value_as_concept: Concepts = None
    value_as_concept_cs: ConceptSetSelection | None = Field(None, alias="ValueAsConceptCS")
    unit: Concepts = None
    unit_cs: ConceptSetSelection | None = Field(None, alias="UnitCS")
    range_low: NumericRange | None = None
    range_high: NumericRange | None = None
    range_low_ratio: NumericRange | None = None
    range_high_ratio: NumericRange | None = None
    abnormal: Flag = False


class Observation(_ProviderVisit):
    domain: ClassVar[str] = "Observation"
    observation_type: Concepts = None
    observation_type_cs: ConceptSetSelection | None = Field(None, alias="ObservationTypeCS")
    observation_type_exclude: Flag = False
    observation_source_concept: CodesetRef | None = None
    value_as_number: NumericRange | None = None
    value_as_string: TextFilter | None = None
    value_as_concept: Concepts = None
    value_as_concept_cs: ConceptSetSelection | None = Field(None, alias="ValueAsConceptCS")
    qualifier: Concepts = None
    qualifier_cs: ConceptSetSelection | None = Field(None, alias="QualifierCS")
    unit: Concepts = None
    unit_cs: ConceptSetSelection | None = Field(None, alias="UnitCS")


class ProcedureOccurrence(_ProviderVisit):
    domain: ClassVar[str] = "ProcedureOccurrence"
    procedure_type: Concepts = None
    procedure_type_cs: ConceptSetSelection | None = Field(None, alias="ProcedureTypeCS")
    procedure_type_exclude: Flag = False
    procedure_source_concept: CodesetRef | None = None
    modifier: Concepts = None
    modifier_cs: ConceptSetSelection | None = Field(None, alias="ModifierCS")
    quantity: NumericRange | None = None


class DeviceExposure(_ProviderVisit):
    domain: ClassVar[str] = "DeviceExposure"
    device_type: Concepts = None
    device_type_cs: ConceptSetSelection | None = Field(None, alias="DeviceTypeCS")
    device_type_exclude: Flag = False
    device_source_concept: CodesetRef | None = None
    unique_device_id: TextFilter | None = None
    quantity: NumericRange | None = None


class VisitOccurrence(Criteria):
    domain: ClassVar[str] = "VisitOccurrence"
    visit_type: Concepts = None  # visit_type_concept_id here (the visit's own type)
    visit_type_cs: ConceptSetSelection | None = Field(None, alias="VisitTypeCS")
    visit_type_exclude: Flag = False
    visit_source_concept: CodesetRef | None = None
    visit_length: NumericRange | None = None
    provider_specialty: Concepts = None
    provider_specialty_cs: ConceptSetSelection | None = Field(None, alias="ProviderSpecialtyCS")
    place_of_service: Concepts = None
    place_of_service_cs: ConceptSetSelection | None = Field(None, alias="PlaceOfServiceCS")
    place_of_service_location: Unsupported = None  # needs location regions


class Death(Criteria):
    domain: ClassVar[str] = "Death"
    death_type: Concepts = None
    death_type_cs: ConceptSetSelection | None = Field(None, alias="DeathTypeCS")
    death_type_exclude: Flag = False
    death_source_concept: CodesetRef | None = None


class Period(CirceModel):
    """circe-be's ``Period``: an ObservationPeriod's ``UserDefinedPeriod``."""

    start_date: OptionalDate = None
    end_date: OptionalDate = None


class ObservationPeriod(Criteria):
    domain: ClassVar[str] = "ObservationPeriod"
    codeset_id: Unsupported = None  # an observation period has no concept to match
    period_start_date: DateRange | None = None
    period_end_date: DateRange | None = None
    period_type: Concepts = None
    period_type_cs: ConceptSetSelection | None = Field(None, alias="PeriodTypeCS")
    period_length: NumericRange | None = None
    age_at_start: NumericRange | None = None
    age_at_end: NumericRange | None = None
    user_defined_period: Period | None = None  # each given date replaces the period's, kept only if inside it


DOMAINS: dict[str, type[Criteria]] = {
    cls.domain: cls
    for cls in (
        ConditionOccurrence, ConditionEra, DrugExposure, DrugEra, Measurement, Observation, ProcedureOccurrence,
        DeviceExposure, VisitOccurrence, Death, ObservationPeriod,
    )
}
UNSUPPORTED_DOMAINS = ("DoseEra", "Specimen", "VisitDetail", "PayerPlanPeriod", "LocationRegion")


class CriteriaWrapper(CirceModel):
    """``{"DrugEra": {...}}``: one key naming the domain."""

    condition_occurrence: ConditionOccurrence | None = None
    condition_era: ConditionEra | None = None
    drug_exposure: DrugExposure | None = None
    drug_era: DrugEra | None = None
    measurement: Measurement | None = None
    observation: Observation | None = None
    procedure_occurrence: ProcedureOccurrence | None = None
    device_exposure: DeviceExposure | None = None
    visit_occurrence: VisitOccurrence | None = None
    death: Death | None = None
    observation_period: ObservationPeriod | None = None
    dose_era: UnsupportedDomain = None
    specimen: UnsupportedDomain = None
    visit_detail: UnsupportedDomain = None
    payer_plan_period: UnsupportedDomain = None
    location_region: UnsupportedDomain = None

    @model_validator(mode="before")
    @classmethod
    def _one_domain(cls, data: Any) -> Any:
        expected = ", ".join(DOMAINS)
        if not isinstance(data, dict):
            raise PydanticCustomError("criteria", 'expected an object with one key naming the domain, e.g. {{"DrugEra": {{…}}}}')
        if len(data) != 1:
            raise PydanticCustomError(
                "criteria", "expected exactly one domain key, found {n}: {keys}", {"n": len(data), "keys": ", ".join(data) or "none"}
            )
        (key,) = data
        if key not in DOMAINS and key not in UNSUPPORTED_DOMAINS:
            raise PydanticCustomError("criteria", 'unknown criteria type "{key}" (expected one of {expected})', {"key": key, "expected": expected})
        if key in DOMAINS and data[key] is None:
            raise PydanticCustomError("criteria", '"{key}" is null; an empty criterion is written {{}}', {"key": key})
        return data

    @property
    def criteria(self) -> Criteria:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Criteria):
                return value
        raise AssertionError("validated wrapper without a criterion")


# ---------------------------------------------------------------------------------------------- groups


class DateAdjustment(CirceModel):
    start_with: str = "START_DATE"
    start_offset: int = 0
    end_with: str = "END_DATE"
    end_offset: int = 0

    @field_validator("start_with", "end_with")
    @classmethod
    def _field(cls, value: str) -> str:
        if value not in ("START_DATE", "END_DATE"):
            raise PydanticCustomError("date_field", 'expected "START_DATE" or "END_DATE", got "{v}"', {"v": value})
        return value


class Endpoint(CirceModel):
    days: int | None = None
    coeff: int

    @field_validator("coeff")
    @classmethod
    def _coeff(cls, value: int) -> int:
        if value not in (-1, 1):
            raise PydanticCustomError("coeff", "Coeff must be -1 (before) or 1 (after), got {v}", {"v": value})
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise PydanticCustomError("days", "Days must not be negative (use Coeff for the direction), got {v}", {"v": value})
        return value


class Window(CirceModel):
    start: Endpoint = Endpoint(days=None, coeff=-1)
    end: Endpoint = Endpoint(days=None, coeff=1)
    use_index_end: bool | None = None
    use_event_end: bool | None = None


class Occurrence(CirceModel):
    type: int
    count: int
    is_distinct: Flag = False
    count_column: str | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: int) -> int:
        if value not in (0, 1, 2):
            raise PydanticCustomError("occurrence", "Type must be 0 (exactly), 1 (at most) or 2 (at least), got {v}", {"v": value})
        return value

    @field_validator("count")
    @classmethod
    def _count(cls, value: int) -> int:
        if value < 0:
            raise PydanticCustomError("occurrence", "Count must not be negative, got {v}", {"v": value})
        return value

    @field_validator("count_column")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        if value is not None and value not in COUNT_COLUMNS:
            raise PydanticCustomError(
                "unsupported", 'unsupported construct: CountColumn "{v}" (supported: {ok})', {"v": value, "ok": ", ".join(COUNT_COLUMNS)}
            )
        return value


AT_LEAST_ONE = Occurrence(type=2, count=1)


class CorelatedCriteria(CirceModel):
    """One windowed criterion of a group (the Java class name has one "r")."""

    criteria: CriteriaWrapper
    start_window: Window = Window()
    end_window: Window | None = None
    restrict_visit: Flag = False
    ignore_observation_period: Flag = False
    occurrence: Occurrence = AT_LEAST_ONE


class DemographicCriteria(CirceModel):
    age: NumericRange | None = None
    gender: Concepts = None
    gender_cs: ConceptSetSelection | None = Field(None, alias="GenderCS")
    race: Concepts = None
    race_cs: ConceptSetSelection | None = Field(None, alias="RaceCS")
    ethnicity: Concepts = None
    ethnicity_cs: ConceptSetSelection | None = Field(None, alias="EthnicityCS")
    occurrence_start_date: DateRange | None = None
    occurrence_end_date: DateRange | None = None


class CriteriaGroup(CirceModel):
    type: str = "ALL"
    count: int | None = None
    criteria_list: _list(CorelatedCriteria) = []
    demographic_criteria_list: _list(DemographicCriteria) = []
    groups: _list(CriteriaGroup) = []

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.upper() not in GROUP_TYPES:
            raise PydanticCustomError(
                "group", 'unknown group type "{v}" (expected one of {ok})', {"v": value, "ok": ", ".join(GROUP_TYPES)}
            )
        return value.upper()

    @model_validator(mode="after")
    def _count(self) -> CriteriaGroup:
        if self.type in ("AT_LEAST", "AT_MOST") and (self.count is None or self.count < 0):
            raise PydanticCustomError("group", "group type {t} needs a Count of 0 or more", {"t": self.type})
        return self

    @property
    def members(self) -> int:
        return len(self.criteria_list) + len(self.demographic_criteria_list) + len(self.groups)


# ---------------------------------------------------------------------------------------------- the expression


class ObservationWindow(CirceModel):
    prior_days: int = 0
    post_days: int = 0


class Limit(CirceModel):
    type: str = "First"

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.upper() not in LIMIT_TYPES:
            raise PydanticCustomError("limit", 'unknown limit type "{v}" (expected First, Last or All)', {"v": value})
        return value.upper()


class PrimaryCriteria(CirceModel):
    criteria_list: Annotated[list[CriteriaWrapper], Field(min_length=1)]
    observation_window: ObservationWindow = ObservationWindow()
    primary_criteria_limit: Limit = Limit()


class InclusionRule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = ""
    description: str | None = None
    expression: CriteriaGroup = CriteriaGroup()


class DateOffset(CirceModel):
    date_field: str
    offset: int = 0

    @field_validator("date_field")
    @classmethod
    def _field(cls, value: str) -> str:
        if value not in ("StartDate", "EndDate"):
            raise PydanticCustomError("date_field", 'DateField must be "StartDate" or "EndDate", got "{v}"', {"v": value})
        return value


class CustomEra(CirceModel):
    drug_codeset_id: CodesetRef
    gap_days: int = 0
    offset: int = 0
    days_supply_override: int | None = None


class EndStrategy(CirceModel):
    date_offset: DateOffset | None = None
    custom_era: CustomEra | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_strategy(cls, data: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in ("DateOffset", "CustomEra"):
            keys = ", ".join(data) if isinstance(data, dict) else type(data).__name__
            raise PydanticCustomError(
                "end_strategy", 'expected one key, "DateOffset" or "CustomEra", found: {keys}', {"keys": keys or "none"}
            )
        return data


class CollapseSettings(CirceModel):
    collapse_type: str = "ERA"
    era_pad: int = 0

    @field_validator("collapse_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.upper() != "ERA":
            raise PydanticCustomError("unsupported", 'unsupported construct: CollapseType "{v}" (only ERA)', {"v": value})
        return "ERA"

    @field_validator("era_pad")
    @classmethod
    def _pad(cls, value: int) -> int:
        if value < 0:
            raise PydanticCustomError("era_pad", "EraPad must not be negative, got {v}", {"v": value})
        return value


class CensorWindow(CirceModel):
    start_date: OptionalDate = None
    end_date: OptionalDate = None


class CirceExpression(CirceModel):
    concept_sets: _list(ConceptSet) = []
    primary_criteria: PrimaryCriteria
    additional_criteria: CriteriaGroup | None = None
    qualified_limit: Limit = Limit()
    expression_limit: Limit = Limit()
    inclusion_rules: _list(InclusionRule) = []
    end_strategy: EndStrategy | None = None
    censoring_criteria: _list(CriteriaWrapper) = []
    collapse_settings: CollapseSettings = CollapseSettings()
    censor_window: CensorWindow | None = None
    title: str | None = None
    cdm_version_range: str | None = Field(None, alias="cdmVersionRange")

    @field_validator("concept_sets")
    @classmethod
    def _unique_ids(cls, sets: list[ConceptSet]) -> list[ConceptSet]:
        seen: set[int] = set()
        for concept_set in sets:
            if concept_set.id in seen:
                raise PydanticCustomError("codeset", "concept set id {id} is defined twice", {"id": concept_set.id})
            seen.add(concept_set.id)
        return sets


for _model in list(DOMAINS.values()) + [Criteria, _ProviderVisit, CriteriaWrapper, CorelatedCriteria, CriteriaGroup]:
    _model.model_rebuild()


def _codeset_ids(data: dict) -> set[int]:
    ids = set()
    for item in data.get("ConceptSets") or []:
        if isinstance(item, dict) and isinstance(item.get("id"), int) and not isinstance(item.get("id"), bool):
            ids.add(item["id"])
    return ids


def _message(error: dict) -> str:
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"]


# Keys whose value is a criteria group, or (GROUP_LISTS) a list of them, in both spellings the models accept; an
# inclusion rule's "expression" is one too.
_GROUP_KEYS = {"AdditionalCriteria", "additional_criteria", "CorrelatedCriteria", "correlated_criteria"}
_GROUP_LISTS = {"Groups", "groups"}
_RULE_LISTS = {"InclusionRules", "inclusion_rules"}


def group_depth_problems(data: Any) -> list[Problem]:
    """Criteria groups nested more than MAX_CIRCE_GROUP_DEPTH deep, named by JSON path.

    Found on the decoded JSON before validation, with an explicit stack (no recursion), so that neither the
    validation nor the execution of a deeply nested expression starts."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, (), 0)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, list):
            stack.extend((child, parts + (i,), depth) for i, child in enumerate(value))
        elif isinstance(value, dict):
            for key, child in value.items():
                if key in _GROUP_LISTS and isinstance(child, list):
                    children, is_group = [(c, parts + (key, i)) for i, c in enumerate(child)], True
                else:
                    in_rule = key == "expression" and len(parts) == 2 and parts[0] in _RULE_LISTS
                    children, is_group = [(child, parts + (key,))], key in _GROUP_KEYS or in_rule
                for grandchild, where in children:
                    if depth + is_group > MAX_CIRCE_GROUP_DEPTH:
                        problems.append(Problem(json_path(where), f"criteria groups nested more than {MAX_CIRCE_GROUP_DEPTH} deep "
                                                                  "(limit MAX_CIRCE_GROUP_DEPTH)"))
                        break
                    stack.append((grandchild, where, depth + is_group))
    return sorted(problems, key=lambda p: p.path)


def parse_expression(data: Any) -> CirceExpression:
    """Validate a decoded Circe JSON document; every problem found is reported with its JSON path."""
    if isinstance(data, CirceExpression):
        return data
    if not isinstance(data, dict):
        raise CirceError([Problem("(root)", f"a Circe cohort expression is a JSON object, not {type(data).__name__}")])
    too_deep = group_depth_problems(data)
    if too_deep:
        raise CirceError(too_deep)
    try:
        return CirceExpression.model_validate(data, context={"codeset_ids": _codeset_ids(data)})
    except ValidationError as err:
        problems = [Problem(json_path(e["loc"]) or "(root)", _message(e)) for e in err.errors(include_url=False)]
        raise CirceError(problems) from None


def _json_problem(path: Path, problem: jsonfile.JsonProblem) -> Problem:
    if problem.path is not None:
        return Problem(problem.path, problem.message)
    where = f"{path}:{problem.line}:{problem.column}"
    if problem.kind == "syntax":
        return Problem(where, f"malformed JSON: {problem.message}")
    if problem.offset is not None:
        return Problem(where, f"{problem.message} at byte offset {problem.offset}")
    return Problem(where, problem.message)


def load_definition(path: Path) -> CirceExpression:
    """Read and validate a Circe JSON file strictly (see ``cohorts.jsonfile``): unreadable JSON is reported with
    file, line and column; repeated keys, NaN or infinite numbers and nesting or size past the limits of
    ``cohorts.limits`` with their JSON path. OSError (a missing file) is left to the caller."""
    try:
        data = jsonfile.read(Path(path), max_bytes=MAX_CIRCE_BYTES, max_depth=MAX_CIRCE_JSON_DEPTH,
                             limit_names=("MAX_CIRCE_BYTES", "MAX_CIRCE_JSON_DEPTH"))
    except jsonfile.JsonInputError as err:
        raise CirceError([_json_problem(Path(path), p) for p in err.problems]) from None
    return parse_expression(data)
