"""The authored vocabulary: size, domains, hierarchy levels, mappings, real ids."""

from __future__ import annotations

import csv

import pytest

from research_workbench.synth.vocab import vocabulary
from tests.conftest import datasets_root, need

from .conftest import scalar


def test_vocabulary_has_at_least_300_concepts_across_every_clinical_domain(con):
    assert scalar(con, "SELECT count(*) FROM concept") >= 300
    domains = {r[0] for r in con.execute("SELECT DISTINCT domain_id FROM concept").fetchall()}
    for domain in ("Condition", "Drug", "Measurement", "Procedure", "Observation", "Device", "Visit", "Gender",
                   "Race", "Ethnicity", "Unit", "Specimen", "Type Concept"):
        assert domain in domains


def test_condition_hierarchy_has_several_levels_above_type_2_diabetes(con):
    levels = con.execute(
        "SELECT max_levels_of_separation FROM concept_ancestor WHERE descendant_concept_id = 201826 ORDER BY 1"
    ).fetchall()
    assert max(l[0] for l in levels) >= 3  # T2DM → Diabetes mellitus → Disease → Clinical finding
    # a complication is a descendant of diabetes mellitus two levels down
    assert scalar(con, "SELECT min_levels_of_separation FROM concept_ancestor WHERE ancestor_concept_id = 201820 AND descendant_concept_id = 37016354") == 2


def test_every_clinical_drug_has_its_ingredient_as_ancestor(con):
    orphans = scalar(con, """
        SELECT count(*) FROM concept c
        WHERE c.domain_id = 'Drug' AND c.concept_class_id <> 'Ingredient' AND NOT EXISTS (
            SELECT 1 FROM concept_ancestor a JOIN concept i ON i.concept_id = a.ancestor_concept_id
            WHERE a.descendant_concept_id = c.concept_id AND i.concept_class_id = 'Ingredient')""")
    assert orphans == 0


def test_icd10cm_codes_map_to_standard_snomed_concepts(con):
    rows = con.execute("""
        SELECT s.concept_code, t.vocabulary_id, t.standard_concept FROM concept s
        JOIN concept_relationship r ON r.concept_id_1 = s.concept_id AND r.relationship_id = 'Maps to'
        JOIN concept t ON t.concept_id = r.concept_id_2
        WHERE s.vocabulary_id = 'ICD10CM' AND s.concept_class_id NOT LIKE '%nonbill%'""").fetchall()
    codes = {r[0] for r in rows}
    assert {"E11.9", "I10", "E78.5", "N18.3", "J44.9", "K92.2"} <= codes
    assert all(r[1] == "SNOMED" and r[2] == "S" for r in rows)


def test_labs_have_units_and_normal_ranges():
    for lab in vocabulary().labs:
        assert int(lab["unit_concept_id"]) in vocabulary().concepts
        assert float(lab["range_low"]) <= float(lab["range_high"])


def test_survey_vocabulary_follows_the_program_ids():
    v = vocabulary()
    assert v.module("TheBasics").concept_id == 1586134
    assert v.question("Race_WhatRaceEthnicity").concept_id == 1586140
    assert v.question("Gender_GenderIdentity").concept_id == 1585838
    assert v.question("BiologicalSexAtBirth_SexAtBirth").concept_id == 1585845
    assert v.question("StreetAddress_PIIZIP").concept_id == 1585250
    assert v.question("StreetAddress_PIIState").concept_id == 1585249
    for m in v.modules:
        for q in m.questions:
            for a in q.answers:
                assert a.concept_id in v.concepts


def test_concepts_marked_sample_match_the_shared_omop_vocabulary_samples():
    root = datasets_root()
    files = [root / "eunomia-gibleed" / "concept.csv", root / "synthea27nj" / "concept.csv"]
    need(all(f.is_file() for f in files), "shared OMOP vocabulary samples not found")
    real = {}
    for f in files:
        with f.open() as fh:
            for row in csv.DictReader(fh):
                real.setdefault(int(row["concept_id"]), row)
    checked = 0
    for cid, row in vocabulary().concepts.items():
        if row.get("provenance") == "sample":
            assert cid in real, cid
            assert real[cid]["concept_code"] == row["concept_code"]
            assert real[cid]["domain_id"] == row["domain_id"]
            checked += 1
    assert checked >= 200


@pytest.mark.parametrize("table", ["concept_relationship", "concept_ancestor", "concept_synonym"])
def test_vocabulary_tables_only_name_known_concepts(con, table):
    cols = {"concept_relationship": ("concept_id_1", "concept_id_2"), "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
            "concept_synonym": ("concept_id", "concept_id")}[table]
    from sqlglot import exp

    for col in cols:
        q = exp.select(exp.func("count", exp.Star())).from_(table).where(
            exp.column(col).isin(exp.select("concept_id").from_("concept")).not_())
        assert scalar(con, q.sql(dialect="duckdb")) == 0
