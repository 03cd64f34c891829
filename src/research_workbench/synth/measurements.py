"""Physical measurements at enrolment and biosamples.

Physical measurements (about 85 % of participants, on or shortly after the enrolment day): height, weight, BMI
(computed from them), systolic and diastolic blood pressure and heart rate (means of the 2nd and 3rd readings),
waist and hip circumference. Rows carry the PPI source concept (``measurement_source_concept_id``, e.g. 903133
height) and, where one exists, the LOINC standard concept; type 44818701 (from physical examination).
Blood pressure follows hypertension, weight the participant's BMI.

A few measurements are replaced by impossible values (``out_of_range_measurement`` defects): height, weight or
BMI outside curation's limits. BMI is always computed from the true height and weight, so one defect makes one
out-of-range row.

Biosamples (about 80 %, at enrolment): blood, urine and saliva specimens.
"""

from __future__ import annotations

import numpy as np

from ..cdr.facts import DIASTOLIC, SYSTOLIC
from . import config as C
from .defects import OUT_OF_RANGE
from .frame import NULL_INT, Frame, concat, lookup_strings
from .participants import People
from .vocab import Vocabulary

MPD = C.MICROS_PER_DAY
# Blood pressure: the concepts the search index pairs systolic with diastolic by (cdr.facts: EHR LOINC, then PPI).
EHR_SYSTOLIC, PPI_SYSTOLIC = SYSTOLIC
EHR_DIASTOLIC, PPI_DIASTOLIC = DIASTOLIC
# (PPI source concept, standard concept, unit concept, unit source value)
PM = {
    "height": (903133, 3036277, 8582, "cm"),
    "weight": (903121, 3025315, 9529, "kg"),
    "bmi": (903124, 3038553, 9531, "kg/m2"),
    "sbp": (PPI_SYSTOLIC, EHR_SYSTOLIC, 8876, "mm[Hg]"),
    "dbp": (PPI_DIASTOLIC, EHR_DIASTOLIC, 8876, "mm[Hg]"),
    "hr": (903126, 3027018, 8541, "/min"),
    "waist": (903135, 3016258, 8582, "cm"),
    "hip": (903136, 903136, 8582, "cm"),
}
SHARE_OUT_OF_RANGE = 0.003
LIMITS = {903133: (90.0, 228.0), 903121: (30.0, 250.0), 903124: (10.0, 125.0)}


