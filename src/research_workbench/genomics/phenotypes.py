"""The analysis table of an association study: per genotyped participant, the phenotype and the covariates, in the
genotype store's sample order, with a count of everyone left out and why.

Phenotypes:
- case/control: the participants of a case cohort (a Cohort Builder definition) against those of a control cohort,
  or against everyone else with genotypes. A participant in both cohorts is left out of both (counted): they are
  neither a clean case nor a clean control.
- quantitative: one value per participant of a measurement concept (exactly that concept, numeric values only),
  read from the CDR's ``measurement`` table: the latest (by date, then datetime, then row id) or the mean.

Covariates (any of them, in this order):
- ``age``: age at the CDR's cut-off, ``age_at_cdr`` of the index's person table;
- ``sex``: sex at birth, 1 = male, 0 = female (the Basics answers of ``SEX_AT_BIRTH``). Any other value (intersex,
  none of these, skipped, generalised in a Registered Tier) is left out with a count, because a third code would
  impose an order on categories that have none and a dummy column for a handful of people makes the model unstable;
- ``pcs``: genetic principal components from a table with ``person_id`` and ``PC1`` … ``PCk`` (a Parquet file, an
  Arrow table or a pandas DataFrame: ``genomics.pca`` writes one); everyone without PCs is left out, with a count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from ..cdr.problems import ProblemsError
from ..index.layout import PERSONS_FILE
from .store import GenomicsError, GenotypeStore, index_cdr

# Sex at birth answers (The Basics, as in the curation config's ``sex_at_birth_allowed``) → the covariate's value.
SEX_AT_BIRTH = {1585846: 1.0, 1585847: 0.0}  # male, female
COVARIATES = ("age", "sex", "pcs")
_PC_COLUMN = re.compile(r"^pc([0-9]+)$", re.IGNORECASE)


class PhenotypeSpec(BaseModel):
    """What to analyse: a case cohort (and optionally a control cohort), or a measurement concept; and which
    covariates."""

    model_config = ConfigDict(extra="forbid")

    cases: dict[str, Any] | None = Field(None, description="Cohort Builder definition of the cases")
    controls: dict[str, Any] | None = Field(None, description="Cohort Builder definition of the controls (default: "
                                                              "everyone else with genotypes)")
    measurement_concept_id: int | None = Field(None, description="Quantitative phenotype: a measurement concept")
    measurement_summary: Literal["latest", "mean"] = Field("latest", description="One value per participant")
    covariates: list[Literal["age", "sex", "pcs"]] = Field(default_factory=lambda: ["age", "sex"])


@dataclass
class AnalysisTable:
    """One row per analysed sample, in store order."""

    positions: np.ndarray  # the samples' positions in the genotype store (sorted)
    person_ids: np.ndarray
    y: np.ndarray
    covariates: np.ndarray  # samples x k
    covariate_names: list[str]
    binary: bool
    counts: dict[str, int] = field(default_factory=dict)  # cases, controls (or samples) and excluded_* counts

    @property
    def n(self) -> int:
        return len(self.y)


def analysis_table(index_dir: Path, store: GenotypeStore, spec: PhenotypeSpec, pcs: Any = None) -> AnalysisTable:
    """The analysis table of ``spec`` over the genotyped participants of ``store``; ``pcs``: a Parquet path, an
    Arrow table or a pandas DataFrame with person_id and PC1..PCk (required when ``spec.covariates`` has pcs)."""
    index_dir = Path(index_dir)
    has_cohort, has_measurement = spec.cases is not None, spec.measurement_concept_id is not None
    if has_cohort == has_measurement:
        raise GenomicsError(["phenotype: give either a case cohort (cases) or a measurement concept "
                             "(measurement_concept_id), " + ("not both" if has_cohort else "neither was given")])
    if spec.controls is not None and not has_cohort:
        raise GenomicsError(["controls: a control cohort needs a case cohort (cases)"])
    if len(set(spec.covariates)) != len(spec.covariates):
        raise GenomicsError([f"covariates: {spec.covariates} names a covariate twice"])
    counts: dict[str, int] = {"genotyped": int(len(store.samples))}
    if has_cohort:
        persons, y = _case_control(index_dir, store, spec, counts)
    else:
        persons, y = _measurement(index_dir, store, spec, counts)
    names: list[str] = []
    columns: list[np.ndarray] = []
    keep = np.ones(len(persons), dtype=bool)
    if "age" in spec.covariates or "sex" in spec.covariates:
        age, sex = _person_covariates(index_dir, persons)
        if "age" in spec.covariates:
            ok = np.isfinite(age)
            counts["excluded_no_age"] = int(np.count_nonzero(keep & ~ok))
            keep &= ok
            names.append("age")
            columns.append(age)
        if "sex" in spec.covariates:
            ok = np.isfinite(sex)
            counts["excluded_sex_at_birth_not_male_or_female"] = int(np.count_nonzero(keep & ~ok))
            keep &= ok
            names.append("sex")
            columns.append(sex)
    if "pcs" in spec.covariates:
        if pcs is None:
            raise GenomicsError(["pcs: the covariates include pcs but no table of principal components was given"])
        pc_names, pc_values = _pcs(pcs, persons)
        ok = np.all(np.isfinite(pc_values), axis=1)
        counts["excluded_no_pcs"] = int(np.count_nonzero(keep & ~ok))
        keep &= ok
        names += pc_names
        columns += list(pc_values.T)
    elif pcs is not None:
        raise GenomicsError(["pcs: a table of principal components was given but the covariates do not include pcs"])
    persons, y = persons[keep], y[keep]
    C = np.column_stack([c[keep] for c in columns]) if columns else np.zeros((len(persons), 0))
    binary = has_cohort
    if len(y) == 0:
        raise GenomicsError([f"samples: no participant is left once those without {', '.join(names)} are left out"])
    _check_phenotype(y, binary, after_covariates=bool(columns))
    if len(y) < C.shape[1] + 3:
        raise GenomicsError([f"samples: {len(y)} analysed samples, but a regression on {C.shape[1]} covariate(s), an "
                             f"intercept and the genotype needs at least {C.shape[1] + 3}"])
    for j, name in enumerate(names):
        if len(C) and np.ptp(C[:, j]) == 0:
            raise GenomicsError([f"covariates: {name} is {C[0, j]:g} for every analysed sample; leave it out"])
    # rows in store order: genotypes are read for sorted store positions
    each = positions_of(store, persons)
    by_store = np.argsort(each, kind="stable")
    positions, persons, y, C = each[by_store], persons[by_store], y[by_store], C[by_store]
    if binary:
        counts["cases"], counts["controls"] = int(np.count_nonzero(y == 1)), int(np.count_nonzero(y == 0))
    counts["samples"] = int(len(y))
    return AnalysisTable(positions, persons, y, C, names, binary, counts)


def positions_of(store: GenotypeStore, persons: np.ndarray) -> np.ndarray:
    """The store position of each of ``persons`` (all genotyped), in the given order."""
    order = np.argsort(store.samples, kind="stable")
    return order[np.searchsorted(store.samples, persons, sorter=order)]


def _genotyped(store: GenotypeStore, ids) -> np.ndarray:
    ids = np.asarray(sorted(int(i) for i in ids), dtype=np.int64)
    return np.intersect1d(ids, store.samples)


def _case_control(index_dir: Path, store: GenotypeStore, spec: PhenotypeSpec, counts: dict) -> tuple[np.ndarray, np.ndarray]:
    from ..cohorts.builder.engine import CohortEngine

    engine = CohortEngine(index_dir)
    try:
        cases_all = _cohort(engine, spec.cases, "cases")
        controls_all = _cohort(engine, spec.controls, "controls") if spec.controls is not None else None
    finally:
        engine.close()
    cases = _genotyped(store, cases_all)
    counts["case_cohort"], counts["case_cohort_genotyped"] = len(cases_all), len(cases)
    if len(cases) == 0:
        raise GenomicsError([f"cases: none of the {len(cases_all):,} participants of the case cohort has "
                             f"{store.kind} genotypes"])
    if controls_all is None:
        controls = np.setdiff1d(store.samples, cases)
        both = np.zeros(0, dtype=np.int64)
    else:
        controls = _genotyped(store, controls_all)
        counts["control_cohort"], counts["control_cohort_genotyped"] = len(controls_all), len(controls)
        if len(controls) == 0:
            raise GenomicsError([f"controls: none of the {len(controls_all):,} participants of the control cohort has "
                                 f"{store.kind} genotypes"])
        both = np.intersect1d(cases, controls)
        cases, controls = np.setdiff1d(cases, both), np.setdiff1d(controls, both)
    counts["excluded_in_both_cohorts"] = int(len(both))
    if len(cases) == 0:
        raise GenomicsError(["cases: every genotyped case is also in the control cohort: no case is left"])
    if len(controls) == 0:
        raise GenomicsError(["controls: no genotyped participant is left as a control (every one is a case): the "
                             "phenotype would be constant"])
    persons = np.concatenate([cases, controls])
    y = np.concatenate([np.ones(len(cases)), np.zeros(len(controls))])
    order = np.argsort(persons)
    return persons[order], y[order]


def _cohort(engine, definition: dict, where: str) -> list[int]:
    from ..cohorts.builder.model import parse_definition

    try:
        return list(engine.cohort_persons(parse_definition(definition)))
    except ProblemsError as err:
        raise GenomicsError([f"{where}.{p}" if not p.startswith("(") else f"{where}: {p}" for p in err.problems]) from None


_LATEST_SQL = """
SELECT person_id, value_as_number FROM (
    SELECT person_id, value_as_number,
           row_number() OVER (PARTITION BY person_id
                              ORDER BY measurement_date DESC, measurement_datetime DESC NULLS LAST, measurement_id DESC) AS rn
    FROM read_parquet(?)
    WHERE measurement_concept_id = ? AND value_as_number IS NOT NULL AND isfinite(value_as_number)
) WHERE rn = 1
"""
_MEAN_SQL = """
SELECT person_id, avg(value_as_number) AS value_as_number
FROM read_parquet(?)
WHERE measurement_concept_id = ? AND value_as_number IS NOT NULL AND isfinite(value_as_number)
GROUP BY person_id
"""


def _measurement(index_dir: Path, store: GenotypeStore, spec: PhenotypeSpec, counts: dict) -> tuple[np.ndarray, np.ndarray]:
    from ..cdr.engine import connect
    from ..cdr.store import Cdr

    concept = int(spec.measurement_concept_id)  # type: ignore[arg-type]
    cdr = Cdr(index_cdr(index_dir))
    con = connect()
    try:
        name = None
        if "concept" in cdr.manifest.tables:
            found = con.execute("SELECT concept_name FROM read_parquet(?) WHERE concept_id = ?",
                                [str(cdr.table_file("concept")), concept]).fetchall()
            if not found:
                raise GenomicsError([f"measurement_concept_id: concept {concept} is not in the CDR's vocabulary"])
            name = found[0][0]
        if "measurement" not in cdr.manifest.tables:
            raise GenomicsError([f"measurement_concept_id: the CDR at {cdr.path} has no measurement table"])
        sql = _LATEST_SQL if spec.measurement_summary == "latest" else _MEAN_SQL
        got = con.execute(sql, [str(cdr.table_file("measurement")), concept]).fetchnumpy()
    finally:
        con.close()
    ids = np.asarray(got["person_id"], dtype=np.int64)
    values = np.asarray(got["value_as_number"], dtype=np.float64)
    genotyped = np.isin(ids, store.samples)
    counts["measured"], counts["measured_genotyped"] = int(len(ids)), int(np.count_nonzero(genotyped))
    if not genotyped.any():
        label = f"concept {concept}" + (f" ({name})" if name else "")
        raise GenomicsError([f"measurement_concept_id: no participant with {store.kind} genotypes has a numeric value of "
                             f"{label}"])
    ids, values = ids[genotyped], values[genotyped]
    order = np.argsort(ids)
    return ids[order], values[order]


def _check_phenotype(y: np.ndarray, binary: bool, after_covariates: bool) -> None:
    why = " once participants without the covariates are left out" if after_covariates else ""
    if binary:
        cases = int(np.count_nonzero(y == 1))
        if cases == 0:
            raise GenomicsError([f"cases: no case is left{why}: the phenotype is constant"])
        if cases == len(y):
            raise GenomicsError([f"controls: no control is left{why}: the phenotype is constant"])
    elif len(y) == 0 or np.ptp(y) == 0:
        value = f" ({y[0]:g})" if len(y) else ""
        raise GenomicsError([f"measurement_concept_id: every analysed participant has the same value{value}{why}: "
                             "the phenotype has no variance"])


def _person_covariates(index_dir: Path, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Age at the CDR and sex at birth (1/0, NaN otherwise) of ``persons`` from the index's person table."""
    path = index_dir / PERSONS_FILE
    try:
        table = pq.read_table(path, columns=["person_id", "age_at_cdr", "sex_at_birth_concept_id"])
    except (OSError, pa.ArrowInvalid) as err:
        raise GenomicsError([f"index: cannot read {path} ({err})"]) from None
    ids = table["person_id"].to_numpy(zero_copy_only=False).astype(np.int64)
    age = table["age_at_cdr"].to_numpy(zero_copy_only=False).astype(np.float64)  # nulls → NaN
    sex_concept = table["sex_at_birth_concept_id"].fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    sex = np.full(len(ids), np.nan)
    for concept, value in SEX_AT_BIRTH.items():
        sex[sex_concept == concept] = value
    return _lookup(ids, age, persons), _lookup(ids, sex, persons)


