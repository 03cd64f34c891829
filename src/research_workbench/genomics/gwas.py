"""Genome-wide association kernels: linear regression, the logistic score test, Firth and Wald logistic regression, over a
genotype store, chunk by chunk, in numpy/scipy.

Every test regresses the phenotype on an intercept, the covariates and one variant's ALT-allele count, over the
samples with a call at that variant: a sample with a missing call is dropped for that variant only, as
``plink2 --glm`` does (its OBS_CT varies per variant). The tested allele is always ALT (PLINK's A1 = .bim column 5).

How missing calls stay exact without a regression per variant. The covariates are replaced by an orthonormal basis
``B`` of their span (weighted for the logistic model); the genotype matrix is read with missing calls as 0, so every
sum involving the genotype (g'y, B'g, g'g) is already a sum over the called samples. What a missing call changes is
the covariates' own Gram matrix over the called samples, ``B_s'B_s = I - B_M'B_M``, and the response's sums; those
are subtracted per variant from the missing rows alone (a sum over just the missing calls), and the
p x p system is solved per variant. Variants without missing calls skip all of that (the Gram form, reference §2).

Tests:

- ``linear``: least squares, t statistic on n - p - 1 degrees of freedom (p = intercept + covariates). Equal to
  OLS on the called samples (statsmodels) and to ``plink2 --glm`` (tests/genomics/test_gwas_plink.py).
- ``score``: the logistic score (Rao) test of the variant's coefficient, the null model (intercept + covariates)
  fitted once by IRLS over every analysed sample. ``beta`` is the one-step estimate U/V and ``se`` 1/sqrt(V). For a
  variant with missing calls the score and its variance are taken over the called samples, with the nuisance
  parameters' score over those samples projected out (an efficient score); the null model itself is not refitted
  per variant, so these rows are a close approximation of the score test on the called samples (exact when nothing
  is missing). It screens; the rows that matter are then tested exactly:
- ``firth``: Firth-penalised logistic regression (Jeffreys-prior penalty, which also gives finite estimates under
  separation) on the called samples, for the variants chosen by ``exact_variants``. As ``plink2 --glm firth``
  reports it: beta is the penalised estimate, se the square root of the inverse Fisher information at it, and p the
  Wald z test of beta / se.
- ``wald`` (``ExactRule.test = "wald"``): maximum-likelihood logistic regression on the called samples by batched
  IRLS, the Wald z test of beta / se, as ``plink2 --glm no-firth``. A variant whose fit separates cases from
  controls or does not converge keeps its score row, its ``test`` saying so (``score_wald_separated``,
  ``score_wald_unconverged``).

-log10 p is computed in log space (``t_log10p``, ``z_log10p``), so it stays finite when p is below 1e-300.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa

from .arrow_arrays import numbers, strings
from .store import GenomicsError, GenotypeStore
from .tails import CHI2_MEDIAN, LN10, chi2_1_isf, expit, t_log10p, z_log10p  # noqa: F401 (t/z_log10p: API)

Model = Literal["linear", "logistic"]
ExactTest = Literal["firth", "wald"]
# The values of the "test" column. A Wald row whose fit fails keeps its score-test statistics and says why.
WALD_FAILED = {1: "score_wald_separated", 2: "score_wald_unconverged"}
TESTS = ("linear", "score", "firth", "wald", *WALD_FAILED.values())

RESULT_SCHEMA = pa.schema([
    ("variant_id", pa.string()),
    ("chrom", pa.string()),
    ("pos", pa.int64()),
    ("ref", pa.string()),
    ("alt", pa.string()),  # the tested allele (A1)
    ("rsid", pa.string()),
    ("gene", pa.string()),
    ("n", pa.int64()),  # samples with a call, the regression's observations
    ("alt_freq", pa.float64()),  # ALT frequency over those samples
    ("beta", pa.float64()),  # per ALT allele; log-odds for the logistic tests
    ("se", pa.float64()),
    ("stat", pa.float64()),  # t (linear) or z (score, firth, wald)
    ("p", pa.float64()),  # 0.0 when below the smallest double: read log10p
    ("log10p", pa.float64()),  # -log10 p, finite however small p is
    ("test", pa.string()),
])
FILTERED_SCHEMA = pa.schema([
    ("variant_id", pa.string()),
    ("chrom", pa.string()),
    ("pos", pa.int64()),
    ("n", pa.int64()),
    ("alt_freq", pa.float64()),
    ("call_rate", pa.float64()),
    ("reason", pa.string()),
])
# Why a variant is not tested, in the order they are checked (a variant gets the first that applies).
FILTER_REASONS = ("call_rate", "monomorphic", "maf", "too_few_samples", "collinear")


# ---------------------------------------------------------------------------------------------------------------
# p-values in log space (``tails``: numpy only)

def p_from_log10p(log10p: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.power(10.0, -np.asarray(log10p, dtype=np.float64))


def lambda_gc(log10p: np.ndarray) -> float | None:
    """Genomic inflation: the median 1-df chi-square equivalent of the p-values over its null expectation."""
    log10p = np.asarray(log10p, dtype=np.float64)
    log10p = log10p[np.isfinite(log10p)]
    if len(log10p) == 0:
        return None
    # The median p is never tiny, so converting it is exact enough; converting only it avoids underflow elsewhere.
    median_p = float(10.0 ** -np.median(log10p))
    return float(chi2_1_isf(median_p) / CHI2_MEDIAN)


# ---------------------------------------------------------------------------------------------------------------
# the models, prepared once per analysis

@dataclass
class Prepared:
    """What every chunk needs: a basis ``B`` of the covariates' span (orthonormal in the model's metric), the
    response ``v`` in the same metric, the sample weights ``w`` (s = sqrt(w)), and the GEMM's right-hand side."""

    model: Model
    n: int
    p: int  # intercept + covariates
    B: np.ndarray  # n x p, B'B = I
    v: np.ndarray  # n; B'v = 0
    vv: float
    w: np.ndarray | None  # logistic weights mu(1-mu); None for linear (all 1)
    rhs: np.ndarray  # n x (p + 2): [s*v, s*B, 1]
    missing_terms: np.ndarray  # n x (p(p+1)/2 + p + 1): per sample B_i B_i' (upper triangle), B_i v_i, v_i^2
    # logistic only: the design and null fit, for Firth
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    null_beta: np.ndarray | None = None  # the null model's coefficients on X


