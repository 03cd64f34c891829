"""A cohort definition in one plain-English sentence, so a researcher can read back what the count is of.

"Participants who have [A or B] and [C], and not [D]." Each group is bracketed (items inside a group OR, groups AND);
suppressed groups and items are left out, as they are from the count (``semantics.counted_groups``). Concepts are
named by the names the definition carries (each search parameter's ``name``), or by ``names`` for the ids it does
not name (visit types of an ENCOUNTERS modifier), else "concept N".
"""

from __future__ import annotations

from collections.abc import Mapping

from ...cdr.facts import Domain
from .model import (
    AGE_ATTRIBUTES, Attribute, AttrName, CohortDefinition, DataFilter, Modifier, ModifierType, Operator, SearchGroup,
    SearchGroupItem, SearchParameter, TemporalMention, TemporalTime, VariantCriterion,
)
from .semantics import counted_groups, includes_descendants

_COMPARE = {
    Operator.EQUAL: "equal to {0}", Operator.NOT_EQUAL: "not equal to {0}", Operator.LESS_THAN: "less than {0}",
    Operator.GREATER_THAN: "greater than {0}", Operator.LESS_THAN_OR_EQUAL_TO: "at most {0}",
    Operator.GREATER_THAN_OR_EQUAL_TO: "at least {0}", Operator.BETWEEN: "between {0} and {1}",
}
_DATES = {
    Operator.EQUAL: "on {0}", Operator.NOT_EQUAL: "not on {0}", Operator.LESS_THAN: "before {0}",
    Operator.GREATER_THAN: "after {0}", Operator.LESS_THAN_OR_EQUAL_TO: "on or before {0}",
    Operator.GREATER_THAN_OR_EQUAL_TO: "on or after {0}", Operator.BETWEEN: "between {0} and {1}",
}
_TIMES = {
    Operator.EQUAL: "exactly {0} times", Operator.NOT_EQUAL: "other than {0} times", Operator.LESS_THAN: "fewer than {0} times",
    Operator.GREATER_THAN: "more than {0} times", Operator.LESS_THAN_OR_EQUAL_TO: "at most {0} times",
    Operator.GREATER_THAN_OR_EQUAL_TO: "at least {0} times", Operator.BETWEEN: "between {0} and {1} times",
}
_AGES = {AttrName.AGE: "current age", AttrName.AGE_AT_CONSENT: "age at consent", AttrName.AGE_AT_CDR: "age at the data cut-off"}
_FILTERS = {DataFilter.HAS_EHR_DATA: "electronic health record data",
            DataFilter.HAS_PHYSICAL_MEASUREMENT_DATA: "physical measurements"}
_MENTION = {TemporalMention.ANY_MENTION: "any mention of", TemporalMention.FIRST_MENTION: "the first mention of",
            TemporalMention.LAST_MENTION: "the last mention of"}


def _comparison(operator: Operator, operands: list[str], table: dict = _COMPARE) -> str:
    if operator is Operator.IN:
        return "one of " + ", ".join(operands)
    return table[operator].format(*operands, "", "")


def _concept(concept_id: int | None, names: Mapping[int, str]) -> str:
    return names.get(concept_id, f"concept {concept_id}") if concept_id is not None else "any"


def _attribute(attribute: Attribute, names: Mapping[int, str]) -> str:
    if attribute.name is AttrName.ANY:
        return "with any value"
    if attribute.name is AttrName.CAT:
        return "with a value of " + " or ".join(_concept(int(o), names) for o in attribute.operands)
    reading = f"{_concept(attribute.conceptId, names)} " if attribute.conceptId is not None else ""
    return f"with {reading}a value {_comparison(attribute.operator, attribute.operands)}"  # type: ignore[arg-type]


_ZYGOSITY = {"any": "heterozygous or homozygous", "heterozygous": "heterozygous", "homozygous": "homozygous"}


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}"


