"""Electronic health records for participants who share them: visits, conditions, drugs, procedures, labs and
vitals, observations, devices, observation periods and death records.

Everything is rendered from the latent state drawn in ``participants``: a condition is diagnosed at one visit and
mentioned again at later visits; its drugs are filled at visits on or after the diagnosis; its labs move with it
(HbA1c above 6.5 % for diabetics, raised LDL without a statin, falling eGFR in chronic kidney disease, raised
blood pressure in hypertension). Every event is attached to a visit of the same person and dated on that visit,
inside the person's EHR window (after age 16, before death and the data cutoff), so the clean data have no event
before birth or after death and no end before start; those appear only as injected defects (``defects``).

Some rows carry ICD10CM source concepts (mapped to SNOMED through "Maps to"); all other rows carry the standard
concept as their source concept too.
"""

from __future__ import annotations

import numpy as np

from ..cdr.facts import DIASTOLIC, SYSTOLIC, event_table
from . import config as C
from .frame import NULL_DATE, NULL_INT, Frame, concat, lookup_strings, sort
from .participants import People
from .vocab import Vocabulary

EHR_SYSTOLIC, EHR_DIASTOLIC = SYSTOLIC[0], DIASTOLIC[0]  # blood pressure as EHR LOINC codes (cdr.facts)

MPD = C.MICROS_PER_DAY
VISIT_TYPES = np.array([9202, 581477, 9203, 9201, 262])
VISIT_CODES = {9202: "OP", 581477: "OV", 9203: "ER", 9201: "IP", 262: "ERIP"}
VISIT_P = np.array([0.52, 0.28, 0.12, 0.06, 0.02])
ICD = {  # ICD10CM source code → program concept id (see vocabulary/concept.csv)
    "E11.9": 2001000002, "E11.65": 2001000003, "E11.22": 2001000004, "I10": 2001000005, "E78.5": 2001000007,
    "N18.3": 2001000009, "N18.4": 2001000010, "F32.9": 2001000012, "J45.909": 2001000014, "J44.9": 2001000016,
    "Z33.1": 2001000017, "O14.90": 2001000018, "I48.91": 2001000019, "I50.9": 2001000020, "I25.10": 2001000021,
    "E66.9": 2001000022, "J20.9": 2001000023, "N39.0": 2001000024, "K21.9": 2001000025, "D64.9": 2001000026,
    "E03.9": 2001000027, "M17.9": 2001000028, "J01.90": 2001000029, "K92.2": 35208414,
}
# standard concept → ICD10CM source concept used for a share of its rows
ICD_SOURCE = {
    201826: ICD["E11.9"], 192279: ICD["E11.22"], 320128: ICD["I10"], 432867: ICD["E78.5"], 443597: ICD["N18.3"],
    443612: ICD["N18.4"], 4282096: ICD["F32.9"], 317009: ICD["J45.909"], 255573: ICD["J44.9"], 4217975: ICD["Z33.1"],
    439393: ICD["O14.90"], 313217: ICD["I48.91"], 316139: ICD["I50.9"], 317576: ICD["I25.10"], 433736: ICD["E66.9"],
    260139: ICD["J20.9"], 81902: ICD["N39.0"], 318800: ICD["K21.9"], 439777: ICD["D64.9"], 140673: ICD["E03.9"],
    4079750: ICD["M17.9"], 4283893: ICD["J01.90"], 192671: ICD["K92.2"],
}
SHARE_ICD_CODED = 0.55

# latent condition → (standard concepts, probabilities)
CHRONIC = {
    "t2d": ([201826], [1.0]),
    "htn": ([320128], [1.0]),
    "hld": ([432867, 4120314], [0.9, 0.1]),
    "ckd": ([443614, 443601, 443597, 443612, 443611, 193782], [0.08, 0.22, 0.42, 0.16, 0.06, 0.06]),
    "cad": ([317576, 4329847], [0.7, 0.3]),
    "af": ([313217], [1.0]),
    "hf": ([316139, 4229440], [0.7, 0.3]),
    "stroke": ([381316], [1.0]),
    "dep": ([4152280, 4282096, 440383], [0.5, 0.4, 0.1]),
    "anx": ([442077, 4214746], [0.8, 0.2]),
    "asthma": ([317009], [1.0]),
    "copd": ([255573, 261325, 258780], [0.75, 0.15, 0.10]),
    "obesity": ([433736], [1.0]),
    "hypothyroid": ([140673], [1.0]),
    "oa": ([80180, 4079750, 4079749], [0.4, 0.4, 0.2]),
    "alzheimers": ([378419], [1.0]),
    "gerd": ([318800], [1.0]),
    "anemia": ([439777], [1.0]),
}
CKD_STAGE_EGFR = {443614: 95.0, 443601: 75.0, 443597: 45.0, 443612: 22.0, 443611: 11.0, 193782: 8.0}
T2D_COMPLICATIONS = [37016354, 4226121, 45757499, 45769905, 192279, 43530656]
ACUTE = np.array([40481087, 4294548, 260139, 4112343, 28060, 372328, 81902, 195588, 255848, 37311061, 81151, 378253,
                  4132891, 77074, 4223659, 254761, 437663, 133834, 4280726, 192671, 4027663, 4283893])