def physical_measurements(rng: np.random.Generator, people: People, vocab: Vocabulary) -> Frame:
    p = people
    rows = np.flatnonzero(p.has_pm)
    k = len(rows)
    if k == 0:
        return {}
    day = p.enrol[rows] + np.where(rng.random(k) < 0.8, 0, rng.integers(1, 30, k))
    last = np.where(p.death[rows] != C.NULL_DAY, p.death[rows] - 1, C.DATA_CUTOFF)
    day = np.minimum(day, np.maximum(last, p.enrol[rows]))
    htn = p.cond["htn"][rows]
    height = np.round(np.clip(p.height[rows] + rng.normal(0, 0.8, k), 120, 215), 1)
    weight = np.round(np.clip(p.bmi[rows] * (p.height[rows] / 100) ** 2 * rng.normal(1, 0.01, k), 32, 245), 1)
    bmi = np.round(weight / (height / 100) ** 2, 1)
    sbp = np.round(np.where(htn, rng.normal(141, 15, k), rng.normal(120 + 0.3 * (p.age_enrol[rows] - 50), 12, k)))
    dbp = np.round(np.minimum(np.where(htn, rng.normal(87, 10, k), rng.normal(76, 8, k)), sbp - 15))
    hr = np.round(np.clip(rng.normal(73, 11, k), 40, 140))
    waist = np.round(np.clip(0.92 * bmi * 3.2 + rng.normal(0, 6, k) + np.where(p.female[rows], -4, 3), 55, 180), 1)
    hip = np.round(np.clip(waist * np.where(p.female[rows], 1.18, 1.05) + rng.normal(0, 4, k), 65, 190), 1)
    values = {"height": height, "weight": weight, "bmi": bmi, "sbp": np.clip(sbp, 80, 230), "dbp": np.clip(dbp, 40, 140),
              "hr": hr, "waist": waist, "hip": hip}
    codes = {cid: row["concept_code"] for cid, row in vocab.concepts.items()}
    frames = []
    minute = rng.integers(8 * 60, 18 * 60, k)
    for name, (source, standard, unit, unit_sv) in PM.items():
        present = rng.random(k) < (0.995 if name in ("height", "weight", "bmi", "sbp", "dbp", "hr") else 0.93)
        value = values[name].astype(np.float64)
        defect = np.zeros(k, dtype=np.int8)
        if source in LIMITS:
            bad = present & (rng.random(k) < SHARE_OUT_OF_RANGE)
            lo, hi = LIMITS[source]
            wild = np.where(rng.random(k) < 0.5, lo * rng.uniform(0.2, 0.8, k), hi * rng.uniform(1.3, 3.0, k))
            value = np.where(bad, np.round(wild, 1), value)
            defect[bad] = OUT_OF_RANGE
        r = np.flatnonzero(present)
        frames.append({
            "measurement_id": np.zeros(len(r), dtype=np.int64),
            "person_id": p.person_id[rows][r],
            "measurement_concept_id": np.full(len(r), standard),
            "measurement_date": day[r].astype(np.int32),
            "measurement_datetime": day[r] * MPD + minute[r] * 60_000_000,
            "measurement_type_concept_id": np.full(len(r), 44818701),
            "value_as_number": value[r],
            "unit_concept_id": np.full(len(r), unit),
            "visit_occurrence_id": np.full(len(r), NULL_INT),
            "measurement_source_value": lookup_strings(np.full(len(r), source), codes),
            "measurement_source_concept_id": np.full(len(r), source),
            "unit_source_value": lookup_strings(np.zeros(len(r), dtype=np.int64), {0: unit_sv}),
            "_defect": defect[r],
            "_src": np.ones(len(r), dtype=np.int8),
        })
    return concat(frames)


SPECIMENS = ((4001225, "blood", 0.93, 10.0), (4046280, "urine", 0.85, 30.0), (2001900003, "saliva", 0.12, 2.0))


def specimens(rng: np.random.Generator, people: People) -> Frame:
    p = people
    rows = np.flatnonzero(p.has_bio)
    k = len(rows)
    if k == 0:
        return {}
    day = p.enrol[rows] + np.where(rng.random(k) < 0.85, 0, rng.integers(1, 60, k))
    last = np.where(p.death[rows] != C.NULL_DAY, p.death[rows] - 1, C.DATA_CUTOFF)
    day = np.minimum(day, np.maximum(last, p.enrol[rows]))
    frames = []
    for concept, name, share, ml in SPECIMENS:
        present = rng.random(k) < share
        if name == "blood":
            present |= p.has_genome[rows]  # genomes come from blood
        r = np.flatnonzero(present)
        frames.append({
            "specimen_id": np.zeros(len(r), dtype=np.int64),
            "person_id": p.person_id[rows][r],
            "specimen_concept_id": np.full(len(r), concept),
            "specimen_type_concept_id": np.full(len(r), 32817),
            "specimen_date": day[r].astype(np.int32),
            "specimen_datetime": day[r] * MPD + rng.integers(8 * 60, 17 * 60, len(r)) * 60_000_000,
            "quantity": np.round(rng.uniform(0.5, 1.0, len(r)) * ml, 1),
            "unit_concept_id": np.full(len(r), 8587),
            "specimen_source_value": lookup_strings(np.zeros(len(r), dtype=np.int64), {0: name}),
            "unit_source_value": lookup_strings(np.zeros(len(r), dtype=np.int64), {0: "mL"}),
        })
    return concat(frames)
