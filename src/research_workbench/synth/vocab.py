"""The synthetic program's vocabulary: authored data files in ``vocabulary/`` turned into OMOP vocabulary tables.

Files (all authored in this repository; real OMOP concept ids and codes, except the program-specific concepts in
the 2,000,000,000+ range):

- ``concept.csv``: the OMOP subset (SNOMED conditions and procedures, RxNorm ingredients and drugs, LOINC labs and
  vitals, ICD10CM source codes, UCUM units, visits, gender, race, ethnicity, type concepts, PPI physical
  measurements, the program's generalisation concepts). Column ``provenance`` says where each id comes from:
  ``sample`` (checked against the Eunomia/Synthea vocabulary samples), ``athena`` (public Athena id),
  ``aou-reference`` (the All of Us reference notes) or ``program`` (a program-specific id: no public id, or the
  public id could not be confirmed offline - the ICD10CM codes are real, their ids are ours).
- ``relationships.csv``: authored edges - ``Is a`` (hierarchy), ``RxNorm has ing`` (drug → ingredient) and
  ``Maps to`` (ICD10CM and PPI source → standard). Reverse relationships, ``Maps to`` self-links of standard
  concepts and the transitive ``concept_ancestor`` are derived here.
- ``surveys.toml``: survey modules, questions and answers (PPI vocabulary), with branching.
- ``synonyms.csv``, ``labs.csv`` (units, normal ranges, value models), ``states.csv``, ``genes.csv``,
  ``causal_variants.csv``.
"""

from __future__ import annotations

import csv
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

import numpy as np

from ..cdr.facts import PPI_VOCABULARY
from ..cdr.model import cdm

ANSWER_ID_BASE = 2_002_000_000
QUESTION_ID_BASE = 2_001_100_000
STATE_ANSWER_ID_BASE = 2_001_300_000
SKIP = 903096  # PMI: Skip
PREFER_NOT_TO_ANSWER = 903079

# Relationships: (id, name, is_hierarchical, defines_ancestry, reverse)
RELATIONSHIPS = [
    ("Is a", "Is a", "1", "1", "Subsumes"),
    ("Subsumes", "Subsumes", "1", "1", "Is a"),
    ("Maps to", "Non-standard to Standard map (OMOP)", "0", "0", "Mapped from"),
    ("Mapped from", "Standard to Non-standard map (OMOP)", "0", "0", "Maps to"),
    ("RxNorm has ing", "Has ingredient (RxNorm)", "1", "1", "RxNorm ing of"),
    ("RxNorm ing of", "Ingredient of (RxNorm)", "1", "1", "RxNorm has ing"),
    ("Has PPI parent code", "Has PPI parent code", "1", "1", "PPI parent code of"),
    ("PPI parent code of", "PPI parent code of", "1", "1", "Has PPI parent code"),
    ("Answer of (PPI)", "Answer of (PPI)", "1", "1", "Has answer (PPI)"),
    ("Has answer (PPI)", "Has answer (PPI)", "1", "1", "Answer of (PPI)"),
]
ANCESTRY_RELATIONSHIPS = {"Is a", "RxNorm has ing", "Has PPI parent code", "Answer of (PPI)"}
DOMAIN_CONCEPT_IDS = {
    "Gender": 2, "Race": 5, "Visit": 8, "Procedure": 10, "Ethnicity": 12, "Drug": 13, "Unit": 16, "Device": 17,
    "Condition": 19, "Measurement": 21, "Observation": 27, "Specimen": 36, "Type Concept": 58,
}
VALID_START = date(1970, 1, 1)
VALID_END = date(2099, 12, 31)


@dataclass(frozen=True)
class Answer:
    concept_id: int
    code: str
    name: str
    weight: float


@dataclass(frozen=True)
class Question:
    concept_id: int
    code: str
    text: str
    kind: str
    answers: tuple[Answer, ...] = ()
    source: str | None = None
    branch: tuple[str, tuple[str, ...]] | None = None
    number: tuple[float, float, float, float] | None = None
    ask: float = 1.0
    pna: float = 0.0

    def answer(self, code: str) -> Answer:
        for a in self.answers:
            if a.code == code:
                return a
        raise KeyError(f"{self.code} has no answer {code!r}")

    def answer_ids(self) -> np.ndarray:
        return np.array([a.concept_id for a in self.answers], dtype=np.int64)

    def weights(self) -> np.ndarray:
        w = np.array([a.weight for a in self.answers], dtype=np.float64)
        return w / w.sum()


