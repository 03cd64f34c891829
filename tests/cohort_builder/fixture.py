"""A small CDR in which each cohort-builder feature has a known answer.

Persons (gender, birth date): 1 M 1950-04-12 · 2 F 1960-01-01 · 3 F 1970-06-15 · 4 M 1980-03-03 · 5 F 1990-09-09 ·
6 M 2000-12-31 (deceased) · 7 F 1945-05-05 · 8 M 1985-07-07 (no EHR).
Hierarchy: 441840 → 201820 diabetes → 201826 type 2 diabetes → {443732, 4193704}; metformin 1503297 → 40163924;
lisinopril 1308216 → 1308251.

With ``genomes=True`` (``build(folder, genomes=True)``): whole genomes of persons 1–6 and genotyping arrays of 4 and 7
(their genomic_sample rows), and the index gets the two genotype stores of ``WGS`` and ``ARRAY`` (each variant's
genotypes by person: 0, 1 or 2 ALT alleles, -9 missing; absent persons 0), written after the index is built.
"""

from __future__ import annotations

from pathlib import Path

from ..helpers import write_csv

T2DM, T2DM_A, T2DM_B, DM, ROOT, HTN = 201826, 443732, 4193704, 201820, 441840, 320128
E11_9 = 45533023
METFORMIN, METFORMIN_TAB, LISINOPRIL, LISINOPRIL_TAB = 1503297, 40163924, 1308216, 1308251
HBA1C, SYSTOLIC, DIASTOLIC, ABNORMAL = 3004410, 3004249, 3012888, 4069590
INPATIENT, OUTPATIENT = 9201, 9202
BASICS, SMOKING, YES, NO = 1586134, 1585857, 1585858, 1585859
HEIGHT_PPI, HEIGHT = 903133, 3036277

CONCEPTS = [
    (ROOT, "Clinical finding", "Condition", "SNOMED", "S", "404684003"), (DM, "Diabetes mellitus", "Condition", "SNOMED", "S", "73211009"),
    (T2DM, "Type 2 diabetes mellitus", "Condition", "SNOMED", "S", "44054006"),
    (T2DM_A, "Type 2 diabetes mellitus with renal complication", "Condition", "SNOMED", "S", "420279001"),
    (T2DM_B, "Type 2 diabetes mellitus without complication", "Condition", "SNOMED", "S", "313436004"),
    (HTN, "Essential hypertension", "Condition", "SNOMED", "S", "59621000"),
    (E11_9, "Type 2 diabetes mellitus without complications", "Condition", "ICD10CM", "", "E11.9"),
    (METFORMIN, "metformin", "Drug", "RxNorm", "S", "6809"), (METFORMIN_TAB, "metformin 500 MG Oral Tablet", "Drug", "RxNorm", "S", "861007"),
    (LISINOPRIL, "lisinopril", "Drug", "RxNorm", "S", "29046"), (LISINOPRIL_TAB, "lisinopril 10 MG Oral Tablet", "Drug", "RxNorm", "S", "314076"),
    (HBA1C, "Hemoglobin A1c", "Measurement", "LOINC", "S", "4548-4"), (SYSTOLIC, "Systolic blood pressure", "Measurement", "LOINC", "S", "8480-6"),
    (DIASTOLIC, "Diastolic blood pressure", "Measurement", "LOINC", "S", "8462-4"), (HEIGHT, "Body height", "Measurement", "LOINC", "S", "8302-2"),
    (HEIGHT_PPI, "Height", "Measurement", "PPI", "", "height"), (BASICS, "The Basics", "Observation", "PPI", "", "TheBasics"),
    (SMOKING, "Smoking: 100 Cigs Lifetime", "Observation", "PPI", "", "Smoking_100CigsLifetime"),
    (YES, "100 Cigs Lifetime: Yes", "Observation", "PPI", "", "CheckAllThatApply_Yes"), (NO, "100 Cigs Lifetime: No", "Observation", "PPI", "", "CheckAllThatApply_No"),
    (INPATIENT, "Inpatient Visit", "Visit", "Visit", "S", "IP"), (OUTPATIENT, "Outpatient Visit", "Visit", "Visit", "S", "OP"),
]
EDGES = [(ROOT, DM, 1), (ROOT, T2DM, 2), (ROOT, T2DM_A, 3), (ROOT, T2DM_B, 3), (DM, T2DM, 1), (DM, T2DM_A, 2), (DM, T2DM_B, 2),
         (T2DM, T2DM_A, 1), (T2DM, T2DM_B, 1), (METFORMIN, METFORMIN_TAB, 1), (LISINOPRIL, LISINOPRIL_TAB, 1)]