def design(covariates: np.ndarray, n: int) -> np.ndarray:
    """[1, covariates] rescaled to an orthonormal basis times sqrt(n): the same column span (so the genotype's
    coefficient is unchanged), far better conditioned than raw ages and PCs. Collinear covariates are refused."""
    C = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    X = np.column_stack([np.ones(n), C])
    if not np.all(np.isfinite(X)):
        raise GenomicsError(["covariates: contain missing or infinite values (drop those samples first)"])
    # Columns scaled to unit length first, so |R_jj| is column j's distance from the span of the ones before it
    # whatever its units: a PC of scale 1e-3 is fine, a copy of another covariate is not.
    norms = np.linalg.norm(X, axis=0)
    Q, R = np.linalg.qr(X / np.where(norms > 0, norms, 1.0))
    bad = [int(i) for i in np.flatnonzero((np.abs(np.diag(R)) <= 1e-9) | (norms == 0))]
    if bad:
        raise GenomicsError([f"covariates: column(s) {bad} (0 = intercept) are constant or a combination of the others "
                             "over the analysed samples"])
    return Q * math.sqrt(n)


def _assemble(model: Model, B: np.ndarray, v: np.ndarray, w: np.ndarray | None) -> Prepared:
    n, p = B.shape
    s = np.ones(n) if w is None else np.sqrt(w)
    rhs = np.column_stack([s * v, B * s[:, None], np.ones(n)])
    upper = np.triu_indices(p)
    terms = np.column_stack([B[:, upper[0]] * B[:, upper[1]], B * v[:, None], v * v])
    return Prepared(model, n, p, B, v, float(v @ v), w, np.ascontiguousarray(rhs), terms)


def prepare_linear(y: np.ndarray, covariates: np.ndarray) -> Prepared:
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    X = design(covariates, n)
    B = X / math.sqrt(n)
    v = y - B @ (B.T @ y)
    return _assemble("linear", B, v, None)