ACUTE_P = np.array([10, 4, 9, 8, 5, 4, 8, 3, 3, 4, 4, 6, 6, 5, 4, 6, 3, 2, 5, 1, 1, 3], dtype=float)
INFECTIONS = {40481087, 4294548, 260139, 4112343, 28060, 372328, 81902, 195588, 255848, 4283893}
COVID_START = C.day(__import__("datetime").date(2020, 3, 1))

# latent condition → list of (drug concepts, share of persons treated, fills mean)
REGIMENS = {
    "t2d": [([40163924], 0.85, 4.0), ([40166274, 19009384], 0.22, 4.0)],
    "htn": [([19080128, 19080129, 1341927, 1334456], 0.70, 4.0), ([1332419, 19073094], 0.30, 3.0), ([19078106], 0.22, 3.0)],
    "hld": [([1545959, 1539411, 1539463], 0.75, 4.0)],
    "dep": [([739207, 19077463, 797617, 715939], 0.65, 3.0)],
    "anx": [([739207, 715939], 0.25, 2.0)],
    "asthma": [([1154615, 1154380], 0.85, 2.5), ([40169216], 0.40, 2.5), ([1551192], 0.15, 1.0)],
    "copd": [([1106776], 0.50, 3.0), ([40169281], 0.40, 3.0), ([1154615], 0.60, 2.0)],
    "cad": [([19059056], 0.70, 3.0), ([19075601], 0.30, 2.0), ([19126352], 0.20, 1.0), ([1545959], 0.50, 3.0)],
    "af": [([40163554], 0.50, 4.0)],
    "hypothyroid": [([40174880], 0.85, 4.0)],
    "pregnancy": [([1396131], 0.40, 2.0)],
    "anemia": [([1396131], 0.30, 2.0)],
    "oa": [([1127433, 19020053], 0.40, 2.0), ([19078461], 0.30, 2.0)],
}
NOT_ORAL = {40166274, 19009384, 1154615, 1154380, 40169216, 40169281, 1106776, 19126352}
STATINS = {1545959, 1539411, 1539463}
INSULINS = {40166274, 19009384}


