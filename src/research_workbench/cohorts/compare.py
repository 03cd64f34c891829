"""Two cohorts side by side: how they overlap, who is in each, and the concepts whose prevalence differs most.

What ATLAS's cohort characterization comparison and the UK Biobank browser show, over the Cohort Builder's index:

- the overlap: participants in A only, in B only, in both, in either, and the Jaccard index (both / either);
- the demographics of each: sex at birth, gender, race, ethnicity and the age band at the CDR's cut-off (the person
  table of the index, ``search_person``, and the shared bands of ``cdr.facts``, as ``CohortEngine.breakdown``),
  counts and shares of the cohort;
- per domain, the standard concepts whose prevalence (participants with at least one event of that very concept,
  over the cohort's size) differs most, by the standardised difference of a binary covariate,
  d = (p₁ − p₂) / √((p₁(1 − p₁) + p₂(1 − p₂)) / 2): the top N by |d|, ties by concept id, with counts and
  prevalences per cohort and the concept's name. d is 0 when p₁ = p₂ (both 0 or both 1 included), and ±∞ when one
  cohort has every participant with the concept and the other none (no spread on either side to scale by).

Survey answers are left out of the differences: the index holds them by question (a source concept), so a
question's prevalence says only who answered it. Concept 0 (no matching concept) is left out too.

Prevalences come from the index's per-concept participant bitmaps (``index.bitmaps``): for each standard concept
of the compared domains, its bitmap intersected with each cohort. The other way, one DuckDB query over
``search_all_events`` joined to the cohorts' ids, reads every event of both cohorts. Measured with
``bench/bench_compare.py`` (synthetic program, 2 shared cores, warm, median of 3; 175 standard concepts with data;
both ways gave the same counts):

    participants    cohorts A / B               bitmaps     SQL       demographics   whole comparison
    100,000         12,490 / 31,759             0.005 s     0.51 s    0.025 s        0.045 s
    100,000         100,000 / 10,000            0.003 s     1.00 s    0.057 s        0.088 s
    1,000,000       124,133 / 318,940           0.014 s     8.3 s     0.18 s         0.28 s
    1,000,000       1,000,000 / 100,000         0.018 s     15.7 s    0.44 s         0.37 s

(the cores were shared with other work: a whole comparison can time below its demographics step). The bitmaps'
cost grows with the number and size of the concepts' bitmaps (a real CDR has tens of thousands of concepts with
data, each read once), the SQL's with every event of both cohorts; so the bitmaps are the way whenever the index
has them, and SQL only where it has none (an index whose person ids do not fit in 32 bits). Tests check that the
two agree.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap64, BitMap

from ..cdr.facts import AGE_BANDS, UNKNOWN_AGE, Domain, age_band
from ..cdr.problems import Problem, ProblemsError
from ..cdr.sql import col
from ..index.bitmaps import MAX_PERSON_ID
from ..index.layout import BITMAPS_FILE
from .builder.engine import CohortEngine
from .builder.model import CohortDefinition

# The domains compared, in the order they are shown: every event domain whose events carry a standard concept.
COMPARED_DOMAINS: tuple[Domain, ...] = (
    Domain.CONDITION, Domain.DRUG, Domain.PROCEDURE, Domain.MEASUREMENT, Domain.OBSERVATION,
    Domain.PHYSICAL_MEASUREMENT, Domain.VISIT, Domain.DEVICE,
)
DEFAULT_TOP = 10
MAX_TOP = 100
"""Concepts listed per domain (1 to this)."""

# The person table's columns compared, with their headings; the age band is computed from ``age_at_cdr``.
DEMOGRAPHICS: tuple[tuple[str, str], ...] = (
    ("sex_at_birth", "Sex at birth"),
    ("gender", "Gender"),
    ("race", "Race"),
    ("ethnicity", "Ethnicity"),
    ("age_band", "Age at the CDR cut-off"),
)
_CONCEPT_COLUMNS = {"sex_at_birth": "sex_at_birth_concept_id", "gender": "gender_concept_id", "race": "race_concept_id",
                    "ethnicity": "ethnicity_concept_id"}
NOT_RECORDED = "Not recorded"
_AGE_ORDER = [label for label, _, _ in AGE_BANDS] + [UNKNOWN_AGE]

Method = Literal["bitmaps", "sql"]
Cohort = CohortDefinition | BitMap


class CompareError(ProblemsError):
    """Options of a comparison that cannot be run (a domain, the number of concepts, the method)."""

    heading = "cannot compare"
    outcome = "nothing was run."


# -- results -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Overlap:
    only_a: int
    only_b: int
    both: int

    @property
    def size_a(self) -> int:
        return self.only_a + self.both

    @property
    def size_b(self) -> int:
        return self.only_b + self.both

    @property
    def union(self) -> int:
        return self.only_a + self.only_b + self.both

    @property
    def jaccard(self) -> float:
        """Both over either; 0 when both cohorts are empty."""
        return self.both / self.union if self.union else 0.0


@dataclass(frozen=True)
class DemographicRow:
    value: int | str | None  # the concept id (sex, gender, race, ethnicity) or age band; None: not recorded
    label: str
    count_a: int
    count_b: int
    share_a: float  # of cohort A's participants (0 for an empty cohort)
    share_b: float


@dataclass(frozen=True)
class Demographic:
    key: str  # "sex_at_birth", "gender", "race", "ethnicity", "age_band"
    label: str
    rows: tuple[DemographicRow, ...]


@dataclass(frozen=True)
class ConceptDifference:
    concept_id: int
    name: str
    count_a: int
    count_b: int
    prevalence_a: float
    prevalence_b: float
    d: float  # the standardised difference, A − B (±inf: one cohort all, the other none)


@dataclass(frozen=True)
class DomainDifferences:
    domain: Domain
    concepts: tuple[ConceptDifference, ...]  # the top N by |d|, ties by concept id
    compared: int  # concepts of the domain held by at least one participant of either cohort


@dataclass(frozen=True)
class CohortComparison:
    overlap: Overlap
    demographics: tuple[Demographic, ...]
    differences: tuple[DomainDifferences, ...]  # empty when either cohort is empty (no prevalence to compare)
    method: Method


# -- the pieces --------------------------------------------------------------------------------------------------

def standardized_difference(p1: float, p2: float) -> float:
    """d = (p₁ − p₂) / √((p₁(1 − p₁) + p₂(1 − p₂)) / 2) for two prevalences; 0 when they are equal, ±inf when they
    differ with no spread on either side (one is 0 and the other 1)."""
    if p1 == p2:
        return 0.0
    spread = (p1 * (1 - p1) + p2 * (1 - p2)) / 2
    if spread <= 0:
        return math.copysign(math.inf, p1 - p2)
    return (p1 - p2) / math.sqrt(spread)


def overlap(a: BitMap, b: BitMap) -> Overlap:
    both = a.intersection_cardinality(b)
    return Overlap(only_a=len(a) - both, only_b=len(b) - both, both=both)


def cohort_ids(engine: CohortEngine, cohort: Cohort) -> BitMap:
    """A cohort's participants: a BitMap as given, a definition run on the engine (its bitmaps when it has them,
    else the definition's SQL)."""
    if isinstance(cohort, BitMap):
        return cohort
    if isinstance(cohort, AbstractBitMap64):  # members of an index whose person ids may pass 32 bits
        return ids_bitmap(np.asarray(cohort.to_array(), dtype=np.int64))
    if engine.accelerate:
        return engine.cohort_persons(cohort)
    return ids_bitmap(engine.person_ids(cohort))  # the one statement (with a variant item's carriers registered)


