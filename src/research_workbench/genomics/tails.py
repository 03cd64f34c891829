"""Tail probabilities of the association tests in log space, with numpy and the standard library only.

Why not scipy.special: importing it pulls scipy's array-API layer, which imports numpy.testing, numpy.f2py and
numpy.ma, about half a second of every GWAS process's start-up for four functions. These are the same functions,
exact to double precision:

- ``t_log10p``: -log10 of the two-sided p of Student's t, from the regularised incomplete beta
  p = I_x(dof/2, 1/2), x = dof / (dof + t^2), by its continued fraction (modified Lentz) taken in logs, so it stays
  finite for p far below 1e-300;
- ``z_log10p``: -log10 of the two-sided normal p, from erfc (``math.erfc``) and, beyond where erfc underflows, its
  asymptotic series;
- ``chi2_1_isf``: the 1-df chi-square quantile (for lambda GC), from the normal quantile of ``statistics``;
- ``expit``: the logistic function, exp(-log(1 + e^-x)), accurate at both ends.
"""

from __future__ import annotations

import math

import numpy as np

LN10 = math.log(10.0)
_LOG_SQRT_PI = 0.5 * math.log(math.pi)
_ERFC_SERIES_FROM = 20.0  # erfc(20) = 5e-176 is still a normal double; beyond, the asymptotic series is exact
_erfc = np.frompyfunc(math.erfc, 1, 1)
_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def expit(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow, with full relative precision for large negative x."""
    return np.exp(-np.logaddexp(0.0, -x))


def _stirling_correction(x: np.ndarray) -> np.ndarray:
    """lgamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2) for x >= 10, to about 1e-14 absolute."""
    inv = 1.0 / x
    inv2 = inv * inv
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680 - inv2 / 1188))))


def _betaln(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log B(a, b). For a large argument, lgamma(big) - lgamma(big + small) is taken from Stirling's series as a
    difference (not two lgammas of 4e4 each, whose rounding alone would cost 1e-11 of p at a biobank's dof)."""
    big, small = np.maximum(a, b), np.minimum(a, b)
    out = np.empty(len(big))

    def lg(v: np.ndarray) -> np.ndarray:  # degrees of freedom repeat, so lgamma runs once per distinct value
        values, inverse = np.unique(v, return_inverse=True)
        return _lgamma(values).astype(np.float64)[inverse.reshape(v.shape)]

    stirling = big >= 10.0
    if stirling.any():
        bg, sm = big[stirling], small[stirling]
        s = bg + sm
        ratio = -(bg - 0.5) * np.log1p(sm / bg) - sm * np.log(s) + sm + _stirling_correction(bg) - _stirling_correction(s)
        out[stirling] = lg(sm) + ratio
    rest = ~stirling
    if rest.any():
        out[rest] = lg(big[rest]) + lg(small[rest]) - lg(big[rest] + small[rest])
    return out


def log_betainc_cf(a: np.ndarray, b: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray) -> np.ndarray:
    """log I_x(a, b) by the continued fraction of the incomplete beta (modified Lentz), accurate and quickly
    convergent for x < (a + 1) / (a + b + 2). The prefactor x^a (1-x)^b / (a B(a, b)) is taken in logs and the
    fraction is a product of factors near 1, so nothing underflows however small I_x is."""
    tiny = 1e-300
    x = np.exp(log_x)
    qab, qap, qam = a + b, a + 1.0, a - 1.0

    def clamp(v: np.ndarray) -> np.ndarray:
        return np.where(np.abs(v) < tiny, tiny, v)

    c = np.ones_like(x)
    d = 1.0 / clamp(1.0 - qab * x / qap)
    h = d.copy()
    active = np.ones(len(x), dtype=bool)
    for m in range(1, 20_000):
        if not active.any():
            break
        i = np.flatnonzero(active)
        ai, bi, xi = a[i], b[i], x[i]
        m2 = 2.0 * m
        aa = m * (bi - m) * xi / ((qam[i] + m2) * (ai + m2))
        di = 1.0 / clamp(1.0 + aa * d[i])
        ci = clamp(1.0 + aa / c[i])
        hi = h[i] * di * ci
        aa = -(ai + m) * (qab[i] + m) * xi / ((ai + m2) * (qap[i] + m2))
        di = 1.0 / clamp(1.0 + aa * di)
        ci = clamp(1.0 + aa / ci)
        delta = di * ci
        h[i], d[i], c[i] = hi * delta, di, ci
        active[i[np.abs(delta - 1.0) < 1e-16]] = False
    return a * log_x + b * log_1mx - _betaln(a, b) - np.log(a) + np.log(h)