MAPS_TO = [(E11_9, T2DM)]  # concept_relationship "Maps to": the search shows E11.9 → SNOMED 44054006
PERSONS = [(1, 8507, 1950, 4, 12), (2, 8532, 1960, 1, 1), (3, 8532, 1970, 6, 15), (4, 8507, 1980, 3, 3), (5, 8532, 1990, 9, 9),
           (6, 8507, 2000, 12, 31), (7, 8532, 1945, 5, 5), (8, 8507, 1985, 7, 7)]
RACE = {1: 8527, 2: 8516, 3: 8527, 4: 8515, 5: 8527, 6: 8516, 7: 8527, 8: 8527}
VISITS = [(1001, 1, OUTPATIENT, "2010-04-11"), (1002, 1, OUTPATIENT, "2011-01-01"), (1003, 3, INPATIENT, "2015-01-01")]
CONDITIONS = [  # id, person, concept, date, visit, source concept
    (1, 1, T2DM_A, "2010-04-11", 1001, E11_9), (2, 1, T2DM_B, "2011-01-01", 1002, 0),
    (3, 2, T2DM, "2012-05-01", "", 0), (4, 2, T2DM, "2012-06-01", "", 0), (5, 2, T2DM, "2013-01-01", "", 0), (6, 2, HTN, "2012-05-01", "", 0),
    (7, 3, HTN, "2015-01-01", 1003, 0), (8, 4, DM, "2000-01-01", "", 0), (9, 6, T2DM, "2019-01-01", "", 0), (10, 7, HTN, "2000-01-01", "", 0),
]
DRUGS = [(1, 1, METFORMIN_TAB, "2010-04-20", ""), (2, 2, METFORMIN_TAB, "2012-04-20", ""), (3, 3, LISINOPRIL_TAB, "2015-01-01", 1003)]
MEASUREMENTS = [  # id, person, concept, date, datetime, value, value concept, visit, source concept
    (1, 1, HBA1C, "2010-04-11", "", 7.2, "", 1001, ""), (2, 2, HBA1C, "2012-05-01", "", 6.0, ABNORMAL, "", ""),
    (3, 4, HBA1C, "2000-01-01", "", 8.1, "", "", ""),
    (4, 1, SYSTOLIC, "2010-04-11", "2010-04-11 08:00:00", 150, "", 1001, ""), (5, 1, DIASTOLIC, "2010-04-11", "2010-04-11 08:00:00", 95, "", 1001, ""),
    (6, 3, SYSTOLIC, "2015-01-01", "2015-01-01 09:00:00", 120, "", 1003, ""), (7, 3, DIASTOLIC, "2015-01-01", "2015-01-01 09:00:00", 80, "", 1003, ""),
    (8, 5, HEIGHT, "2018-06-01", "", 165, "", "", HEIGHT_PPI),
]
SURVEYS = [(500, 5, BASICS, "2018-06-01"), (501, 7, BASICS, "2018-07-01")]
ANSWERS = [(1, 5, SMOKING, "2018-06-01", YES, 500), (2, 7, SMOKING, "2018-07-01", NO, 501)]
CONSENT = [(1, "2018-01-01"), (5, "2018-06-01"), (8, "2019-01-01")]

WGS_SAMPLES = [4, 1, 6, 2, 5, 3]  # store order, not person order: criteria must map by person id
ARRAY_SAMPLES = [7, 4]


def _variant(rsid, vid, gene, consequence):
    chrom, pos, ref, alt = vid.split("-")
    return {"variant_id": vid, "chrom": f"chr{chrom}", "pos": int(pos), "ref": ref, "alt": alt, "rsid": rsid, "gene": gene,
            "consequence": consequence}


# (variant, genotypes by person). Allele frequencies over the store's called samples are in the comments.
WGS = [
    (_variant("rs7903146", "10-114758349-C-T", "TCF7L2", "intron_variant"), {1: 1, 2: 2, 4: 1, 6: -9}),  # AF 4/10
    (_variant("rs34872471", "10-114800000-G-A", "TCF7L2", "missense_variant"), {3: 1}),  # 1/12
    (_variant("rs9939609", "16-53786615-T-A", "FTO", "intron_variant"), {2: 1, 5: 2, 6: 2}),  # 5/12
    (_variant("rs429358", "19-44908684-T-C", "APOE", "missense_variant"), {1: 2, 2: 2, 3: 2, 4: 2, 5: 1, 6: 2}),  # 11/12
    (_variant("rs7412", "19-44908822-C-T", "APOE", "missense_variant"), {}),  # 0
    (_variant(None, "22-36265860-A-G", "APOL1", "missense_variant"), {6: 1}),  # 1/12
]
ARRAY = [
    (_variant("rs7903146", "10-114758349-C-T", "TCF7L2", "intron_variant"), {4: 1, 7: 2}),  # 3/4
    (_variant("rs9939609", "16-53786615-T-A", "FTO", "intron_variant"), {}),  # 0
]