def ids_bitmap(ids: np.ndarray) -> BitMap:
    """Person ids as a BitMap; CompareError for ids that do not fit in 32 bits (a BitMap would wrap them)."""
    if len(ids) and (ids.min() < 0 or ids.max() > MAX_PERSON_ID):
        raise CompareError([Problem(f"person ids from {ids.min()} to {ids.max()} do not fit in 32 bits: cohorts of "
                                    "this CDR cannot be compared", "cohort")])
    return BitMap(ids.astype(np.uint32))


def _membership(a: BitMap, b: BitMap) -> pa.Table:
    """One row per participant of either cohort, with whether they are in A and in B (for DuckDB to join)."""
    either = np.frombuffer((a | b).to_array(), dtype=np.uint32)
    in_a = np.isin(either, np.frombuffer(a.to_array(), dtype=np.uint32), assume_unique=True)
    in_b = np.isin(either, np.frombuffer(b.to_array(), dtype=np.uint32), assume_unique=True)
    return pa.table({"person_id": either.astype(np.int64), "in_a": in_a, "in_b": in_b})


class _Registered:
    """The membership table as a DuckDB view on the engine's connection for the length of a ``with`` block."""

    NAME = "compare_cohorts_membership"

    def __init__(self, engine: CohortEngine, a: BitMap, b: BitMap):
        self.con, self.table = engine.con, _membership(a, b)

    def __enter__(self) -> str:
        self.con.register(self.NAME, self.table)
        return self.NAME

    def __exit__(self, *exc) -> None:
        self.con.unregister(self.NAME)