def t_log10p(t: np.ndarray, dof: np.ndarray | float) -> np.ndarray:
    """-log10 of the two-sided p of Student's t with ``dof`` degrees of freedom, finite for any finite t.

    p = I_x(dof/2, 1/2) with x = dof / (dof + t^2). Where x is below the continued fraction's convergence point
    (the tail, |t| above about 1.2) it is evaluated directly in logs; elsewhere p = 1 - I_{1-x}(1/2, dof/2), which
    is not small there, so the subtraction loses nothing."""
    t = np.abs(np.asarray(t, dtype=np.float64))
    shape = t.shape
    t = t.reshape(-1)
    dof = np.broadcast_to(np.asarray(dof, dtype=np.float64), shape).reshape(-1).copy()
    out = np.full(t.shape, np.nan)
    ok = np.isfinite(t) & (dof > 0)
    out[np.isinf(t) & (dof > 0)] = np.inf
    out[ok & (t == 0)] = 0.0
    ok &= t > 0
    if ok.any():
        tf, df = t[ok], dof[ok]
        ratio = df / tf / tf  # dof / t^2, without forming t^2 (it overflows for t beyond 1e154)
        log_x = np.log(df) - 2.0 * np.log(tf) - np.log1p(ratio)  # x = ratio / (1 + ratio); ratio may be subnormal
        log_1mx = -np.log1p(ratio)  # 1 - x = 1 / (1 + ratio)
        a, b = df / 2.0, np.full(len(df), 0.5)
        x = np.exp(log_x)
        direct = x < (a + 1.0) / (a + b + 2.0)
        res = np.empty(len(tf))
        if direct.any():
            res[direct] = log_betainc_cf(a[direct], b[direct], log_x[direct], log_1mx[direct])
        flip = ~direct
        if flip.any():
            other = log_betainc_cf(b[flip], a[flip], log_1mx[flip], log_x[flip])
            res[flip] = np.log1p(-np.exp(other))
        out[ok] = -res / LN10
    return out.reshape(shape)


def z_log10p(z: np.ndarray) -> np.ndarray:
    """-log10 of the two-sided normal p = erfc(|z| / sqrt 2), finite for any finite z (p below 1e-300 included)."""
    z = np.abs(np.asarray(z, dtype=np.float64))
    shape = z.shape
    x = z.reshape(-1) / math.sqrt(2.0)
    out = np.full(x.shape, np.nan)
    near = x <= _ERFC_SERIES_FROM
    if near.any():
        out[near] = -np.log(_erfc(x[near]).astype(np.float64)) / LN10
    far = np.isfinite(x) & ~near
    if far.any():
        xf = x[far]
        inv = 1.0 / (2.0 * xf * xf)
        # erfc(x) = e^{-x^2} / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(2x^2)^2 - 15/(2x^2)^3 + ...): at x >= 20 the
        # eighth term is below 1e-18, so seven give the log to double precision
        series, term = np.ones_like(xf), np.ones_like(xf)
        for k in range(1, 8):
            term = -term * (2 * k - 1) * inv
            series += term
        out[far] = (xf * xf + np.log(xf) + _LOG_SQRT_PI - np.log(series)) / LN10
    out[np.isinf(x)] = np.inf
    return out.reshape(shape)


def chi2_1_isf(p: float) -> float:
    """The 1-df chi-square value exceeded with probability ``p`` (0 < p < 1): the square of the normal p/2 quantile."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(p / 2.0) ** 2


CHI2_MEDIAN = chi2_1_isf(0.5)  # the expected median of a 1-df chi-square under the null: 0.454936…
