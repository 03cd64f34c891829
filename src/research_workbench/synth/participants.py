"""Participants: demographics, program status and the latent health state that every other source renders.

One call draws a chunk of participants (vectorised). Besides the survey demographics (race with multi-select,
ethnicity, gender identity, sex at birth, sexual orientation, education, employment, state and zip) it draws the
facts the other generators share: enrolment, consent, withdrawal, deactivation and death dates, which data types
the participant contributes, genetic ancestry and genotypes at the causal variants, smoking, body size, and the
chronic conditions (with their correlations: age, sex, BMI, smoking, each other and the causal variants).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import config as C
from .vocab import PREFER_NOT_TO_ANSWER, SKIP, Vocabulary

ANCESTRY = {name: i for i, name in enumerate(C.ANCESTRIES)}
# genetic ancestry given the first self-reported race answer (afr, amr, eas, eur, mid, sas, oth)
_ANCESTRY_BY_RACE = {
    "WhatRaceEthnicity_AIAN": [0.02, 0.75, 0.03, 0.10, 0.0, 0.0, 0.10],
    "WhatRaceEthnicity_Asian": [0.0, 0.01, 0.55, 0.02, 0.0, 0.38, 0.04],
    "WhatRaceEthnicity_Black": [0.86, 0.04, 0.0, 0.04, 0.01, 0.0, 0.05],
    "WhatRaceEthnicity_MENA": [0.01, 0.01, 0.0, 0.10, 0.84, 0.01, 0.03],
    "WhatRaceEthnicity_NHPI": [0.0, 0.02, 0.50, 0.05, 0.0, 0.0, 0.43],
    "WhatRaceEthnicity_White": [0.01, 0.03, 0.0, 0.90, 0.02, 0.0, 0.04],
    "WhatRaceEthnicity_Hispanic": [0.06, 0.78, 0.0, 0.08, 0.0, 0.0, 0.08],
    "WhatRaceEthnicity_RaceEthNoneOfThese": [0.15, 0.2, 0.05, 0.3, 0.05, 0.05, 0.2],
    "none": [0.2, 0.2, 0.05, 0.35, 0.05, 0.05, 0.1],
}
OMOP_RACE = {
    "WhatRaceEthnicity_White": 8527,
    "WhatRaceEthnicity_Black": 8516,
    "WhatRaceEthnicity_Asian": 8515,
    "WhatRaceEthnicity_AIAN": 8657,
    "WhatRaceEthnicity_NHPI": 8557,
}
CONDITIONS = (
    "t2d", "htn", "hld", "ckd", "cad", "af", "hf", "stroke", "dep", "anx", "asthma", "copd", "obesity",
    "hypothyroid", "oa", "cancer", "alzheimers", "gerd", "anemia", "pregnancy",
)


@dataclass
class People:
    n: int
    index: np.ndarray  # global participant index
    person_id: np.ndarray
    dob: np.ndarray  # days since 1970
    birth_seconds: np.ndarray  # seconds after midnight of the birth datetime
    enrol: np.ndarray  # enrolment (= primary consent) day
    age_enrol: np.ndarray  # years (float)
    ehr_consent: np.ndarray  # day or NULL
    withdrawn: np.ndarray  # day or NULL
    deactivated: np.ndarray  # day or NULL
    death: np.ndarray  # day or NULL
    under18: np.ndarray  # bool: consented before 18 (a defect)
    sex: np.ndarray  # sex-at-birth answer concept (or skip/PNA)
    female: np.ndarray  # bool, biological sex used by the disease models
    gender: np.ndarray  # gender identity answer concept
    race1: np.ndarray  # first race answer concept (or skip/PNA)
    race2: np.ndarray  # second race answer or 0
    hispanic: np.ndarray  # bool
    orientation: np.ndarray
    education: np.ndarray
    employment: np.ndarray
    state: np.ndarray  # index into vocab.states
    zip5: np.ndarray  # int
    ancestry: np.ndarray  # int8 code into config.ANCESTRIES
    smoking: np.ndarray  # 0 never, 1 former, 2 current
    height: np.ndarray  # cm
    bmi: np.ndarray
    genotypes: np.ndarray  # (n, K) uint8 allele counts at the causal variants
    cond: dict[str, np.ndarray]  # latent condition flags
    has_ehr: np.ndarray
    has_pm: np.ndarray
    has_bio: np.ndarray
    has_wear: np.ndarray
    has_genome: np.ndarray
    ehr_start: np.ndarray
    ehr_end: np.ndarray  # last day EHR events may fall on (cutoff or death)

    @property
    def weight(self) -> np.ndarray:
        return self.bmi * (self.height / 100.0) ** 2

    def age_at(self, days: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        dob = self.dob if rows is None else self.dob[rows]
        return (np.asarray(days) - dob) / 365.25


def _choice(rng: np.random.Generator, values: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.asarray(values)[rng.choice(len(values), size=n, p=p / p.sum())]


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_people(seed: int, chunk: int, start: int, n: int, vocab: Vocabulary) -> People:
    from .rng import stream

    rng = stream(seed, "people", chunk)
    index = np.arange(start, start + n, dtype=np.int64)
    person_id = C.PERSON_ID_BASE + index + 1

    # --- enrolment and age -------------------------------------------------------------------------------
    enrol = rng.integers(C.PROGRAM_START, C.ENROLMENT_END + 1, size=n)
    age = 18.0 + rng.beta(1.9, 2.3, size=n) * 84.0  # 18-102, mean ~56, ~3 % over 89
    age = np.minimum(age, 100.99)
    under18 = rng.random(n) < C.SHARE_UNDER_18
    age = np.where(under18, 16.0 + rng.random(n) * 1.9, age)
    dob = (enrol - np.floor(age * 365.25)).astype(np.int64)
    birth_seconds = rng.integers(0, 86_400, size=n)
    age_enrol = (enrol - dob) / 365.25

    # --- demographics (survey answers) ---------------------------------------------------------------------
    q_race = vocab.question("Race_WhatRaceEthnicity")
    race_ids = q_race.answer_ids()
    race_codes = [a.code for a in q_race.answers]
    race1 = _choice(rng, race_ids, q_race.weights(), n)
    multi = rng.random(n) < 0.05
    race2 = np.where(multi, _choice(rng, race_ids, q_race.weights(), n), 0)
    race2 = np.where(race2 == race1, 0, race2)
    u = rng.random(n)
    race1 = np.where(u < 0.015, PREFER_NOT_TO_ANSWER, np.where(u < 0.025, SKIP, race1))
    race2 = np.where(race1 < 1_000_000, 0, race2)  # no second answer after skip / PNA
    hispanic_id = q_race.answer("WhatRaceEthnicity_Hispanic").concept_id
    hispanic = (race1 == hispanic_id) | (race2 == hispanic_id)

    q_sex = vocab.question("BiologicalSexAtBirth_SexAtBirth")
    male_id, female_id = q_sex.answer("SexAtBirth_Male").concept_id, q_sex.answer("SexAtBirth_Female").concept_id
    sex = _choice(rng, q_sex.answer_ids(), q_sex.weights(), n)
    u = rng.random(n)
    sex = np.where(u < 0.006, PREFER_NOT_TO_ANSWER, np.where(u < 0.01, SKIP, sex))
    female = np.where(np.isin(sex, [male_id, female_id]), sex == female_id, rng.random(n) < 0.5)

    q_gender = vocab.question("Gender_GenderIdentity")
    man, woman = q_gender.answer("GenderIdentity_Man").concept_id, q_gender.answer("GenderIdentity_Woman").concept_id
    other_gender = np.array([a.concept_id for a in q_gender.answers if a.concept_id not in (man, woman)])
    u = rng.random(n)
    gender = np.where(female, woman, man)
    gender = np.where(u < 0.018, other_gender[rng.integers(0, len(other_gender), size=n)], gender)
    gender = np.where((u >= 0.018) & (u < 0.026), np.where(female, man, woman), gender)  # identity differs from sex
    gender = np.where((u >= 0.026) & (u < 0.036), PREFER_NOT_TO_ANSWER, gender)

    def attribute(code: str, pna: float = 0.02) -> np.ndarray:
        q = vocab.question(code)
        values = _choice(rng, q.answer_ids(), q.weights(), n)
        return np.where(rng.random(n) < pna, PREFER_NOT_TO_ANSWER, values)

    orientation = attribute("TheBasics_SexualOrientation", 0.03)
    education = attribute("EducationLevel_HighestGrade", 0.01)
    employment = attribute("Employment_EmploymentStatus", 0.01)
    q_emp = vocab.question("Employment_EmploymentStatus")
    retired, student = q_emp.answer("EmploymentStatus_Retired").concept_id, q_emp.answer("EmploymentStatus_Student").concept_id
    employment = np.where((age_enrol > 67) & (rng.random(n) < 0.7), retired, employment)
    employment = np.where((age_enrol < 40) & (employment == retired), student, employment)

    weights = np.array([s.weight for s in vocab.states])
    state = rng.choice(len(vocab.states), size=n, p=weights / weights.sum())
    zfrom = np.array([s.zip3_from for s in vocab.states])[state]
    zto = np.array([s.zip3_to for s in vocab.states])[state]
    zip5 = (zfrom + (rng.random(n) * (zto - zfrom + 1)).astype(np.int64)) * 100 + rng.integers(0, 100, size=n)

    # --- genetic ancestry and causal genotypes -------------------------------------------------------------
    probs = np.zeros((n, len(C.ANCESTRIES)))
    code_of = {cid: code for cid, code in zip(race_ids, race_codes)}
    for cid in np.unique(race1):
        rows = race1 == cid
        probs[rows] = _ANCESTRY_BY_RACE.get(code_of.get(int(cid), "none"), _ANCESTRY_BY_RACE["none"])
    admixed = race2 != 0
    probs[admixed] = 0.4 * probs[admixed] + 0.6 * np.eye(len(C.ANCESTRIES))[ANCESTRY["oth"]]
    probs /= probs.sum(axis=1, keepdims=True)
    cum = probs.cumsum(axis=1)
    ancestry = (rng.random(n)[:, None] > cum).sum(axis=1).astype(np.int8)
    ancestry = np.minimum(ancestry, len(C.ANCESTRIES) - 1)
    causal = vocab.causal_variants
    af = np.array([[float(v[f"af_{a}"]) for a in C.ANCESTRIES] for v in causal])  # (K, 7)
    p = af[:, ancestry].T  # (n, K)
    genotypes = ((rng.random((n, len(causal))) < p).astype(np.uint8) + (rng.random((n, len(causal))) < p)).astype(np.uint8)
    g = {v["trait"]: genotypes[:, k].astype(np.float64) for k, v in enumerate(causal)}
    effect = {v["trait"]: float(v["effect_per_allele"]) for v in causal}

    # --- smoking and body size ---------------------------------------------------------------------------
    u = rng.random(n)
    p_current = 0.12 + 0.04 * (~female) - 0.0015 * (age_enrol - 50)
    p_former = 0.22 + 0.003 * (age_enrol - 50)
    smoking = np.where(u < p_current, 2, np.where(u < p_current + p_former, 1, 0)).astype(np.int8)
    height = np.where(female, rng.normal(162.5, 6.8, n), rng.normal(176.0, 7.4, n))
    height = np.clip(height, 140.0, 205.0)
    black = (race1 == q_race.answer("WhatRaceEthnicity_Black").concept_id) | (race2 == q_race.answer("WhatRaceEthnicity_Black").concept_id)
    asian = race1 == q_race.answer("WhatRaceEthnicity_Asian").concept_id
    bmi = rng.lognormal(np.log(27.5), 0.19, n) + effect["bmi"] * g["bmi"] + 1.2 * black * female - 2.0 * asian
    bmi = np.clip(bmi, 15.5, 65.0)

    # --- program status ------------------------------------------------------------------------------------
    has_ehr = rng.random(n) < C.SHARE_EHR
    ehr_consent = np.where(has_ehr, enrol + rng.integers(0, 30, size=n), np.where(rng.random(n) < 0.2, enrol, C.NULL_DAY))
    has_pm = rng.random(n) < C.SHARE_PHYSICAL_MEASUREMENTS
    has_bio = rng.random(n) < C.SHARE_BIOSAMPLES
    has_genome = has_bio & (rng.random(n) < C.SHARE_GENOMES / C.SHARE_BIOSAMPLES)
    withdrawn = np.where(rng.random(n) < C.SHARE_WITHDRAWN, enrol + rng.integers(30, 900, size=n), C.NULL_DAY)
    withdrawn = np.where(withdrawn > C.DATA_CUTOFF, C.DATA_CUTOFF, withdrawn)
    deactivated = np.where(rng.random(n) < C.SHARE_DEACTIVATED, enrol + rng.integers(60, 1500, size=n), C.NULL_DAY)
    deactivated = np.where(deactivated >= C.DATA_CUTOFF - 30, C.NULL_DAY, deactivated)
    deactivated = np.where(withdrawn != C.NULL_DAY, C.NULL_DAY, deactivated)

    # --- latent conditions -----------------------------------------------------------------------------------
    a = (age_enrol - 50.0) / 10.0
    b = bmi - 28.0
    cur, former = smoking == 2, smoking == 1
    hisp = hispanic.astype(float)
    rnd = lambda: rng.random(n)  # noqa: E731
    cond: dict[str, np.ndarray] = {}
    cond["t2d"] = rnd() < _logistic(-2.55 + 0.45 * a + 0.10 * b + 0.45 * black + 0.35 * hisp + effect["type2_diabetes"] * (g["type2_diabetes"] - 0.5))
    cond["htn"] = rnd() < _logistic(-1.0 + 0.60 * a + 0.06 * b + 0.65 * black + 0.55 * cond["t2d"])
    cond["hld"] = rnd() < _logistic(-1.55 + 0.40 * a + 0.55 * cond["t2d"] + effect["hyperlipidemia"] * (g["hyperlipidemia"] - 0.3))
    cond["ckd"] = rnd() < _logistic(-3.7 + 0.55 * a + 0.95 * cond["t2d"] + 0.7 * cond["htn"] + effect["chronic_kidney_disease"] * g["chronic_kidney_disease"])
    cond["cad"] = rnd() < _logistic(-3.6 + 0.65 * a + 0.5 * (~female) + 0.5 * cond["t2d"] + 0.4 * cond["htn"] + 0.4 * cond["hld"] + 0.6 * cur + effect["coronary_disease"] * (g["coronary_disease"] - 0.9))
    cond["af"] = rnd() < _logistic(-4.2 + 0.8 * a + 0.3 * (~female))
    cond["hf"] = rnd() < _logistic(-4.6 + 0.7 * a + 0.9 * cond["cad"] + 0.5 * cond["htn"])
    cond["stroke"] = rnd() < _logistic(-4.6 + 0.7 * a + 0.6 * cond["htn"] + 0.5 * cond["af"])
    cond["dep"] = rnd() < _logistic(-1.95 + 0.55 * female - 0.12 * a + 0.35 * cur)
    cond["anx"] = rnd() < _logistic(-2.4 + 0.5 * female - 0.1 * a + 0.8 * cond["dep"])
    cond["asthma"] = rnd() < _logistic(-2.45 + 0.3 * female + 0.3 * (cur | former) + 0.02 * b)
    cond["copd"] = rnd() < _logistic(-5.2 + 0.55 * a + 2.3 * cur + 1.6 * former + 0.4 * cond["asthma"])
    cond["obesity"] = (bmi >= 30.0) & (rnd() < 0.65)
    cond["hypothyroid"] = rnd() < _logistic(-3.9 + 1.0 * female + 0.2 * a)
    cond["oa"] = rnd() < _logistic(-2.6 + 0.6 * a + 0.04 * b)
    cond["cancer"] = rnd() < _logistic(-3.6 + 0.5 * a + 0.4 * cur)
    cond["alzheimers"] = (age_enrol > 60) & (rnd() < _logistic(-5.0 + 0.9 * a + 0.8 * g["hyperlipidemia"]))
    cond["gerd"] = rnd() < 0.10
    cond["anemia"] = rnd() < _logistic(-2.6 + 0.6 * female + 0.5 * cond["ckd"])
    cond["pregnancy"] = female & (age_enrol < 43) & (rnd() < 0.16)

    # --- death -------------------------------------------------------------------------------------------------
    hazard = _logistic(-5.4 + 0.85 * a + 0.8 * cond["hf"] + 0.5 * cond["ckd"] + 0.5 * cond["copd"] + 0.5 * cond["cancer"])
    dies = (rnd() < hazard) & ~under18
    death_day = enrol + 30 + (rnd() * np.maximum(C.DATA_CUTOFF - enrol - 60, 1)).astype(np.int64)
    death = np.where(dies, death_day, C.NULL_DAY)
    death = np.where(deactivated != C.NULL_DAY, C.NULL_DAY, death)

    # --- EHR window ----------------------------------------------------------------------------------------------
    lookback = (rng.uniform(1.0, 14.0, n) * 365.25).astype(np.int64)
    ehr_start = np.maximum.reduce([np.full(n, C.EHR_EARLIEST), dob + int(16 * 365.25), enrol - lookback])
    ehr_end = np.where(death != C.NULL_DAY, death - 1, C.DATA_CUTOFF)
    has_ehr &= ehr_end - ehr_start > 60

    has_wear = rng.random(n) < C.SHARE_WEARABLES
    has_wear &= (np.where(death != C.NULL_DAY, death, C.DATA_CUTOFF) - enrol) > C.WEARABLE_MAX_DAYS + 60
    has_wear &= ~((deactivated != C.NULL_DAY) & (deactivated - enrol < C.WEARABLE_MAX_DAYS + 60))

    return People(
        n=n, index=index, person_id=person_id, dob=dob, birth_seconds=birth_seconds, enrol=enrol, age_enrol=age_enrol,
        ehr_consent=ehr_consent, withdrawn=withdrawn, deactivated=deactivated, death=death, under18=under18,
        sex=sex, female=female, gender=gender, race1=race1, race2=race2, hispanic=hispanic, orientation=orientation,
        education=education, employment=employment, state=state, zip5=zip5, ancestry=ancestry, smoking=smoking,
        height=height, bmi=bmi, genotypes=genotypes, cond=cond, has_ehr=has_ehr, has_pm=has_pm, has_bio=has_bio,
        has_wear=has_wear, has_genome=has_genome, ehr_start=ehr_start, ehr_end=ehr_end,
    )


GENDER_OMOP = {1585839: 8507, 1585840: 8532, 1585841: 8521, 1585842: 8521, 1585843: 8521}


def person_tables(people: People, vocab: Vocabulary) -> dict[str, dict]:
    """person, person_ext and participant_status frames (one row each per participant)."""
    from .frame import lookup_strings

    n = people.n
    codes = {cid: row["concept_code"] for cid, row in vocab.concepts.items()}
    q_race = vocab.question("Race_WhatRaceEthnicity")
    race_code_of = {a.concept_id: a.code for a in q_race.answers}
    race_omop = np.array([OMOP_RACE.get(race_code_of.get(int(r), ""), 0) for r in people.race1], dtype=np.int64)
    race_omop = np.where(people.race2 != 0, 2000000008, race_omop)
    race_source = np.where(people.race2 != 0, 2000000008, people.race1)
    ethnicity = np.where(people.hispanic, 38003563, np.where(people.race1 < 1_000_000, 0, 38003564))
    gender_omop = np.array([GENDER_OMOP.get(int(gid), 0) for gid in people.gender], dtype=np.int64)
    dob_date = people.dob.astype("datetime64[D]")
    year = dob_date.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (dob_date.astype("datetime64[M]").astype(np.int64) % 12) + 1
    dayofmonth = (dob_date - dob_date.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    site_of_state = np.array([s.site for s in vocab.states])
    person = {
        "person_id": people.person_id,
        "gender_concept_id": gender_omop,
        "year_of_birth": year,
        "month_of_birth": month,
        "day_of_birth": dayofmonth,
        "birth_datetime": people.dob * 86_400_000_000 + people.birth_seconds * 1_000_000,
        "race_concept_id": race_omop,
        "ethnicity_concept_id": ethnicity,
        "gender_source_value": lookup_strings(people.gender, codes),
        "gender_source_concept_id": people.gender,
        "race_source_value": lookup_strings(race_source, codes),
        "race_source_concept_id": race_source,
        "ethnicity_source_value": lookup_strings(np.where(people.hispanic, 1, 0), {1: "Hispanic", 0: "Not Hispanic"}),
        "ethnicity_source_concept_id": np.where(people.hispanic, 1586147, 0),
    }
    state_ids = np.array([s.concept_id for s in vocab.states])[people.state]
    state_codes = np.array([s.code for s in vocab.states])
    person_ext = {
        "person_id": people.person_id,
        "src_id": lookup_strings(np.zeros(n, dtype=np.int64), {0: "PPI/PM"}),
        "state_of_residence_concept_id": state_ids,
        "state_of_residence_source_value": lookup_strings(people.state, {i: f"PIIState_{c}" for i, c in enumerate(state_codes)}),
        "sex_at_birth_concept_id": people.sex,
        "sex_at_birth_source_concept_id": people.sex,
        "sex_at_birth_source_value": lookup_strings(people.sex, codes),
    }
    core = people.has_pm & people.has_bio
    status = np.where(core, 0, np.where(people.has_bio, 1, 2))
    participant_status = {
        "person_id": people.person_id,
        "enrollment_date": people.enrol.astype(np.int32),
        "primary_consent_date": people.enrol.astype(np.int32),
        "ehr_consent_date": _dates(people.ehr_consent),
        "withdrawal_date": _dates(people.withdrawn),
        "deactivation_date": _dates(people.deactivated),
        "enrollment_status": lookup_strings(status, {0: "CORE_PARTICIPANT", 1: "CORE_MINUS_PM", 2: "FULLY_CONSENTED"}),
        "src_id": lookup_strings(people.state, dict(enumerate(site_of_state))),
    }
    return {"person": person, "person_ext": person_ext, "participant_status": participant_status}


def _dates(days: np.ndarray) -> np.ndarray:
    from .frame import NULL_DATE

    days = np.asarray(days)
    return np.where(days == C.NULL_DAY, NULL_DATE, days).astype(np.int32)