# A template: the age band expression is rendered in from ``cdr.facts``; the view name is the code's own.
DEMOGRAPHICS_SQL = """
SELECT dimension, value, count(*) FILTER (WHERE in_a) AS count_a, count(*) FILTER (WHERE in_b) AS count_b
FROM (
    SELECT m.in_a, m.in_b,
           CAST(p.sex_at_birth_concept_id AS VARCHAR) AS sex_at_birth, CAST(p.gender_concept_id AS VARCHAR) AS gender,
           CAST(p.race_concept_id AS VARCHAR) AS race, CAST(p.ethnicity_concept_id AS VARCHAR) AS ethnicity,
           {age_band} AS age_band
    FROM search_person p JOIN {members} m ON m.person_id = p.person_id
) UNPIVOT INCLUDE NULLS (value FOR dimension IN (sex_at_birth, gender, race, ethnicity, age_band))
GROUP BY ALL
"""


def demographic_counts(engine: CohortEngine, a: BitMap, b: BitMap) -> dict[str, list[tuple[str | None, int, int]]]:
    """Per dimension, (value, participants of A, of B) for each value held by someone in either cohort (a concept
    id as text, or an age band; None: not recorded)."""
    counts: dict[str, list[tuple[str | None, int, int]]] = {key: [] for key, _ in DEMOGRAPHICS}
    if len(a) or len(b):
        with _Registered(engine, a, b) as members:
            sql = DEMOGRAPHICS_SQL.format(age_band=age_band(col("age_at_cdr", table="p")).sql(dialect="duckdb"),
                                          members=members)
            for dimension, value, count_a, count_b in engine.con.execute(sql).fetchall():
                counts[dimension].append((value, count_a, count_b))
    return counts


def demographic_concepts(counts: dict[str, list[tuple[str | None, int, int]]]) -> set[int]:
    """The concept ids among the demographic values (to be named)."""
    return {int(v) for key in _CONCEPT_COLUMNS for v, _, _ in counts[key] if v is not None}


def demographics(counts: dict[str, list[tuple[str | None, int, int]]], size_a: int, size_b: int,
                 names: dict[int, str]) -> tuple[Demographic, ...]:
    """Counts and shares of each cohort by sex at birth, gender, race, ethnicity and age band at the CDR's cut-off.

    Rows of a concept dimension go by participants of both cohorts together (most first), then label, with "not
    recorded" after the named values of the same count; age bands go youngest first, ``unknown`` last."""
    out = []
    for key, heading in DEMOGRAPHICS:
        rows = []
        for value, count_a, count_b in counts[key]:
            if key == "age_band":
                shown: int | str | None = value
                label = str(value)
            else:
                shown = None if value is None else int(value)
                label = NOT_RECORDED if shown is None else names.get(shown) or _unnamed(shown)
            rows.append(DemographicRow(shown, label, count_a, count_b, _share(count_a, size_a), _share(count_b, size_b)))
        if key == "age_band":
            rows.sort(key=lambda r: _AGE_ORDER.index(r.value))
        else:
            rows.sort(key=lambda r: (-(r.count_a + r.count_b), r.value is None, r.label.casefold(), r.value or 0))
        out.append(Demographic(key, heading, tuple(rows)))
    return tuple(out)


def _share(count: int, size: int) -> float:
    return count / size if size else 0.0


def _unnamed(concept_id: int) -> str:
    return f"Concept {concept_id}"


def concept_names(engine: CohortEngine, ids) -> dict[int, str]:
    """Names of concepts from the CDR's vocabulary (the engine's, kept); a concept it lacks has none here."""
    return engine.concept_names(ids, fallback=False)


# -- prevalence: two ways ----------------------------------------------------------------------------------------

Counts = dict[tuple[Domain, int], tuple[int, int]]  # (domain, standard concept) → (participants in A, in B)


def prevalence_by_bitmaps(engine: CohortEngine, a: BitMap, b: BitMap, domains: tuple[Domain, ...]) -> Counts:
    """Each standard concept's participant bitmap intersected with each cohort (concepts held by neither: left out)."""
    path = engine.index_dir / BITMAPS_FILE
    placeholders = ", ".join("?" for _ in domains)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT domain, concept_id, persons FROM concept_persons "
            f"WHERE is_standard = 1 AND concept_id <> 0 AND domain IN ({placeholders})",
            [d.value for d in domains],
        )
        counts: Counts = {}
        for domain, concept_id, blob in rows:
            persons = BitMap.deserialize(blob)
            in_a, in_b = persons.intersection_cardinality(a), persons.intersection_cardinality(b)
            if in_a or in_b:
                counts[(Domain(domain), concept_id)] = (in_a, in_b)
        return counts
    finally:
        db.close()