def _lookup(ids: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` (aligned with ``ids``) at ``wanted``; NaN where a wanted id is absent."""
    out = np.full(len(wanted), np.nan)
    if len(ids) == 0:
        return out
    order = np.argsort(ids, kind="stable")
    at = np.clip(np.searchsorted(ids, wanted, sorter=order), 0, len(ids) - 1)
    hit = ids[order[at]] == wanted
    out[hit] = values[order[at[hit]]]
    return out


def _pcs(pcs: Any, persons: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(PC column names in numeric order, persons x k values with NaN for anyone absent)."""
    if isinstance(pcs, (str, Path)):
        try:
            table = pq.read_table(pcs)
        except (OSError, pa.ArrowInvalid) as err:
            raise GenomicsError([f"pcs: cannot read {pcs} as Parquet ({err})"]) from None
    elif isinstance(pcs, pa.Table):
        table = pcs
    elif hasattr(pcs, "columns") and hasattr(pcs, "to_numpy"):  # a pandas DataFrame
        table = pa.Table.from_pandas(pcs, preserve_index=False)
    else:
        raise GenomicsError([f"pcs: expected a Parquet file, an Arrow table or a DataFrame, not {type(pcs).__name__}"])
    if "person_id" not in table.column_names:
        raise GenomicsError([f"pcs: no person_id column (columns: {', '.join(table.column_names)})"])
    found = sorted(((int(m.group(1)), name) for name in table.column_names if (m := _PC_COLUMN.match(name))))
    if not found:
        raise GenomicsError(["pcs: no principal component columns (PC1, PC2, …)"])
    names = [name for _, name in found]
    ids = table["person_id"].to_numpy(zero_copy_only=False)
    if np.issubdtype(np.asarray(ids).dtype, np.floating) or len(np.unique(ids)) != len(ids):
        raise GenomicsError(["pcs.person_id: must be unique integer person ids"])
    ids = np.asarray(ids, dtype=np.int64)
    values = np.empty((len(persons), len(names)))
    for j, name in enumerate(names):
        try:
            column = table[name].cast(pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise GenomicsError([f"pcs.{name}: not numeric"]) from None
        values[:, j] = _lookup(ids, column, persons)
    return [n.upper() for n in names], values
