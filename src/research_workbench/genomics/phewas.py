"""Phenome-wide association scan: one genotype exposure against every condition with enough cases.

**Who is analysed**: participants with genotypes in the store and EHR data (``search_person.has_ehr_data``: without
any EHR record nobody can be a case), with an age and a sex at birth, optionally within a ``population`` (a cohort);
people whose sex-at-birth category has fewer than MIN_CATEGORY analysed members are left out, so that no covariate
rests on a handful of people.

**Exposure**, one of: a variant's ALT dosage (0/1/2, additive; a missing call leaves the person out), carrier status
of a variant selection (at least one ALT allele at any selected variant; a person with no call at any of them is
left out), or membership of any set of person ids (a genotype-defined cohort, say).

**Phenotypes**, grouped through the vocabulary hierarchy: every standard Condition concept that is recorded for an
analysed participant, or is an ancestor of one in the CDR's ``concept_ancestor`` (at most ``max_levels`` levels
above it; None: any), is a candidate. Its cases are the analysed participants with it or any of its descendants
recorded (a standard condition event in the index), its controls everyone else analysed. A candidate with at least
``min_cases`` cases is a phenotype. Type 2 diabetes is then a phenotype of its own, and its complications count
towards it and towards "Diabetes mellitus" above it.

**Test** per phenotype: logistic regression of case status on intercept, age, sex (indicators of the categories
other than the most common) and the exposure (plus any numeric ``covariates`` given, e.g. principal components),
fitted by Newton–Raphson (IRLS) with step halving; Wald test of the exposure. A phenotype whose cases all share one
sex category is analysed within that category, without the sex terms. Fisher's exact test (two-sided, exposed =
dosage ≥ 1, no covariates) replaces it when the 2 × 2 table of exposed × case has an expected count under
FISHER_EXPECTED (the usual validity rule of the Wald test), or when the fit does not converge (separation).
**Multiple testing**: Bonferroni (p × phenotypes tested, at most 1) and Benjamini–Hochberg q-values. Results are
sorted by p. The results file keeps exact counts; ``summary_rows`` (what a person reads: the CLI, a page) shows
counts from 1 to 19 as "<20", the program's dissemination rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..index.layout import EVENTS_FILE, PERSONS_FILE
from ..index.variant_query import VariantSelection, select_variants
from ..publication.check import DEFAULT_THRESHOLD
from .output_files import staged_outputs, write_json, write_table
from .store import GenomicsError, GenotypeStore, index_cdr

Progress = Callable[[str, int, int], None]

MIN_CATEGORY = 20  # fewest analysed people a sex-at-birth category needs to get a covariate of its own
FISHER_EXPECTED = 5.0
CONDITION_DOMAIN = "CONDITION"  # cdr.facts.Domain.CONDITION's value, the events' spelling

RESULT_SCHEMA = pa.schema([
    ("concept_id", pa.int64()),
    ("concept_name", pa.string()),
    ("cases", pa.int64()),
    ("controls", pa.int64()),
    ("exposed_cases", pa.int64()),  # dosage ≥ 1, carrier or member
    ("exposed_controls", pa.int64()),
    ("sex_restricted_to", pa.int64()),  # the sex-at-birth concept a sex-specific phenotype was analysed within
    ("test", pa.string()),  # "logistic" or "fisher"
    ("beta", pa.float64()),  # log odds ratio per unit of exposure (Fisher: of the 2 × 2 table)
    ("se", pa.float64()),
    ("odds_ratio", pa.float64()),
    ("p_value", pa.float64()),
    ("bonferroni", pa.float64()),
    ("q_value", pa.float64()),
])


# ---- statistics -------------------------------------------------------------------------------------------------
@dataclass
class LogisticFit:
    beta: np.ndarray
    se: np.ndarray
    converged: bool
    iterations: int


def logistic_regression(x: np.ndarray, y: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10) -> LogisticFit:
    """Maximum-likelihood logistic regression of ``y`` (0/1) on ``x`` (with its intercept column) by Newton–Raphson
    with step halving. Not converged when the Hessian is singular, the iterations run out, or a fitted probability
    is numerically 0 or 1 (separation: the estimate runs off to infinity)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    beta = np.zeros(x.shape[1])
    mean = y.mean()
    if 0 < mean < 1 and np.allclose(x[:, 0], 1):
        beta[0] = np.log(mean / (1 - mean))  # start from the intercept-only fit

    def loglik(b: np.ndarray) -> float:
        eta = x @ b
        return float(y @ eta - np.logaddexp(0, eta).sum())

    current = loglik(beta)
    converged = False
    for iteration in range(1, max_iter + 1):
        mu = 1 / (1 + np.exp(-(x @ beta)))
        hessian = (x.T * (mu * (1 - mu))) @ x
        try:
            step = np.linalg.solve(hessian, x.T @ (y - mu))
        except np.linalg.LinAlgError:
            return LogisticFit(beta, np.full(len(beta), np.nan), False, iteration)
        t = 1.0
        while True:
            trial = beta + t * step
            value = loglik(trial)
            if value >= current - 1e-12 * abs(current) or t < 1e-10:
                break
            t /= 2
        moved = np.max(np.abs(trial - beta))
        beta, current = trial, value
        if moved < tol * (1 + np.max(np.abs(beta))):
            converged = True
            break
    eta = x @ beta
    mu = 1 / (1 + np.exp(-eta))
    hessian = (x.T * (mu * (1 - mu))) @ x
    if np.max(np.abs(eta)) > 30:  # fitted probabilities of 1e-13: quasi-complete separation
        converged = False
    try:
        cov = np.linalg.inv(hessian)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se, converged = np.full(len(beta), np.nan), False
    return LogisticFit(beta, se, converged, iteration)