@dataclass(frozen=True)
class Module:
    concept_id: int
    code: str
    name: str
    share: float
    delay_days: tuple[int, int]
    questions: tuple[Question, ...]

    def question(self, code: str) -> Question:
        for q in self.questions:
            if q.code == code:
                return q
        raise KeyError(f"module {self.code} has no question {code!r}")


@dataclass(frozen=True)
class State:
    code: str
    name: str
    weight: float
    zip3_from: int
    zip3_to: int
    site: str
    concept_id: int


@dataclass
class Vocabulary:
    concepts: dict[int, dict[str, str]]
    edges: list[tuple[int, str, int]]
    synonyms: list[tuple[int, str]]
    modules: tuple[Module, ...]
    labs: list[dict[str, str]]
    states: tuple[State, ...]
    genes: list[dict[str, str]]
    causal_variants: list[dict[str, str]]
    _codes: dict[int, str] = field(default_factory=dict)

    def module(self, code: str) -> Module:
        for m in self.modules:
            if m.code == code:
                return m
        raise KeyError(code)

    def question(self, code: str) -> Question:
        for m in self.modules:
            for q in m.questions:
                if q.code == code:
                    return q
        raise KeyError(code)

    def code(self, concept_id: int) -> str:
        return self.concepts[concept_id]["concept_code"]

    def name(self, concept_id: int) -> str:
        return self.concepts[concept_id]["concept_name"]

    def maps_to(self) -> dict[int, int]:
        return {a: b for a, rel, b in self.edges if rel == "Maps to"}

    def lab(self, concept_id: int) -> dict[str, str]:
        for lab in self.labs:
            if int(lab["concept_id"]) == concept_id:
                return lab
        raise KeyError(concept_id)

    # ---- OMOP vocabulary tables -------------------------------------------------------------------------
    def tables(self) -> dict[str, object]:
        """Arrow tables for concept, concept_relationship, concept_ancestor, concept_synonym, vocabulary, domain,
        concept_class and relationship."""
        import pyarrow as pa

        model = cdm()

        def table(name: str, columns: dict[str, list]) -> pa.Table:
            schema = model.table(name).arrow_schema()
            return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)

        ids = sorted(self.concepts)
        concept = {c: [] for c in model.table("concept").column_names}
        for cid in ids:
            row = self.concepts[cid]
            for col in concept:
                value = row.get(col) or None
                if col == "concept_id":
                    value = cid
                elif col in ("valid_start_date", "valid_end_date"):
                    value = date.fromisoformat(value) if value else (VALID_START if col == "valid_start_date" else VALID_END)
                concept[col].append(value)
        relationship_rows = self.relationship_rows()
        rel = {c: [] for c in model.table("concept_relationship").column_names}
        for a, r, b in relationship_rows:
            rel["concept_id_1"].append(a)
            rel["concept_id_2"].append(b)
            rel["relationship_id"].append(r)
            rel["valid_start_date"].append(VALID_START)
            rel["valid_end_date"].append(VALID_END)
            rel["invalid_reason"].append(None)
        anc_rows = self.ancestor_rows()
        ancestor = {
            "ancestor_concept_id": [r[0] for r in anc_rows],
            "descendant_concept_id": [r[1] for r in anc_rows],
            "min_levels_of_separation": [r[2] for r in anc_rows],
            "max_levels_of_separation": [r[3] for r in anc_rows],
        }
        synonym = {
            "concept_id": [s[0] for s in self.synonyms],
            "concept_synonym_name": [s[1] for s in self.synonyms],
            "language_concept_id": [4180186] * len(self.synonyms),  # English language
        }
        vocabularies = sorted({row["vocabulary_id"] for row in self.concepts.values()})
        vocabulary = {
            "vocabulary_id": vocabularies,
            "vocabulary_name": [_VOCABULARY_NAMES.get(v, v) for v in vocabularies],
            "vocabulary_reference": [_VOCABULARY_REFERENCES.get(v, "Research Workbench synthetic program") for v in vocabularies],
            "vocabulary_version": ["synthetic subset" for _ in vocabularies],
            "vocabulary_concept_id": [0 for _ in vocabularies],
        }
        domains = sorted({row["domain_id"] for row in self.concepts.values()})
        domain = {"domain_id": domains, "domain_name": domains, "domain_concept_id": [DOMAIN_CONCEPT_IDS.get(d, 0) for d in domains]}
        classes = sorted({row["concept_class_id"] for row in self.concepts.values()})
        concept_class = {"concept_class_id": classes, "concept_class_name": classes, "concept_class_concept_id": [0 for _ in classes]}
        relationship = {
            "relationship_id": [r[0] for r in RELATIONSHIPS],
            "relationship_name": [r[1] for r in RELATIONSHIPS],
            "is_hierarchical": [r[2] for r in RELATIONSHIPS],
            "defines_ancestry": [r[3] for r in RELATIONSHIPS],
            "reverse_relationship_id": [r[4] for r in RELATIONSHIPS],
            "relationship_concept_id": [0 for _ in RELATIONSHIPS],
        }
        return {
            "concept": table("concept", concept),
            "concept_relationship": table("concept_relationship", rel),
            "concept_ancestor": table("concept_ancestor", ancestor),
            "concept_synonym": table("concept_synonym", synonym),
            "vocabulary": table("vocabulary", vocabulary),
            "domain": table("domain", domain),
            "concept_class": table("concept_class", concept_class),
            "relationship": table("relationship", relationship),
        }

    def relationship_rows(self) -> list[tuple[int, str, int]]:
        reverse = {r[0]: r[4] for r in RELATIONSHIPS}
        rows = set()
        for a, r, b in self.edges:
            rows.add((a, r, b))
            rows.add((b, reverse[r], a))
        for cid, row in self.concepts.items():
            if row.get("standard_concept") == "S":
                rows.add((cid, "Maps to", cid))
                rows.add((cid, "Mapped from", cid))
        return sorted(rows)

    def is_standard(self, cid: int) -> bool:
        return self.concepts[cid].get("standard_concept") in ("S", "C")

    def ancestor_rows(self) -> list[tuple[int, int, int, int]]:
        """Transitive closure of the ancestry-defining edges among standard concepts (with self rows)."""
        parents: dict[int, set[int]] = defaultdict(set)
        for a, r, b in self.edges:
            if r in ANCESTRY_RELATIONSHIPS and self.is_standard(a) and self.is_standard(b):
                parents[a].add(b)
        rows = []
        for cid in sorted(self.concepts):
            if not self.is_standard(cid):
                continue
            # breadth-first over parents: min and max levels for every ancestor
            levels: dict[int, list[int]] = {cid: [0, 0]}
            frontier = {cid: 0}
            depth = 0
            while frontier:
                depth += 1
                nxt = {}
                for node in frontier:
                    for p in parents.get(node, ()):
                        if p in levels:
                            levels[p][0] = min(levels[p][0], depth)
                            levels[p][1] = max(levels[p][1], depth)
                        else:
                            levels[p] = [depth, depth]
                        nxt[p] = depth
                frontier = nxt
                if depth > 20:
                    raise ValueError(f"cycle in the hierarchy above concept {cid}")
            for anc, (lo, hi) in levels.items():
                rows.append((anc, cid, lo, hi))
        return sorted(rows)


