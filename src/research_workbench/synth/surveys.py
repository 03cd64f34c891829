"""Survey responses: one ``survey_conduct`` row per completed module and one ``observation`` row per answer.

The Basics is completed by everyone at enrolment; Lifestyle, Overall Health, Personal and Family Health
History, Healthcare Access and Utilization and Social Determinants of Health by decreasing shares, later
(``surveys.toml``). Answer rows follow the PPI conventions: ``observation_source_concept_id`` = question,
``value_source_concept_id`` = ``value_as_concept_id`` = answer, ``questionnaire_response_id`` =
``survey_conduct_id``, numbers in ``value_as_number``, free text and zip codes in ``value_as_string``. Questions
are skipped (PMI Skip 903096) at random; demographic questions may be answered "prefer not to answer" (903079);
multi-select questions (race) give one row per answer; branching questions are asked only when their parent's
answer enables them. Demographic, smoking, health and condition answers come from the participant's latent
state (so surveys agree with the EHR: smokers report smoking, diabetics mostly report diabetes).

Defects made here (see ``defects``): free-text answers (``free_text_survey_answer``, every row of a free-text
question) and answers to a branching question whose parent answer disables it (``survey_branching_violation``).
"""

from __future__ import annotations

import numpy as np

from . import config as C
from .defects import BRANCHING, FREE_TEXT
from .frame import NULL_INT, Frame, concat, lookup_strings, strings
from .participants import People
from .vocab import SKIP, Module, Question, Vocabulary

MPD = C.MICROS_PER_DAY
SHARE_SKIPPED = 0.02
SHARE_BRANCH_VIOLATIONS = 0.01
FREE_TEXT_ANSWERS = [
    "I describe myself differently", "mixed heritage", "my family is from several places", "prefer to self-describe",
    "see my other answers", "Pacific Northwest tribal member", "Afro-Caribbean", "two-spirit", "questioning",
    "thyroid nodules", "migraines since childhood", "seasonal allergies", "sleep apnea", "kidney stones in 2015",
]