class Ehr:
    """Builds the EHR frames of one chunk."""

    def __init__(self, rng: np.random.Generator, people: People, vocab: Vocabulary):
        self.rng = rng
        self.p = people
        self.vocab = vocab
        self.codes = {cid: row["concept_code"] for cid, row in vocab.concepts.items()}
        self.rows = np.flatnonzero(people.has_ehr)  # people row of each EHR person
        self.n = len(self.rows)
        self.frames: dict[str, list[Frame]] = {k: [] for k in (
            "visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement",
            "observation", "device_exposure")}
        self.diag_rank: dict[str, np.ndarray] = {}
        self.treated: dict[int, np.ndarray] = {}  # drug concept group → first fill rank per EHR person (-1 = none)

    # ---- visits -------------------------------------------------------------------------------------------
    def visits(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        start, end = p.ehr_start[r], p.ehr_end[r]
        years = (end - start) / 365.25
        n_chronic = sum(p.cond[c][r].astype(np.int64) for c in CHRONIC)
        lam = np.clip(years * (0.32 + 0.2 * n_chronic), 1.0, 40.0)
        nv = np.clip(rng.poisson(lam), 1, 60)
        vp = np.repeat(np.arange(self.n), nv)
        day = start[vp] + (rng.random(len(vp)) * (end[vp] - start[vp])).astype(np.int64)
        order = np.lexsort((day, vp))
        day = day[order]
        self.nv = nv
        self.voff = np.cumsum(nv) - nv
        self.vp = vp
        self.vday = day
        kind = VISIT_TYPES[rng.choice(len(VISIT_TYPES), size=len(vp), p=VISIT_P)]
        length = np.where(kind == 9201, rng.integers(1, 11, len(vp)), np.where(kind == 262, rng.integers(1, 8, len(vp)), 0))
        end_day = np.minimum(day + length, np.maximum(end[vp], day))
        minute = np.where(np.isin(kind, [9203, 262]), rng.integers(0, 1440, len(vp)), rng.integers(8 * 60, 18 * 60, len(vp)))
        self.vstart = day * MPD + minute * 60_000_000
        rank = np.arange(len(vp)) - self.voff[vp]
        preceding = np.where(rank > 0, np.arange(len(vp)) - 1, NULL_INT)
        self.vkind = kind
        self.frames["visit_occurrence"].append({
            "visit_occurrence_id": np.arange(len(vp)),
            "person_id": p.person_id[r][vp],
            "visit_concept_id": kind,
            "visit_start_date": day.astype(np.int32),
            "visit_start_datetime": self.vstart,
            "visit_end_date": end_day.astype(np.int32),
            "visit_end_datetime": end_day * MPD + np.where(length > 0, 11 * 3_600_000_000, minute * 60_000_000 + 3_600_000_000),
            "visit_type_concept_id": np.full(len(vp), 32817),
            "visit_source_value": lookup_strings(kind, VISIT_CODES),
            "visit_source_concept_id": kind,
            "preceding_visit_occurrence_id": preceding,
        })

    def pick(self, ep: np.ndarray, min_rank: np.ndarray | None = None) -> np.ndarray:
        """A visit (local row) of each EHR person ``ep``, uniform over ranks >= ``min_rank``."""
        nv = self.nv[ep]
        lo = np.zeros(len(ep), dtype=np.int64) if min_rank is None else np.minimum(np.maximum(min_rank, 0), nv - 1)
        rank = lo + (self.rng.random(len(ep)) * (nv - lo)).astype(np.int64)
        return self.voff[ep] + rank

    def _event_frame(self, ep: np.ndarray, visit: np.ndarray, id_col: str, prefix: str) -> Frame:
        return {
            id_col: np.arange(len(ep)),  # renumbered after concatenation
            "person_id": self.p.person_id[self.rows][ep],
            f"{prefix}_date": self.vday[visit].astype(np.int32),
            f"{prefix}_datetime": self.vstart[visit],
            "visit_occurrence_id": visit,
        }

    # ---- conditions -------------------------------------------------------------------------------------------
    def conditions(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        for name, (concepts, probs) in CHRONIC.items():
            has = p.cond[name][r]
            ep = np.flatnonzero(has)
            diag = np.full(self.n, -1, dtype=np.int64)
            if len(ep) == 0:
                self.diag_rank[name] = diag
                continue
            r0 = (rng.random(len(ep)) ** 1.4 * self.nv[ep]).astype(np.int64)
            diag[ep] = r0
            self.diag_rank[name] = diag
            concept = np.asarray(concepts)[rng.choice(len(concepts), size=len(ep), p=probs)]
            if name == "ckd":
                self.ckd_stage = np.zeros(self.n, dtype=np.int64)
                self.ckd_stage[ep] = concept
            mentions = 1 + np.minimum(rng.poisson(1.3, len(ep)), self.nv[ep] - r0 - 1)
            rep = np.repeat(np.arange(len(ep)), mentions)
            first = np.r_[True, rep[1:] != rep[:-1]] if len(rep) else np.zeros(0, bool)
            visit = np.where(first, self.voff[ep][rep] + r0[rep], self.pick(ep[rep], r0[rep]))
            self._add_conditions(ep[rep], visit, concept[rep], chronic=True)
            if name == "t2d":  # complications of type 2 diabetes, some with their own kidney disease code
                has_c = rng.random(len(ep)) < 0.25
                cc = np.asarray(T2D_COMPLICATIONS)[rng.integers(0, len(T2D_COMPLICATIONS), has_c.sum())]
                self._add_conditions(ep[has_c], self.pick(ep[has_c], r0[has_c]), cc, chronic=True)
        # pregnancy episodes (women of child-bearing age), some complicated
        ep = np.flatnonzero(p.cond["pregnancy"][r])
        if len(ep):
            r0 = (rng.random(len(ep)) * self.nv[ep]).astype(np.int64)
            self.diag_rank["pregnancy"] = np.full(self.n, -1, dtype=np.int64)
            self.diag_rank["pregnancy"][ep] = r0
            visit = self.voff[ep] + r0
            self._add_conditions(ep, visit, np.full(len(ep), 4217975), chronic=False, length=(200, 280))
            extra = rng.random(len(ep))
            comp = np.where(extra < 0.06, 439393, np.where(extra < 0.16, 4188598, np.where(extra < 0.26, 4078393, 0)))
            k = comp > 0
            self._add_conditions(ep[k], visit[k], comp[k], chronic=False, length=(20, 120))
        else:
            self.diag_rank["pregnancy"] = np.full(self.n, -1, dtype=np.int64)
        # cancer: site depends on sex and smoking
        ep = np.flatnonzero(p.cond["cancer"][r])
        if len(ep):
            female = p.female[r][ep]
            smoker = p.smoking[r][ep] > 0
            u = rng.random(len(ep))
            site = np.where(female, np.where(u < 0.55, 4112853, np.where(u < 0.8, 197500, 4180790)),
                            np.where(u < 0.5, 4129902, np.where(u < 0.75, 197500, 4180790)))
            site = np.where(smoker & (rng.random(len(ep)) < 0.35), 4115276, site)
            r0 = (rng.random(len(ep)) * self.nv[ep]).astype(np.int64)
            mentions = 1 + np.minimum(rng.poisson(1.0, len(ep)), self.nv[ep] - r0 - 1)
            rep = np.repeat(np.arange(len(ep)), mentions)
            self._add_conditions(ep[rep], self.pick(ep[rep], r0[rep]), site[rep], chronic=True)
        # acute problems at visits
        per_visit = rng.random(len(self.vp)) < 0.28
        visit = np.flatnonzero(per_visit)
        concept = ACUTE[rng.choice(len(ACUTE), size=len(visit), p=ACUTE_P / ACUTE_P.sum())]
        concept = np.where((concept == 37311061) & (self.vday[visit] < COVID_START), 40481087, concept)
        self.acute_visit, self.acute_concept = visit, concept
        self._add_conditions(self.vp[visit], visit, concept, chronic=False, length=(5, 21))

    def _add_conditions(self, ep, visit, concept, chronic: bool, length=(0, 0)) -> None:
        if len(ep) == 0:
            return
        rng = self.rng
        frame = self._event_frame(ep, visit, "condition_occurrence_id", "condition_start")
        icd = _map(concept, ICD_SOURCE)
        use_icd = (icd > 0) & (rng.random(len(ep)) < SHARE_ICD_CODED)
        source = np.where(use_icd, icd, concept)
        start = self.vday[visit]
        if chronic:
            end = np.full(len(ep), NULL_DATE, dtype=np.int32)
            end_dt = np.full(len(ep), NULL_INT)
        else:
            dur = rng.integers(length[0], length[1] + 1, len(ep))
            end = (start + dur).astype(np.int32)
            end_dt = end.astype(np.int64) * MPD
        frame.update({
            "condition_concept_id": concept,
            "condition_end_date": end,
            "condition_end_datetime": end_dt,
            "condition_type_concept_id": np.full(len(ep), 32817),
            "condition_source_value": lookup_strings(source, self.codes),
            "condition_source_concept_id": source,
        })
        self.frames["condition_occurrence"].append(frame)

    # ---- drugs ------------------------------------------------------------------------------------------------
    def drugs(self) -> None:
        rng = self.rng
        self.first_statin = np.full(self.n, -1, dtype=np.int64)
        self.on_insulin = np.zeros(self.n, dtype=bool)
        for name, regimens in REGIMENS.items():
            diag = self.diag_rank.get(name)
            if diag is None:
                continue
            for concepts, share, fills in regimens:
                ep = np.flatnonzero((diag >= 0) & (rng.random(self.n) < share))
                if len(ep) == 0:
                    continue
                drug = np.asarray(concepts)[rng.integers(0, len(concepts), len(ep))]
                k = 1 + rng.poisson(fills - 1, len(ep))
                rep = np.repeat(np.arange(len(ep)), k)
                visit = self.pick(ep[rep], diag[ep][rep])
                self._add_drugs(ep[rep], visit, drug[rep])
                if set(concepts) & STATINS:
                    rank = visit - self.voff[ep[rep]]
                    first = np.full(len(ep), np.iinfo(np.int64).max)
                    np.minimum.at(first, rep, rank)
                    cur = self.first_statin[ep]
                    self.first_statin[ep] = np.where(cur < 0, first, np.minimum(cur, first))
                if set(concepts) & INSULINS:
                    self.on_insulin[ep] = True
        # antibiotics for some infections
        inf = np.isin(self.acute_concept, list(INFECTIONS)) & (rng.random(len(self.acute_concept)) < 0.55)
        visit = self.acute_visit[inf]
        drug = np.where(rng.random(len(visit)) < 0.75, np.where(rng.random(len(visit)) < 0.5, 19073188, 19073183), 1713671)
        self._add_drugs(self.vp[visit], visit, drug, days=(5, 10))

    def _add_drugs(self, ep, visit, drug, days=None) -> None:
        if len(ep) == 0:
            return
        rng = self.rng
        frame = self._event_frame(ep, visit, "drug_exposure_id", "drug_exposure_start")
        supply = rng.choice([30, 90], size=len(ep), p=[0.7, 0.3]) if days is None else rng.integers(days[0], days[1] + 1, len(ep))
        start = self.vday[visit]
        end = (start + supply - 1).astype(np.int32)
        oral = ~np.isin(drug, list(NOT_ORAL))
        frame.update({
            "drug_concept_id": drug,
            "drug_exposure_end_date": end,
            "drug_exposure_end_datetime": end.astype(np.int64) * MPD + 23 * 3_600_000_000,
            "drug_type_concept_id": np.full(len(ep), 32838),
            "refills": rng.integers(0, 6, len(ep)) if days is None else np.zeros(len(ep), dtype=np.int64),
            "quantity": (supply * rng.choice([1, 2], size=len(ep))).astype(np.float64),
            "days_supply": supply.astype(np.int64),
            "route_concept_id": np.where(oral, 4132161, NULL_INT),
            "drug_source_value": lookup_strings(drug, self.codes),
            "drug_source_concept_id": drug,
            "route_source_value": lookup_strings(np.where(oral, 1, -1), {1: "oral"}),
        })
        self.frames["drug_exposure"].append(frame)

    # ---- measurements --------------------------------------------------------------------------------------
    def labs(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        years = (p.ehr_end[r] - p.ehr_start[r]) / 365.25
        scale = 0.5 * np.clip(years / 5.0, 0.3, 2.0)
        age = p.age_enrol[r]
        t2d, hld, ckd = self.diag_rank["t2d"], self.diag_rank["hld"], self.diag_rank["ckd"]
        # kidney model: eGFR at first CKD visit by stage, then falling ~2.5 / year
        stage = getattr(self, "ckd_stage", np.zeros(self.n, dtype=np.int64))
        egfr0 = _map(stage, CKD_STAGE_EGFR, np.float64)
        egfr0 = egfr0 + rng.normal(0, 4, self.n)
        slope = rng.uniform(1.5, 4.0, self.n)
        ckd_day = np.where(ckd >= 0, self.vday[self.voff + np.maximum(ckd, 0)], 0)
        healthy = np.clip(rng.normal(102 - 0.55 * (age - 40), 9, self.n), 62, 130)
        for lab in self.vocab.labs:
            cid = int(lab["concept_id"])
            k = rng.poisson(float(lab["base_rate"]) * float(lab["repeats"]) * scale)
            after = np.zeros(self.n, dtype=np.int64)
            if lab["panel"] == "diabetes":
                extra, after = np.where(t2d >= 0, 2 + rng.poisson(1.5, self.n), 0), t2d
            elif lab["panel"] == "kidney" or cid == 3016723:
                extra, after = np.where(ckd >= 0, 2 + rng.poisson(2.0, self.n), 0), ckd
            elif lab["panel"] == "lipid":
                extra, after = np.where(hld >= 0, 1 + rng.poisson(1.0, self.n), 0), hld
            else:
                extra = np.zeros(self.n, dtype=np.int64)
            if cid == 3013603:  # PSA: men over 45
                k = np.where(~p.female[r] & (age > 45), k, 0)
            # extras fall on or after the diagnosis; routine ones anywhere
            ep_base = np.repeat(np.arange(self.n), k)
            ep_extra = np.repeat(np.arange(self.n), extra)
            visit = np.concatenate([self.pick(ep_base), self.pick(ep_extra, np.maximum(after, 0)[ep_extra])])
            ep = np.concatenate([ep_base, ep_extra])
            if len(ep) == 0:
                continue
            m, s = float(lab["mean"]), float(lab["sd"])
            value = rng.normal(m, s, len(ep))
            rank = visit - self.voff[ep]
            if cid == 3004410:  # HbA1c
                value = np.where(t2d[ep] >= 0, rng.normal(7.4, 1.0, len(ep)) + 0.7 * self.on_insulin[ep], np.clip(value, 4.2, 6.3))
                value = np.clip(value, 4.0, 14.0)
            elif cid == 3004501:  # glucose
                value = np.where(t2d[ep] >= 0, rng.normal(150, 38, len(ep)), value)
            elif cid in (3049187, 3016723):  # eGFR, creatinine
                years_since = (self.vday[visit] - ckd_day[ep]) / 365.25
                egfr = np.where((ckd[ep] >= 0) & (rank >= ckd[ep]), egfr0[ep] - slope[ep] * np.maximum(years_since, 0),
                                np.where(ckd[ep] >= 0, np.maximum(egfr0[ep] + 5, 60), healthy[ep]))
                egfr = np.clip(egfr + rng.normal(0, 2.5, len(ep)), 5.0, 135.0)
                if cid == 3049187:
                    value = egfr
                else:
                    value = 0.95 * (egfr / 100.0) ** -0.85 * np.where(p.female[r][ep], 0.8, 1.0)
            elif cid == 3009966:  # LDL
                on_statin = (self.first_statin[ep] >= 0) & (rank >= self.first_statin[ep])
                value = np.where(hld[ep] >= 0, np.where(on_statin, rng.normal(98, 24, len(ep)), rng.normal(165, 28, len(ep))), value)
            elif cid == 3027114:
                value = np.where(hld[ep] >= 0, rng.normal(235, 35, len(ep)), value)
            elif cid == 3001802:  # microalbumin / creatinine
                value = np.where(ckd[ep] >= 0, rng.lognormal(np.log(80), 0.8, len(ep)), np.abs(value))
            value = np.round(np.maximum(value, 0.01 if int(lab["decimals"]) else 1), int(lab["decimals"]))
            self._add_measurements(ep, visit, np.full(len(ep), cid), value, int(lab["unit_concept_id"]),
                                   lab["unit_source_value"], float(lab["range_low"]), float(lab["range_high"]), 32856)

    def vitals(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        nvis = len(self.vp)
        ep_all = self.vp
        htn = self.diag_rank["htn"][ep_all] >= 0
        age = p.age_enrol[r][ep_all]
        bp = np.flatnonzero(rng.random(nvis) < 0.3)
        sbp = np.where(htn[bp], rng.normal(142, 14, len(bp)), rng.normal(119 + 0.35 * (age[bp] - 50), 11, len(bp)))
        dbp = np.where(htn[bp], rng.normal(88, 9, len(bp)), rng.normal(76, 8, len(bp)))
        sbp = np.clip(np.round(sbp), 85, 230)
        dbp = np.clip(np.round(np.minimum(dbp, sbp - 15)), 45, 140)
        self._add_measurements(ep_all[bp], bp, np.full(len(bp), EHR_SYSTOLIC), sbp, 8876, "mm[Hg]", np.nan, np.nan, 32817)
        self._add_measurements(ep_all[bp], bp, np.full(len(bp), EHR_DIASTOLIC), dbp, 8876, "mm[Hg]", np.nan, np.nan, 32817)
        hr = np.flatnonzero(rng.random(nvis) < 0.12)
        self._add_measurements(ep_all[hr], hr, np.full(len(hr), 3027018), np.clip(np.round(rng.normal(74, 11, len(hr))), 40, 150),
                               8541, "/min", np.nan, np.nan, 32817)
        wt = np.flatnonzero(rng.random(nvis) < 0.12)
        weight = p.weight[r][ep_all[wt]] * rng.normal(1.0, 0.03, len(wt))
        self._add_measurements(ep_all[wt], wt, np.full(len(wt), 3025315), np.round(weight, 1), 9529, "kg", np.nan, np.nan, 32817)

    def _add_measurements(self, ep, visit, concept, value, unit, unit_source, low, high, type_id) -> None:
        if len(ep) == 0:
            return
        frame = self._event_frame(ep, visit, "measurement_id", "measurement")
        n = len(ep)
        frame.update({
            "measurement_concept_id": concept,
            "measurement_type_concept_id": np.full(n, type_id),
            "value_as_number": np.asarray(value, dtype=np.float64),
            "unit_concept_id": np.full(n, unit),
            "range_low": np.full(n, low),
            "range_high": np.full(n, high),
            "measurement_source_value": lookup_strings(concept, self.codes),
            "measurement_source_concept_id": concept,
            "unit_source_value": lookup_strings(np.zeros(n, dtype=np.int64), {0: unit_source}),
        })
        self.frames["measurement"].append(frame)

    # ---- procedures, devices, observations ---------------------------------------------------------------
    def procedures(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        age, female = p.age_enrol[r], p.female[r]
        d = self.diag_rank
        has = {k: v >= 0 for k, v in d.items()}
        rules = [  # (concept, eligible, probability, condition whose diagnosis it follows)
            (4249893, age > 45, 0.12, None), (4324693, female & (age > 40), 0.25, None), (4077697, female & (age > 40), 0.15, None),
            (4163951, has["cad"] | has["af"] | has["htn"], 0.45, None), (4163951, np.ones(self.n, bool), 0.08, None),
            (4230911, has["hf"], 0.7, "hf"), (4163872, has["copd"], 0.5, "copd"), (4163872, np.ones(self.n, bool), 0.06, None),
            (4216130, has["cad"], 0.22, "cad"), (4336464, has["cad"], 0.05, "cad"), (4120120, self._stage_in([193782, 443611]), 0.8, "ckd"),
            (4015701, has["pregnancy"], 0.3, "pregnancy"), (4060626, has["pregnancy"], 0.8, "pregnancy"),
            (4240345, np.ones(self.n, bool), 0.3, None), (4326177, np.ones(self.n, bool), 0.2, None),
            (43531648, has["oa"], 0.08, "oa"), (4203771, has["oa"], 0.05, "oa"), (4021160, p.smoking[r] == 2, 0.3, None),
            (4035793, has["copd"], 0.2, "copd"), (4206920, has["asthma"], 0.15, "asthma"), (4195803, female & (age > 65), 0.2, None),
            (4064377, np.ones(self.n, bool), 0.25, None), (4133840, has["asthma"] | has["copd"], 0.4, None),
            (4125350, has["stroke"], 0.6, "stroke"), (4125350, np.ones(self.n, bool), 0.03, None),
            (4163971, np.ones(self.n, bool), 0.02, None), (4198190, np.ones(self.n, bool), 0.01, None),
        ]
        self.pci_visits = []
        for concept, eligible, prob, after in rules:
            ep = np.flatnonzero(eligible & (rng.random(self.n) < prob))
            if len(ep) == 0:
                continue
            visit = self.pick(ep, d[after][ep] if after else None)
            frame = self._event_frame(ep, visit, "procedure_occurrence_id", "procedure")
            frame.update({
                "procedure_concept_id": np.full(len(ep), concept),
                "procedure_end_date": self.vday[visit].astype(np.int32),
                "procedure_type_concept_id": np.full(len(ep), 32817),
                "procedure_source_value": lookup_strings(np.full(len(ep), concept), self.codes),
                "procedure_source_concept_id": np.full(len(ep), concept),
            })
            self.frames["procedure_occurrence"].append(frame)
            if concept == 4216130:
                self.pci_visits.append((ep, visit))

    def _stage_in(self, stages: list[int]) -> np.ndarray:
        stage = getattr(self, "ckd_stage", np.zeros(self.n, dtype=np.int64))
        return np.isin(stage, stages)

    def devices(self) -> None:
        rng = self.rng
        parts = []
        for ep, visit in self.pci_visits:
            parts.append((ep, visit, np.full(len(ep), 45767945)))
        for name, concept, prob in (("af", 45772840, 0.10), ("hf", 4217646, 0.08)):
            d = self.diag_rank[name]
            ep = np.flatnonzero((d >= 0) & (rng.random(self.n) < prob))
            parts.append((ep, self.pick(ep, d[ep]), np.full(len(ep), concept)))
        for ep, visit, concept in parts:
            if len(ep) == 0:
                continue
            frame = self._event_frame(ep, visit, "device_exposure_id", "device_exposure_start")
            frame.update({
                "device_concept_id": concept,
                "device_type_concept_id": np.full(len(ep), 32817),
                "quantity": np.ones(len(ep), dtype=np.int64),
                "device_source_value": lookup_strings(concept, self.codes),
                "device_source_concept_id": concept,
            })
            self.frames["device_exposure"].append(frame)

    def observations(self) -> None:
        p, rng, r = self.p, self.rng, self.rows
        ep = np.flatnonzero(rng.random(self.n) < 0.5)
        status = np.array([4144272, 4310250, 42709996])[p.smoking[r][ep]]
        visit = self.pick(ep)
        frame = self._event_frame(ep, visit, "observation_id", "observation")
        frame.update({
            "observation_concept_id": np.full(len(ep), 43054909),
            "observation_type_concept_id": np.full(len(ep), 32817),
            "value_as_concept_id": status,
            "observation_source_value": lookup_strings(np.full(len(ep), 43054909), self.codes),
            "observation_source_concept_id": np.full(len(ep), 43054909),
            "value_source_value": lookup_strings(status, self.codes),
        })
        self.frames["observation"].append(frame)
        bmi = p.bmi[r]
        ep = np.flatnonzero((bmi >= 30) & (rng.random(self.n) < 0.3))
        concept = np.where(bmi[ep] >= 40, 4256640, 4060985)
        visit = self.pick(ep)
        frame = self._event_frame(ep, visit, "observation_id", "observation")
        frame.update({
            "observation_concept_id": concept,
            "observation_type_concept_id": np.full(len(ep), 32817),
            "observation_source_value": lookup_strings(concept, self.codes),
            "observation_source_concept_id": concept,
        })
        self.frames["observation"].append(frame)

    # ---- assembly ---------------------------------------------------------------------------------------
    def build(self) -> dict[str, Frame]:
        if self.n == 0:
            return {}
        self.visits()
        self.conditions()
        self.drugs()
        self.labs()
        self.vitals()
        self.procedures()
        self.devices()
        self.observations()
        out: dict[str, Frame] = {}
        for name, parts in self.frames.items():
            frame = concat(parts)
            if not frame:
                continue
            if name != "visit_occurrence":
                frame = sort(frame, "person_id", event_table(name).start_date)
            pk = next(iter(frame))
            frame[pk] = np.arange(len(frame[pk]))
            out[name] = frame
        # observation period: the span of each person's visits
        first = self.vday[self.voff]
        last_end = np.asarray(out["visit_occurrence"]["visit_end_date"])[self.voff + self.nv - 1]
        out["observation_period"] = {
            "observation_period_id": np.arange(self.n),
            "person_id": self.p.person_id[self.rows],
            "observation_period_start_date": first.astype(np.int32),
            "observation_period_end_date": np.maximum(last_end, first).astype(np.int32),
            "period_type_concept_id": np.full(self.n, 44814724),
        }
        return out


def _map(keys: np.ndarray, mapping: dict, dtype=np.int64) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    values = np.array([mapping.get(int(k), 0) for k in uniq], dtype=dtype)
    return values[inverse]


def deaths(rng: np.random.Generator, people: People, vocab: Vocabulary) -> Frame:
    """Death records: an EHR record (most deceased with EHR) and/or a program record; the earliest is primary."""
    p = people
    dead = np.flatnonzero(p.death != C.NULL_DAY)
    if len(dead) == 0:
        return {}
    ehr = p.has_ehr[dead] & (rng.random(len(dead)) < 0.85)
    program = ~ehr | (rng.random(len(dead)) < 0.4)
    causes = []
    for name, concept in (("hf", 316139), ("cancer", 443392), ("copd", 255573), ("ckd", 46271022), ("cad", 4329847), ("stroke", 381316)):
        causes.append(np.where(p.cond[name][dead], concept, 0))
    cause = np.zeros(len(dead), dtype=np.int64)
    for c in reversed(causes):
        cause = np.where(c > 0, c, cause)
    site = np.array([s.site for s in vocab.states])[p.state[dead]]
    rows_e = np.flatnonzero(ehr)
    rows_p = np.flatnonzero(program)
    person = np.concatenate([dead[rows_e], dead[rows_p]])
    day = np.concatenate([p.death[dead[rows_e]], p.death[dead[rows_p]] + np.where(rng.random(len(rows_p)) < 0.3, rng.integers(1, 10, len(rows_p)), 0)])
    is_ehr = np.r_[np.ones(len(rows_e), bool), np.zeros(len(rows_p), bool)]
    order = np.lexsort((~is_ehr, day, person))
    person, day, is_ehr = person[order], day[order], is_ehr[order]
    src_index = np.concatenate([rows_e, rows_p])[order]
    primary = np.r_[True, person[1:] != person[:-1]]
    cause_id = np.where(is_ehr, cause[src_index], NULL_INT)
    codes = {cid: row["concept_code"] for cid, row in vocab.concepts.items()}
    src = np.where(is_ehr, site[src_index], "PPI/PM")
    uniq, inv = np.unique(src, return_inverse=True)
    from .frame import strings

    return {
        "death_id": np.arange(len(person)),
        "person_id": p.person_id[person],
        "death_date": day.astype(np.int32),
        "death_datetime": day * MPD + 12 * 3_600_000_000,
        "death_type_concept_id": np.where(is_ehr, 32817, 32809),
        "cause_concept_id": np.where(cause_id == 0, NULL_INT, cause_id),
        "cause_source_value": lookup_strings(np.where(cause_id > 0, cause_id, -1), codes),
        "cause_source_concept_id": np.where(cause_id == 0, NULL_INT, cause_id),
        "src_id": strings(inv, list(uniq)),
        "primary_death_record": primary,
    }