def fit_null_logistic(X: np.ndarray, y: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton-Raphson (IRLS) from 0, steps halved while the
    log-likelihood falls; returns the coefficients. A model that does not converge (a covariate separating cases
    from controls) is refused."""
    beta = np.zeros(X.shape[1])
    eta = X @ beta
    loglik = -np.inf
    for _ in range(max_iter):
        mu = expit(eta)
        w = mu * (1 - mu)
        step = np.linalg.solve((X * w[:, None]).T @ X, X.T @ (y - mu))
        halvings = 0
        while True:
            new_eta = X @ (beta + step)
            new_loglik = float(np.sum(y * new_eta - np.logaddexp(0.0, new_eta)))
            if new_loglik >= loglik - 1e-12 or halvings > 30:
                break
            step /= 2
            halvings += 1
        beta, eta = beta + step, new_eta
        converged = np.max(np.abs(step)) < 1e-10 or abs(new_loglik - loglik) < 1e-13 * max(1.0, abs(new_loglik))
        loglik = new_loglik
        if converged:
            break
    else:
        raise GenomicsError(["covariates: the null logistic model (phenotype on the covariates) does not converge; "
                             "a covariate may separate cases from controls"])
    mu = expit(eta)
    if np.min(mu * (1 - mu)) < 1e-12:
        raise GenomicsError(["covariates: the null logistic model predicts some samples' status with certainty "
                             "(a covariate separates cases from controls)"])
    return beta


def prepare_logistic(y: np.ndarray, covariates: np.ndarray) -> Prepared:
    y = np.asarray(y, dtype=np.float64)
    if not np.all((y == 0) | (y == 1)):
        raise GenomicsError(["phenotype: a logistic model needs 0 (control) / 1 (case) values"])
    n = len(y)
    X = design(covariates, n)
    null_beta = fit_null_logistic(X, y)
    mu = expit(X @ null_beta)
    w = mu * (1 - mu)
    s = np.sqrt(w)
    B, _ = np.linalg.qr(X * s[:, None])
    v = (y - mu) / s
    # B'v = X'(y - mu) (up to R^-T) = 0 at the MLE; remove the last rounding so the missing-call algebra holds exactly.
    v = v - B @ (B.T @ v)
    prepared = _assemble("logistic", B, v, w)
    prepared.X, prepared.y, prepared.null_beta = X, y, null_beta
    return prepared


# ---------------------------------------------------------------------------------------------------------------
# one chunk

def _as_float(G8: np.ndarray) -> np.ndarray:
    """ALT counts as float64 with a missing call (-9) read as 0 (the exact tests' few variants)."""
    return np.maximum(G8, 0).astype(np.float64)


# Rows converted to float64 at a time: a block of about BLOCK_BYTES stays in the core's cache between the conversion,
# the GEMM and the counts, so the float copy of a chunk never goes to memory (converting a whole chunk first was
# half of the kernel's time at 10k samples).
BLOCK_BYTES = 1 << 21
MIN_BLOCK_ROWS = 8  # GEMMs of very few rows run below BLAS's speed (10k x 100k samples: 2.9 s with 2-row blocks, 2.7 s with 10)


@dataclass
class ChunkStats:
    """Per variant of a chunk, over its called samples: counts, frequency and the residualised sums."""

    n: np.ndarray  # called samples
    alt_freq: np.ndarray
    gg: np.ndarray  # ||g||^2 in the model's metric, after projecting out the covariates
    gv: np.ndarray  # <g, v> after projection
    vv: np.ndarray  # ||v||^2 over the called samples after projection
    gg_raw: np.ndarray  # before projection (to judge collinearity)


def _block_sums(prep: Prepared, G8: np.ndarray, rows: range, P: np.ndarray, gg: np.ndarray, n_missing: np.ndarray) -> None:
    """Fill ``P``, ``gg`` and ``n_missing`` for ``rows`` of ``G8``, a cache-sized block of rows at a time.

    ALT counts become float64 with a missing call (-9) read as 0, so every sum over a row is a sum over its calls:
    a plain conversion, then only rows with missing calls are clipped (clipping every row costs 5x the conversion).
    NumPy and BLAS release the GIL here, so several threads fill disjoint rows at once."""
    n = G8.shape[1]
    step = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (8 * max(n, 1)))
    buffer = np.empty((min(step, len(rows)), n))
    for start in range(rows.start, rows.stop, step):
        block = G8[start:min(start + step, rows.stop)]
        k = len(block)
        Gf = buffer[:k]
        np.copyto(Gf, block, casting="unsafe")
        # (a row's minimum is 8x cheaper than counting its negatives; only rows with a missing call are counted)
        n_missing[start:start + k] = 0
        for r in np.flatnonzero(block.min(axis=1) < 0):
            n_missing[start + r] = np.count_nonzero(block[r] < 0)
            np.maximum(Gf[r], 0.0, out=Gf[r])
        np.matmul(Gf, prep.rhs, out=P[start:start + k])  # [g's*v, (s*B)'g, sum g]
        if prep.w is None:  # g^2 = g + 2[g = 2] (a bool sum: 2x faster than count_nonzero by row)
            gg[start:start + k] = P[start:start + k, -1] + 2.0 * (block == 2).sum(axis=1)
        else:
            np.multiply(Gf, Gf, out=Gf)
            np.matmul(Gf, prep.w, out=gg[start:start + k])


def chunk_stats(prep: Prepared, genotypes: np.ndarray, pool: ThreadPoolExecutor | None = None, threads: int = 1) -> ChunkStats:
    """The sums of every variant of ``genotypes`` (variants x samples, int8, -9 missing) that its test needs;
    ``pool`` of ``threads`` threads share the chunk's rows (None: this thread does it all)."""
    G8 = np.ascontiguousarray(genotypes, dtype=np.int8)
    m, n = G8.shape
    P = np.empty((m, prep.rhs.shape[1]))
    gg = np.empty(m)
    n_missing = np.empty(m, dtype=np.int64)
    parts = 1 if pool is None else min(threads, max(1, m // 64))  # a thread gets at least 64 rows
    bounds = np.linspace(0, m, parts + 1).astype(int)
    ranges = [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    if parts == 1:
        _block_sums(prep, G8, ranges[0], P, gg, n_missing)
    else:
        list(pool.map(lambda rows: _block_sums(prep, G8, rows, P, gg, n_missing), ranges))
    called = n - n_missing
    sum_g = P[:, -1]
    gv = P[:, 0].copy()
    c = P[:, 1:1 + prep.p]
    vv = np.full(m, prep.vv)
    gg_r = gg - np.einsum("ij,ij->i", c, c)
    rows = np.flatnonzero(n_missing)
    if len(rows):
        gg_r[rows], gv[rows], vv[rows] = _missing_correction(prep, G8[rows] < 0, c[rows], gg[rows], gv[rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_freq = np.where(called > 0, sum_g / (2.0 * np.maximum(called, 1)), np.nan)
    return ChunkStats(called, alt_freq, gg_r, gv, vv, gg)


def _missing_correction(prep: Prepared, missing: np.ndarray, c: np.ndarray, gg: np.ndarray, gv: np.ndarray):
    """Residualised sums over the called samples of variants with missing calls: subtract the missing rows'
    share of B'B, B'v and v'v (only the missing calls are touched), then project per variant."""
    p = prep.p
    # row-major flat positions of the missing calls are sorted by variant: each variant's calls are one segment
    flat = np.flatnonzero(missing)
    starts = np.zeros(missing.shape[0], dtype=np.int64)
    np.cumsum(np.count_nonzero(missing, axis=1)[:-1], out=starts[1:])
    S = np.add.reduceat(prep.missing_terms[flat % missing.shape[1]], starts, axis=0)  # per variant (each has ≥ 1)
    t = p * (p + 1) // 2
    upper = np.triu_indices(p)
    BM = np.zeros((len(S), p, p))
    BM[:, upper[0], upper[1]] = S[:, :t]
    BM[:, upper[1], upper[0]] = S[:, :t]
    A = np.eye(p)[None] - BM  # B_s'B_s
    d = -S[:, t:t + p]  # B_s'v_s (B'v = 0 over everyone)
    vv = prep.vv - S[:, -1]
    rhs = np.stack([c, d], axis=2)  # (k, p, 2)
    try:
        sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        sol = np.einsum("kij,kjl->kil", np.linalg.pinv(A), rhs)
    gg_r = gg - np.einsum("kp,kp->k", c, sol[:, :, 0])
    gv_r = gv - np.einsum("kp,kp->k", c, sol[:, :, 1])
    vv_r = vv - np.einsum("kp,kp->k", d, sol[:, :, 1])
    return gg_r, gv_r, vv_r


@dataclass
class Filters:
    """Which variants are tested: ALT/minor-allele frequency and call rate over the analysed samples."""

    min_maf: float = 0.0  # variants with MAF below this are not tested (PLINK's --maf)
    min_call_rate: float = 0.0  # variants called in fewer than this share of the analysed samples are not tested

    def reasons(self, prep: Prepared, st: ChunkStats) -> np.ndarray:
        """Per variant, the first reason it is not tested (``FILTER_REASONS``), or "" when it is."""
        reason = np.full(len(st.n), "", dtype=object)
        maf = np.minimum(st.alt_freq, 1.0 - st.alt_freq)
        call_rate = st.n / prep.n

        def mark(condition: np.ndarray, why: str) -> None:
            reason[(reason == "") & condition] = why

        mark((st.n == 0) | (call_rate < self.min_call_rate), "call_rate")
        mark(~(maf > 0), "monomorphic")
        mark(maf < self.min_maf, "maf")
        mark(st.n < prep.p + 2, "too_few_samples")
        # the genotype is (nearly) a combination of the covariates over its called samples
        mark(~(st.gg > 1e-8 * np.maximum(st.gg_raw, 1e-300)), "collinear")
        return reason


def linear_tests(prep: Prepared, st: ChunkStats) -> dict[str, np.ndarray]:
    dof = (st.n - prep.p - 1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = st.gv / st.gg
        rss = np.maximum(st.vv - beta * st.gv, 0.0)
        se = np.sqrt(rss / dof / st.gg)
        t = beta / se
    return {"beta": beta, "se": se, "stat": t, "log10p": t_log10p(t, np.maximum(dof, 1.0))}


def score_tests(prep: Prepared, st: ChunkStats) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        z = st.gv / np.sqrt(st.gg)
        return {"beta": st.gv / st.gg, "se": 1.0 / np.sqrt(st.gg), "stat": z, "log10p": z_log10p(z)}


# ---------------------------------------------------------------------------------------------------------------
# Firth logistic regression, batched over variants

def firth_tests(prep: Prepared, genotypes: np.ndarray, max_iter: int = 200, tol: float = 1e-10) -> dict[str, np.ndarray]:
    """Firth-penalised logistic regression of every variant in ``genotypes`` (variants x samples, int8, -9
    missing) on the called samples: modified-score Newton steps (the score plus h_i (1/2 - mu_i)), halved while the
    penalised log-likelihood falls. beta, se = sqrt((X'WX)^-1) at the estimate, Wald z and -log10 p."""
    X, y = prep.X, prep.y
    assert X is not None and y is not None
    n, p = X.shape
    G8 = np.ascontiguousarray(genotypes, dtype=np.int8)
    out = {k: np.full(len(G8), np.nan) for k in ("beta", "se", "stat", "log10p")}
    # batch size: the (batch, n, p) intermediate stays near 32 MB
    batch = int(max(1, min(256, 4_000_000 // max(n * (p + 1), 1))))
    XX = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)
    for start in range(0, len(G8), batch):
        part = G8[start:start + batch]
        res = _firth_batch(X, XX, y, prep.null_beta, _as_float(part), (part >= 0).astype(np.float64),
                           max_iter, tol)
        for k, values in res.items():
            out[k][start:start + batch] = values
    return out


def _halving_step(parts, X, XX, y, g, mask, theta, step, loglik, *, tries: int):
    """Each variant's Newton step from ``theta``, halved (at most ``tries`` times) while its log-likelihood — penalised
    or not, as ``parts`` computes it — would fall; (new theta, step taken, log-likelihood, score, information)."""
    new_theta = theta + step
    l_new, s_new, i_new = parts(X, XX, y, g, mask, new_theta)
    for _half in range(tries):
        worse = ~(l_new >= loglik - 1e-12 * np.maximum(1.0, np.abs(loglik)))
        if not worse.any():
            break
        step[worse] /= 2.0
        new_theta[worse] = theta[worse] + step[worse]
        l_new[worse], s_new[worse], i_new[worse] = parts(X, XX, y, g[worse], mask[worse], new_theta[worse])
    return new_theta, step, l_new, s_new, i_new


def _firth_parts(X, XX, y, g, mask, theta):
    """Linear predictor, means, information matrices, their inverses and log-determinants, penalised
    log-likelihood and modified score, for a batch (b variants) at parameters ``theta`` (b x (p+1))."""
    b, n = g.shape
    p = X.shape[1]
    eta = theta[:, :p] @ X.T + theta[:, p:] * g
    mu = expit(eta)
    w = mu * (1.0 - mu) * mask
    info = np.empty((b, p + 1, p + 1))
    info[:, :p, :p] = (w @ XX).reshape(b, p, p)
    wg = w * g
    info[:, :p, p] = info[:, p, :p] = wg @ X
    info[:, p, p] = np.einsum("bn,bn->b", wg, g)
    sign, logdet = np.linalg.slogdet(info)
    with np.errstate(invalid="ignore"):
        inv = np.linalg.inv(np.where(sign[:, None, None] > 0, info, np.eye(p + 1)))
    # hat diagonal: w_i x_i' I^-1 x_i with x_i = [X_i, g_i]; the covariate block as one GEMM over the products
    # X_ij X_ik (XX) rather than a batched (b, n, p) product
    quad = (XX @ inv[:, :p, :p].reshape(b, p * p).T).T + 2.0 * g * (inv[:, :p, p] @ X.T) + g * g * inv[:, p, p][:, None]
    h = w * quad
    loglik = np.sum(mask * (y * eta - np.logaddexp(0.0, eta)), axis=1) + 0.5 * np.where(sign > 0, logdet, -np.inf)
    r = mask * (y - mu + h * (0.5 - mu))
    score = np.column_stack([r @ X, np.einsum("bn,bn->b", r, g)])
    return loglik, score, inv


def _firth_batch(X, XX, y, null_beta, g, mask, max_iter, tol):
    b = g.shape[0]
    p = X.shape[1]
    # start from the (unpenalised, all-sample) null fit and a zero genotype effect: close to the estimate
    theta = np.zeros((b, p + 1))
    theta[:, :p] = null_beta
    loglik, score, inv = _firth_parts(X, XX, y, g, mask, theta)
    active = np.ones(b, dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        step = np.einsum("bij,bj->bi", inv[idx], score[idx])
        # bound a step (as logistf's maxstep): the Newton step can overshoot far from the estimate
        big = np.max(np.abs(step), axis=1)
        step *= np.minimum(1.0, 5.0 / np.maximum(big, 1e-300))[:, None]
        new_theta, step, l_new, s_new, i_new = _halving_step(_firth_parts, X, XX, y, g[idx], mask[idx], theta[idx],
                                                             step, loglik[idx], tries=40)
        theta[idx], loglik[idx], score[idx], inv[idx] = new_theta, l_new, s_new, i_new
        done = np.max(np.abs(step), axis=1) < tol
        active[idx[done]] = False
    beta = theta[:, p]
    with np.errstate(invalid="ignore"):
        se = np.sqrt(inv[:, p, p])
        z = beta / se
    converged = ~active & np.isfinite(z)
    return {"beta": np.where(converged, beta, np.nan), "se": np.where(converged, se, np.nan),
            "stat": np.where(converged, z, np.nan), "log10p": np.where(converged, z_log10p(z), np.nan)}


# ---------------------------------------------------------------------------------------------------------------
# logistic Wald test, batched IRLS over variants

WALD_OK, WALD_SEPARATED, WALD_UNCONVERGED = 0, 1, 2
_WALD_DIVERGED = 30.0  # |log-odds per allele| beyond this is not an estimate but a fit running off to infinity


def wald_tests(prep: Prepared, genotypes: np.ndarray, max_iter: int = 50, tol: float = 1e-10) -> dict[str, np.ndarray]:
    """Maximum-likelihood logistic regression of every variant in ``genotypes`` (variants x samples, int8, -9
    missing) on the called samples, as ``plink2 --glm no-firth``: Newton-Raphson (IRLS) steps for a whole batch of
    variants at once, each variant with its own missing-call mask and its own (p+1) x (p+1) information matrix
    (one batched solve), from [null coefficients, 0], until every coefficient's step is below ``tol``. beta,
    se = sqrt((X'WX)^-1) at the estimate, Wald z and -log10 p; ``status`` 0 when converged, 1 when the variant
    separates cases from controls (the estimate runs off to infinity or the information becomes singular), 2 when
    not converged in ``max_iter`` steps (those rows' statistics are NaN)."""
    X, y = prep.X, prep.y
    assert X is not None and y is not None
    n, p = X.shape
    G8 = np.ascontiguousarray(genotypes, dtype=np.int8)
    out = {k: np.full(len(G8), np.nan) for k in ("beta", "se", "stat", "log10p")}
    out["status"] = np.full(len(G8), WALD_UNCONVERGED, dtype=np.int8)
    batch = int(max(1, min(512, 2_000_000 // max(n, 1))))  # each (batch, n) array about 16 MB
    XX = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)  # products X_ij X_ik: the information as one GEMM
    for start in range(0, len(G8), batch):
        part = G8[start:start + batch]
        res = _wald_batch(X, XX, y, prep.null_beta, _as_float(part), (part >= 0).astype(np.float64), max_iter, tol)
        for k, values in res.items():
            out[k][start:start + batch] = values
    return out


def _wald_parts(X, XX, y, g, mask, theta):
    """Log-likelihood, score and information of a batch (b variants) at ``theta`` (b x (p+1)), over each
    variant's called samples (``mask``)."""
    b = g.shape[0]
    p = X.shape[1]
    eta = theta[:, :p] @ X.T + theta[:, p:] * g
    mu = expit(eta)
    w = mu * (1.0 - mu) * mask
    info = np.empty((b, p + 1, p + 1))
    info[:, :p, :p] = (w @ XX).reshape(b, p, p)
    wg = w * g
    info[:, :p, p] = info[:, p, :p] = wg @ X
    info[:, p, p] = np.einsum("bn,bn->b", wg, g)
    loglik = np.sum(mask * (y * eta - np.logaddexp(0.0, eta)), axis=1)
    r = mask * (y - mu)
    score = np.column_stack([r @ X, np.einsum("bn,bn->b", r, g)])
    return loglik, score, info


def _solve(info: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps info^-1 score per variant; a singular information gives a NaN step (flagged by the caller)."""
    ok = np.linalg.cond(info) < 1e13
    step = np.full(score.shape, np.nan)
    if ok.any():
        step[ok] = np.linalg.solve(info[ok], score[ok][:, :, None])[:, :, 0]
    return step, ok


def _wald_batch(X, XX, y, null_beta, g, mask, max_iter, tol):
    b = g.shape[0]
    p = X.shape[1]
    theta = np.zeros((b, p + 1))
    theta[:, :p] = null_beta  # the null fit over every sample: the estimate is near for all but strong effects
    loglik, score, info = _wald_parts(X, XX, y, g, mask, theta)
    status = np.full(b, WALD_UNCONVERGED, dtype=np.int8)
    active = np.ones(b, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        step, ok = _solve(info[idx], score[idx])
        status[idx[~ok]] = WALD_SEPARATED  # the information is singular: no finite maximum in reach
        active[idx[~ok]] = False
        idx, step = idx[ok], step[ok]
        # the log-likelihood is concave, so a full Newton step rarely overshoots; when it does, halve it
        new_theta, step, l_new, s_new, i_new = _halving_step(_wald_parts, X, XX, y, g[idx], mask[idx], theta[idx],
                                                             step, loglik[idx], tries=30)
        theta[idx], loglik[idx], score[idx], info[idx] = new_theta, l_new, s_new, i_new
        done = np.max(np.abs(step), axis=1) < tol
        status[idx[done]] = WALD_OK
        active[idx[done]] = False
        gone = ~done & (np.abs(new_theta[:, p]) > _WALD_DIVERGED)
        status[idx[gone]] = WALD_SEPARATED
        active[idx[gone]] = False
    # still running after max_iter with an ever larger estimate: quasi-separation, where steps shrink too slowly
    status[active & (np.abs(theta[:, p]) > 10.0)] = WALD_SEPARATED
    converged = status == WALD_OK
    beta = np.where(converged, theta[:, p], np.nan)
    se = np.full(b, np.nan)
    if converged.any():
        c_info, c_ok = info[converged], np.linalg.cond(info[converged]) < 1e13
        inv_pp = np.full(len(c_info), np.nan)
        if c_ok.any():
            inv_pp[c_ok] = np.linalg.inv(c_info[c_ok])[:, p, p]
        se[converged] = np.sqrt(inv_pp)
    with np.errstate(invalid="ignore"):
        z = beta / se
    status[converged & ~np.isfinite(z)] = WALD_SEPARATED
    return {"beta": beta, "se": se, "stat": z, "log10p": z_log10p(z), "status": status}


# ---------------------------------------------------------------------------------------------------------------
# a whole analysis

@dataclass
class ExactRule:
    """Which score-test rows are re-tested exactly, and how: the ``top`` smallest score p-values, plus every variant
    whose score p is below ``below``, at most ``limit`` of them in all (smallest p first), by ``test`` (Firth, as
    ``plink2 --glm firth``; or the maximum-likelihood Wald test, as ``plink2 --glm no-firth``). The score test is
    accurate away from the tail; the tail is where a wrong p would mislead, and where the exact test is paid for."""

    top: int = 100
    below: float = 1e-5
    limit: int = 5000
    test: ExactTest = "firth"

    def __post_init__(self) -> None:
        if self.test not in ("firth", "wald"):
            raise GenomicsError([f"exact_test: {self.test!r} is not one of firth, wald"])

    def choose(self, log10p: np.ndarray) -> np.ndarray:
        """Positions (into ``log10p``) to re-test, ascending."""
        finite = np.flatnonzero(np.isfinite(log10p) | (log10p == np.inf))
        order = finite[np.argsort(-log10p[finite], kind="stable")]
        threshold = -math.log10(self.below) if self.below > 0 else math.inf
        wanted = max(self.top, int(np.count_nonzero(log10p[order] > threshold)))
        return np.sort(order[:min(wanted, self.limit)])


Progress = Callable[[str, int, int], None]
# Genotypes per chunk: as float64 about 80 MB, the largest array of a chunk (and reused), so peak memory is bounded
# by the samples' count, not the variants'.
CHUNK_CELLS = 10_000_000


def default_chunk_size(n_samples: int) -> int:
    return int(min(4096, max(64, CHUNK_CELLS // max(n_samples, 1))))


@dataclass
class Association:
    """An analysis' results: tested variants (``RESULT_SCHEMA``), filtered variants (``FILTERED_SCHEMA``), counts."""

    results: pa.Table
    filtered: pa.Table
    lambda_gc: float | None
    counts: dict[str, int] = field(default_factory=dict)


def associate(store: GenotypeStore, sample_positions: np.ndarray, y: np.ndarray, covariates: np.ndarray,
              variant_indices: np.ndarray, model: Model, filters: Filters | None = None,
              exact: ExactRule | None = None, chunk_size: int | None = None,
              progress: Progress | None = None, threads: int | None = None) -> Association:
    """Test every variant of ``variant_indices`` against phenotype ``y`` (one value per ``sample_positions``,
    in that order), adjusting for ``covariates`` (samples x k, k may be 0), chunk by chunk: memory is one chunk of
    genotypes, whatever the number of variants (``chunk_size`` variants; default: about ``CHUNK_CELLS`` genotypes
    a chunk). ``threads``: how many threads share each chunk's sums (default: one per core)."""
    filters = filters or Filters()
    exact = exact or ExactRule()
    positions = np.asarray(sample_positions, dtype=np.int64)
    if len(positions) and np.any(np.diff(positions) <= 0):
        raise ValueError("sample positions must be sorted and unique (store order)")
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(positions):
        raise ValueError(f"{len(y)} phenotype values for {len(positions)} samples")
    C = np.asarray(covariates, dtype=np.float64).reshape(len(y), -1)
    if len(y) < C.shape[1] + 3:
        raise GenomicsError([f"samples: {len(y)} samples with phenotype and covariates, fewer than the covariates "
                             f"({C.shape[1]}) + intercept + genotype + 1 a regression needs"])
    if len(y) == 0 or np.ptp(y) == 0:
        raise GenomicsError([f"phenotype: every sample has the same value{f' ({y[0]:g})' if len(y) else ''}: nothing to test"])
    prep = prepare_linear(y, C) if model == "linear" else prepare_logistic(y, C)
    variant_indices = np.asarray(variant_indices, dtype=np.int64)
    chunk_size = chunk_size or default_chunk_size(len(y))
    n_chunks = -(-len(variant_indices) // chunk_size)
    tested_parts: list[tuple[np.ndarray, ...]] = []
    filtered_parts: list[tuple[np.ndarray, ...]] = []
    threads = max(1, threads or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="gwas") if threads > 1 else None
    try:
        for done, (indices, genotypes) in enumerate(store.chunks(variant_indices, positions, size=chunk_size)):
            if progress:
                progress(f"variants {done * chunk_size:,}-{done * chunk_size + len(indices):,}", done, n_chunks)
            st = chunk_stats(prep, genotypes, pool, threads)
            reason = filters.reasons(prep, st)
            keep = reason == ""
            if (~keep).any():
                filtered_parts.append((indices[~keep], st.n[~keep], st.alt_freq[~keep], reason[~keep]))
            if keep.any():
                sub = ChunkStats(*(getattr(st, f)[keep] for f in ("n", "alt_freq", "gg", "gv", "vv", "gg_raw")))
                res = linear_tests(prep, sub) if model == "linear" else score_tests(prep, sub)
                tested_parts.append((indices[keep], sub.n, sub.alt_freq, res["beta"], res["se"], res["stat"], res["log10p"]))
    finally:
        if pool is not None:
            pool.shutdown()
    if progress:
        progress("", n_chunks, n_chunks)
    cols = [np.concatenate(c) if c else np.zeros(0) for c in zip(*tested_parts)] if tested_parts else [np.zeros(0)] * 7
    index, n, alt_freq, beta, se, stat, log10p = cols
    index = index.astype(np.int64)
    test = np.full(len(index), "linear" if model == "linear" else "score", dtype=object)
    counts = {"variants_requested": int(len(variant_indices)), "samples": int(prep.n),
              "covariates": int(C.shape[1])}
    if model == "logistic" and len(index):
        chosen = exact.choose(log10p)
        counts["exact_tests"] = int(len(chosen))
        for done, start in enumerate(range(0, len(chosen), chunk_size)):
            part = chosen[start:start + chunk_size]
            if progress:
                progress(f"{exact.test.capitalize()} tests {start:,}-{start + len(part):,}", done,
                         -(-len(chosen) // chunk_size))
            genotypes = store.read(index[part], positions)
            res = firth_tests(prep, genotypes) if exact.test == "firth" else wald_tests(prep, genotypes)
            ok = np.isfinite(res["log10p"])
            for name, target in (("beta", beta), ("se", se), ("stat", stat), ("log10p", log10p)):
                target[part[ok]] = res[name][ok]
            test[part[ok]] = exact.test
            if exact.test == "wald":  # a failed fit keeps the score row, marked with why
                for code, label in WALD_FAILED.items():
                    test[part[res["status"] == code]] = label
            counts["exact_failed"] = counts.get("exact_failed", 0) + int(np.count_nonzero(~ok))
    variants = store.variants
    described = variants.take(numbers(index)) if len(index) else variants.slice(0, 0)
    columns = {
        "variant_id": described["variant_id"], "chrom": described["chrom"], "pos": described["pos"],
        "ref": described["ref"], "alt": described["alt"], "rsid": described["rsid"], "gene": described["gene"],
        "n": numbers(n.astype(np.int64)), "alt_freq": numbers(alt_freq.astype(np.float64)),
        "beta": numbers(beta.astype(np.float64)), "se": numbers(se.astype(np.float64)),
        "stat": numbers(stat.astype(np.float64)), "p": numbers(p_from_log10p(log10p).astype(np.float64)),
        "log10p": numbers(log10p.astype(np.float64)), "test": strings(test.tolist()),
    }
    results = pa.Table.from_arrays([columns[f.name] for f in RESULT_SCHEMA], schema=RESULT_SCHEMA)
    filtered = _filtered_table(variants, filtered_parts, prep.n)
    counts["variants_tested"] = results.num_rows
    counts["variants_filtered"] = filtered.num_rows
    for why in FILTER_REASONS:
        counts[f"filtered_{why}"] = int(np.count_nonzero(np.asarray(filtered["reason"].to_pylist(), dtype=object) == why))
    return Association(results, filtered, lambda_gc(log10p), counts)


def _filtered_table(variants: pa.Table, parts: list, n_samples: int) -> pa.Table:
    if parts:
        index, n, alt_freq, reason = (np.concatenate(c) for c in zip(*parts))
    else:  # (Schema.empty_table() would import pandas)
        index, n, alt_freq, reason = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, dtype=object)
    described = variants.take(numbers(index.astype(np.int64)))
    columns = {
        "variant_id": described["variant_id"], "chrom": described["chrom"], "pos": described["pos"],
        "n": numbers(n.astype(np.int64)), "alt_freq": numbers(alt_freq.astype(np.float64)),
        "call_rate": numbers((n / max(n_samples, 1)).astype(np.float64)), "reason": strings(reason.tolist()),
    }
    return pa.Table.from_arrays([columns[f.name] for f in FILTERED_SCHEMA], schema=FILTERED_SCHEMA)
