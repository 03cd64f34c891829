"""Phenome-wide scans: the logistic fit against statsmodels, exact multiple-testing corrections, the Fisher and
sex-specific rules, refusals, and rs7903146 (TCF7L2) against the synthetic program's conditions."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import statsmodels.api as sm
from scipy.stats import fisher_exact

from research_workbench.genomics.phewas import (
    FISHER_EXPECTED,
    Population,
    analyse_phenotype,
    bh_qvalues,
    bonferroni,
    design,
    logistic_regression,
    run_phewas,
    shown_count,
    summary_rows,
)
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.variant_query import VariantSelection

T2D, DIABETES = 201826, 201820  # Type 2 diabetes mellitus (the synthetic program's) and its parent
FEMALE, MALE = 1585847, 1585846


def simulated(seed: int, n: int = 600):
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n)
    sex = np.where(rng.random(n) < 0.55, FEMALE, MALE)
    dosage = rng.binomial(2, 0.3, n).astype(float)
    eta = -3 + 0.03 * age + 0.4 * (sex == MALE) + 0.6 * dosage
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    people = Population(np.arange(n) + 1, np.arange(n), age, sex, np.zeros((n, 0)), [])
    return people, dosage, y


def test_logistic_regression_matches_statsmodels_logit():
    people, dosage, y = simulated(1)
    x = design(people, np.arange(len(y)), sex_terms=True, exposure=dosage)
    ours = logistic_regression(x, y)
    reference = sm.Logit(y, x).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
    assert ours.converged
    np.testing.assert_allclose(ours.beta, reference.params, atol=1e-8, rtol=0)
    np.testing.assert_allclose(ours.se, reference.bse, rtol=1e-6)


def test_separation_is_reported_as_not_converged():
    x = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1]])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    assert not logistic_regression(x, y).converged


def test_bonferroni_and_benjamini_hochberg_on_a_tiny_example():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(bonferroni(p), [0.04, 0.16, 0.12, 0.02])
    # Sorted: 0.005, 0.01, 0.03, 0.04 → m·p/rank 0.02, 0.02, 0.04, 0.04 → running minimum from the end.
    np.testing.assert_allclose(bh_qvalues(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(bonferroni([0.5, 0.9]), [1.0, 1.0])
    np.testing.assert_allclose(bh_qvalues([0.5, 0.9]), [0.9, 0.9])
    np.testing.assert_allclose(bh_qvalues([0.04, 0.01, 0.02]), [0.04, 0.03, 0.03])
    assert bh_qvalues(np.array([])).size == 0


def test_counts_from_1_to_19_are_shown_as_under_20():
    assert [shown_count(n) for n in (0, 1, 19, 20, 1234)] == ["0", "<20", "<20", "20", "1234"]


def test_a_common_phenotype_gets_the_logistic_wald_test_with_age_and_sex():
    people, dosage, y = simulated(2)
    rows = np.arange(len(y))
    result = analyse_phenotype(y, dosage, people, rows)
    reference = sm.Logit(y, design(people, rows, sex_terms=True, exposure=dosage)).fit(method="newton", tol=1e-14, disp=0)
    assert result["test"] == "logistic"
    assert result["beta"] == pytest.approx(reference.params[-1], abs=1e-8)
    assert result["p_value"] == pytest.approx(reference.pvalues[-1], rel=1e-6)
    assert result["cases"] == int(y.sum()) and result["controls"] == len(y) - int(y.sum())
    assert result["exposed_cases"] == int(np.sum((dosage >= 1) & (y == 1)))


def test_few_exposed_cases_fall_back_to_fishers_exact_test():
    people, dosage, y = simulated(3)
    rare = np.zeros_like(dosage)
    rare[:12] = 1  # 12 exposed: an expected count under 5 in the exposed-case cell
    result = analyse_phenotype(y, rare, people, np.arange(len(y)))
    table = [[int(np.sum((rare == 1) & (y == 1))), int(np.sum((rare == 1) & (y == 0)))],
             [int(np.sum((rare == 0) & (y == 1))), int(np.sum((rare == 0) & (y == 0)))]]
    expected = np.outer(np.sum(table, 1), np.sum(table, 0)) / len(y)
    assert expected.min() < FISHER_EXPECTED
    odds, p = fisher_exact(table)
    assert result["test"] == "fisher" and result["p_value"] == p and result["odds_ratio"] == odds
    assert result["se"] is None


def test_a_sex_specific_phenotype_is_tested_within_that_sex_without_sex_terms():
    people, dosage, y = simulated(4)
    y = y * (people.sex == FEMALE)  # only women are cases
    rows = np.arange(len(y))
    result = analyse_phenotype(y, dosage, people, rows)
    women = rows[people.sex == FEMALE]
    reference = sm.Logit(y[women], np.column_stack([np.ones(len(women)), people.age[women], dosage[women]])).fit(
        method="newton", tol=1e-14, disp=0)
    assert result["sex_restricted_to"] == FEMALE
    assert result["cases"] + result["controls"] == len(women)
    assert result["beta"] == pytest.approx(reference.params[-1], abs=1e-8)


def test_summary_rows_hide_small_counts_but_the_table_keeps_them():
    table = pa.table({"concept_id": [1], "concept_name": ["x"], "cases": [25], "controls": [400], "exposed_cases": [7],
                      "exposed_controls": [0], "test": ["fisher"], "odds_ratio": [2.0], "p_value": [0.01],
                      "bonferroni": [0.02], "q_value": [0.02]})
    row = summary_rows(table)[0]
    assert (row["cases"], row["controls"], row["exposed_cases"], row["exposed_controls"]) == ("25", "400", "<20", "0")
    assert table["exposed_cases"].to_pylist() == [7]


# ---- the synthetic Controlled Tier ------------------------------------------------------------------------------
def test_rs7903146_dosage_finds_type_2_diabetes_first(ct_index, tmp_path):
    result = run_phewas(ct_index, variant="rs7903146", out_dir=tmp_path / "out")
    rows = result.table.to_pylist()
    p = [r["p_value"] for r in rows]
    assert p == sorted(p)
    # The simulated effect (log OR 0.9 per allele) puts T2D and its parent, "Diabetes mellitus", which has the same
    # cases in this program, first; both pass Bonferroni over every phenotype tested.
    assert {rows[0]["concept_id"], rows[1]["concept_id"]} == {T2D, DIABETES}
    t2d = next(r for r in rows if r["concept_id"] == T2D)
    assert t2d["test"] == "logistic" and t2d["odds_ratio"] > 1.5
    assert t2d["bonferroni"] < 0.05 and t2d["q_value"] < 0.05
    assert t2d["bonferroni"] == pytest.approx(min(1.0, t2d["p_value"] * len(rows)))
    assert all(r["cases"] >= 20 for r in rows)
    assert result.participants == t2d["cases"] + t2d["controls"]
    files = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert files == ["phewas.json", "phewas.parquet", "phewas.tsv"]
    summary = json.loads((tmp_path / "out" / "phewas.json").read_text())
    assert summary["phenotypes_tested"] == len(rows) and summary["exposure"].startswith("rs7903146")
    assert all(not isinstance(v, int) or v == 0 or v >= 20
               for top in summary["top"] for k, v in top.items() if k in ("cases", "controls"))


def test_the_t2d_result_is_statsmodels_on_the_same_people(ct_index):
    result = run_phewas(ct_index, variant="rs7903146", max_levels=0)
    t2d = next(r for r in result.table.to_pylist() if r["concept_id"] == T2D)
    assert DIABETES not in result.table["concept_id"].to_pylist()  # no roll-up: only recorded concepts
    # Rebuild the analysis by hand from the index's files.
    import pyarrow.parquet as pq

    from research_workbench.index.layout import EVENTS_FILE, PERSONS_FILE

    store = GenotypeStore.open(ct_index)
    persons = pq.read_table(ct_index / PERSONS_FILE).to_pylist()
    g = dict(zip(store.samples.tolist(), store.read([int(np.flatnonzero(
        np.array(store.variants["rsid"].to_pylist(), dtype=object) == "rs7903146")[0])])[0].tolist()))
    people = [p for p in persons if p["has_ehr_data"] and p["person_id"] in g and g[p["person_id"]] >= 0]
    sexes, counts = np.unique([p["sex_at_birth_concept_id"] for p in people], return_counts=True)
    big = set(sexes[counts >= 20].tolist())
    people = [p for p in people if p["sex_at_birth_concept_id"] in big]
    events = pq.read_table(ct_index / EVENTS_FILE, columns=["person_id", "concept_id", "domain", "is_standard"])
    t2d_people = {r["person_id"] for r in events.to_pylist()
                  if r["concept_id"] == T2D and r["domain"] == "CONDITION" and r["is_standard"]}
    y = np.array([p["person_id"] in t2d_people for p in people], dtype=float)
    sex = np.array([p["sex_at_birth_concept_id"] for p in people])
    reference_sex = sexes[np.argmax(counts)]
    x = np.column_stack([np.ones(len(people)), [p["age_at_cdr"] for p in people],
                         *[(sex == s).astype(float) for s in sorted(big) if s != reference_sex],
                         [g[p["person_id"]] for p in people]])
    fit = sm.Logit(y, x).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
    assert t2d["cases"] == int(y.sum()) and result.participants == len(people)
    assert t2d["beta"] == pytest.approx(fit.params[-1], abs=1e-8)
    assert t2d["p_value"] == pytest.approx(fit.pvalues[-1], rel=1e-6)


def test_carriers_and_the_same_people_as_a_set_give_one_answer(ct_index):
    by_selection = run_phewas(ct_index, carriers=VariantSelection(rsids=["rs7903146"]))
    store = GenotypeStore.open(ct_index)
    index = int(np.flatnonzero(np.array(store.variants["rsid"].to_pylist(), dtype=object) == "rs7903146")[0])
    carriers = store.samples[store.read([index])[0] >= 1]
    by_set = run_phewas(ct_index, exposed=carriers.tolist())
    assert by_selection.table.column("p_value").equals(by_set.table.column("p_value"))
    assert by_selection.table["concept_id"].to_pylist()[:2] in ([T2D, DIABETES], [DIABETES, T2D])
    assert by_selection.exposed == by_set.exposed and by_selection.participants == by_set.participants


def test_principal_components_can_join_the_covariates(ct_index, tmp_path):
    from research_workbench.genomics.pca import run_pca
    from research_workbench.genomics.phewas import read_covariates

    run_pca(ct_index, None, tmp_path / "pca", 3, plots=False)
    covariates = read_covariates(tmp_path / "pca" / "pcs.parquet")
    result = run_phewas(ct_index, variant="rs7903146", covariates=covariates, out_dir=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "phewas.json").read_text())
    assert summary["covariates"] == ["age", "sex_at_birth", "PC1", "PC2", "PC3"]
    assert T2D in result.table["concept_id"].to_pylist()[:2]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"variant": "rs1"}, "variant: rs1 is not in the wgs store"),
    ({"variant": "chr10:5"}, "variant: 'chr10:5' is neither an rsID"),
    ({"variant": "rs7903146", "min_cases": 100_000}, "min_cases: no condition has 100000 or more cases"),
    ({"variant": "rs7903146", "min_cases": 0}, "min_cases: 0 must be at least 1"),
    ({"variant": "rs7903146", "max_levels": -1}, "max_levels: -1 must not be negative"),
    ({}, "exposure: give exactly one of variant, carriers or exposed persons"),
    ({"variant": "rs7903146", "exposed": [1]}, "(got variant, exposed)"),
    ({"exposed": []}, "exposed: the set of persons is empty"),
    ({"carriers": VariantSelection(genes=["NOPE"])}, "carriers: no variant of the wgs store matches gene NOPE"),
    ({"variant": "rs7903146", "population": [1, 2]}, "population: no participant has genotypes"),
    ({"variant": "rs7903146", "population": []}, "population: the cohort is empty"),
    ({"variant": "rs7903146", "covariates": pa.table({"pc": [1.0]})}, "covariates: the table has no person_id"),
    ({"variant": "rs7903146", "covariates": pa.table({"person_id": [1], "x": ["a"]})}, "covariates: column 'x' is not numeric"),
])
def test_bad_requests_are_refused_naming_what(ct_index, kwargs, message):
    with pytest.raises(GenomicsError) as err:
        run_phewas(ct_index, **kwargs)
    assert message in str(err.value)


def test_an_exposure_everyone_shares_is_refused(ct_index):
    store = GenotypeStore.open(ct_index)
    with pytest.raises(GenomicsError, match="does not vary among the"):
        run_phewas(ct_index, exposed=store.samples.tolist())


def test_an_index_without_genomes_is_refused(rt_index):
    with pytest.raises(GenomicsError, match="this index has no wgs genotypes"):
        run_phewas(rt_index, variant="rs7903146")


def test_the_command_scans_one_variant_and_refuses_an_ambiguous_exposure(ct_index, tmp_path):
    import typer
    from typer.testing import CliRunner

    from research_workbench.cli.genomics_pca import phewas

    app = typer.Typer()
    app.command()(phewas)
    run = CliRunner().invoke(app, ["--index", str(ct_index), "--rsid", "rs7903146", "--json"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert {row["concept_id"] for row in summary["top"][:2]} == {T2D, DIABETES}
    assert all(isinstance(row["cases"], str) for row in summary["top"])  # shown counts, "<20" when small
    refused = CliRunner().invoke(app, ["--index", str(ct_index), "--gene", "TCF7L2", "--json"])
    assert refused.exit_code == 1
    assert "give one variant for a dosage scan, or --carriers" in refused.stdout
