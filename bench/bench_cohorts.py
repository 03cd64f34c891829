"""Benchmark: cohort counts on the search index vs straightforward SQL over the raw OMOP tables.

    python bench/bench_cohorts.py                       # 100k and 1M synthetic participants
    python bench/bench_cohorts.py --participants 20000  # a quick run
    python bench/bench_cohorts.py --compile-only        # compile times of 100-, 400- and 800-item definitions only

For each size: generate the synthetic program (cached in --workdir), build the index (timed), run a fixed suite of
12 realistic definitions through the Cohort Builder (each 5 times, warm) and the same criteria as plain SQL over
the raw tables (each 3 times), and check that both give the same count. Also times criteria search, and the
compilation of large definitions (n condition items with a modifier, as one union and as one temporal group:
parse + compile + render, median of 3), which must grow linearly with n. Prints one JSON document: per size the
index build time and p50/p95/max of both suites and their ratio, and the compile times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from research_workbench.cdr.engine import connect
from research_workbench.cdr.store import Cdr
from research_workbench.cohorts.builder.compile import compile_definition
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import parse_definition
from research_workbench.index import build_index, search_criteria

T2DM, HTN, HLD, CKD, DEPRESSION, ASTHMA, COPD, MI = 201826, 320128, 432867, 46271022, 440383, 317009, 255573, 4329847
METFORMIN, LISINOPRIL, ATORVASTATIN, SIMVASTATIN, SERTRALINE, WARFARIN = 1503297, 1308216, 1545958, 1539403, 739138, 1310149
HBA1C, EGFR, SYSTOLIC, INPATIENT = 3004410, 3049187, 3004249, 9201


def p(domain, concept, *, group=True, attributes=(), type_="SNOMED"):
    return {"parameterId": f"p{concept}", "domain": domain, "type": type_, "conceptId": concept, "group": group, "attributes": list(attributes)}


def item(domain, *params, modifiers=(), temporal_group=None):
    i = {"id": "i", "type": domain, "searchParameters": list(params), "modifiers": list(modifiers)}
    if temporal_group is not None:
        i["temporalGroup"] = temporal_group
    return i


def cond(concept, modifiers=(), temporal_group=None):
    return item("CONDITION", p("CONDITION", concept), modifiers=modifiers, temporal_group=temporal_group)


def drug(*concepts, temporal_group=None):
    return item("DRUG", *[p("DRUG", c, type_="RXNORM") for c in concepts], temporal_group=temporal_group)


def lab(concept, operator, *operands):
    return item("MEASUREMENT", p("MEASUREMENT", concept, group=False, type_="LOINC",
                                 attributes=[{"name": "NUM", "operator": operator, "operands": [str(o) for o in operands]}]))


def g(*items, **extra):
    return {"id": "g", "items": list(items), **extra}


FEMALE = {"id": "x", "type": "PERSON", "searchParameters": [{"parameterId": "f", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}

# Each definition with the same criteria written as plain SQL over the raw CDR (views named after the tables).
RAW_HELPERS = """
WITH birth AS (SELECT person_id, COALESCE(CAST(birth_datetime AS DATE), make_date(year_of_birth, COALESCE(month_of_birth, 1), COALESCE(day_of_birth, 1))) AS b FROM person),
desc_of AS (SELECT ancestor_concept_id AS a, descendant_concept_id AS d FROM concept_ancestor)
"""


def has_condition(concept, extra=""):
    return f"SELECT co.person_id FROM condition_occurrence co WHERE co.condition_concept_id IN (SELECT d FROM desc_of WHERE a = {concept} UNION SELECT {concept}) {extra}"


AGE_40 = "AND date_sub('year', (SELECT b FROM birth WHERE birth.person_id = co.person_id), co.condition_start_date) >= 40"


def has_drug(*concepts):
    ids = ", ".join(str(c) for c in concepts)
    return f"SELECT person_id FROM drug_exposure WHERE drug_concept_id IN (SELECT d FROM desc_of WHERE a IN ({ids}) UNION SELECT unnest([{ids}]))"


def has_lab(concept, condition):
    # EHR measurements only: rows with a PPI source concept are the program's physical measurements.
    return (f"SELECT m.person_id FROM measurement m LEFT JOIN concept s ON s.concept_id = m.measurement_source_concept_id "
            f"WHERE m.measurement_concept_id = {concept} AND coalesce(s.vocabulary_id, '') <> 'PPI' AND {condition}")


SUITE = [
    ("type 2 diabetes (with descendants)", {"includes": [g(cond(T2DM))]}, [has_condition(T2DM)], []),
    ("diabetes and metformin", {"includes": [g(cond(T2DM)), g(drug(METFORMIN))]}, [has_condition(T2DM), has_drug(METFORMIN)], []),
    ("HbA1c above 6.5", {"includes": [g(lab(HBA1C, "GREATER_THAN", 6.5))]}, [has_lab(HBA1C, "value_as_number > 6.5")], []),
    ("hypertension with systolic >= 140", {"includes": [g(cond(HTN)), g(lab(SYSTOLIC, "GREATER_THAN_OR_EQUAL_TO", 140))]},
     [has_condition(HTN), has_lab(SYSTOLIC, "value_as_number >= 140")], []),
    ("CKD and eGFR below 60", {"includes": [g(cond(CKD)), g(lab(EGFR, "LESS_THAN", 60))]}, [has_condition(CKD), has_lab(EGFR, "value_as_number < 60")], []),
    ("depression twice, on sertraline",
     {"includes": [g(cond(DEPRESSION, modifiers=[{"name": "NUM_OF_OCCURRENCES", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["2"]}])), g(drug(SERTRALINE))]},
     [f"SELECT person_id FROM condition_occurrence WHERE condition_concept_id IN (SELECT d FROM desc_of WHERE a = {DEPRESSION} UNION SELECT {DEPRESSION}) "
      "GROUP BY person_id, condition_concept_id HAVING count(*) >= 2", has_drug(SERTRALINE)], []),
    ("hyperlipidaemia or a statin", {"includes": [g(cond(HLD), drug(ATORVASTATIN, SIMVASTATIN))]},
     [f"{has_condition(HLD)} UNION {has_drug(ATORVASTATIN, SIMVASTATIN)}"], []),
    ("asthma or COPD at 40+, not female",
     {"includes": [g(cond(ASTHMA, [{"name": "AGE_AT_EVENT", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["40"]}]),
                     cond(COPD, [{"name": "AGE_AT_EVENT", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["40"]}]))],
      "excludes": [g(FEMALE)]},
     [f"{has_condition(ASTHMA, AGE_40)} UNION {has_condition(COPD, AGE_40)}"],
     ["SELECT person_id FROM person WHERE gender_concept_id = 8532"]),
    ("myocardial infarction inpatient since 2015",
     {"includes": [g(cond(MI, [{"name": "ENCOUNTERS", "operator": "IN", "operands": [str(INPATIENT)]},
                               {"name": "EVENT_DATE", "operator": "GREATER_THAN_OR_EQUAL_TO", "operands": ["2015-01-01"]}]))]},
     [has_condition(MI, f"AND co.condition_start_date >= DATE '2015-01-01' AND co.visit_occurrence_id IN (SELECT visit_occurrence_id FROM visit_occurrence WHERE visit_concept_id = {INPATIENT})")], []),
    ("metabolic triad without CKD", {"includes": [g(cond(T2DM)), g(cond(HTN)), g(cond(HLD))], "excludes": [g(cond(CKD))]},
     [has_condition(T2DM), has_condition(HTN), has_condition(HLD)], [has_condition(CKD)]),
    ("first metformin within 90 days of a diabetes diagnosis",
     {"includes": [g(drug(METFORMIN, temporal_group=0), cond(T2DM, temporal_group=1), temporal=True, mention="FIRST_MENTION",
                     time="WITHIN_X_DAYS_OF", timeValue=90)]},
     [f"""SELECT f.person_id FROM (SELECT person_id, min(drug_exposure_start_date) AS d FROM ({has_drug(METFORMIN).replace('SELECT person_id', 'SELECT person_id, drug_exposure_start_date', 1)}) GROUP BY person_id) f
          JOIN ({has_condition(T2DM).replace('SELECT co.person_id', 'SELECT co.person_id, co.condition_start_date', 1)}) c
          ON c.person_id = f.person_id AND abs(date_diff('day', f.d, c.condition_start_date)) <= 90"""], []),
    ("warfarin and lisinopril, HbA1c 6-8", {"includes": [g(drug(WARFARIN)), g(drug(LISINOPRIL)), g(lab(HBA1C, "BETWEEN", 6, 8))]},
     [has_drug(WARFARIN), has_drug(LISINOPRIL), has_lab(HBA1C, "value_as_number BETWEEN 6 AND 8")], []),
]

SEARCH_TERMS = ["diabetes", "hypert", "metformin", "E11.9", "statin", "blood pressure", "asthma", "kidney", "depress", "hemoglobin",
                "race", "smoking", "height", "insulin", "201826", "heart", "chronic", "outpatient", "lisinopril", "cholesterol"]


def raw_sql(includes: list[str], excludes: list[str]) -> str:
    where = [f"p.person_id IN ({q})" for q in includes] + [f"p.person_id NOT IN ({q})" for q in excludes]
    return RAW_HELPERS + "SELECT count(*) FROM person p WHERE " + " AND ".join(where)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1), "max_ms": round(max(values), 1)}


def large_definition(items: int, temporal: bool) -> dict:
    """``items`` condition items, each with an AGE_AT_EVENT modifier: one union group, or one temporal group."""
    members = []
    for i in range(items):
        member = cond(1000 + i, [{"name": "AGE_AT_EVENT", "operator": "GREATER_THAN", "operands": ["40"]}],
                      temporal_group=i % 2 if temporal else None)
        member["id"] = f"i{i}"
        members.append(member)
    extra = {"temporal": True, "mention": "FIRST_MENTION", "time": "WITHIN_X_DAYS_OF", "timeValue": 30} if temporal else {}
    return {"includes": [g(*members, **extra)]}


def compile_times(sizes: list[int]) -> list[dict]:
    """Seconds to parse, compile and render (DuckDB SQL) definitions of each size; median of 3."""
    rows = []
    for items in sizes:
        for temporal in (False, True):
            document = large_definition(items, temporal)
            timings = {"parse": [], "compile": [], "render": []}
            for _ in range(3):
                started = time.perf_counter()
                definition = parse_definition(json.dumps(document))
                parsed = time.perf_counter()
                query = compile_definition(definition, lambda concept, standard: [concept])
                compiled = time.perf_counter()
                query.sql()
                rendered = time.perf_counter()
                timings["parse"].append(parsed - started)
                timings["compile"].append(compiled - parsed)
                timings["render"].append(rendered - compiled)
            rows.append({"items": items, "group": "temporal" if temporal else "union",
                         **{f"{k}_seconds": round(statistics.median(v), 4) for k, v in timings.items()}})
    return rows


def run_size(participants: int, workdir: Path, seed: int) -> dict:
    from research_workbench.synth import generate

    cdr = workdir / f"synth-{participants}"
    generated = None
    if not (cdr / "manifest.json").is_file():
        started = time.perf_counter()
        generate(participants, seed, cdr)
        generated = round(time.perf_counter() - started, 1)
    index_dir = workdir / f"synth-{participants}.index"
    started = time.perf_counter()
    build_index(cdr, index_dir, replace=True)
    index_seconds = time.perf_counter() - started

    engine = CohortEngine(index_dir)
    raw = Cdr(cdr).connect(connect())
    index_times, raw_times, rows = [], [], []
    for name, document, includes, excludes in SUITE:
        definition = parse_definition(document)
        engine.count(definition)  # warm
        timings = []
        for _ in range(5):
            count, ms = engine.count(definition)
            timings.append(ms)
        raw_query = raw_sql(includes, excludes)
        raw.execute(raw_query).fetchall()  # warm
        raw_timings = []
        for _ in range(3):
            started = time.perf_counter()
            (raw_count,) = raw.execute(raw_query).fetchall()[0]
            raw_timings.append((time.perf_counter() - started) * 1000)
        if raw_count != count:
            raise SystemExit(f"{name}: index count {count} differs from raw SQL count {raw_count}")
        index_times.append(statistics.median(timings))
        raw_times.append(statistics.median(raw_timings))
        rows.append({"definition": name, "count": count, "index_ms": round(statistics.median(timings), 1), "raw_sql_ms": round(statistics.median(raw_timings), 1)})
    search_times = []
    for term in SEARCH_TERMS * 3:
        started = time.perf_counter()
        search_criteria(index_dir, term)
        search_times.append((time.perf_counter() - started) * 1000)
    index_summary, raw_summary = summary(index_times), summary(raw_times)
    return {
        "participants": participants,
        "generate_seconds": generated,
        "index_build_seconds": round(index_seconds, 1),
        "cohort_count": index_summary,
        "raw_sql": raw_summary,
        "speedup_p50": round(raw_summary["p50_ms"] / index_summary["p50_ms"], 1),
        "speedup_min": round(min(r / i for r, i in zip(raw_times, index_times)), 1),
        "criteria_search": summary(search_times),
        "definitions": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, action="append", help="program size (repeatable); default 100000 and 1000000")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "rw-bench-cohorts", help="cache of generated programs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compile-items", type=int, action="append", help="definition sizes to compile (repeatable); default 100, 400, 800")
    parser.add_argument("--compile-only", action="store_true", help="only time the compilation of large definitions")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [] if args.compile_only else (args.participants or [100_000, 1_000_000])
    report = {"benchmark": "cohort_counts", "machine": {"cpus": os.cpu_count()}, "suite_size": len(SUITE),
              "compile": compile_times(args.compile_items or [100, 400, 800]),
              "runs": [run_size(n, args.workdir, args.seed) for n in sizes]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