_VOCABULARY_NAMES = {
    "SNOMED": "Systematic Nomenclature of Medicine - Clinical Terms (IHTSDO)",
    "LOINC": "Logical Observation Identifiers Names and Codes (Regenstrief Institute)",
    "RxNorm": "RxNorm (NLM)",
    "ICD10CM": "International Classification of Diseases, Tenth Revision, Clinical Modification (NCHS)",
    "UCUM": "Unified Code for Units of Measure (Regenstrief Institute)",
    PPI_VOCABULARY: "AllOfUs_PPI (Columbia)",
    "Gender": "OMOP Gender",
    "Race": "Race and Ethnicity Code Set (USBC)",
    "Ethnicity": "OMOP Ethnicity",
    "Visit": "OMOP Visit",
    "Type Concept": "OMOP Type Concept",
    "None": "OMOP Standardized Vocabularies",
    "AoU_General": "All of Us generalisation concepts",
    "AoU_Custom": "All of Us custom concepts",
}
_VOCABULARY_REFERENCES = {"SNOMED": "http://www.snomed.org/", "LOINC": "http://loinc.org/", "RxNorm": "http://www.nlm.nih.gov/research/umls/rxnorm"}


def _files():
    return resources.files(__package__).joinpath("vocabulary")


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(_files().joinpath(name).read_text(encoding="utf-8").splitlines()))


