"""GWAS kernels (genomics.gwas): exactness against statsmodels and a textbook Firth, missing calls, filters, tail
p-values, λGC, plots; the analysis table and run_gwas end to end on the synthetic Controlled Tier; bad input.

PLINK 2 as the oracle: test_gwas_plink.py.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
import statsmodels.api as sm
from scipy import special, stats

from research_workbench.genomics import gwas, tails
from research_workbench.genomics.plots import chromosome_key, manhattan, qq
from research_workbench.genomics.store import GenomicsError

from .gwas_data import covariates, simulate, write_store


def ols_reference(y, C, g):
    keep = g >= 0
    fit = sm.OLS(y[keep], sm.add_constant(np.column_stack([C[keep], g[keep]]), has_constant="add")).fit()
    return keep.sum(), fit.params[-1], fit.bse[-1], -np.log10(fit.pvalues[-1])


# ---------------------------------------------------------------------------------------------------------------
# linear

def test_linear_matches_statsmodels_ols_per_variant_with_missing_calls_dropped(tmp_path):
    rng = np.random.default_rng(11)
    n, m = 400, 240
    G = simulate(rng, n, m, missing=0.03)
    G[:40] = np.where(G[:40] < 0, 1, G[:40])  # some variants without any missing call: the fast path
    C = covariates(rng, n)
    y = 0.03 * C[:, 0] + 0.4 * np.maximum(G[7], 0) + rng.normal(size=n)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(m), "linear", chunk_size=64).results
    assert res.num_rows == m
    assert set(res["test"].to_pylist()) == {"linear"}
    beta, se, log10p, nobs = (res[c].to_numpy() for c in ("beta", "se", "log10p", "n"))
    for j in range(m):
        n_ref, b_ref, se_ref, lp_ref = ols_reference(y, C, G[j])
        assert nobs[j] == n_ref
        assert abs(beta[j] - b_ref) <= 1e-10
        assert abs(se[j] - se_ref) <= 1e-10
        assert abs(log10p[j] - lp_ref) <= 1e-8
    freq = np.array([G[j][G[j] >= 0].mean() / 2 for j in range(m)])
    assert np.allclose(res["alt_freq"].to_numpy(), freq, rtol=0, atol=1e-14)


def test_linear_on_a_sample_subset_reads_only_those_samples(tmp_path):
    rng = np.random.default_rng(12)
    n, m = 300, 30
    G = simulate(rng, n, m, missing=0.02)
    C = covariates(rng, n)
    y = rng.normal(size=n)
    store = write_store(tmp_path, G, person_ids=np.arange(5000, 5000 + n))
    subset = np.sort(rng.choice(n, 180, replace=False))
    res = gwas.associate(store, subset, y[subset], C[subset], np.arange(m), "linear").results
    for j in range(m):
        _, b_ref, _, lp_ref = ols_reference(y[subset], C[subset], G[j, subset])
        assert abs(res["beta"][j].as_py() - b_ref) <= 1e-10
        assert abs(res["log10p"][j].as_py() - lp_ref) <= 1e-8


def test_linear_without_covariates_is_simple_regression(tmp_path):
    rng = np.random.default_rng(13)
    G = simulate(rng, 200, 10, missing=0.05)
    y = rng.normal(size=200)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(200), y, np.zeros((200, 0)), np.arange(10), "linear").results
    for j in range(10):
        keep = G[j] >= 0
        fit = stats.linregress(G[j][keep].astype(float), y[keep])
        assert abs(res["beta"][j].as_py() - fit.slope) <= 1e-12
        assert abs(res["se"][j].as_py() - fit.stderr) <= 1e-12


# ---------------------------------------------------------------------------------------------------------------
# logistic: score test and Firth

def test_score_test_matches_statsmodels_glm_score_test_when_nothing_is_missing(tmp_path):
    rng = np.random.default_rng(21)
    n, m = 500, 150
    G = simulate(rng, n, m)
    C = covariates(rng, n)
    y = (rng.random(n) < special.expit(-0.8 + 0.03 * (C[:, 0] - 55) + 0.5 * G[3])).astype(float)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(m), "logistic", exact=gwas.ExactRule(top=0, below=0)).results
    assert set(res["test"].to_pylist()) == {"score"}
    null = sm.GLM(y, sm.add_constant(C), family=sm.families.Binomial()).fit(tol=1e-14)
    log10p = res["log10p"].to_numpy()
    for j in range(m):
        chi2, p = (float(np.ravel(v)[0]) for v in null.score_test(exog_extra=G[j][:, None].astype(float))[:2])
        assert abs(log10p[j] + np.log10(p)) <= 1e-8
        z = res["stat"][j].as_py()
        assert abs(z * z - chi2) <= 1e-8 * max(1.0, z * z)


def test_score_test_with_missing_calls_stays_close_to_the_score_test_refitted_on_called_samples(tmp_path):
    # Documented approximation: the null model is fitted once on every sample, not per missing pattern. With 2%
    # missing calls the difference from the exact per-variant score test is a few thousandths of a log10 unit.
    rng = np.random.default_rng(22)
    n, m = 800, 60
    G = simulate(rng, n, m, missing=0.02)
    C = covariates(rng, n)
    y = (rng.random(n) < special.expit(-0.5 + 0.03 * (C[:, 0] - 55) + 0.4 * np.maximum(G[5], 0))).astype(float)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(m), "logistic", exact=gwas.ExactRule(top=0, below=0)).results
    worst = 0.0
    for j in range(m):
        keep = G[j] >= 0
        null = sm.GLM(y[keep], sm.add_constant(C[keep]), family=sm.families.Binomial()).fit(tol=1e-14)
        p = float(np.ravel(null.score_test(exog_extra=G[j][keep][:, None].astype(float))[1])[0])
        worst = max(worst, abs(res["log10p"][j].as_py() + np.log10(p)))
    assert worst <= 0.02


def firth_reference(y, C, g):
    """Textbook Firth logistic regression of y on [1, C, g] over the called samples: full hat matrix, Newton steps
    on the modified score with step halving, to |step| < 1e-12. (beta, se) of g."""
    keep = g >= 0
    X = np.column_stack([np.ones(keep.sum()), C[keep], g[keep]]).astype(float)
    yy = y[keep]

    def penalised(b):
        eta = X @ b
        mu = special.expit(eta)
        info = X.T @ (X * (mu * (1 - mu))[:, None])
        return np.sum(yy * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(info)[1], mu, info

    b = np.zeros(X.shape[1])
    for _ in range(500):
        ll, mu, info = penalised(b)
        inv = np.linalg.inv(info)
        sw = np.sqrt(mu * (1 - mu))
        h = np.einsum("ij,jk,ik->i", X * sw[:, None], inv, X * sw[:, None])
        step = inv @ (X.T @ (yy - mu + h * (0.5 - mu)))
        while penalised(b + step)[0] < ll - 1e-12 and np.max(np.abs(step)) > 1e-15:
            step /= 2
        b = b + step
        if np.max(np.abs(step)) < 1e-12:
            break
    _, _, info = penalised(b)
    return b[-1], math.sqrt(np.linalg.inv(info)[-1, -1])


def test_firth_matches_a_textbook_implementation_on_called_samples(tmp_path):
    rng = np.random.default_rng(31)
    n, m = 300, 40
    G = simulate(rng, n, m, missing=0.03)
    C = covariates(rng, n)
    y = (rng.random(n) < special.expit(-1.0 + 0.03 * (C[:, 0] - 55) + 0.6 * np.maximum(G[2], 0))).astype(float)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(m), "logistic", exact=gwas.ExactRule(top=m)).results
    assert set(res["test"].to_pylist()) == {"firth"}
    for j in range(m):
        b_ref, se_ref = firth_reference(y, C, G[j])
        assert abs(res["beta"][j].as_py() - b_ref) <= 1e-8
        assert abs(res["se"][j].as_py() - se_ref) <= 1e-8
        z = b_ref / se_ref
        assert abs(res["log10p"][j].as_py() - (-np.log10(2 * stats.norm.sf(abs(z))))) <= 1e-6


def test_firth_gives_a_finite_estimate_when_the_variant_separates_cases_from_controls(tmp_path):
    rng = np.random.default_rng(32)
    n = 200
    C = covariates(rng, n)
    y = (rng.random(n) < 0.3).astype(float)
    g = np.zeros(n, dtype=np.int8)
    g[np.flatnonzero(y == 1)[:6]] = 1  # every carrier is a case: the ML estimate is infinite
    G = np.vstack([g, simulate(rng, n, 3)])
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(4), "logistic", exact=gwas.ExactRule(top=4),
                         filters=gwas.Filters(min_maf=0.0)).results
    assert res["test"][0].as_py() == "firth"
    b_ref, se_ref = firth_reference(y, C, g)
    assert 1.0 < res["beta"][0].as_py() < 10.0
    assert abs(res["beta"][0].as_py() - b_ref) <= 1e-7
    assert abs(res["se"][0].as_py() - se_ref) <= 1e-7


def test_wald_matches_statsmodels_logit_on_called_samples(tmp_path):
    rng = np.random.default_rng(34)
    n, m = 400, 30
    G = simulate(rng, n, m, missing=0.03)
    C = covariates(rng, n)
    y = (rng.random(n) < special.expit(-1.0 + 0.03 * (C[:, 0] - 55) + 0.7 * np.maximum(G[4], 0))).astype(float)
    store = write_store(tmp_path, G)
    res = gwas.associate(store, np.arange(n), y, C, np.arange(m), "logistic", exact=gwas.ExactRule(top=m, test="wald"),
                         filters=gwas.Filters(0.0, 0.0)).results
    assert set(res["test"].to_pylist()) == {"wald"}
    for j in range(m):
        keep = G[j] >= 0
        fit = sm.Logit(y[keep], sm.add_constant(np.column_stack([C[keep], G[j][keep]]), has_constant="add")).fit(
            method="newton", tol=1e-14, maxiter=100, disp=0)
        assert res["n"][j].as_py() == keep.sum()
        assert abs(res["beta"][j].as_py() - fit.params[-1]) <= 1e-8
        assert abs(res["se"][j].as_py() - fit.bse[-1]) <= 1e-8
        assert abs(res["log10p"][j].as_py() + np.log10(fit.pvalues[-1])) <= 1e-8


def test_wald_marks_a_separating_variant_and_keeps_its_score_row(tmp_path):
    rng = np.random.default_rng(32)
    n = 200
    C = covariates(rng, n)
    y = (rng.random(n) < 0.3).astype(float)
    g = np.zeros(n, dtype=np.int8)
    g[np.flatnonzero(y == 1)[:6]] = 1  # every carrier is a case: no finite maximum-likelihood estimate
    G = np.vstack([g, simulate(rng, n, 3)])
    store = write_store(tmp_path, G)
    score = gwas.associate(store, np.arange(n), y, C, np.arange(4), "logistic", exact=gwas.ExactRule(top=0, below=0),
                           filters=gwas.Filters(min_maf=0.0)).results
    result = gwas.associate(store, np.arange(n), y, C, np.arange(4), "logistic",
                            exact=gwas.ExactRule(top=4, test="wald"), filters=gwas.Filters(min_maf=0.0))
    res = result.results
    assert res["test"].to_pylist() == ["score_wald_separated", "wald", "wald", "wald"]
    assert res["log10p"][0].as_py() == score["log10p"][0].as_py() and res["beta"][0].as_py() == score["beta"][0].as_py()
    assert result.counts["exact_tests"] == 4 and result.counts["exact_failed"] == 1


def test_an_unknown_exact_test_is_refused():
    with pytest.raises(GenomicsError, match="exact_test"):
        gwas.ExactRule(test="lrt")


def test_exact_rule_takes_the_top_variants_and_every_one_below_the_threshold_up_to_the_limit():
    log10p = np.array([0.5, 7.0, 2.0, 6.0, 0.1, 5.5, 3.0])
    assert gwas.ExactRule(top=2, below=1e-5, limit=10).choose(log10p).tolist() == [1, 3, 5]
    assert gwas.ExactRule(top=4, below=1e-5, limit=10).choose(log10p).tolist() == [1, 3, 5, 6]
    assert gwas.ExactRule(top=0, below=1e-5, limit=2).choose(log10p).tolist() == [1, 3]
    assert gwas.ExactRule(top=0, below=0, limit=10).choose(log10p).tolist() == []


def test_logistic_reports_score_rows_and_firth_rows_by_the_rule(tmp_path):
    rng = np.random.default_rng(33)
    n, m = 600, 50
    G = simulate(rng, n, m, missing=0.01)
    C = covariates(rng, n)
    y = (rng.random(n) < special.expit(-0.5 + 1.0 * np.maximum(G[10], 0))).astype(float)
    store = write_store(tmp_path, G)
    result = gwas.associate(store, np.arange(n), y, C, np.arange(m), "logistic", exact=gwas.ExactRule(top=3, below=1e-30))
    res = result.results
    tests = np.array(res["test"].to_pylist())
    assert (tests == "firth").sum() == 3 and (tests == "score").sum() == m - 3
    assert tests[10] == "firth"  # the planted variant is among the strongest
    assert result.counts["exact_tests"] == 3


# ---------------------------------------------------------------------------------------------------------------
# filters

def test_maf_call_rate_monomorphic_and_collinear_variants_are_filtered_with_exact_counts(tmp_path):
    rng = np.random.default_rng(41)
    n = 400
    C = covariates(rng, n)
    sex = C[:, 1].astype(np.int8)
    rows = [
        simulate(rng, n, 1)[0],                                        # 0 tested
        np.zeros(n, dtype=np.int8),                                    # 1 monomorphic
        np.where(np.arange(n) < 2, 1, 0).astype(np.int8),              # 2 MAF 2/800 = 0.0025 < 0.01
        np.where(np.arange(n) < 8, 1, 0).astype(np.int8),              # 3 MAF 8/800 = 0.01: kept (not below)
        np.where(np.arange(n) < 24, -9, simulate(rng, n, 1)[0]),       # 4 call rate 376/400 = 0.94 < 0.95
        np.where(np.arange(n) < 20, -9, simulate(rng, n, 1)[0]),       # 5 call rate 0.95: kept
        np.full(n, -9, dtype=np.int8),                                 # 6 nothing called
        sex,                                                           # 7 equal to the sex covariate
        np.full(n, 2, dtype=np.int8),                                  # 8 all homozygous ALT: monomorphic
    ]
    G = np.vstack(rows).astype(np.int8)
    y = rng.normal(size=n)
    store = write_store(tmp_path, G)
    result = gwas.associate(store, np.arange(n), y, C, np.arange(len(G)), "linear",
                            filters=gwas.Filters(min_maf=0.01, min_call_rate=0.95))
    assert result.results["variant_id"].to_pylist() == [f"1-{1000 + i}-A-G" for i in (0, 3, 5)]
    reasons = dict(zip(result.filtered["variant_id"].to_pylist(), result.filtered["reason"].to_pylist()))
    assert reasons == {"1-1001-A-G": "monomorphic", "1-1002-A-G": "maf", "1-1004-A-G": "call_rate",
                       "1-1006-A-G": "call_rate", "1-1007-A-G": "collinear", "1-1008-A-G": "monomorphic"}
    counts = result.counts
    assert (counts["variants_tested"], counts["variants_filtered"]) == (3, 6)
    assert (counts["filtered_call_rate"], counts["filtered_monomorphic"], counts["filtered_maf"],
            counts["filtered_collinear"], counts["filtered_too_few_samples"]) == (2, 2, 1, 1, 0)
    call_rate = dict(zip(result.filtered["variant_id"].to_pylist(), result.filtered["call_rate"].to_pylist()))
    assert call_rate["1-1004-A-G"] == 376 / 400
    assert result.results["n"].to_pylist()[2] == 380


def test_filters_count_over_the_analysed_samples_only(tmp_path):
    rng = np.random.default_rng(42)
    n = 200
    g = np.zeros(n, dtype=np.int8)
    g[:10] = 1  # every carrier among the first 10 samples
    G = np.vstack([g, simulate(rng, n, 1)[0]])
    store = write_store(tmp_path, G)
    analysed = np.arange(50, n)  # without the carriers: monomorphic there
    result = gwas.associate(store, analysed, rng.normal(size=len(analysed)), np.zeros((len(analysed), 0)),
                            np.arange(2), "linear")
    assert result.filtered["reason"].to_pylist() == ["monomorphic"]
    assert result.results["n"].to_pylist() == [150]


# ---------------------------------------------------------------------------------------------------------------
# p-values in the far tail, λGC

def test_t_log10p_agrees_with_scipy_where_scipy_is_accurate_and_stays_finite_beyond():
    t = np.array([0.0, 0.3, 1.0, 1.2, 3.0, 10.0, 30.0])
    for dof in (5.0, 50.0):
        assert np.allclose(gwas.t_log10p(t, dof), -np.log10(2 * stats.t.sf(t, dof)), rtol=1e-12, atol=1e-13)
    # at a biobank's dof scipy's own log B(a, 1/2) is off by ~1e-12 (ours: Stirling differences, 3e-14 from the
    # exact value below), so the comparison is looser there
    for dof in (5000.0, 9990.0):
        assert np.allclose(gwas.t_log10p(t, dof), -np.log10(2 * stats.t.sf(t, dof)), rtol=1e-10, atol=1e-12)
    a = 2500  # B(a, 1/2) = (a-1)! a! 4^a / (2a)! exactly, for integer a
    exact = math.factorial(a - 1) * math.factorial(a) * 4**a * 10**60 // math.factorial(2 * a)
    assert abs(tails._betaln(np.array([a * 1.0]), np.array([0.5]))[0] - (math.log(exact) - 60 * math.log(10))) <= 1e-13
    # dof = 1 (Cauchy): p = (2/pi) atan(1/t); dof = 2: p = 1 - t / sqrt(t^2 + 2) = 2 / (s (s + t)), s = sqrt(t^2 + 2)
    for small in (0.01, 0.5, 2.0, 50.0):
        assert abs(gwas.t_log10p(np.array([small]), 1.0)[0] + math.log10(2 / math.pi * math.atan(1 / small))) <= 1e-13
    for big in (1e20, 1e160, 1e250):
        assert abs(gwas.t_log10p(np.array([big]), 1.0)[0] - (-math.log10(2 / math.pi) + math.log10(big))) <= 1e-9
    for big in (1e20, 1e150):
        s = math.hypot(big, math.sqrt(2))
        assert abs(gwas.t_log10p(np.array([big]), 2.0)[0] - (-math.log10(2.0) + math.log10(s) + math.log10(s + big))) <= 1e-9
    # far beyond 1e-300 with biobank degrees of freedom: finite and increasing
    ts = np.linspace(20, 400, 2000)
    lp = gwas.t_log10p(ts, 9990.0)
    assert np.all(np.isfinite(lp)) and np.all(np.diff(lp) > 0) and lp[-1] > 300
    assert gwas.t_log10p(np.array([np.inf, np.nan]), 10.0)[0] == np.inf and np.isnan(gwas.t_log10p(np.array([np.nan]), 10.0)[0])


def test_z_log10p_is_finite_below_1e_300():
    z = np.array([40.0, 100.0])
    # Mills ratio: p = 2 phi(z)/z (1 - 1/z^2 + 3/z^4 - ...)
    expected = -(np.log(2) - z * z / 2 - 0.5 * np.log(2 * np.pi) - np.log(z) + np.log1p(-1 / z**2 + 3 / z**4)) / np.log(10)
    got = gwas.z_log10p(z)
    assert np.all(got > 300) and np.allclose(got, expected, rtol=0, atol=1e-6)
    assert gwas.p_from_log10p(got).tolist() == [0.0, 0.0]


def test_lambda_gc_of_known_p_values():
    m = 1001
    uniform = (np.arange(1, m + 1) - 0.5) / m  # median exactly 0.5
    assert abs(gwas.lambda_gc(-np.log10(uniform)) - 1.0) <= 1e-12
    inflated = stats.chi2.sf(1.5 * stats.chi2.isf(uniform, 1), 1)
    assert abs(gwas.lambda_gc(-np.log10(inflated)) - 1.5) <= 1e-9
    assert gwas.lambda_gc(np.array([])) is None


def test_lambda_gc_on_null_data_is_one_within_sampling_error(tmp_path):
    # Under the null the median of m p-values has sd 0.5/sqrt(m); through chi2.isf at p = 0.5 (slope 1/f(0.455) =
    # 1/0.472) and the division by 0.455, sd(λ) = 0.5/sqrt(m)/0.472/0.455 ≈ 0.033 for m = 5000. Four sd: ±0.14.
    rng = np.random.default_rng(51)
    n, m = 600, 5000
    G = simulate(rng, n, m)
    C = covariates(rng, n)
    y = 0.02 * C[:, 0] + rng.normal(size=n)
    store = write_store(tmp_path, G)
    result = gwas.associate(store, np.arange(n), y, C, np.arange(m), "linear", chunk_size=1000)
    assert abs(result.lambda_gc - 1.0) <= 0.14


# ---------------------------------------------------------------------------------------------------------------
# plots

def test_chromosomes_sort_naturally():
    names = ["chr10", "chrX", "chr2", "MT", "chr1", "chrY", "chr22", "GL000192.1", "chrM"]
    assert sorted(names, key=chromosome_key) == ["chr1", "chr2", "chr10", "chr22", "chrX", "chrY", "MT", "chrM",
                                                 "GL000192.1"]


def test_manhattan_and_qq_are_written_as_png_and_svg_with_lambda_on_the_qq(tmp_path):
    rng = np.random.default_rng(61)
    chroms = ["chr10"] * 30 + ["chr2"] * 30 + ["chrX"] * 30
    G = simulate(rng, 300, 90)
    G[5] = np.where(np.arange(300) < 150, 2, 0)
    y = 2.0 * G[5] + rng.normal(size=300)
    store = write_store(tmp_path / "store", G, chroms=chroms)
    result = gwas.associate(store, np.arange(300), y, np.zeros((300, 0)), np.arange(90), "linear")
    written = manhattan(result.results, tmp_path / "manhattan") + qq(result.results["log10p"].to_numpy(),
                                                                      result.lambda_gc, tmp_path / "qq")
    assert [p.name for p in written] == ["manhattan.png", "manhattan.svg", "qq.png", "qq.svg"]
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:2000]
    qq_svg = (tmp_path / "qq.svg").read_text()
    assert f"λGC = {result.lambda_gc:.3f}" in qq_svg and "90 variants" in qq_svg
    svg = (tmp_path / "manhattan.svg").read_text()
    ticks = [t for t in re.findall(r">([0-9XY]+)</text>", svg) if t in ("2", "10", "X")]
    assert ticks[:3] == ["2", "10", "X"]
    assert "rs105 (GENE1)" in svg  # the genome-wide hit is labelled


# ---------------------------------------------------------------------------------------------------------------
# bad input at the kernel

def test_fewer_samples_than_covariates_plus_two_is_refused(tmp_path):
    store = write_store(tmp_path, np.array([[0, 1, 2, 1, 0]], dtype=np.int8))
    with pytest.raises(GenomicsError) as err:
        gwas.associate(store, np.arange(5), np.arange(5.0), np.random.default_rng(0).normal(size=(5, 3)), [0], "linear")
    assert err.value.problems[0].startswith("samples: 5 samples")


def test_a_constant_phenotype_is_refused(tmp_path):
    store = write_store(tmp_path, np.array([[0, 1, 2, 1, 0, 1]], dtype=np.int8))
    for model, y in (("linear", np.full(6, 3.5)), ("logistic", np.ones(6))):
        with pytest.raises(GenomicsError) as err:
            gwas.associate(store, np.arange(6), y, np.zeros((6, 0)), [0], model)
        assert err.value.problems[0].startswith("phenotype: every sample has the same value")


def test_collinear_covariates_and_a_non_binary_logistic_phenotype_are_refused(tmp_path):
    rng = np.random.default_rng(71)
    store = write_store(tmp_path, simulate(rng, 50, 2))
    C = rng.normal(size=(50, 2))
    with pytest.raises(GenomicsError) as err:
        gwas.associate(store, np.arange(50), rng.normal(size=50), np.column_stack([C, C[:, 0] * 2]), [0, 1], "linear")
    assert err.value.problems[0].startswith("covariates: column(s) [3]")
    with pytest.raises(GenomicsError) as err:
        gwas.associate(store, np.arange(50), rng.normal(size=50), C, [0, 1], "logistic")
    assert err.value.problems[0].startswith("phenotype: a logistic model needs 0 (control) / 1 (case) values")


# ---------------------------------------------------------------------------------------------------------------
# end to end on the synthetic Controlled Tier (2,000 participants, about half genotyped)

T2D = 201826  # Type 2 diabetes mellitus: rs7903146 (TCF7L2) raises its risk in synth/participants.py
SYSTOLIC_BP = 3004249  # several readings per participant: latest and mean differ
BMI = 3038553


def condition_cohort(concept_id: int) -> dict:
    return {"includes": [{"id": "g", "items": [{"id": "i", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "group": True, "standard": True,
         "conceptId": concept_id}]}]}]}


def gwas_cli():
    import typer

    from research_workbench.cli.genomics_gwas import gwas as command

    app = typer.Typer()
    app.command()(command)
    return app


def test_cli_runs_a_logistic_gwas_of_type_2_diabetes_and_finds_tcf7l2(ct_index, tmp_path):
    from typer.testing import CliRunner

    (tmp_path / "t2d.json").write_text(json.dumps(condition_cohort(T2D)))
    out = tmp_path / "gwas"
    run = CliRunner().invoke(gwas_cli(), ["--index", str(ct_index), "--cases", str(tmp_path / "t2d.json"),
                                          "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["results.parquet", "results.tsv", "filtered.parquet", "manhattan.png", "manhattan.svg", "qq.png", "qq.svg",
         "summary.json"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gwas")]  # no temporary directory left
    assert summary["model"] == "logistic" and summary["covariates"] == ["age", "sex"]
    assert summary["cases"] + summary["controls"] == summary["samples"] > 900
    results = pq.read_table(out / "results.parquet")
    variants = summary["variants"]
    assert results.num_rows == variants["tested"] and variants["tested"] + variants["filtered"] == 10_000
    assert pq.read_table(out / "filtered.parquet").num_rows == variants["filtered"]
    tests = results["test"].to_pylist()
    assert tests.count("firth") == variants["exact_tests"] == 100 and tests.count("score") == variants["tested"] - 100
    top = summary["top_hits"][0]
    assert (top["rsid"], top["gene"], top["test"]) == ("rs7903146", "TCF7L2", "firth")
    assert top["beta"] > 0.5 and top["log10p"] > 6  # planted: +0.9 log-odds per T allele
    assert 0.9 < summary["lambda_gc"] < 1.1
    assert summary["data_version"]["cdr_manifest_sha256"] and summary["code_version"]
    header = (out / "results.tsv").read_text().splitlines()[0].replace('"', "").split("\t")
    assert header == list(gwas.RESULT_SCHEMA.names)
    assert f"λGC = {summary['lambda_gc']:.3f}" in (out / "qq.svg").read_text()

    text = CliRunner().invoke(gwas_cli(), ["--index", str(ct_index), "--cases", str(tmp_path / "t2d.json"),
                                           "--out", str(out), "--replace", "--rsid", "rs7903146", "--top", "1"])
    assert text.exit_code == 0, text.output
    assert "λGC = " in text.stdout and "rs7903146" in text.stdout
    assert pq.read_table(out / "results.parquet")["rsid"].to_pylist() == ["rs7903146"]


def test_case_control_table_matches_the_cohort_engine_and_the_person_table(ct_index):
    import pyarrow.parquet as pq_

    from research_workbench.cohorts.builder.engine import CohortEngine
    from research_workbench.cohorts.builder.model import parse_definition
    from research_workbench.genomics.phenotypes import PhenotypeSpec, analysis_table
    from research_workbench.genomics.store import GenotypeStore

    store = GenotypeStore.open(ct_index)
    table = analysis_table(ct_index, store, PhenotypeSpec(cases=condition_cohort(T2D)))
    engine = CohortEngine(ct_index)
    cohort = set(engine.cohort_persons(parse_definition(condition_cohort(T2D))))
    engine.close()
    persons = pq_.read_table(ct_index / "search_person.parquet").to_pandas().set_index("person_id")
    sex = persons.loc[store.samples, "sex_at_birth_concept_id"]
    usable = set(sex.index[sex.isin([1585846, 1585847])])
    genotyped = set(store.samples.tolist())
    assert set(table.person_ids[table.y == 1]) == cohort & genotyped & usable
    assert set(table.person_ids[table.y == 0]) == (genotyped - cohort) & usable
    assert table.counts["excluded_sex_at_birth_not_male_or_female"] == len(genotyped - usable) > 0
    assert np.all(np.diff(table.positions) > 0) and (store.samples[table.positions] == table.person_ids).all()
    assert table.covariate_names == ["age", "sex"]
    expected_age = persons.loc[table.person_ids, "age_at_cdr"].to_numpy()
    expected_sex = (persons.loc[table.person_ids, "sex_at_birth_concept_id"] == 1585846).astype(float).to_numpy()
    assert (table.covariates[:, 0] == expected_age).all() and (table.covariates[:, 1] == expected_sex).all()


def test_measurement_phenotype_is_the_latest_or_the_mean_value(ct_index):
    import duckdb

    from research_workbench.cdr.store import Cdr
    from research_workbench.genomics.phenotypes import PhenotypeSpec, analysis_table
    from research_workbench.genomics.store import GenotypeStore

    store = GenotypeStore.open(ct_index)
    cdr = Cdr(json.loads((ct_index / "index.json").read_text())["cdr"])
    rows = duckdb.connect().execute(
        "SELECT person_id, measurement_date, measurement_datetime, measurement_id, value_as_number FROM read_parquet(?) "
        "WHERE measurement_concept_id = ? AND value_as_number IS NOT NULL", [str(cdr.table_file("measurement")), SYSTOLIC_BP]).df()
    rows = rows[rows.person_id.isin(store.samples)]
    latest = rows.sort_values(["measurement_date", "measurement_datetime", "measurement_id"]).groupby("person_id").value_as_number.last()
    mean = rows.groupby("person_id").value_as_number.mean()
    assert (latest != mean).sum() > 100  # several readings each: the two summaries differ
    for summary, expected in (("latest", latest), ("mean", mean)):
        table = analysis_table(ct_index, store, PhenotypeSpec(measurement_concept_id=SYSTOLIC_BP,
                                                              measurement_summary=summary, covariates=[]))
        assert not table.binary and table.counts["measured_genotyped"] == len(expected) == table.n
        assert np.allclose(table.y, expected.loc[table.person_ids].to_numpy(), rtol=0, atol=1e-9)


def test_principal_components_join_by_person_and_everyone_without_them_is_left_out(ct_index, tmp_path):
    import pandas as pd

    from research_workbench.genomics.phenotypes import PhenotypeSpec, analysis_table
    from research_workbench.genomics.store import GenotypeStore

    store = GenotypeStore.open(ct_index)
    rng = np.random.default_rng(81)
    with_pcs = store.samples[::2]
    pcs = pd.DataFrame({"person_id": with_pcs, "PC2": rng.normal(size=len(with_pcs)), "PC1": rng.normal(size=len(with_pcs)),
                        "pc10": rng.normal(size=len(with_pcs)), "note": "x"})
    spec = PhenotypeSpec(measurement_concept_id=BMI, covariates=["age", "pcs"])
    table = analysis_table(ct_index, store, spec, pcs=pcs)
    assert table.covariate_names == ["age", "PC1", "PC2", "PC10"]
    assert set(table.person_ids) <= set(with_pcs.tolist())
    lookup = pcs.set_index("person_id")
    assert (table.covariates[:, 1] == lookup.loc[table.person_ids, "PC1"].to_numpy()).all()
    assert (table.covariates[:, 3] == lookup.loc[table.person_ids, "pc10"].to_numpy()).all()
    assert table.counts["excluded_no_pcs"] == table.counts["measured_genotyped"] - table.n
    pcs.to_parquet(tmp_path / "pcs.parquet")
    from_file = analysis_table(ct_index, store, spec, pcs=tmp_path / "pcs.parquet")
    assert (from_file.covariates == table.covariates).all()


def test_a_quantitative_gwas_runs_linear_and_writes_everything(ct_index, tmp_path):
    from research_workbench.genomics.gwas_run import OUTPUT_FILES, run_gwas

    summary = run_gwas(ct_index, {"measurement_concept_id": BMI, "selection": {"regions": ["chr16"]}}, tmp_path / "bmi")
    assert summary["model"] == "linear" and summary["cases"] is None
    assert sorted(p.name for p in (tmp_path / "bmi").iterdir()) == sorted(OUTPUT_FILES)
    results = pq.read_table(tmp_path / "bmi" / "results.parquet")
    assert set(results["chrom"].to_pylist()) == {"chr16"} and set(results["test"].to_pylist()) == {"linear"}
    assert summary["variants"]["selection"] == "chr16"


# ---------------------------------------------------------------------------------------------------------------
# bad requests, each a GenomicsError naming the field

def refused(call) -> list[str]:
    with pytest.raises(GenomicsError) as err:
        call()
    return err.value.problems


def test_a_case_cohort_without_genomes_is_refused(ct_index, tmp_path):
    from research_workbench.cohorts.builder.engine import CohortEngine
    from research_workbench.cohorts.builder.model import parse_definition
    from research_workbench.genomics.phenotypes import PhenotypeSpec, analysis_table

    engine = CohortEngine(ct_index)
    cases = set(engine.cohort_persons(parse_definition(condition_cohort(T2D))))
    everyone = set(engine.all_persons())
    engine.close()
    others = np.array(sorted(everyone - cases)[:50])
    store = write_store(tmp_path, simulate(np.random.default_rng(1), 50, 3), person_ids=others)  # genomes of non-cases
    problems = refused(lambda: analysis_table(ct_index, store, PhenotypeSpec(cases=condition_cohort(T2D))))
    assert problems == [f"cases: none of the {len(cases):,} participants of the case cohort has wgs genotypes"]
    only_cases = write_store(tmp_path / "cases", simulate(np.random.default_rng(2), 40, 3),
                             person_ids=np.array(sorted(cases)[:40]))
    problems = refused(lambda: analysis_table(ct_index, only_cases, PhenotypeSpec(cases=condition_cohort(T2D))))
    assert problems[0].startswith("controls: no genotyped participant is left as a control") and "constant" in problems[0]


def test_bad_gwas_requests_are_refused_naming_the_field(ct_index, rt_index, tmp_path):
    from research_workbench.genomics.gwas_run import run_gwas

    def problems(spec, index=ct_index, **kw):
        return refused(lambda: run_gwas(index, spec, tmp_path / "out", **kw))

    t2d = condition_cohort(T2D)
    assert "has no wgs genotypes" in problems({"cases": t2d}, index=rt_index)[0]
    assert problems({"cases": t2d, "selection": {"regions": ["chr1:1-10"]}}) == [
        "selection: no variant of the wgs store matches chr1:1-10"]
    assert problems({"measurement_concept_id": 999_999_999}) == [
        "measurement_concept_id: concept 999999999 is not in the CDR's vocabulary"]
    assert problems({"measurement_concept_id": T2D}) == [
        "measurement_concept_id: no participant with wgs genotypes has a numeric value of concept 201826 "
        "(Type 2 diabetes mellitus)"]
    assert problems({"measurement_concept_id": BMI, "model": "logistic"})[0].startswith("model: logistic regression needs")
    assert problems({"cases": t2d, "measurement_concept_id": BMI})[0].startswith("phenotype: give either")
    assert problems({})[0].startswith("phenotype: give either")
    assert problems({"cases": t2d, "controls": t2d}) == ["cases: every genotyped case is also in the control cohort: "
                                                         "no case is left"]
    assert problems({"cases": {"includes": []}})[0].startswith("cases.includes: a definition needs at least one include")
    assert problems({"cases": t2d, "covariates": ["age", "pcs"]}) == [
        "pcs: the covariates include pcs but no table of principal components was given"]
    import pandas as pd

    assert problems({"cases": t2d, "covariates": ["pcs"]}, pcs=pd.DataFrame({"id": [1], "PC1": [0.1]}))[0].startswith(
        "pcs: no person_id column")
    assert problems({"cases": t2d, "min_maf": 0.7}) == ["min_maf: Input should be less than or equal to 0.5"]
    assert problems({"cases": t2d, "selection": {"rsids": ["7903146"]}})[0].startswith("selection.rsids: Value error, not an rsID")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert problems({"cases": t2d})[0].startswith("out: ")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_nothing_is_left_behind_when_writing_fails(ct_index, tmp_path, monkeypatch):
    from research_workbench.genomics import plots
    from research_workbench.genomics.gwas_run import run_gwas

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # as a cancelled run

    monkeypatch.setattr(plots, "qq", broken)
    with pytest.raises(KeyboardInterrupt):
        run_gwas(ct_index, {"cases": condition_cohort(T2D), "selection": {"genes": ["TCF7L2"]}}, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_the_cli_reports_a_refusal_without_a_traceback(rt_index, tmp_path):
    from typer.testing import CliRunner

    (tmp_path / "t2d.json").write_text(json.dumps(condition_cohort(T2D)))
    run = CliRunner().invoke(gwas_cli(), ["--index", str(rt_index), "--cases", str(tmp_path / "t2d.json"),
                                          "--out", str(tmp_path / "out"), "--json"])
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    assert "has no wgs genotypes" in document["problems"][0]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = CliRunner().invoke(gwas_cli(), ["--index", str(rt_index), "--cases", str(bad), "--out", str(tmp_path / "o")])
    assert run.exit_code == 1 and "invalid cases cohort definition" in run.output
