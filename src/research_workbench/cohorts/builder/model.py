"""Cohort definitions: typed, validated objects whose errors name the JSON path and the rule broken.

The shape is the All of Us Researcher Workbench ``CohortDefinition`` (includes and excludes of search groups;
groups AND together, items inside a group OR; parameters inside an item OR), with two of its flaws avoided:
a definition with only ``excludes`` is an error (not silently treated as includes), and data filters come from a
whitelist (their names never reach SQL). Genome items (whole genome, arrays) are a has-data flag, or variant criteria:
parameters of type VARIANT whose ``variant`` is the shared ``index.variant_query.VariantSelection`` and a zygosity.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...cdr.facts import DIASTOLIC, EVENT_DOMAINS, SYSTOLIC, Domain
from ...cdr.problems import ProblemsError
from ...index.variant_query import VariantSelection
from .. import jsonfile
from ..limits import MAX_DEFINITION_BYTES, MAX_ITEMS, MAX_JSON_DEPTH, MAX_SEARCH_PARAMETERS, MAX_TEMPORAL_GROUPS


class DefinitionError(ProblemsError):
    """A definition that breaks a rule; each problem is 'json.path: rule broken'."""

    heading = "invalid input"
    outcome = "nothing was run."
    problems: list[str]


class Operator(str, Enum):
    EQUAL = "EQUAL"
    NOT_EQUAL = "NOT_EQUAL"
    LESS_THAN = "LESS_THAN"
    GREATER_THAN = "GREATER_THAN"
    LESS_THAN_OR_EQUAL_TO = "LESS_THAN_OR_EQUAL_TO"
    GREATER_THAN_OR_EQUAL_TO = "GREATER_THAN_OR_EQUAL_TO"
    IN = "IN"
    BETWEEN = "BETWEEN"


class AttrName(str, Enum):
    ANY = "ANY"
    NUM = "NUM"
    CAT = "CAT"
    AGE = "AGE"
    AGE_AT_CONSENT = "AGE_AT_CONSENT"
    AGE_AT_CDR = "AGE_AT_CDR"


class ModifierType(str, Enum):
    AGE_AT_EVENT = "AGE_AT_EVENT"
    EVENT_DATE = "EVENT_DATE"
    ENCOUNTERS = "ENCOUNTERS"
    NUM_OF_OCCURRENCES = "NUM_OF_OCCURRENCES"


class TemporalMention(str, Enum):
    ANY_MENTION = "ANY_MENTION"
    FIRST_MENTION = "FIRST_MENTION"
    LAST_MENTION = "LAST_MENTION"


class TemporalTime(str, Enum):
    DURING_SAME_ENCOUNTER_AS = "DURING_SAME_ENCOUNTER_AS"
    X_DAYS_BEFORE = "X_DAYS_BEFORE"
    X_DAYS_AFTER = "X_DAYS_AFTER"
    WITHIN_X_DAYS_OF = "WITHIN_X_DAYS_OF"


class DataFilter(str, Enum):
    """The whitelist of data filters: each is one flag of the person table."""

    HAS_EHR_DATA = "has_ehr_data"
    HAS_PHYSICAL_MEASUREMENT_DATA = "has_physical_measurement_data"


PERSON_TYPES = {"AGE", "GENDER", "SEX", "RACE", "ETHNICITY", "DECEASED"}
# Items whose parameters may be variant criteria (type VARIANT): the genome kinds. Without one, such an item is a
# has-data flag of the person table.
GENOME_DOMAINS = (Domain.WHOLE_GENOME_VARIANT, Domain.ARRAY_DATA)
VARIANT_TYPE = "VARIANT"
# The attributes of a PERSON AGE parameter (exactly one per parameter).
AGE_ATTRIBUTES = (AttrName.AGE, AttrName.AGE_AT_CONSENT, AttrName.AGE_AT_CDR)


def _operand_rule(operator: Operator | None, operands: list[str], kind: str, where: str) -> list[str]:
    """Problems with an operator's operands: BETWEEN needs 2, IN at least 1, the rest exactly 1, all of ``kind``."""
    problems = []
    if operator is None:
        return [f"{where}: an operator is required"]
    if operator is Operator.BETWEEN and len(operands) != 2:
        problems.append(f"{where}: BETWEEN needs 2 operands")
    elif operator is Operator.IN and not operands:
        problems.append(f"{where}: IN needs at least 1 operand")
    elif operator not in (Operator.BETWEEN, Operator.IN) and len(operands) != 1:
        problems.append(f"{where}: {operator.value} needs 1 operand")
    for i, operand in enumerate(operands):
        try:
            if kind == "date":
                dt.date.fromisoformat(operand)
            elif kind == "integer":
                int(operand)
            elif not math.isfinite(float(operand)):
                problems.append(f"{where}.operands[{i}]: {operand!r} is not a finite number (NaN and infinities are refused)")
        except (TypeError, ValueError):
            problems.append(f"{where}.operands[{i}]: {operand!r} is not {'a date (YYYY-MM-DD)' if kind == 'date' else 'an ' + kind if kind == 'integer' else 'a number'}")
    if operator is Operator.BETWEEN and len(operands) == 2 and not problems:
        low, high = (dt.date.fromisoformat(o) if kind == "date" else float(o) for o in operands)
        if low > high:
            problems.append(f"{where}: BETWEEN operands must be in order (low, high)")
    return problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False, populate_by_name=True)


