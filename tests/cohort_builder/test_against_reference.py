"""Property: on random definitions over a random CDR, the compiled query agrees with the reference evaluator.

The index gets two random genotype stores (whole genomes of persons 1–100, arrays of 60–120), so variant criteria
(rsIDs, genes, regions, variant ids, allele-frequency ranges, zygosity) are among the random items; the reference
answers them from the genotypes."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.index.build import default_index_path

from ..helpers import write_csv
from .reference import Reference

# A small hierarchy: root 1000 → 1001 → {1003, 1004}; root → 1002 → 1005. Drugs: ingredient 3000 → 3001, 3002;
# 3100 → 3101. Source codes 2001–2003. A lab, 4000, with values.
CONDITIONS_STD = [1000, 1001, 1002, 1003, 1004, 1005]
LEAVES = [1001, 1003, 1004, 1005, 1002]
SOURCES = [2001, 2002, 2003]
INGREDIENTS = {3000: [3001, 3002], 3100: [3101]}
EDGES = [(1000, 1001), (1000, 1002), (1000, 1003), (1000, 1004), (1000, 1005), (1001, 1003), (1001, 1004), (1002, 1005),
         (3000, 3001), (3000, 3002), (3100, 3101)]
VISIT_TYPES = [9201, 9202]
# Genotype stores: 24 variants on three chromosomes, every 5th without an rsID, genes A–C or none.
CHROMS = ["chr1", "chr2", "chr10"]
GENES = ["GENEA", "GENEB", "GENEC"]
VARIANTS = [{"chrom": CHROMS[i % 3], "pos": 1000 * (i + 1), "ref": "C", "alt": "T", "rsid": f"rs{100 + i}" if i % 5 != 4 else None,
             "gene": (GENES + [None])[i % 4], "consequence": "intron_variant"} for i in range(24)]
for _v in VARIANTS:
    _v["variant_id"] = f"{_v['chrom'][3:]}-{_v['pos']}-C-T"
STORES = {"wgs": list(range(1, 101)), "array": list(range(120, 59, -1))}  # the array's samples in reverse order


def random_genomes(rng: random.Random) -> dict:
    """kind → (samples, variants, genotypes): each variant with an ALT frequency of 2–60 %, 5 % of calls missing."""
    genomes = {}
    for kind, samples in STORES.items():
        variants = VARIANTS if kind == "wgs" else VARIANTS[::2]
        rows = []
        for _ in variants:
            p = rng.choice([0.02, 0.1, 0.3, 0.6])
            rows.append([-9 if rng.random() < 0.05 else (rng.random() < p) + (rng.random() < p) for _ in samples])
        genomes[kind] = (samples, variants, np.array(rows, dtype=np.int8))
    return genomes


def write_genomes(index_dir, genomes: dict) -> None:
    from research_workbench.index.genotype_store import GenotypeStoreWriter

    for kind, (samples, variants, genotypes) in genomes.items():
        writer = GenotypeStoreWriter(index_dir, kind, np.array(samples))
        writer.add(variants, genotypes)
        writer.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from research_workbench.index import build_index
    from research_workbench.ingest import load_omop_folder

    rng = random.Random(20261124)
    src = tmp_path_factory.mktemp("random") / "src"
    standard = CONDITIONS_STD + list(INGREDIENTS) + [d for ds in INGREDIENTS.values() for d in ds] + [4000, 9201, 9202]
    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept", "concept_code",
                                   "valid_start_date", "valid_end_date"],
              [[c, f"concept {c}", "x", "X", "x", "S", str(c), "1970-01-01", "2099-12-31"] for c in standard]
              + [[c, f"source {c}", "Condition", "ICD10CM", "x", "", f"S{c}", "1970-01-01", "2099-12-31"] for c in SOURCES])
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"],
              [[c, c, 0, 0] for c in standard] + [[a, d, 1, 1] for a, d in EDGES])
    persons, visits, conditions, drugs, measurements = [], [], [], [], []
    for pid in range(1, 121):
        persons.append([pid, rng.choice([8507, 8532]), rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28), 0, 0])
        for _ in range(rng.randint(0, 3)):
            vid = len(visits) + 1
            visits.append([vid, pid, rng.choice(VISIT_TYPES), _date(rng)])
        own_visits = [v for v in visits if v[1] == pid]
        for _ in range(rng.randint(0, 6)):
            visit = rng.choice(own_visits) if own_visits and rng.random() < 0.5 else None
            date = visit[3] if visit else _date(rng)
            conditions.append([len(conditions) + 1, pid, rng.choice(LEAVES), date, visit[0] if visit else "",
                               rng.choice(SOURCES + [0, 0]), 32817])
        for _ in range(rng.randint(0, 4)):
            # Often on a visit date: same-day pairs are where "before" and "within" boundaries are decided.
            day = rng.choice(own_visits)[3] if own_visits and rng.random() < 0.6 else _date(rng)
            drugs.append([len(drugs) + 1, pid, rng.choice([3001, 3002, 3101]), day, day, 32817])
        for _ in range(rng.randint(0, 3)):
            measurements.append([len(measurements) + 1, pid, 4000, _date(rng), round(rng.uniform(3, 12), 1), 32817])
    write_csv(src, "person.csv", ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "race_concept_id", "ethnicity_concept_id"], persons)
    write_csv(src, "visit_occurrence.csv", ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date", "visit_type_concept_id"],
              [v + [v[3], 32817] for v in visits])
    write_csv(src, "condition_occurrence.csv", ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date", "visit_occurrence_id",
                                                "condition_source_concept_id", "condition_type_concept_id"], conditions)
    write_csv(src, "drug_exposure.csv", ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                                         "drug_type_concept_id"], drugs)
    write_csv(src, "measurement.csv", ["measurement_id", "person_id", "measurement_concept_id", "measurement_date", "value_as_number",
                                       "measurement_type_concept_id"], measurements)
    cdr = src.parent / "cdr"
    load_omop_folder(src, cdr)
    build_index(cdr)
    genomes = random_genomes(rng)
    write_genomes(default_index_path(cdr), genomes)
    fast, plain = CohortEngine(default_index_path(cdr)), CohortEngine(default_index_path(cdr), accelerate=False)
    assert fast.accelerate and not plain.accelerate
    yield (fast, plain), Reference(cdr, genomes)
    fast.close()
    plain.close()


def _date(rng: random.Random) -> str:
    return (dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 7300))).isoformat()


OPS = ["EQUAL", "NOT_EQUAL", "LESS_THAN", "GREATER_THAN", "LESS_THAN_OR_EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO", "BETWEEN"]


def random_operands(rng, op, low, high, kind=int):
    values = sorted([rng.randint(low, high), rng.randint(low, high)]) if kind is int else sorted([round(rng.uniform(low, high), 1) for _ in range(2)])
    return [str(v) for v in (values if op == "BETWEEN" else values[:1])]


def random_variant(rng) -> dict:
    """A variant criterion: one or two kinds of identifier (some naming nothing in the store), sometimes an
    allele-frequency range (bounds on the frequencies the stores hold, where off-by-one errors show), a zygosity."""
    variant: dict = {}
    for key in rng.sample(["rsids", "genes", "regions", "variant_ids"], rng.randint(1, 2)):
        if key == "rsids":
            variant[key] = rng.sample([v["rsid"] for v in VARIANTS if v["rsid"]] + ["rs999999"], rng.randint(1, 2))
        elif key == "genes":
            variant[key] = rng.sample(GENES + ["NOGENE"], 1)
        elif key == "regions":
            chrom = rng.choice(CHROMS)
            start = rng.randint(1, 24_000)
            variant[key] = [chrom if rng.random() < 0.2 else f"{chrom}:{start}-{start + rng.randint(0, 9000)}"]
        else:
            variant[key] = [rng.choice(VARIANTS)["variant_id"]]
    if rng.random() < 0.4:
        low, high = sorted(rng.sample([0.0, 0.05, 0.1, 0.25, 0.3, 0.5, 1.0], 2))
        variant.update(rng.choice([{"min_af": low, "max_af": high}, {"min_af": low}, {"max_af": high}]))
    variant["zygosity"] = rng.choice(["any", "heterozygous", "homozygous"])
    return variant


def random_item(rng, temporal_group=None):
    kind = rng.choice(["condition", "condition", "source", "drug", "lab", "person", "variant"] if temporal_group is None else ["condition", "source", "drug", "lab"])
    modifiers = []
    if kind == "variant":
        domain = rng.choice(["WHOLE_GENOME_VARIANT", "WHOLE_GENOME_VARIANT", "ARRAY_DATA"])
        params = [{"parameterId": f"p{n}", "domain": domain, "type": "VARIANT", "variant": random_variant(rng)}
                  for n in range(rng.choice([1, 1, 2]))]
        item = {"type": domain, "searchParameters": params}
    elif kind == "person":
        item = {"type": "PERSON", "searchParameters": [{"parameterId": "p", "domain": "PERSON", "type": "GENDER", "conceptId": rng.choice([8507, 8532])}]}
    else:
        if kind == "condition":
            param = {"domain": "CONDITION", "type": "SNOMED", "conceptId": rng.choice(CONDITIONS_STD), "group": rng.random() < 0.5}
        elif kind == "source":
            param = {"domain": "CONDITION", "type": "ICD10CM", "conceptId": rng.choice(SOURCES), "standard": False}
        elif kind == "drug":
            param = {"domain": "DRUG", "type": "RXNORM", "conceptId": rng.choice([3000, 3100, 3001])}
        else:
            op = rng.choice(OPS)
            param = {"domain": "MEASUREMENT", "type": "LOINC", "conceptId": 4000,
                     "attributes": [{"name": "NUM", "operator": op, "operands": random_operands(rng, op, 3, 12, float)}]}
        item = {"type": param["domain"], "searchParameters": [{"parameterId": "p"} | param]}
        for name in rng.sample(["AGE_AT_EVENT", "EVENT_DATE", "NUM_OF_OCCURRENCES", "ENCOUNTERS"], rng.randint(0, 2)):
            if name == "ENCOUNTERS":
                modifiers.append({"name": name, "operator": "IN", "operands": [str(rng.choice(VISIT_TYPES))]})
            elif name == "EVENT_DATE":
                op = rng.choice(OPS)
                dates = sorted(_date(rng) for _ in range(2))
                modifiers.append({"name": name, "operator": op, "operands": dates if op == "BETWEEN" else dates[:1]})
            elif name == "AGE_AT_EVENT":
                op = rng.choice(OPS)
                modifiers.append({"name": name, "operator": op, "operands": random_operands(rng, op, 10, 80)})
            else:
                op = rng.choice(OPS)
                modifiers.append({"name": name, "operator": op, "operands": random_operands(rng, op, 1, 3)})
    item |= {"id": "i", "modifiers": modifiers}
    if temporal_group is not None:
        item["temporalGroup"] = temporal_group
    return item


def random_group(rng):
    if rng.random() < 0.3:
        time = rng.choice(["DURING_SAME_ENCOUNTER_AS", "X_DAYS_BEFORE", "X_DAYS_AFTER", "WITHIN_X_DAYS_OF"])
        group = {"id": "t", "temporal": True, "mention": rng.choice(["ANY_MENTION", "FIRST_MENTION", "LAST_MENTION"]), "time": time,
                 "items": [random_item(rng, 0), random_item(rng, 1)] + ([random_item(rng, rng.randint(0, 1))] if rng.random() < 0.3 else [])}
        if time != "DURING_SAME_ENCOUNTER_AS":
            group["timeValue"] = rng.choice([0, 0, 1, 7, 30, 365, rng.randint(0, 2000)])
        return group
    return {"id": "g", "items": [random_item(rng) for _ in range(rng.randint(1, 3))]}


def random_definition(seed: int) -> dict:
    rng = random.Random(seed)
    return {
        "includes": [random_group(rng) for _ in range(rng.randint(1, 3))],
        "excludes": [random_group(rng) for _ in range(rng.randint(0, 1))],
        "dataFilters": ["has_ehr_data"] if rng.random() < 0.3 else [],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**32))
def test_compiled_query_agrees_with_the_reference_evaluator(world, seed):
    engines, reference = world
    document = random_definition(seed)
    expected = reference.evaluate(document)
    definition = parse_definition(document)
    for engine in engines:  # bitmaps + SQL fragments, and the one compiled statement
        assert set(engine.participant_ids(definition, 0, 10_000)) == expected, (engine.accelerate, document)
        assert engine.count(definition)[0] == len(expected)


def test_random_definitions_are_not_all_empty_or_everyone(world):
    """Guards the property test against vacuity: the random definitions select a spread of cohort sizes."""
    _, reference = world
    sizes = {len(reference.evaluate(random_definition(seed))) for seed in range(60)}
    assert 0 in sizes and max(sizes) > 20 and len(sizes) > 10


def test_random_variant_criteria_are_not_all_empty_or_everyone(world):
    """Guards the variant items of the property test against vacuity: their carriers are of many sizes, from none
    to most of a store, and each zygosity and both stores occur."""
    _, reference = world
    sizes, seen = set(), set()
    for seed in range(200):
        rng = random.Random(seed)
        domain = rng.choice(["WHOLE_GENOME_VARIANT", "ARRAY_DATA"])
        variant = random_variant(rng)
        seen.add((domain, variant["zygosity"]))
        sizes.add(len(reference.item_persons({"type": domain, "searchParameters": [{"variant": variant}]})))
    assert 0 in sizes and max(sizes) > 50 and len(sizes) > 15
    assert len(seen) == 6


def random_temporal_definition(seed: int) -> dict:
    rng = random.Random(seed)
    time = rng.choice(["DURING_SAME_ENCOUNTER_AS", "X_DAYS_BEFORE", "X_DAYS_AFTER", "WITHIN_X_DAYS_OF"])
    group = {"id": "t", "temporal": True, "mention": rng.choice(["ANY_MENTION", "FIRST_MENTION", "LAST_MENTION"]), "time": time,
             "items": [random_item(rng, 0), random_item(rng, 1)]}
    if time != "DURING_SAME_ENCOUNTER_AS":
        group["timeValue"] = rng.choice([0, 0, 1, 7, 30, 365])
    return {"includes": [group]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=2**32))
def test_temporal_groups_agree_with_the_reference_evaluator(world, seed):
    """Temporal groups alone, with day counts at the boundaries (0, 1, 7 …), where off-by-one errors show."""
    engines, reference = world
    document = random_temporal_definition(seed)
    for engine in engines:
        assert set(engine.participant_ids(parse_definition(document), 0, 10_000)) == reference.evaluate(document), document