def bonferroni(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.minimum(1.0, p * len(p))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values: q_(i) = min over j ≥ i of m·p_(j)/j, at most 1, in the input's order."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    q = np.empty(m)
    q[order] = q_sorted
    return q


def shown_count(n: int, threshold: int = DEFAULT_THRESHOLD) -> str:
    """A count as a person may see it: 1 to threshold − 1 as "<threshold"."""
    return f"<{threshold}" if 0 < n < threshold else str(n)


# ---- inputs -------------------------------------------------------------------------------------------------------
@dataclass
class Population:
    """The analysed participants, in store order, with their covariates (design columns but the exposure)."""

    person_ids: np.ndarray
    positions: np.ndarray  # in the genotype store
    age: np.ndarray
    sex: np.ndarray  # sex-at-birth concept id
    extra: np.ndarray  # people × extra covariates
    extra_names: list[str]


def analysis_population(index_dir: Path, store: GenotypeStore, population: Iterable[int] | None,
                        covariates: pa.Table | None) -> Population:
    persons = pq.read_table(Path(index_dir) / PERSONS_FILE,
                            columns=["person_id", "sex_at_birth_concept_id", "age_at_cdr", "has_ehr_data"])
    ids = persons["person_id"].to_numpy(zero_copy_only=False)
    ehr = persons["has_ehr_data"].fill_null(False).to_numpy(zero_copy_only=False)
    age = persons["age_at_cdr"].to_numpy(zero_copy_only=False).astype(np.float64)
    sex = persons["sex_at_birth_concept_id"].fill_null(-1).to_numpy(zero_copy_only=False)
    keep = ehr & ~np.isnan(age) & (sex >= 0)
    if population is not None:
        wanted = np.fromiter((int(x) for x in population), dtype=np.int64)
        if len(wanted) == 0:
            raise GenomicsError(["population: the cohort is empty"])
        keep &= np.isin(ids, wanted)
    keep &= np.isin(ids, store.samples)
    extra_names: list[str] = []
    extra = np.zeros((len(ids), 0))
    if covariates is not None:
        extra_names, extra, has = _covariate_columns(covariates, ids)
        keep &= has
    if keep.any():
        categories, counts = np.unique(sex[keep], return_counts=True)
        keep &= np.isin(sex, categories[counts >= MIN_CATEGORY])
    positions = store.sample_positions(ids[keep])
    if len(positions) == 0:
        raise GenomicsError(["population: no participant has genotypes, EHR data, an age and a sex at birth"
                             + (" and the covariates" if covariates is not None else "")])
    chosen = store.samples[positions]
    row = {pid: i for i, pid in enumerate(ids.tolist())}
    rows = np.array([row[pid] for pid in chosen.tolist()], dtype=np.int64)
    return Population(chosen, positions, age[rows], sex[rows], extra[rows], extra_names)


def _covariate_columns(table: pa.Table, ids: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Numeric columns of a covariate table (person_id + columns) aligned to ``ids``; who has them all."""
    if "person_id" not in table.column_names:
        raise GenomicsError(["covariates: the table has no person_id column"])
    names = [n for n in table.column_names if n != "person_id"]
    bad = [n for n in names if not (pa.types.is_integer(table[n].type) or pa.types.is_floating(table[n].type))]
    if bad:
        raise GenomicsError([f"covariates: column {n!r} is not numeric" for n in bad])
    if not names:
        raise GenomicsError(["covariates: the table has no column besides person_id"])
    cov_ids = table["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    if len(np.unique(cov_ids)) != len(cov_ids):
        raise GenomicsError(["covariates: person_id repeats"])
    values = np.column_stack([table[n].to_numpy(zero_copy_only=False).astype(np.float64) for n in names])
    at = {pid: i for i, pid in enumerate(cov_ids.tolist())}
    out = np.full((len(ids), len(names)), np.nan)
    for i, pid in enumerate(ids.tolist()):
        j = at.get(pid)
        if j is not None:
            out[i] = values[j]
    return names, out, ~np.isnan(out).any(axis=1)


def resolve_variant(store: GenotypeStore, variant: str) -> int:
    """The one store variant an rsID or CHROM-POS-REF-ALT names."""
    text = variant.strip()
    try:
        is_rsid = text.lower().startswith("rs")
        selection = VariantSelection(rsids=[text]) if is_rsid else VariantSelection(variant_ids=[text])
    except ValueError:
        raise GenomicsError([f"variant: {text!r} is neither an rsID (rs7903146) nor a variant id "
                             "(10-114758349-C-T)"]) from None
    found = select_variants(store.variants, selection)
    if len(found) == 0:
        raise GenomicsError([f"variant: {text} is not in the {store.kind} store"])
    if len(found) > 1:
        raise GenomicsError([f"variant: {text} names {len(found)} variants; give its CHROM-POS-REF-ALT id"])
    return int(found[0])


@dataclass(frozen=True)
class Exposure:
    values: np.ndarray  # per analysed person; NaN: not analysed (no call)
    kind: str  # dosage, carrier, member
    description: str


def exposure_of(store: GenotypeStore, people: Population, *, variant: str | None, carriers: VariantSelection | None,
                exposed: Iterable[int] | None) -> Exposure:
    given = [name for name, value in (("variant", variant), ("carriers", carriers), ("exposed", exposed))
             if value is not None]
    if len(given) != 1:
        raise GenomicsError(["exposure: give exactly one of variant, carriers or exposed persons"
                             + (f" (got {', '.join(given)})" if given else "")])
    if variant is not None:
        index = resolve_variant(store, variant)
        g = store.read([index], people.positions)[0].astype(np.float64)
        g[g < 0] = np.nan
        row = store.variants.slice(index, 1).to_pylist()[0]
        name = row["rsid"] or row["variant_id"]
        return Exposure(g, "dosage", f"{name} ({row['variant_id']}) ALT dosage")
    if carriers is not None:
        found = select_variants(store.variants, carriers)
        if len(found) == 0:
            raise GenomicsError([f"carriers: no variant of the {store.kind} store matches {carriers.describe()}"])
        carrier = np.zeros(len(people.positions), dtype=bool)
        called = np.zeros(len(people.positions), dtype=bool)
        for _, g in store.chunks(found, people.positions):
            carrier |= (g >= 1).any(axis=0)
            called |= (g >= 0).any(axis=0)
        values = np.where(called, carrier.astype(np.float64), np.nan)
        return Exposure(values, "carrier", f"carriers of {carriers.describe()}")
    members = np.fromiter((int(x) for x in exposed), dtype=np.int64)
    if len(members) == 0:
        raise GenomicsError(["exposed: the set of persons is empty"])
    return Exposure(np.isin(people.person_ids, members).astype(np.float64), "member",
                    f"membership of a set of {len(np.unique(members)):,} persons")


# ---- phenotypes -----------------------------------------------------------------------------------------------------
_PHENOTYPES_SQL = """
WITH recorded AS (
    SELECT DISTINCT person_id, concept_id FROM read_parquet($events)
    WHERE domain = $domain AND is_standard AND person_id IN (SELECT unnest($persons))
),
candidates AS (
    SELECT DISTINCT a.ancestor_concept_id AS concept_id
    FROM recorded r JOIN read_parquet($ancestor) a ON a.descendant_concept_id = r.concept_id
    WHERE $max_levels IS NULL OR a.min_levels_of_separation <= $max_levels
    UNION SELECT concept_id FROM recorded
),
cases AS (
    SELECT c.concept_id, r.person_id
    FROM candidates c JOIN read_parquet($ancestor) a ON a.ancestor_concept_id = c.concept_id
    JOIN recorded r ON r.concept_id = a.descendant_concept_id
    UNION SELECT concept_id, person_id FROM recorded
)
SELECT k.concept_id, n.concept_name, list(DISTINCT k.person_id ORDER BY k.person_id) AS persons
FROM cases k JOIN read_parquet($concept) n ON n.concept_id = k.concept_id
WHERE n.domain_id = 'Condition' AND n.standard_concept = 'S' AND k.concept_id IN (SELECT concept_id FROM candidates)
GROUP BY k.concept_id, n.concept_name
HAVING count(DISTINCT k.person_id) >= $min_cases
ORDER BY k.concept_id
"""


def condition_phenotypes(index_dir: Path, person_ids: np.ndarray, *, min_cases: int,
                         max_levels: int | None) -> list[tuple[int, str, np.ndarray]]:
    """(concept id, name, case person ids) of every phenotype (see the module's rule) among ``person_ids``."""
    import duckdb

    from ..cdr.store import Cdr

    cdr = Cdr(index_cdr(index_dir))
    missing = [t for t in ("concept", "concept_ancestor") if t not in cdr.manifest.tables]
    if missing:
        raise GenomicsError([f"{cdr.path}: the CDR has no {t} table to group conditions with" for t in missing])
    con = duckdb.connect()
    try:
        rows = con.execute(_PHENOTYPES_SQL, {
            "events": str(Path(index_dir) / EVENTS_FILE), "ancestor": str(cdr.table_file("concept_ancestor")),
            "concept": str(cdr.table_file("concept")), "domain": CONDITION_DOMAIN,
            "persons": [int(x) for x in person_ids], "max_levels": max_levels, "min_cases": min_cases,
        }).fetchall()
    finally:
        con.close()
    return [(int(cid), name, np.asarray(persons, dtype=np.int64)) for cid, name, persons in rows]


# ---- the scan ---------------------------------------------------------------------------------------------------------
@dataclass
class PhewasResult:
    table: pa.Table  # RESULT_SCHEMA, sorted by p
    exposure: str
    participants: int
    exposed: int
    min_cases: int
    files: list[str] = field(default_factory=list)

    def summary(self, top: int = 10) -> dict:
        m = self.table.num_rows
        return {"exposure": self.exposure, "participants": shown_count(self.participants),
                "exposed": shown_count(self.exposed),
                "phenotypes_tested": m, "min_cases": self.min_cases,
                "bonferroni_threshold": 0.05 / m if m else None, "top": summary_rows(self.table, top),
                "files": self.files}


def summary_rows(table: pa.Table, top: int = 10) -> list[dict]:
    """The first ``top`` results as a person reads them: counts from 1 to 19 shown as "<20"."""
    rows = []
    for row in table.slice(0, top).to_pylist():
        rows.append({
            "concept_id": row["concept_id"], "concept_name": row["concept_name"],
            "cases": shown_count(row["cases"]), "controls": shown_count(row["controls"]),
            "exposed_cases": shown_count(row["exposed_cases"]), "exposed_controls": shown_count(row["exposed_controls"]),
            "test": row["test"], "odds_ratio": row["odds_ratio"], "p_value": row["p_value"],
            "bonferroni": row["bonferroni"], "q_value": row["q_value"],
        })
    return rows


def analyse_phenotype(y: np.ndarray, exposure: np.ndarray, people: Population, rows: np.ndarray) -> dict:
    """One phenotype's test over ``rows`` of the population (those with an exposure value)."""
    y = y[rows]
    e = exposure[rows]
    sex = people.sex[rows]
    restricted = None
    case_sexes = np.unique(sex[y == 1])
    if len(case_sexes) == 1 and len(np.unique(sex)) > 1:  # a sex-specific condition: within that sex
        restricted = int(case_sexes[0])
        inside = sex == restricted
        y, e, rows, sex = y[inside], e[inside], rows[inside], sex[inside]
    exposed = e >= 1
    table = np.array([[np.sum(exposed & (y == 1)), np.sum(exposed & (y == 0))],
                      [np.sum(~exposed & (y == 1)), np.sum(~exposed & (y == 0))]], dtype=np.int64)
    out = {"cases": int(table[:, 0].sum()), "controls": int(table[:, 1].sum()),
           "exposed_cases": int(table[0, 0]), "exposed_controls": int(table[0, 1]), "sex_restricted_to": restricted}
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / max(table.sum(), 1)
    if expected.min() >= FISHER_EXPECTED:
        fit = logistic_regression(design(people, rows, sex_terms=restricted is None, exposure=e), y)
        if fit.converged and np.isfinite(fit.se[-1]) and fit.se[-1] > 0:
            from scipy.stats import norm

            b, se = float(fit.beta[-1]), float(fit.se[-1])
            return {**out, "test": "logistic", "beta": b, "se": se, "odds_ratio": float(np.exp(b)),
                    "p_value": float(2 * norm.sf(abs(b / se)))}
    from scipy.stats import fisher_exact

    odds, p = fisher_exact(table)
    beta = float(np.log(odds)) if 0 < odds < np.inf else None
    return {**out, "test": "fisher", "beta": beta, "se": None,
            "odds_ratio": float(odds) if np.isfinite(odds) else None, "p_value": float(p)}


def design(people: Population, rows: np.ndarray, *, sex_terms: bool, exposure: np.ndarray) -> np.ndarray:
    """[1, age, sex indicators (all categories but the most common), extra covariates, exposure] for ``rows``."""
    columns = [np.ones(len(rows)), people.age[rows]]
    if sex_terms:
        sex = people.sex[rows]
        categories, counts = np.unique(sex, return_counts=True)
        reference = categories[np.argmax(counts)]
        columns += [(sex == c).astype(np.float64) for c in categories if c != reference]
    columns += [people.extra[rows, j] for j in range(people.extra.shape[1])]
    columns.append(exposure)
    return np.column_stack(columns)


def run_phewas(index_dir: Path, *, variant: str | None = None, carriers: VariantSelection | None = None,
               exposed: Iterable[int] | None = None, population: Iterable[int] | None = None,
               out_dir: Path | None = None, min_cases: int = 20, max_levels: int | None = None,
               covariates: pa.Table | None = None, kind: str = "wgs",
               progress: Progress | None = None) -> PhewasResult:
    """Scan every condition phenotype against one exposure (``variant``, ``carriers`` or ``exposed``: exactly one);
    see the module for the rules. With ``out_dir``: ``phewas.parquet``/``.tsv`` (exact counts) and ``phewas.json``
    (the summary, small counts hidden), written whole or not at all."""
    problems = []
    if min_cases < 1:
        problems.append(f"min_cases: {min_cases} must be at least 1")
    if max_levels is not None and max_levels < 0:
        problems.append(f"max_levels: {max_levels} must not be negative")
    if problems:
        raise GenomicsError(problems)
    store = GenotypeStore.open(Path(index_dir), kind)
    people = analysis_population(index_dir, store, population, covariates)
    exposure = exposure_of(store, people, variant=variant, carriers=carriers, exposed=exposed)
    rows = np.flatnonzero(~np.isnan(exposure.values))
    values = exposure.values[rows]
    if len(rows) == 0 or np.all(values == values[0]):
        raise GenomicsError([f"exposure: {exposure.description} does not vary among the {len(rows):,} participants "
                             "analysed (all exposed or none)"])
    phenotypes = condition_phenotypes(index_dir, people.person_ids[rows], min_cases=min_cases, max_levels=max_levels)
    if not phenotypes:
        raise GenomicsError([f"min_cases: no condition has {min_cases} or more cases among the {len(rows):,} "
                             "participants analysed"])
    results = []
    for done, (concept_id, name, cases) in enumerate(phenotypes):
        if progress:
            progress(name, done, len(phenotypes))
        y = np.isin(people.person_ids, cases).astype(np.float64)
        tested = analyse_phenotype(y, exposure.values, people, rows)
        results.append({"concept_id": concept_id, "concept_name": name, **tested})
    if progress:
        progress("", len(phenotypes), len(phenotypes))
    p = np.array([r["p_value"] for r in results])
    for r, b, q in zip(results, bonferroni(p), bh_qvalues(p)):
        r["bonferroni"], r["q_value"] = float(b), float(q)
    results.sort(key=lambda r: (r["p_value"], r["concept_id"]))
    table = pa.Table.from_pylist(results, schema=RESULT_SCHEMA)
    result = PhewasResult(table, exposure.description, len(rows), int(np.sum(values >= 1)), min_cases)
    if out_dir is not None:
        with staged_outputs(Path(out_dir)) as stage:
            result.files = write_table(table, stage, "phewas") + ["phewas.json"]
            write_json({**result.summary(), "max_levels": max_levels,
                        "covariates": ["age", "sex_at_birth", *people.extra_names]}, stage / "phewas.json")
    return result


def read_covariates(path: Path) -> pa.Table:
    """A covariate table from Parquet or a TSV/CSV with a header (person_id + numeric columns), e.g. pcs.parquet."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        delimiter = "," if path.suffix == ".csv" else "\t"
        return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except (OSError, pa.ArrowInvalid) as err:
        raise GenomicsError([f"covariates: {path}: {str(err).splitlines()[0]}"]) from None