class Attribute(_Model):
    name: AttrName
    operator: Operator | None = None
    operands: list[str] = Field(default_factory=list)
    conceptId: int | None = Field(None, description="Blood pressure: which reading (systolic or diastolic) the operands test")

    def problems(self, where: str) -> list[str]:
        if self.name is AttrName.ANY:
            return [] if not self.operands else [f"{where}: ANY takes no operands"]
        if self.name is AttrName.CAT:
            if self.operator is not Operator.IN:
                return [f"{where}: CAT needs operator IN"]
            return _operand_rule(self.operator, self.operands, "integer", where)
        kind = "integer" if self.name in AGE_ATTRIBUTES else "number"
        if self.operator is Operator.IN:
            return [f"{where}: {self.name.value} does not take IN"]
        return _operand_rule(self.operator, self.operands, kind, where)


class Modifier(_Model):
    name: ModifierType
    operator: Operator
    operands: list[str] = Field(default_factory=list)

    def problems(self, where: str) -> list[str]:
        if self.name is ModifierType.ENCOUNTERS:
            if self.operator is not Operator.IN:
                return [f"{where}: ENCOUNTERS needs operator IN (visit concept ids)"]
            return _operand_rule(self.operator, self.operands, "integer", where)
        if self.operator is Operator.IN:
            return [f"{where}: {self.name.value} does not take IN"]
        kind = {"EVENT_DATE": "date", "NUM_OF_OCCURRENCES": "integer", "AGE_AT_EVENT": "integer"}[self.name.value]
        return _operand_rule(self.operator, self.operands, kind, where)


def _element(field: str) -> AfterValidator:
    """One element of a ``VariantSelection`` list checked by that model's own rule, so a bad one is reported at its
    index (``variant.regions[1]``) and the rules stay stated once, in ``index.variant_query``."""

    def check(value: str) -> str:
        try:
            return getattr(VariantSelection(**{field: [value]}), field)[0]
        except ValidationError as err:
            raise ValueError(str(err.errors()[0].get("msg", "")).removeprefix("Value error, ")) from None

    return AfterValidator(check)


class VariantCriterion(VariantSelection):
    """Participants carrying any variant of a selection (the shared ``VariantSelection``: rsIDs, genes, regions and
    variant ids, a union, within an allele-frequency range over every sample of the tier) with ``zygosity``."""

    rsids: list[Annotated[str, _element("rsids")]] = Field(default_factory=list, description="dbSNP ids, e.g. rs7903146")
    genes: list[Annotated[str, _element("genes")]] = Field(default_factory=list, description="HGNC symbols, e.g. TCF7L2")
    regions: list[Annotated[str, _element("regions")]] = Field(
        default_factory=list, description="chr10:114000000-115000000 (1-based, inclusive) or a whole chromosome (chr10)")
    variant_ids: list[Annotated[str, _element("variant_ids")]] = Field(
        default_factory=list, description="CHROM-POS-REF-ALT, e.g. 10-114758349-C-T")
    zygosity: Literal["any", "heterozygous", "homozygous"] = Field(
        "any", description="heterozygous: one ALT allele; homozygous: two; any: either")

    def selection(self) -> VariantSelection:
        """The variants it means, as the shared model (without the zygosity)."""
        return VariantSelection(**self.model_dump(exclude={"zygosity"}))