def _variant(item: SearchGroupItem, criterion: VariantCriterion) -> str:
    """"variant rs7903146 (heterozygous)", "a variant in gene TCF7L2 with allele frequency 1–50 % (heterozygous or
    homozygous)": what is carried, then how (zygosity; array data named, whole genomes being the default)."""
    parts = []
    named = [*criterion.rsids, *criterion.variant_ids]
    if named:
        parts.append(f"variant{'s' if len(named) > 1 else ''} {' or '.join(named)}")
    if criterion.genes:
        parts.append(f"a variant in gene{'s' if len(criterion.genes) > 1 else ''} {' or '.join(criterion.genes)}")
    if criterion.regions:
        parts.append(f"a variant in {' or '.join(criterion.regions)}")
    text = " or ".join(parts)
    low, high = criterion.min_af, criterion.max_af
    if low is not None and high is not None:
        text += f" with allele frequency {_percent(low)}–{_percent(high)} %"
    elif low is not None:
        text += f" with allele frequency at least {_percent(low)} %"
    elif high is not None:
        text += f" with allele frequency at most {_percent(high)} %"
    how = _ZYGOSITY[criterion.zygosity] + (", genotyping array" if item.type is Domain.ARRAY_DATA else "")
    return f"{text} ({how})"


def _parameter(item: SearchGroupItem, param: SearchParameter, names: Mapping[int, str]) -> str:
    if param.variant is not None:
        return _variant(item, param.variant)
    kind = param.type.upper()
    if item.type is Domain.PERSON:
        if kind == "AGE":
            age = next(a for a in param.attributes if a.name in AGE_ATTRIBUTES)
            return f"{_AGES[age.name]} {_comparison(age.operator, age.operands)}"  # type: ignore[arg-type]
        if kind == "DECEASED":
            return "deceased"
        label = {"GENDER": "gender", "SEX": "sex at birth", "RACE": "race", "ETHNICITY": "ethnicity"}[kind]
        return f"{label} {param.name or _concept(param.conceptId, names)}"
    if param.conceptId is None:  # a has-data item
        return f"any {item.type.label.lower()} data"
    text = param.name or _concept(param.conceptId, names)
    if param.standard and includes_descendants(item, param) and item.type is not Domain.DRUG:
        text += " (or a descendant)"
    if not param.standard:
        text += f" ({param.type} source code)"
    details = [_attribute(a, names) for a in param.attributes]
    return " ".join([text, *details])


def _modifier(modifier: Modifier, names: Mapping[int, str]) -> str:
    if modifier.name is ModifierType.AGE_AT_EVENT:
        return "at an age " + _comparison(modifier.operator, modifier.operands)
    if modifier.name is ModifierType.EVENT_DATE:
        return _comparison(modifier.operator, modifier.operands, _DATES)
    if modifier.name is ModifierType.NUM_OF_OCCURRENCES:
        return _comparison(modifier.operator, modifier.operands, _TIMES)
    return "during a visit of type " + " or ".join(_concept(int(o), names) for o in modifier.operands)


def describe_item(item: SearchGroupItem, names: Mapping[int, str] | None = None) -> str:
    names = names or {}
    text = " or ".join(_parameter(item, p, names) for p in item.searchParameters)
    if item.name:
        text = f"{item.name}: {text}"
    modifiers = [_modifier(m, names) for m in item.modifiers]
    return text + (", " + ", ".join(modifiers) if modifiers else "")


def describe_group(group: SearchGroup, names: Mapping[int, str] | None = None) -> str:
    if not group.temporal:
        return " or ".join(describe_item(item, names) for item in group.items)
    sides = [" or ".join(describe_item(i, names) for i in group.items if i.temporalGroup == side) for side in (0, 1)]
    first = f"{_MENTION[group.mention]} {sides[0]}"  # type: ignore[index]
    if group.time is TemporalTime.DURING_SAME_ENCOUNTER_AS:
        relation = "during the same visit as"
    else:
        days = f"{group.timeValue} day{'s' if group.timeValue != 1 else ''}"
        relation = {TemporalTime.X_DAYS_BEFORE: f"at least {days} before",
                    TemporalTime.X_DAYS_AFTER: f"at least {days} after",
                    TemporalTime.WITHIN_X_DAYS_OF: f"within {days} of"}[group.time]  # type: ignore[index]
    return f"{first} {relation} {sides[1]}"


def describe(definition: CohortDefinition, names: Mapping[int, str] | None = None) -> str:
    """The whole definition as counted, in one sentence."""
    includes, excludes = counted_groups(definition)
    parts = ["Participants"]
    if definition.dataFilters:
        parts.append("with " + " and ".join(_FILTERS[f] for f in definition.dataFilters))
    if includes:
        parts.append("who have " + " and ".join(f"[{describe_group(g, names)}]" for g in includes))
    else:
        parts.append("(everyone: no include group is counted)")
    sentence = " ".join(parts)
    if excludes:
        sentence += ", and not " + " or ".join(f"[{describe_group(g, names)}]" for g in excludes)
    return sentence + "."