PREVALENCE_SQL = """
SELECT e.domain, e.concept_id,
       count(DISTINCT e.person_id) FILTER (WHERE m.in_a) AS count_a,
       count(DISTINCT e.person_id) FILTER (WHERE m.in_b) AS count_b
FROM search_all_events e JOIN {members} m ON m.person_id = e.person_id
WHERE e.is_standard AND e.concept_id <> 0 AND e.domain IN (SELECT unnest($domains))
GROUP BY ALL
"""


def prevalence_by_sql(engine: CohortEngine, a: BitMap, b: BitMap, domains: tuple[Domain, ...]) -> Counts:
    """One DuckDB query over the event table joined to the cohorts' participants."""
    if not (len(a) or len(b)):
        return {}
    with _Registered(engine, a, b) as members:
        rows = engine.con.execute(PREVALENCE_SQL.format(members=members), {"domains": [d.value for d in domains]}).fetchall()
    return {(Domain(domain), int(concept_id)): (count_a, count_b) for domain, concept_id, count_a, count_b in rows}


def differences(counts: Counts, size_a: int, size_b: int, domains: tuple[Domain, ...], top: int,
                names: dict[int, str]) -> tuple[DomainDifferences, ...]:
    """Per domain, the ``top`` concepts by |d| (ties by concept id); none when either cohort is empty."""
    if not (size_a and size_b):
        return ()
    out = []
    for domain in domains:
        found = []
        for (d_domain, concept_id), (count_a, count_b) in counts.items():
            if d_domain is domain:
                p1, p2 = count_a / size_a, count_b / size_b
                found.append(ConceptDifference(concept_id, names.get(concept_id) or _unnamed(concept_id), count_a, count_b,
                                               p1, p2, standardized_difference(p1, p2)))
        # |d| rounded for ranking: equal differences reached by different arithmetic rank as ties, by concept id.
        found.sort(key=lambda c: (-round(abs(c.d), 12), c.concept_id))
        out.append(DomainDifferences(domain, tuple(found[:top]), len(found)))
    return tuple(out)


# -- the whole comparison ----------------------------------------------------------------------------------------

def compare_cohorts(engine: CohortEngine, a: Cohort, b: Cohort, *, top: int = DEFAULT_TOP,
                    domains: tuple[Domain, ...] = COMPARED_DOMAINS, method: Method | None = None) -> CohortComparison:
    """Cohorts ``a`` and ``b`` (definitions, or BitMaps of person ids) side by side.

    ``method``: how prevalences are counted, "bitmaps" (the default when the index has them) or "sql". Concepts are
    named from the engine's CDR's vocabulary.
    """
    problems = []
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        problems.append(Problem(f"{top!r}: list 1 to {MAX_TOP} concepts per domain (MAX_TOP)", "top"))
    for i, domain in enumerate(domains):
        if domain not in COMPARED_DOMAINS:
            problems.append(Problem(f"{getattr(domain, 'value', domain)!r} is not compared: one of "
                                    f"{', '.join(d.value for d in COMPARED_DOMAINS)}", f"domains[{i}]"))
    if method not in (None, "bitmaps", "sql"):
        problems.append(Problem(f"{method!r}: one of bitmaps, sql", "method"))
    elif method == "bitmaps" and not engine.bitmaps.available:
        problems.append(Problem(f"the index at {engine.index_dir} has no concept bitmaps: use sql", "method"))
    if problems:
        raise CompareError(problems)
    chosen: Method = method or ("bitmaps" if engine.bitmaps.available else "sql")
    ids_a, ids_b = cohort_ids(engine, a), cohort_ids(engine, b)
    counting = prevalence_by_bitmaps if chosen == "bitmaps" else prevalence_by_sql
    counts = counting(engine, ids_a, ids_b, tuple(domains))
    people = demographic_counts(engine, ids_a, ids_b)
    size_a, size_b = len(ids_a), len(ids_b)
    # Only the concepts shown are named: the ranking needs no names.
    shown = {c.concept_id for d in differences(counts, size_a, size_b, tuple(domains), top, {}) for c in d.concepts}
    names = concept_names(engine, shown | demographic_concepts(people))
    return CohortComparison(
        overlap=overlap(ids_a, ids_b),
        demographics=demographics(people, size_a, size_b, names),
        differences=differences(counts, size_a, size_b, tuple(domains), top, names),
        method=chosen,
    )