class SearchParameter(_Model):
    parameterId: str
    name: str = ""
    domain: Domain
    type: str = Field(description="Criteria type: SNOMED, ICD10CM, RXNORM, LOINC, PPI, AGE, GENDER, …")
    subtype: str | None = None
    group: bool = Field(False, description="Include every descendant of the concept")
    ancestorData: bool = Field(False, description="Drugs: expand through ingredient ancestry (always done for DRUG)")
    standard: bool = Field(True, description="Match the standard (true) or the source (false) concept of events")
    conceptId: int | None = None
    attributes: list[Attribute] = Field(default_factory=list)
    variant: VariantCriterion | None = Field(None, description="A variant criterion (type VARIANT, WHOLE_GENOME_VARIANT "
                                                                "and ARRAY_DATA items only)")


class SearchGroupItem(_Model):
    id: str
    name: str | None = None
    type: Domain
    temporalGroup: int | None = None
    suppressed: bool = Field(False, description="Kept in the definition but left out of the count (the page's 'suppress')")
    searchParameters: list[SearchParameter] = Field(min_length=1)
    modifiers: list[Modifier] = Field(default_factory=list)


class SearchGroup(_Model):
    id: str
    name: str | None = None
    temporal: bool = False
    mention: TemporalMention | None = None
    time: TemporalTime | None = None
    timeValue: int | None = Field(None, ge=0)
    suppressed: bool = Field(False, description="Kept in the definition but left out of the count (the page's 'suppress')")
    items: list[SearchGroupItem] = Field(min_length=1)


class CohortDefinition(_Model):
    includes: list[SearchGroup] = Field(default_factory=list)
    excludes: list[SearchGroup] = Field(default_factory=list)
    dataFilters: list[DataFilter] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _limits(cls, data: Any) -> Any:
        problems = limit_problems(data)
        if problems:
            raise ValueError(_PROBLEMS_MARK + json.dumps(problems))
        return data

    @model_validator(mode="after")
    def _rules(self) -> CohortDefinition:
        problems = rule_problems(self)
        if problems:
            raise ValueError(_PROBLEMS_MARK + json.dumps(problems))
        return self


_PROBLEMS_MARK = "definition rules broken: "


def limit_problems(data: Any) -> list[str]:
    """The size limits of ``cohorts.limits`` a raw (decoded, not yet validated) definition crosses, each named at
    the JSON path where it is crossed. Checked before anything else is validated, so the work stays bounded."""
    if not isinstance(data, dict):
        return []
    items = parameters = 0
    problems: list[str] = []
    for side in ("includes", "excludes"):
        groups = data.get(side)
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            group_items = group.get("items") if isinstance(group, dict) else None
            for i, item in enumerate(group_items if isinstance(group_items, list) else []):
                items += 1
                where = f"{side}[{g}].items[{i}]"
                if items == MAX_ITEMS + 1:
                    problems.append(f"{where}: more than {MAX_ITEMS:,} items in a definition (limit MAX_ITEMS)")
                params = item.get("searchParameters") if isinstance(item, dict) else None
                for p in range(len(params) if isinstance(params, list) else 0):
                    parameters += 1
                    if parameters == MAX_SEARCH_PARAMETERS + 1:
                        problems.append(f"{where}.searchParameters[{p}]: more than {MAX_SEARCH_PARAMETERS:,} search parameters in a "
                                        "definition (limit MAX_SEARCH_PARAMETERS)")
    return problems


def rule_problems(definition: CohortDefinition) -> list[str]:
    """Every rule the definition breaks, each with its JSON path."""
    problems: list[str] = []
    if not definition.includes:
        problems.append("includes: a definition needs at least one include group (excludes alone are an error)")
    for side in ("includes", "excludes"):
        for g, group in enumerate(getattr(definition, side)):
            problems += _group_problems(group, f"{side}[{g}]")
    return problems


