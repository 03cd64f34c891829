"""Golden SQL: each small definition of ``fixtures/compile.sql`` compiles to exactly its recorded SQL (DuckDB,
PostgreSQL, Spark) and parameters. The format is described in ``golden.py``.

A change to the compiler's output fails here, showing each differing case and dialect. When the change is
intended, regenerate the recorded sections and review the file's diff before committing it:

    RW_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/cohort_builder/test_golden_sql.py

(that rewrites only the params and SQL sections of the cases, keeping definitions, notes and order, and reports the
test as skipped when it changed anything). To add a case, append ``-- case: NAME`` and its definition, then
regenerate.
"""

from __future__ import annotations

import difflib
import os

import pytest
import sqlglot

from research_workbench.cohorts.builder.model import AttrName, ModifierType, TemporalMention, TemporalTime

from . import golden

UPDATE = os.environ.get("RW_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def fixture_file():
    text = golden.FIXTURE.read_text(encoding="utf-8")
    return text, *golden.parse(text)


def test_every_case_compiles_to_its_recorded_sql_and_parameters(fixture_file):
    _text, header, cases = fixture_file
    assert cases, f"{golden.FIXTURE} holds no cases"
    differences = []
    for case in cases:
        expected = golden.compiled(case)
        for section in golden.SECTIONS:
            found, wanted = case.sections.get(section), expected.get(section)
            if found != wanted:
                diff = difflib.unified_diff((found or "").splitlines(), (wanted or "").splitlines(),
                                            f"{case.name} {section} (recorded)", f"{case.name} {section} (compiled)", lineterm="")
                differences.append("\n".join(diff))
                if wanted is None:
                    del case.sections[section]
                else:
                    case.sections[section] = wanted
    if UPDATE:
        if differences:
            golden.FIXTURE.write_text(golden.render(header, cases), encoding="utf-8")
            pytest.skip(f"RW_UPDATE_GOLDEN: rewrote {len(differences)} sections of {golden.FIXTURE}; review its diff")
        return
    assert not differences, (f"{len(differences)} sections of {golden.FIXTURE.name} differ from the compiler's output "
                             "(if intended, regenerate: RW_UPDATE_GOLDEN=1, see this module's docstring):\n\n"
                             + "\n\n".join(differences))


def test_the_file_is_in_its_canonical_form(fixture_file):
    """Parsing and writing the file gives it back unchanged, so regenerating touches only what the compiler changed."""
    text, header, cases = fixture_file
    assert golden.render(header, cases) == text


def test_recorded_sql_parses_in_its_dialect(fixture_file):
    _text, _header, cases = fixture_file
    for case in cases:
        for dialect in golden.DIALECTS:
            sqlglot.parse_one(case.sections[dialect], dialect=dialect)


def test_the_cases_cover_every_kind_of_item_attribute_modifier_and_temporal_relation(fixture_file):
    _text, _header, cases = fixture_file
    seen: dict[str, set] = {k: set() for k in ("type", "attribute", "modifier", "time", "mention", "person", "filter", "select",
                                               "bp", "standard", "group", "excludes", "variant", "zygosity")}
    for case in cases:
        definition = case.definition
        seen["select"].add(case.select)
        seen["filter"].update(definition.get("dataFilters", []))
        seen["excludes"].add(bool(definition.get("excludes")))
        for group in definition.get("includes", []) + definition.get("excludes", []):
            seen["time"].add(group.get("time"))
            seen["mention"].add(group.get("mention"))
            for item in group["items"]:
                seen["type"].add(item["type"])
                seen["modifier"].update(m["name"] for m in item.get("modifiers", []))
                for param in item["searchParameters"]:
                    seen["standard"].add(param.get("standard", True))
                    seen["group"].add(param.get("group", False))
                    if item["type"] == "PERSON":
                        seen["person"].add(param["type"])
                    if "variant" in param:
                        seen["variant"].add(item["type"])
                        seen["variant"].update(k for k in ("rsids", "genes", "regions", "variant_ids", "min_af", "max_af")
                                               if k in param["variant"])
                        seen["zygosity"].add(param["variant"].get("zygosity", "any"))
                    for attribute in param.get("attributes", []):
                        seen["attribute"].add(attribute["name"])
                        seen["bp"].add(attribute.get("conceptId"))
    required = {
        "type": {"CONDITION", "PROCEDURE", "DRUG", "MEASUREMENT", "OBSERVATION", "VISIT", "DEVICE", "SURVEY",
                 "PHYSICAL_MEASUREMENT", "PERSON", "FITBIT", "WHOLE_GENOME_VARIANT", "ARRAY_DATA"},
        "attribute": {a.value for a in AttrName},
        "modifier": {m.value for m in ModifierType},
        "time": {t.value for t in TemporalTime},
        "mention": {m.value for m in TemporalMention},
        "person": {"AGE", "GENDER", "SEX", "RACE", "ETHNICITY", "DECEASED"},
        "filter": {"has_ehr_data", "has_physical_measurement_data"},
        "select": {"count", "persons"},
        "bp": {903118, 903115},
        "standard": {True, False},
        "group": {True, False},
        "excludes": {True},
        "variant": {"WHOLE_GENOME_VARIANT", "ARRAY_DATA", "rsids", "genes", "regions", "variant_ids", "min_af", "max_af"},
        "zygosity": {"any", "heterozygous", "homozygous"},
    }
    missing = {k: sorted(map(str, v - seen[k])) for k, v in required.items() if v - seen[k]}
    assert not missing, f"no case of {golden.FIXTURE.name} covers {missing}"


def test_a_malformed_fixture_is_refused_naming_the_line():
    with pytest.raises(ValueError, match="line 1: -- params before any case"):
        golden.parse("-- params\n{}\n")
    with pytest.raises(ValueError, match="line 3: case 'a' appears twice"):
        golden.parse("-- case: a\n{}\n-- case: a\n")