def _parse_surveys(data: dict) -> tuple[Module, ...]:
    modules = []
    for m in data["modules"]:
        questions = []
        for q in m["questions"]:
            qid = int(q["concept_id"])
            answers = []
            for k, raw in enumerate(q.get("answers", []), start=1):
                if isinstance(raw[0], int):
                    cid, code, name, weight = raw
                else:
                    if qid < QUESTION_ID_BASE:
                        raise ValueError(f"surveys.toml: answers of public question {q['code']} need explicit ids")
                    code, name, weight = raw
                    cid = ANSWER_ID_BASE + 100 * (qid - QUESTION_ID_BASE) + k
                answers.append(Answer(int(cid), code, name, float(weight)))
            branch = q.get("branch")
            questions.append(
                Question(
                    concept_id=qid,
                    code=q["code"],
                    text=q["text"],
                    kind=q["kind"],
                    answers=tuple(answers),
                    source=q.get("source"),
                    branch=(branch[0], tuple(branch[1])) if branch else None,
                    number=tuple(q["number"]) if "number" in q else None,
                    ask=float(q.get("ask", 1.0)),
                    pna=float(q.get("pna", 0.0)),
                )
            )
        modules.append(
            Module(int(m["concept_id"]), m["code"], m["name"], float(m["share"]), tuple(m["delay_days"]), tuple(questions))
        )
    return tuple(modules)


@cache
def vocabulary() -> Vocabulary:
    """The authored vocabulary (cached; read-only)."""
    concepts: dict[int, dict[str, str]] = {}
    for row in _csv("concept.csv"):
        cid = int(row["concept_id"])
        if cid in concepts:
            raise ValueError(f"vocabulary/concept.csv: concept {cid} listed twice")
        concepts[cid] = row
    edges = [(int(r["concept_id_1"]), r["relationship_id"], int(r["concept_id_2"])) for r in _csv("relationships.csv")]
    synonyms = [(int(r["concept_id"]), r["concept_synonym_name"]) for r in _csv("synonyms.csv")]
    modules = _parse_surveys(tomllib.loads(_files().joinpath("surveys.toml").read_text(encoding="utf-8")))
    states = tuple(
        State(r["code"], r["name"], float(r["weight"]), int(r["zip3_from"]), int(r["zip3_to"]), r["site"], STATE_ANSWER_ID_BASE + i + 1)
        for i, r in enumerate(_csv("states.csv"))
    )

    def add(cid: int, name: str, cls: str, code: str, domain: str = "Observation", standard: str = "S") -> None:
        if cid in concepts:
            if concepts[cid]["concept_code"] != code:
                raise ValueError(f"survey concept {cid} ({code}) clashes with {concepts[cid]['concept_code']}")
            return
        concepts[cid] = {
            "concept_id": str(cid), "concept_name": name, "domain_id": domain, "vocabulary_id": PPI_VOCABULARY,
            "concept_class_id": cls, "standard_concept": standard, "concept_code": code, "valid_start_date": "2017-05-01",
            "valid_end_date": "2099-12-31", "invalid_reason": "",
            "provenance": "aou-reference" if cid < 2_000_000_000 else "program",
        }

    for m in modules:
        add(m.concept_id, m.name, "Module", m.code)
        for q in m.questions:
            add(q.concept_id, q.text, "Question", q.code)
            edges.append((q.concept_id, "Has PPI parent code", m.concept_id))
            for a in q.answers:
                add(a.concept_id, a.name, "Answer", a.code)
                edges.append((a.concept_id, "Answer of (PPI)", q.concept_id))
    for s in states:
        add(s.concept_id, s.name, "Answer", f"PIIState_{s.code}")
        edges.append((s.concept_id, "Answer of (PPI)", 1585249))
    for a, r, b in edges:
        for cid in (a, b):
            if cid not in concepts:
                raise ValueError(f"vocabulary: relationship {a} {r} {b} names unknown concept {cid}")
    edges = sorted(set(edges))
    return Vocabulary(
        concepts=concepts,
        edges=edges,
        synonyms=synonyms,
        modules=modules,
        labs=_csv("labs.csv"),
        states=states,
        genes=_csv("genes.csv"),
        causal_variants=_csv("causal_variants.csv"),
    )