def _group_problems(group: SearchGroup, where: str) -> list[str]:
    problems = []
    if group.temporal:
        if group.mention is None:
            problems.append(f"{where}.mention: a temporal group needs a mention (ANY_MENTION, FIRST_MENTION or LAST_MENTION)")
        if group.time is None:
            problems.append(f"{where}.time: a temporal group needs a time relation")
        elif group.time is not TemporalTime.DURING_SAME_ENCOUNTER_AS and group.timeValue is None:
            problems.append(f"{where}.timeValue: {group.time.value} needs a number of days")
        seen = {item.temporalGroup for item in group.items}
        for i, item in enumerate(group.items):
            if item.temporalGroup not in range(MAX_TEMPORAL_GROUPS):
                problems.append(f"{where}.items[{i}].temporalGroup: must be 0 or 1 in a temporal group")
            if item.type not in EVENT_DOMAINS:
                problems.append(f"{where}.items[{i}].type: {item.type.value} items have no event dates and cannot be temporal")
        if not {0, 1} <= seen:
            problems.append(f"{where}.items: a temporal group needs items in both temporal groups 0 and 1")
    else:
        for name in ("mention", "time", "timeValue"):
            if getattr(group, name) is not None:
                problems.append(f"{where}.{name}: only a temporal group takes {name}")
    for i, item in enumerate(group.items):
        problems += _item_problems(item, f"{where}.items[{i}]")
    return problems


# Domains that are a dataset's prepackaged sets, not something a participant can be selected by.
NOT_CRITERIA = frozenset({Domain.ZIP_CODE_SOCIOECONOMIC})


def _item_problems(item: SearchGroupItem, where: str) -> list[str]:
    if item.type in NOT_CRITERIA:
        return [f"{where}.type: {item.type.value} is a dataset's prepackaged set, not a cohort criterion"]
    problems = []
    for p, param in enumerate(item.searchParameters):
        at = f"{where}.searchParameters[{p}]"
        if param.domain is not item.type:
            problems.append(f"{at}.domain: {param.domain.value} does not match the item type {item.type.value}")
        if item.type in EVENT_DOMAINS:
            if param.conceptId is None and not (item.type is Domain.PHYSICAL_MEASUREMENT and not param.attributes):
                problems.append(f"{at}.conceptId: a {item.type.value} parameter needs a concept id")
        elif item.type is Domain.PERSON:
            problems += _person_problems(param, at)
        if item.type not in GENOME_DOMAINS and param.variant is not None:
            problems.append(f"{at}.variant: only {' and '.join(d.value for d in GENOME_DOMAINS)} parameters take a variant")
        for a, attribute in enumerate(param.attributes):
            problems += attribute.problems(f"{at}.attributes[{a}]")
            if attribute.name in AGE_ATTRIBUTES and item.type is not Domain.PERSON:
                problems.append(f"{at}.attributes[{a}].name: {attribute.name.value} applies to PERSON items only")
            if attribute.conceptId is not None and attribute.conceptId not in SYSTOLIC + DIASTOLIC:
                problems.append(f"{at}.attributes[{a}].conceptId: only blood-pressure attributes carry a concept id")
    if item.type in GENOME_DOMAINS:
        problems += _variant_problems(item, where)
    if item.type not in EVENT_DOMAINS and item.modifiers:
        problems.append(f"{where}.modifiers: {item.type.value} items take no modifiers")
    kinds = [m.name for m in item.modifiers]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            problems.append(f"{where}.modifiers: {kind.value} appears more than once")
    for m, modifier in enumerate(item.modifiers):
        problems += modifier.problems(f"{where}.modifiers[{m}]")
    return problems