def add_genomes(index_dir: Path) -> None:
    """Write the genotype stores of ``WGS`` and ``ARRAY`` into a built index."""
    import numpy as np

    from research_workbench.index.genotype_store import GenotypeStoreWriter

    for kind, samples, variants in (("wgs", WGS_SAMPLES, WGS), ("array", ARRAY_SAMPLES, ARRAY)):
        writer = GenotypeStoreWriter(index_dir, kind, np.array(samples))
        writer.add([v for v, _ in variants], np.array([[g.get(p, 0) for p in samples] for _, g in variants], dtype=np.int8))
        writer.close()


def build(folder: Path, *, genomes: bool = False) -> Path:
    """Write the source CSVs, load them, and build the index (with genotype stores if ``genomes``); returns the CDR
    directory."""
    from research_workbench.index import build_index
    from research_workbench.ingest import load_omop_folder

    src = folder / "src"
    write_csv(src, "concept.csv", ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept", "concept_code",
                                   "valid_start_date", "valid_end_date"], [[c[0], c[1], c[2], c[3], "x", c[4], c[5], "1970-01-01", "2099-12-31"] for c in CONCEPTS])
    selves = {(c[0], c[0], 0) for c in CONCEPTS if c[4] == "S"}
    write_csv(src, "concept_ancestor.csv", ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation", "max_levels_of_separation"],
              [[a, d, n, n] for a, d, n in sorted(selves | set(EDGES))])
    write_csv(src, "concept_relationship.csv", ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date"],
              [[a, b, "Maps to", "1970-01-01", "2099-12-31"] for a, b in MAPS_TO])
    write_csv(src, "person.csv", ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "race_concept_id", "ethnicity_concept_id"],
              [[p, g, y, m, d, RACE[p], 38003564] for p, g, y, m, d in PERSONS])
    write_csv(src, "death.csv", ["person_id", "death_date"], [[6, "2020-01-01"]])
    write_csv(src, "visit_occurrence.csv", ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date", "visit_type_concept_id"],
              [[v, p, c, d, d, 32817] for v, p, c, d in VISITS])
    write_csv(src, "condition_occurrence.csv", ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date", "visit_occurrence_id",
                                                "condition_source_concept_id", "condition_type_concept_id"], [list(c) + [32817] for c in CONDITIONS])
    write_csv(src, "drug_exposure.csv", ["drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date", "visit_occurrence_id",
                                         "drug_exposure_end_date", "drug_type_concept_id"], [list(d) + [d[3], 32817] for d in DRUGS])
    write_csv(src, "measurement.csv", ["measurement_id", "person_id", "measurement_concept_id", "measurement_date", "measurement_datetime", "value_as_number",
                                       "value_as_concept_id", "visit_occurrence_id", "measurement_source_concept_id", "measurement_type_concept_id"],
              [list(m) + [32817] for m in MEASUREMENTS])
    write_csv(src, "survey_conduct.csv", ["survey_conduct_id", "person_id", "survey_concept_id", "survey_end_date"], [list(s) for s in SURVEYS])
    write_csv(src, "observation.csv", ["observation_id", "person_id", "observation_concept_id", "observation_date", "value_source_concept_id",
                                       "questionnaire_response_id", "observation_source_concept_id", "value_as_concept_id", "observation_type_concept_id"],
              [list(a) + [a[2], a[4], 45905771] for a in ANSWERS])
    write_csv(src, "participant_status.csv", ["person_id", "primary_consent_date", "enrollment_status"], [[p, d, "participant"] for p, d in CONSENT])
    write_csv(src, "steps_intraday.csv", ["person_id", "datetime", "steps"], [[5, "2018-07-01 10:00:00", 40]])
    samples = ([[f"W{p}", p, "wgs"] for p in sorted(WGS_SAMPLES)] + [[f"A{p}", p, "array"] for p in sorted(ARRAY_SAMPLES)]
               if genomes else [["S3", 3, "wgs"], ["S4", 4, "array"]])
    write_csv(src, "genomic_sample.csv", ["sample_id", "person_id", "data_type"], samples)
    cdr = folder / "cdr"
    load_omop_folder(src, cdr)
    index = build_index(cdr).path
    if genomes:
        add_genomes(index)
    return cdr
