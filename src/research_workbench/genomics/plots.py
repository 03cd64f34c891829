"""Manhattan and QQ plots of association results, as PNG and SVG.

Figures are made with matplotlib's object API on the Agg canvas, never pyplot: no global backend or figure state,
so a web server's threads can draw at the same time. Points are rasterised inside the SVG (axes, text and lines
stay vector), so a plot of a million variants stays a small file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

GENOME_WIDE = 5e-8
SUGGESTIVE = 1e-5
FORMATS = ("png", "svg")
_COLOURS = ("#1f4e79", "#6a9fd4")
_NUMBERED = re.compile(r"^(?:chr)?([0-9]+)$", re.IGNORECASE)
_NAMED = {"X": 1, "Y": 2, "XY": 3, "M": 4, "MT": 4}


def chromosome_key(name: str) -> tuple[int, int, str]:
    """Natural chromosome order: 1, 2, …, 22, then X, Y, XY, MT, then anything else by name ("chr" ignored)."""
    m = _NUMBERED.match(name)
    if m:
        return (0, int(m.group(1)), "")
    bare = re.sub(r"^chr", "", name, flags=re.IGNORECASE).upper()
    if bare in _NAMED:
        return (1, _NAMED[bare], "")
    return (2, 0, bare)


def _label(name: str) -> str:
    return re.sub(r"^chr", "", name, flags=re.IGNORECASE)


def manhattan(results: pa.Table, out_stem: Path, title: str = "") -> list[Path]:
    """A Manhattan plot of ``results`` (chrom, pos, log10p; rsid and gene label the genome-wide hits) written as
    ``out_stem``.png and .svg; returns the paths."""
    chrom = np.asarray(results["chrom"].to_pylist(), dtype=object)
    pos = results["pos"].to_numpy(zero_copy_only=False).astype(np.float64)
    y = results["log10p"].to_numpy(zero_copy_only=False).astype(np.float64)
    fig = Figure(figsize=(12, 4.5))
    ax = fig.add_subplot()
    names = sorted(set(chrom.tolist()), key=chromosome_key)
    x = np.zeros(len(pos))
    offset = 0.0
    ticks, labels = [], []
    gap = max(float(np.nanmax(pos)) if len(pos) else 1.0, 1.0) * 0.02  # a little space between chromosomes
    for i, name in enumerate(names):
        on = chrom == name
        lo, hi = float(pos[on].min()), float(pos[on].max())
        x[on] = offset + pos[on] - lo
        ax.scatter(x[on], np.clip(y[on], 0, None), s=6, color=_COLOURS[i % 2], linewidths=0, rasterized=True)
        ticks.append(offset + (hi - lo) / 2)
        labels.append(_label(name))
        offset += hi - lo + gap
    ax.axhline(-math.log10(GENOME_WIDE), color="#c0392b", linestyle="--", linewidth=1, label="p = 5e-8")
    ax.axhline(-math.log10(SUGGESTIVE), color="#7f8c8d", linestyle=":", linewidth=1, label="p = 1e-5")
    hits = np.flatnonzero(y >= -math.log10(GENOME_WIDE))
    if len(hits):
        rsid = results["rsid"].to_pylist()
        gene = results["gene"].to_pylist()
        for j in hits[np.argsort(-y[hits])][:8]:  # the strongest few, so labels stay legible
            text = rsid[j] or results["variant_id"][j].as_py()
            if gene[j]:
                text += f" ({gene[j]})"
            ax.annotate(text, (x[j], y[j]), xytext=(3, 3), textcoords="offset points", fontsize=7)
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_xlabel("chromosome")
    ax.set_ylabel("−log₁₀ p")
    top = float(np.nanmax(y[np.isfinite(y)])) if np.isfinite(y).any() else 1.0
    ax.set_ylim(0, max(top, -math.log10(GENOME_WIDE)) * 1.08)
    ax.set_xlim(-gap, max(offset, gap))
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out_stem)


def qq(log10p: np.ndarray, lambda_gc: float | None, out_stem: Path, title: str = "") -> list[Path]:
    """A QQ plot of observed against expected −log10 p under the null (uniform p), with λGC printed on it,
    written as ``out_stem``.png and .svg; returns the paths."""
    observed = np.sort(np.asarray(log10p, dtype=np.float64)[np.isfinite(log10p)])[::-1]
    n = len(observed)
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / max(n, 1))
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    # the 95% band of the k-th order statistic of n uniforms (Beta(k, n - k + 1)), around the diagonal
    if n:
        from scipy import stats

        k = np.arange(1, n + 1)
        lo = -np.log10(stats.beta.ppf(0.975, k, n - k + 1))
        hi = -np.log10(stats.beta.ppf(0.025, k, n - k + 1))
        ax.fill_between(expected, lo, hi, color="#d5dbdb", linewidth=0)
    ax.scatter(expected, observed, s=6, color=_COLOURS[0], linewidths=0, rasterized=True)
    limit = float(max(expected.max() if n else 1.0, 1.0))
    ax.plot([0, limit], [0, limit], color="#c0392b", linewidth=1)
    text = f"λGC = {lambda_gc:.3f}" if lambda_gc is not None else "λGC: no tested variants"
    ax.text(0.04, 0.95, f"{text}\n{n:,} variants", transform=ax.transAxes, va="top", fontsize=9)
    ax.set_xlabel("expected −log₁₀ p")
    ax.set_ylabel("observed −log₁₀ p")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out_stem)


def _save(fig: Figure, out_stem: Path) -> list[Path]:
    import matplotlib

    paths = []
    # SVG text stays text (not glyph outlines): smaller, searchable, and λGC can be read back from the file
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for fmt in FORMATS:
            path = Path(f"{out_stem}.{fmt}")
            fig.savefig(path, format=fmt, dpi=150)
            paths.append(path)
    return paths