def _variant_problems(item: SearchGroupItem, where: str) -> list[str]:
    """A genome item is either a has-data flag (no variant criterion) or variant criteria (type VARIANT, each with a
    variant naming what to look for, and nothing else), never both."""
    problems = []
    variants = [p.variant is not None or p.type.upper() == VARIANT_TYPE for p in item.searchParameters]
    for p, param in enumerate(item.searchParameters):
        at = f"{where}.searchParameters[{p}]"
        if any(variants) and not variants[p]:
            problems.append(f"{at}: an item's parameters are all variant criteria or none is (a has-data parameter and a "
                            "variant criterion go in separate items)")
        if not variants[p]:
            continue
        if param.type.upper() != VARIANT_TYPE:
            problems.append(f"{at}.type: a parameter with a variant has type {VARIANT_TYPE}, not {param.type!r}")
        if param.variant is None:
            problems.append(f"{at}.variant: a {VARIANT_TYPE} parameter needs a variant (rsids, genes, regions or variant_ids)")
        elif not param.variant.by_identifier:
            problems.append(f"{at}.variant: a variant criterion needs at least one rsID, gene, region or variant id (an "
                            "allele-frequency range alone would select variants across the whole genome)")
        if param.conceptId is not None:
            problems.append(f"{at}.conceptId: a variant criterion takes no concept id")
        if param.attributes:
            problems.append(f"{at}.attributes: a variant criterion takes no attributes")
    return problems


def _person_problems(param: SearchParameter, where: str) -> list[str]:
    kind = param.type.upper()
    if kind not in PERSON_TYPES:
        return [f"{where}.type: PERSON parameters are one of {', '.join(sorted(PERSON_TYPES))}, not {param.type!r}"]
    if kind == "AGE":
        ages = [a for a in param.attributes if a.name in AGE_ATTRIBUTES]
        if len(ages) != 1:
            return [f"{where}.attributes: an AGE parameter needs exactly one AGE, AGE_AT_CONSENT or AGE_AT_CDR attribute"]
        return []
    if kind in ("GENDER", "SEX", "RACE", "ETHNICITY") and param.conceptId is None:
        return [f"{where}.conceptId: a {kind} parameter needs a concept id"]
    return []


Json = Annotated[dict, "JSON object"]


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(definition)"


def json_problems(err: jsonfile.JsonInputError) -> list[str]:
    """Problems of unreadable JSON as definition problems: a JSON path, or ``(json) line L, column C``."""
    return [f"{p.path}: {p.message}" if p.path is not None else f"(json) {p.where()}: {p.message}" for p in err.problems]


LIMIT_NAMES = ("MAX_DEFINITION_BYTES", "MAX_JSON_DEPTH")


def decode_json(text: str | bytes, root: str = "(definition)") -> Any:
    """Strictly decoded JSON text (see ``cohorts.jsonfile``); raises DefinitionError with located problems."""
    try:
        return jsonfile.loads(text, source=root, max_bytes=MAX_DEFINITION_BYTES, max_depth=MAX_JSON_DEPTH, root=root,
                              limit_names=LIMIT_NAMES)
    except jsonfile.JsonInputError as err:
        raise DefinitionError(json_problems(err)) from None


def read_json_file(path: Path, root: str = "(definition)", *, max_bytes: int = MAX_DEFINITION_BYTES,
                   size_limit_name: str = "MAX_DEFINITION_BYTES") -> Any:
    """A definition, concept set or saved-cohort JSON file, strictly decoded; raises DefinitionError with located
    problems (OSError for a file that cannot be read)."""
    try:
        return jsonfile.read(path, max_bytes=max_bytes, max_depth=MAX_JSON_DEPTH, root=root,
                             limit_names=(size_limit_name, "MAX_JSON_DEPTH"))
    except jsonfile.JsonInputError as err:
        raise DefinitionError(json_problems(err)) from None


def parse_definition(document: dict | str | bytes) -> CohortDefinition:
    """A definition from JSON text or a decoded object; raises DefinitionError listing every problem."""
    if isinstance(document, (str, bytes)):
        document = decode_json(document)
    if not isinstance(document, dict):
        raise DefinitionError(["(definition): must be a JSON object"])
    try:
        return CohortDefinition.model_validate(document)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            message = str(e.get("msg", "")).removeprefix("Value error, ")  # pydantic's prefix says nothing
            if _PROBLEMS_MARK in message:
                problems += json.loads(message.split(_PROBLEMS_MARK, 1)[1])
            else:
                problems.append(f"{_path(tuple(e['loc']))}: {message}")
        raise DefinitionError(problems) from None