class Surveys:
    def __init__(self, rng: np.random.Generator, people: People, vocab: Vocabulary):
        self.rng, self.p, self.vocab = rng, people, vocab
        self.codes = {cid: row["concept_code"] for cid, row in vocab.concepts.items()}
        self.single: dict[str, np.ndarray] = {}  # question code → answer concept per person (0 = not answered)
        self.multi: dict[str, np.ndarray] = {}  # question code → (n, answers) bool
        self.conduct: list[Frame] = []
        self.rows: list[Frame] = []
        self.n_conduct = 0
        self.completed: dict[str, np.ndarray] = {}
        self._numbers: dict[str, np.ndarray] = {}  # numeric answers by question code (for dependent questions)

    def build(self) -> tuple[Frame, Frame]:
        for module in self.vocab.modules:
            self._module(module)
        return concat(self.conduct), concat(self.rows)

    def _module(self, m: Module) -> None:
        p, rng, n = self.p, self.rng, self.p.n
        if m.code == "TheBasics":
            done = np.ones(n, dtype=bool)
            day = p.enrol.copy()
        else:
            done = rng.random(n) < m.share
            day = p.enrol + rng.integers(m.delay_days[0], m.delay_days[1] + 1, n)
        last = np.minimum.reduce([np.full(n, C.DATA_CUTOFF),
                                  np.where(p.death != C.NULL_DAY, p.death - 1, C.DATA_CUTOFF),
                                  np.where(p.withdrawn != C.NULL_DAY, p.withdrawn - 1, C.DATA_CUTOFF)])
        done &= day <= last
        if m.code == "TheBasics":
            done[:] = True
            day = p.enrol.copy()
        rows = np.flatnonzero(done)
        self.completed[m.code] = done
        k = len(rows)
        sc = self.n_conduct + np.arange(k)
        self.n_conduct += k
        sc_of = np.full(n, -1, dtype=np.int64)
        sc_of[rows] = sc
        start = day[rows] * MPD + rng.integers(7 * 3600, 22 * 3600, k) * 1_000_000
        end = start + rng.integers(5 * 60, 45 * 60, k) * 1_000_000
        telephone = rng.random(k) < 0.04
        spanish = p.hispanic[rows] & (rng.random(k) < 0.35)
        self.conduct.append({
            "survey_conduct_id": sc,
            "person_id": p.person_id[rows],
            "survey_concept_id": np.full(k, m.concept_id),
            "survey_start_date": day[rows].astype(np.int32),
            "survey_start_datetime": start,
            "survey_end_date": day[rows].astype(np.int32),
            "survey_end_datetime": end,
            "respondent_type_source_value": strings(np.zeros(k, dtype=np.int64), ["Participant"]),
            "collection_method_source_value": strings(telephone.astype(np.int64), ["Electronic", "Telephone (CATI)"]),
            "survey_source_value": strings(np.zeros(k, dtype=np.int64), [m.code]),
            "survey_source_concept_id": np.full(k, m.concept_id),
            "survey_version_number": strings(np.zeros(k, dtype=np.int64), ["1"]),
            "_language": spanish,
        })
        for q in m.questions:
            self._question(q, done, day, sc_of)
        if m.code == "Lifestyle":
            self._branch_violations(m, done, day, sc_of)

    # ---- one question ----------------------------------------------------------------------------------------
    def _eligible(self, q: Question, done: np.ndarray) -> np.ndarray:
        eligible = done.copy()
        if q.branch:
            parent_code, enabling = q.branch
            parent = self.vocab.question(parent_code)
            ids = [parent.answer(c).concept_id for c in enabling]
            if parent_code in self.multi:
                cols = [i for i, a in enumerate(parent.answers) if a.concept_id in ids]
                eligible &= self.multi[parent_code][:, cols].any(axis=1)
            else:
                eligible &= np.isin(self.single.get(parent_code, np.zeros(self.p.n, dtype=np.int64)), ids)
        if q.ask < 1.0:
            eligible &= self.rng.random(self.p.n) < q.ask
        return eligible

    def _question(self, q: Question, done, day, sc_of) -> None:
        p, rng, n = self.p, self.rng, self.p.n
        eligible = self._eligible(q, done)
        skipped = eligible & (rng.random(n) < SHARE_SKIPPED) & (q.kind != "text")
        answering = eligible & ~skipped
        person_rows: list[np.ndarray] = []
        answer_ids: list[np.ndarray] = []
        numbers: list[np.ndarray] = []
        texts: list[object] = []

        if q.kind in ("single", "state"):
            answer = np.zeros(n, dtype=np.int64)
            answer[answering] = self._single(q, answering)
            answer[skipped] = SKIP
            self.single[q.code] = answer
            rows = np.flatnonzero(eligible)
            person_rows.append(rows)
            answer_ids.append(answer[rows])
        elif q.kind == "multi":
            chosen = self._multi(q, answering)
            chosen[~answering] = False
            self.multi[q.code] = chosen
            r_, c_ = np.nonzero(chosen)
            ids = q.answer_ids()
            order = np.lexsort((c_, r_))
            special = answering & ~chosen.any(axis=1)  # a single skip / prefer-not-to-answer row
            special_answer = np.where(np.isin(self.p.race1, [SKIP, 903079]) & (q.source == "race"), self.p.race1, SKIP)
            person_rows.append(np.concatenate([r_[order], np.flatnonzero(skipped), np.flatnonzero(special)]))
            answer_ids.append(np.concatenate([ids[c_[order]], np.full(skipped.sum(), SKIP), special_answer[special]]))
        elif q.kind == "number":
            lo, hi, mean, sd = q.number
            value = np.clip(np.round(rng.normal(mean, sd, n)), lo, hi)
            if q.code == "LivingSituation_PeopleUnder18":
                size = np.nan_to_num(self._numbers.get("LivingSituation_HowManyPeople", np.full(n, 3.0)), nan=3.0)
                value = np.minimum(value, np.maximum(size - 1, 0))
            self._numbers[q.code] = np.where(answering, value, np.nan)
            rows = np.flatnonzero(eligible)
            person_rows.append(rows)
            answer_ids.append(np.where(skipped[rows], SKIP, NULL_INT))
            numbers.append(np.where(skipped[rows], np.nan, value[rows]))
        elif q.kind == "zip":
            rows = np.flatnonzero(eligible)
            person_rows.append(rows)
            answer_ids.append(np.where(skipped[rows], SKIP, NULL_INT))
            z = p.zip5[rows]
            texts.append(pa_strings([f"{v:05d}" if not s else None for v, s in zip(z.tolist(), skipped[rows].tolist())]))
        elif q.kind == "text":
            rows = np.flatnonzero(answering)
            person_rows.append(rows)
            answer_ids.append(np.full(len(rows), NULL_INT))
            texts.append(strings(rng.integers(0, len(FREE_TEXT_ANSWERS), len(rows)), FREE_TEXT_ANSWERS))
        else:
            raise ValueError(f"question {q.code}: unknown kind {q.kind}")
        rows = np.concatenate(person_rows) if person_rows else np.zeros(0, dtype=np.int64)
        if len(rows) == 0:
            return
        ans = np.concatenate(answer_ids)
        num = np.concatenate(numbers) if numbers else np.full(len(rows), np.nan)
        frame = self._rows(q, rows, ans, num, day, sc_of)
        if texts:
            frame["value_as_string"] = texts[0]
        if q.kind == "text":
            frame["_defect"] = np.full(len(rows), FREE_TEXT, dtype=np.int8)
        self.rows.append(frame)

    def _rows(self, q: Question, rows, ans, num, day, sc_of) -> Frame:
        k = len(rows)
        minute = self.rng.integers(0, 30, k)
        has_answer = ans != NULL_INT
        return {
            "observation_id": np.zeros(k, dtype=np.int64),
            "person_id": self.p.person_id[rows],
            "observation_concept_id": np.full(k, q.concept_id),
            "observation_date": day[rows].astype(np.int32),
            "observation_datetime": day[rows] * MPD + (12 * 60 + minute) * 60_000_000,
            "observation_type_concept_id": np.full(k, 45905771),
            "value_as_number": num,
            "value_as_concept_id": np.where(has_answer, ans, NULL_INT),
            "observation_source_value": strings(np.zeros(k, dtype=np.int64), [q.code]),
            "observation_source_concept_id": np.full(k, q.concept_id),
            "value_source_value": lookup_strings(np.where(has_answer, ans, -1), self.codes),
            "value_source_concept_id": np.where(has_answer, ans, NULL_INT),
            "questionnaire_response_id": sc_of[rows],
        }

    def _single(self, q: Question, mask: np.ndarray) -> np.ndarray:
        p, rng = self.p, self.rng
        rows = np.flatnonzero(mask)
        k = len(rows)
        src = q.source
        ids = q.answer_ids()
        if src == "gender":
            return p.gender[rows]
        if src == "sex_at_birth":
            return p.sex[rows]
        if src == "orientation":
            return p.orientation[rows]
        if src == "education":
            return p.education[rows]
        if src == "employment":
            return p.employment[rows]
        if src == "state":
            return np.array([s.concept_id for s in self.vocab.states])[p.state[rows]]
        if src == "smoked_100":
            return np.where(p.smoking[rows] > 0, ids[0], ids[1])
        if src == "smoke_frequency":
            current = p.smoking[rows] == 2
            return np.where(current, np.where(rng.random(k) < 0.75, ids[0], ids[1]), ids[2])
        if src == "general_health":
            n_chronic = sum(p.cond[c][rows].astype(float) for c in ("t2d", "htn", "ckd", "cad", "hf", "copd", "dep", "cancer", "obesity"))
            score = np.clip(np.round(0.9 + 0.55 * n_chronic + rng.normal(0, 0.9, k)), 0, 4).astype(int)
            return ids[score]
        if src == "mental_health":
            score = np.clip(np.round(1.0 + 1.4 * p.cond["dep"][rows] + 0.8 * p.cond["anx"][rows] + rng.normal(0, 0.9, k)), 0, 4).astype(int)
            return ids[score]
        if src == "pregnant":
            return np.where(p.cond["pregnancy"][rows] & (rng.random(k) < 0.2), ids[0], ids[1])
        weights = q.weights()
        answer = ids[rng.choice(len(ids), size=k, p=weights)]
        if q.pna:
            answer = np.where(rng.random(k) < q.pna, 903079, answer)
        return answer

    def _multi(self, q: Question, mask: np.ndarray) -> np.ndarray:
        p, rng, n = self.p, self.rng, self.p.n
        ids = q.answer_ids()
        chosen = np.zeros((n, len(ids)), dtype=bool)
        if q.source == "race":
            for col, cid in enumerate(ids):
                chosen[:, col] = (p.race1 == cid) | (p.race2 == cid)
            # skip / prefer-not-to-answer are single rows
            return chosen
        if q.source == "self_reported_conditions":
            names = ["t2d", "htn", "hld", "ckd", "dep", "asthma", "copd"]
            for col, name in enumerate(names):
                truth = p.cond[name]
                chosen[:, col] = np.where(truth, rng.random(n) < 0.8, rng.random(n) < 0.01)
            chosen[:, len(names)] = ~chosen[:, : len(names)].any(axis=1)
            return chosen
        w = np.array([a.weight for a in q.answers])
        chosen = rng.random((n, len(ids))) < w
        none_cols = [i for i, a in enumerate(q.answers) if "None" in a.code]
        others = [i for i in range(len(ids)) if i not in none_cols]
        if none_cols:
            any_other = chosen[:, others].any(axis=1)
            chosen[:, none_cols] = False
            chosen[~any_other, none_cols[0]] = True
        return chosen

    def _branch_violations(self, m: Module, done, day, sc_of) -> None:
        """Answers to a branching question whose parent answer disables it (a defect for curation's PpiBranching)."""
        rng = self.rng
        for child_code in ("Smoking_SmokeFrequency", "Alcohol_DrinkFrequencyPastYear"):
            child = self.vocab.question(child_code)
            parent = self.vocab.question(child.branch[0])
            enabling = [parent.answer(c).concept_id for c in child.branch[1]]
            parent_answer = self.single[parent.code]
            bad = done & (parent_answer > 0) & (parent_answer != SKIP) & ~np.isin(parent_answer, enabling)
            bad &= rng.random(self.p.n) < SHARE_BRANCH_VIOLATIONS
            rows = np.flatnonzero(bad)
            if len(rows) == 0:
                continue
            ids = child.answer_ids()
            ans = ids[rng.integers(0, len(ids), len(rows))]
            frame = self._rows(child, rows, ans, np.full(len(rows), np.nan), day, sc_of)
            frame["_defect"] = np.full(len(rows), BRANCHING, dtype=np.int8)
            self.rows.append(frame)


def pa_strings(values: list) -> object:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def build_surveys(rng: np.random.Generator, people: People, vocab: Vocabulary) -> dict[str, Frame]:
    s = Surveys(rng, people, vocab)
    conduct, obs = s.build()
    language = conduct.pop("_language")
    ext = {
        "survey_conduct_id": conduct["survey_conduct_id"],
        "src_id": strings(np.zeros(len(language), dtype=np.int64), ["PPI/PM"]),
        "language": strings(language.astype(np.int64), ["en", "es"]),
    }
    if "_defect" not in obs:
        obs["_defect"] = np.zeros(len(obs["person_id"]), dtype=np.int8)
    obs["_defect"] = np.where(np.asarray(obs["_defect"]) < 0, 0, obs["_defect"]).astype(np.int8)
    return {"survey_conduct": conduct, "survey_observation": obs, "survey_conduct_ext": ext}
