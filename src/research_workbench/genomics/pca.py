"""Principal components of a cohort's genotypes, as PLINK 2's ``--pca`` computes them.

Steps, each over the cohort's participants who have genotypes in the store:

1. **Variant QC**: ALT frequency ``p`` and call rate from the cohort's own calls; a variant is kept when its minor
   allele frequency is at least ``min_maf`` and its call rate at least ``min_call_rate``. Monomorphic variants carry
   no information (and cannot be standardised), so they are always dropped.
2. **LD pruning** as ``plink2 --indep-pairwise W S R2`` (defaults 50 5 0.2) does it, so that the same variants
   survive. Per chromosome, over the QC-passed variants in position order, windows of ``window`` variants start
   every ``step`` variants. r² is the squared Pearson correlation of the dosages over the samples called in both
   (pairwise complete, as PLINK). Within a window, pairs over the threshold lose the variant with the rarer minor
   allele, greedily in PLINK's order (``prune_pairs``: the order decides the outcome). All pairs closer than
   ``window`` are correlated in a banded product, chunk by chunk; only those over the threshold are replayed.
3. **Standardisation** as PLINK 2: ``x = (g - 2p) / sqrt(2p(1-p))`` per variant, a missing call 0 (the mean).
   X is samples × variants; PLINK's relationship matrix is X Xᵀ / M (M variants).
4. **Top k components** of X Xᵀ / M: eigenvalues as PLINK 2 reports them (``s² / M`` for X's singular values s)
   and unit-length eigenvectors (PLINK's ``.eigenvec`` columns). ``method``: ``exact`` builds X Xᵀ chunk by
   chunk and asks LAPACK (``scipy.linalg.eigh``) for its top k eigenpairs (small cohorts); ``randomized`` is
   Halko, Martinsson & Tropp (2011), Algorithm 4.4: a Gaussian test matrix with ``oversample`` extra columns,
   ``power_iterations`` rounds of subspace iteration with QR re-orthonormalisation, then the SVD of the small
   projected matrix; X is never held whole, each product reads the variants chunk by chunk. ``auto`` picks exact
   up to EXACT_AUTO_SAMPLES samples.

Agreement with PLINK 2 (``tests/genomics/test_pca.py``): on complete data exact ``plink2 --pca`` uses this very
definition, so eigenvalues agree to rounding and eigenvectors up to sign. With missing calls, exact ``plink2
--pca`` divides each pair's sum by the variants both have called instead of mean-imputing; ``plink2 --pca approx``
mean-imputes as here. Signs are fixed so that each eigenvector's entry of largest magnitude is positive, whichever
method ran.

Variant weights (optional) are the unit-length right singular vectors V: a new sample's standardised genotypes x
(with this cohort's ``alt_frequency``) project to eigenvector scale as ``x · V[:, i] / s_i``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..index.variant_query import VariantSelection
from .ancestry_af import ANCESTRY_GROUPS, ancestry_labels, cohort_positions, group_indices, selected_variants
from .output_files import staged_outputs, write_json, write_table
from .store import GenomicsError, GenotypeStore

Progress = Callable[[str, int, int], None]

METHODS = ("auto", "exact", "randomized")
EXACT_AUTO_SAMPLES = 2_000  # ``auto`` decomposes the N × N matrix itself up to here
EXACT_MAX_SAMPLES = 10_000  # an N × N float64 matrix of 800 MB: beyond it, exact is refused
MAX_COMPONENTS = 100
CHUNK_BYTES = 64 << 20  # float64 of one chunk of standardised variants


@dataclass(frozen=True)
class PruneSettings:
    """``plink2 --indep-pairwise window step r2`` (window and step counted in variants)."""

    window: int = 50
    step: int = 5
    r2: float = 0.2

    def problems(self) -> list[str]:
        out = []
        if self.window < 2:
            out.append(f"prune window: {self.window} must be at least 2 variants")
        if not 1 <= self.step <= self.window:
            out.append(f"prune step: {self.step} must be from 1 to the window ({self.window})")
        if not 0 < self.r2 <= 1:
            out.append(f"prune r2: {self.r2} must be above 0 and at most 1")
        return out


@dataclass
class PcaResult:
    person_ids: np.ndarray  # the samples, in store order
    components: np.ndarray  # samples × k, unit-length columns
    eigenvalues: np.ndarray  # k, PLINK 2's scale
    variant_indices: np.ndarray  # the variants used (after QC and pruning), store order
    alt_frequency: np.ndarray  # of those variants, over the samples
    loadings: np.ndarray | None  # variants × k, unit-length (right singular vectors)
    method: str
    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.eigenvalues)

    def component_table(self) -> pa.Table:
        columns = {"person_id": pa.array(self.person_ids, pa.int64())}
        for i in range(self.k):
            columns[f"PC{i + 1}"] = pa.array(self.components[:, i], pa.float64())
        return pa.table(columns)

    def summary(self) -> dict:
        return {"method": self.method, "components": self.k, "eigenvalues": [float(x) for x in self.eigenvalues],
                **self.counts, "files": self.files}


# ---- 1. variant QC --------------------------------------------------------------------------------------------
def variant_statistics(store: GenotypeStore, variants: np.ndarray, positions: np.ndarray,
                       chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(ALT frequency among called genotypes, call rate) of each variant over the samples; frequency NaN when
    nothing is called."""
    freq = np.full(len(variants), np.nan)
    rate = np.zeros(len(variants))
    start = 0
    for part, g in store.chunks(variants, positions, size=chunk_size):
        called = g >= 0
        n = called.sum(axis=1)
        ac = np.where(called, g, 0).sum(axis=1, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            freq[start:start + len(part)] = np.where(n > 0, ac / (2.0 * np.maximum(n, 1)), np.nan)
        rate[start:start + len(part)] = n / g.shape[1]
        start += len(part)
    return freq, rate


def qc_mask(freq: np.ndarray, call_rate: np.ndarray, min_maf: float, min_call_rate: float) -> np.ndarray:
    maf = np.minimum(freq, 1 - freq)
    return ~np.isnan(freq) & (maf > 0) & (maf >= min_maf) & (call_rate >= min_call_rate)


# ---- 2. LD pruning --------------------------------------------------------------------------------------------
class _Dosages:
    """Variants × samples dosages prepared once for many pairwise r² blocks: values with missing calls as 0 and, when
    some call is missing, the called indicator. Every sum is integer-valued, so float32 products are exact while
    they stay below 2**24 (4 × samples); float64 beyond."""

    def __init__(self, g: np.ndarray):
        dtype = np.float32 if g.shape[1] < 2**22 else np.float64
        called = g >= 0
        self.complete = bool(called.all())
        self.values = np.where(called, g, 0).astype(dtype)
        self.called = None if self.complete else called.astype(dtype)
        self.squares = self.values * self.values
        self.sums = self.values.sum(axis=1, dtype=np.float64)
        self.square_sums = self.squares.sum(axis=1, dtype=np.float64)


def _block_r2(d: _Dosages, rows: slice, cols: slice) -> np.ndarray:
    """r² of variants ``rows`` with variants ``cols`` over the samples called in both (PLINK's pairwise-complete
    r², from the same integer sums PLINK uses)."""
    va, vb = d.values[rows], d.values[cols]
    dot = (va @ vb.T).astype(np.float64)
    if d.complete:  # every pair's samples are all samples: the per-variant sums serve
        n = float(d.values.shape[1])
        sum_a, sum_b = d.sums[rows, None], d.sums[None, cols]
        ssq_a, ssq_b = d.square_sums[rows, None], d.square_sums[None, cols]
    else:
        ca, cb = d.called[rows], d.called[cols]
        n = (ca @ cb.T).astype(np.float64)
        sum_a, sum_b = (va @ cb.T).astype(np.float64), (ca @ vb.T).astype(np.float64)
        ssq_a, ssq_b = (d.squares[rows] @ cb.T).astype(np.float64), (ca @ d.squares[cols].T).astype(np.float64)
    cov = dot * n - sum_a * sum_b
    var_a = ssq_a * n - sum_a * sum_a
    var_b = ssq_b * n - sum_b * sum_b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((var_a > 0) & (var_b > 0), cov * cov / (var_a * var_b), 0.0)


def pair_r2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """r² of every variant of ``a`` with every variant of ``b`` (int8 dosages, -9 missing): a.rows × b.rows, over
    the samples called in both."""
    d = _Dosages(np.concatenate([a, b]))
    return _block_r2(d, slice(0, len(a)), slice(len(a), len(a) + len(b)))


def high_ld_pairs(genotypes: Callable[[int, int], np.ndarray], n: int, settings: PruneSettings,
                  chunk: int = 2000) -> np.ndarray:
    """(i, j) rows, i < j < i + window, of one chromosome's ``n`` variants whose r² exceeds the threshold (as
    PLINK compares it). ``genotypes(a, b)`` reads variants a..b-1."""
    W = settings.window
    threshold = settings.r2 * (1 + _PLINK_SMALL_EPSILON)
    found = []
    chunk = max(chunk, W)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        d = _Dosages(genotypes(a, min(b + W - 1, n)))
        for r0 in range(0, b - a, W):  # W rows against the 2W - 1 variants that can share a window with them
            i_loc, j_loc = np.nonzero(_block_r2(d, slice(r0, r0 + W), slice(r0, r0 + 2 * W - 1)) > threshold)
            keep = (j_loc > i_loc) & (j_loc - i_loc < W) & (r0 + i_loc < b - a)
            found.append(np.column_stack([a + r0 + i_loc[keep], a + r0 + j_loc[keep]]))
    return np.concatenate(found).astype(np.int64) if found else np.zeros((0, 2), dtype=np.int64)


# PLINK compares major-allele frequencies with this relative tolerance (kSmallEpsilon, 2**-44).
_PLINK_SMALL_EPSILON = 2.0**-44


def prune_pairs(pairs: np.ndarray, maf: np.ndarray, settings: PruneSettings) -> np.ndarray:
    """Kept mask over one chromosome's variants after PLINK's windowed greedy pruning, given its high-r² pairs.

    The windows [s, s + window) for s = 0, step, 2·step… until one reaches the last variant. In each window, passes
    are repeated until one prunes nothing; a pass visits each variant f still kept, in order, and compares it with
    the next variant still kept after the last one f was compared with (from f + 1 at first): when that pair is
    over the threshold, f goes if its minor allele is rarer than its partner's (by more than PLINK's tolerance),
    else the partner goes, and the pass moves on to the next f. This is PLINK 1.9's order, which Debian's
    ``plink2`` (2.00a3.5, the tests' oracle) follows too. Pairs under the threshold only move f's place on, so
    only the high pairs are kept: per variant, its partners in order and a pointer to the next one to compare."""
    n = len(maf)
    major = 1 - np.asarray(maf, dtype=np.float64)
    pruned = np.zeros(n, dtype=bool)
    if len(pairs) == 0:
        return ~pruned
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    firsts, bounds = np.unique(pairs[:, 0], return_index=True)
    partners = np.split(pairs[:, 1], bounds[1:])
    at = [0] * len(firsts)  # per first: its next partner to compare
    W, S = settings.window, settings.step
    start = 0
    while True:
        end = min(start + W, n)
        lo, hi = np.searchsorted(firsts, [start, end])
        active = range(lo, hi)
        changed = True
        while changed:
            changed = False
            for k in active:
                f = firsts[k]
                if pruned[f]:
                    continue
                mine, p = partners[k], at[k]
                while p < len(mine) and mine[p] < end and pruned[mine[p]]:
                    p += 1
                if p < len(mine) and mine[p] < end:
                    partner = mine[p]
                    if major[f] > major[partner] * (1 + _PLINK_SMALL_EPSILON):
                        pruned[f] = True
                    else:
                        pruned[partner] = True
                        p += 1
                    changed = True
                at[k] = p
        if end == n:
            return ~pruned
        start += S


def ld_prune(store: GenotypeStore, variants: np.ndarray, positions: np.ndarray, freq: np.ndarray,
             settings: PruneSettings, progress: Progress | None = None) -> np.ndarray:
    """Kept mask over ``variants`` (QC-passed, with their ALT frequencies) after pruning each chromosome."""
    table = store.variants
    chrom = np.asarray(table["chrom"].to_pylist(), dtype=object)[variants]
    pos = table["pos"].to_numpy()[variants]
    maf = np.minimum(freq, 1 - freq)
    keep = np.zeros(len(variants), dtype=bool)
    names = list(dict.fromkeys(chrom.tolist()))
    for done, name in enumerate(names):
        local = np.flatnonzero(chrom == name)
        local = local[np.argsort(pos[local], kind="stable")]
        members = variants[local]
        if progress:
            progress(f"LD pruning {name}", done, len(names))
        pairs = high_ld_pairs(lambda a, b, members=members: store.read(members[a:b], positions), len(local), settings)
        keep[local] = prune_pairs(pairs, maf[local], settings)
    return keep


# ---- 3. standardised genotypes as an operator ---------------------------------------------------------------
class StandardisedGenotypes:
    """X (samples × variants) of PLINK 2's --pca without building it: each product reads the variants chunk by chunk
    from the store and standardises them as it goes."""

    def __init__(self, store: GenotypeStore, variants: np.ndarray, positions: np.ndarray, freq: np.ndarray):
        self.store, self.variants, self.positions = store, variants, positions
        self.mean = 2 * freq
        self.scale = 1 / np.sqrt(2 * freq * (1 - freq))
        self.n_samples, self.n_variants = len(positions), len(variants)
        self.chunk = max(1, CHUNK_BYTES // (8 * max(self.n_samples, 1)))

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]:
        """(slice of variants, their standardised rows: chunk × samples float64)."""
        start = 0
        for part, g in self.store.chunks(self.variants, self.positions, size=self.chunk):
            s = slice(start, start + len(part))
            z = g.astype(np.float64)  # in place from here: one chunk-sized array, no temporaries
            z -= self.mean[s, None]
            z *= self.scale[s, None]
            z[g < 0] = 0.0
            yield s, z
            start += len(part)

    def times(self, b: np.ndarray) -> np.ndarray:
        """X @ b (b: variants × l)."""
        out = np.zeros((self.n_samples, b.shape[1]))
        for s, z in self.blocks():
            out += z.T @ b[s]
        return out

    def t_times(self, q: np.ndarray) -> np.ndarray:
        """Xᵀ @ q (q: samples × l)."""
        out = np.empty((self.n_variants, q.shape[1]))
        for s, z in self.blocks():
            out[s] = z @ q
        return out

    def gram(self) -> np.ndarray:
        """X Xᵀ (samples × samples)."""
        out = np.zeros((self.n_samples, self.n_samples))
        for _, z in self.blocks():
            out += z.T @ z
        return out


# ---- 4. the decomposition -------------------------------------------------------------------------------------
def exact_components(x: StandardisedGenotypes, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(singular values, left singular vectors) of X: the top ``k`` eigenpairs of X Xᵀ (LAPACK's symmetric solver,
    asked for those ``k`` only: several times faster than all N)."""
    from scipy.linalg import eigh

    n = x.n_samples
    values, vectors = eigh(x.gram(), subset_by_index=[n - k, n - 1])
    top = np.argsort(values)[::-1]
    return np.sqrt(np.clip(values[top], 0, None)), vectors[:, top]


def randomized_components(x: StandardisedGenotypes, k: int, *, oversample: int = 10, power_iterations: int = 5,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(singular values, left singular vectors) of X's top ``k``: randomized subspace iteration (Halko et al. 2011,
    Algorithm 4.4). Each power iteration costs two passes over the variants."""
    rng = np.random.default_rng(seed)
    width = min(k + oversample, x.n_samples, x.n_variants)
    q, _ = np.linalg.qr(x.times(rng.standard_normal((x.n_variants, width))))
    for _ in range(power_iterations):
        w, _ = np.linalg.qr(x.t_times(q))
        q, _ = np.linalg.qr(x.times(w))
    bt = x.t_times(q)  # (Qᵀ X)ᵀ: variants × width
    _, s, u_bt = np.linalg.svd(bt, full_matrices=False)  # Bᵀ = V S Uᵀ, so B = U S Vᵀ
    return s[:k], q @ u_bt.T[:, :k]


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Each column with its entry of largest magnitude positive: the same signs whichever method found them."""
    rows = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1, signs)


# ---- the analysis ---------------------------------------------------------------------------------------------
def compute_pca(store: GenotypeStore, positions: np.ndarray, variants: np.ndarray, k: int = 10, *,
                min_maf: float = 0.01, min_call_rate: float = 0.95, prune: PruneSettings | None = PruneSettings(),
                method: str = "auto", oversample: int = 10, power_iterations: int = 5, seed: int = 0,
                loadings: bool = False, progress: Progress | None = None) -> PcaResult:
    """PCA of ``store``'s samples at ``positions`` (sorted) over ``variants`` (store indices): QC, pruning (None:
    none), standardisation, decomposition. Refuses (GenomicsError) bad settings or too little data."""
    problems = []
    if method not in METHODS:
        problems.append(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if not 1 <= k <= MAX_COMPONENTS:
        problems.append(f"k: {k} components; ask for 1 to {MAX_COMPONENTS}")
    if not 0 <= min_maf <= 0.5:
        problems.append(f"min_maf: {min_maf} must be from 0 to 0.5")
    if not 0 <= min_call_rate <= 1:
        problems.append(f"min_call_rate: {min_call_rate} must be from 0 to 1")
    if oversample < 0 or power_iterations < 0:
        problems.append("oversample, power_iterations: must not be negative")
    if prune is not None:
        problems += prune.problems()
    if problems:
        raise GenomicsError(problems)
    variants = np.sort(np.asarray(variants, dtype=np.int64))
    n = len(positions)
    if n <= k:
        raise GenomicsError([f"k: {k} components need more than {k} participants with genotypes; the cohort has {n}"])
    chunk = max(1, CHUNK_BYTES // (8 * n))
    if progress:
        progress("variant QC", 0, 1)
    freq, rate = variant_statistics(store, variants, positions, chunk)
    passed = qc_mask(freq, rate, min_maf, min_call_rate)
    counts = {"participants": n, "variants_selected": len(variants), "variants_passing_qc": int(passed.sum())}
    variants, freq = variants[passed], freq[passed]
    if prune is not None and len(variants):
        kept = ld_prune(store, variants, positions, freq, prune, progress)
        variants, freq = variants[kept], freq[kept]
    counts["variants_used"] = len(variants)
    if len(variants) < k:
        raise GenomicsError([f"k: {k} components need at least {k} variants; {len(variants)} are left after QC "
                             f"(MAF ≥ {min_maf}, call rate ≥ {min_call_rate}) and LD pruning"])
    chosen = method if method != "auto" else ("exact" if n <= EXACT_AUTO_SAMPLES else "randomized")
    if chosen == "exact" and n > EXACT_MAX_SAMPLES:
        raise GenomicsError([f"method: exact PCA builds a {n:,} × {n:,} matrix; use randomized above "
                             f"{EXACT_MAX_SAMPLES:,} participants"])
    x = StandardisedGenotypes(store, variants, positions, freq)
    if progress:
        progress("components", 0, 1)
    if chosen == "exact":
        s, u = exact_components(x, k)
    else:
        s, u = randomized_components(x, k, oversample=oversample, power_iterations=power_iterations, seed=seed)
    u = fix_signs(u)
    v = None
    if loadings:
        with np.errstate(invalid="ignore", divide="ignore"):
            v = x.t_times(u) / np.where(s > 0, s, np.inf)
    if progress:
        progress("", 1, 1)
    return PcaResult(store.samples[positions], u, s * s / len(variants), variants, freq, v, chosen, counts)


def run_pca(index_dir: Path, person_ids: Iterable[int] | None, out_dir: Path, k: int = 10, *, kind: str = "wgs",
            selection: VariantSelection | None = None, min_maf: float = 0.01, min_call_rate: float = 0.95,
            prune: PruneSettings | None = PruneSettings(), method: str = "auto", seed: int = 0,
            power_iterations: int = 5, oversample: int = 10, loadings: bool = False, plots: bool = True,
            ancestry: Mapping[int, str] | None = None, progress: Progress | None = None) -> PcaResult:
    """PCA of a cohort (``person_ids``; None: everyone with genotypes) over ``selection`` (None: all variants),
    written to ``out_dir``: ``pcs.parquet``/``.tsv`` (person_id, PC1..PCk: GWAS covariates), ``eigenvalues.tsv``,
    ``pca_variants.tsv`` (the variants used and their ALT frequency, with weights when ``loadings``),
    ``pca.json`` (settings and counts) and, with ``plots``, PC1×PC2 and PC3×PC4 by predicted ancestry (PNG, SVG).
    The plots colour people by ``ancestry`` (person id → group label), by default the CDR's predictions. Every
    file appears whole, and none on error."""
    store = GenotypeStore.open(Path(index_dir), kind)
    positions = cohort_positions(store, person_ids)
    variants = selected_variants(store, selection)
    result = compute_pca(store, positions, variants, k, min_maf=min_maf, min_call_rate=min_call_rate, prune=prune,
                         method=method, seed=seed, power_iterations=power_iterations, oversample=oversample,
                         loadings=loadings, progress=progress)
    groups = None
    if plots:
        groups = group_indices(result.person_ids, ancestry_labels(index_dir) if ancestry is None else ancestry)
    with staged_outputs(Path(out_dir)) as stage:
        files = write_table(result.component_table(), stage, "pcs")
        files += _write_eigenvalues(result, stage)
        files += _write_variants(result, store, stage)
        if plots:
            files += plot_components(result, groups, stage)
        files.append("pca.json")
        result.files = files
        write_json({**result.summary(), "kind": kind, "selection": (selection or VariantSelection()).describe(),
                    "min_maf": min_maf, "min_call_rate": min_call_rate,
                    "prune": None if prune is None else {"window": prune.window, "step": prune.step, "r2": prune.r2},
                    "seed": seed, "power_iterations": power_iterations, "oversample": oversample},
                   stage / "pca.json")
    return result


def _write_eigenvalues(result: PcaResult, directory: Path) -> list[str]:
    lines = ["component\teigenvalue"] + [f"PC{i + 1}\t{value!r}" for i, value in enumerate(result.eigenvalues.tolist())]
    (directory / "eigenvalues.tsv").write_text("\n".join(lines) + "\n")
    return ["eigenvalues.tsv"]


def _write_variants(result: PcaResult, store: GenotypeStore, directory: Path) -> list[str]:
    rows = store.variants.take(pa.array(result.variant_indices))
    columns = {name: rows[name] for name in ("variant_index", "variant_id", "rsid", "chrom", "pos", "ref", "alt")}
    columns["alt_frequency"] = pa.array(result.alt_frequency, pa.float64())
    if result.loadings is not None:
        for i in range(result.k):
            columns[f"PC{i + 1}_weight"] = pa.array(result.loadings[:, i], pa.float64())
    table = pa.table(columns)
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, directory / "pca_variants.tsv",
                    write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="needed"))
    return ["pca_variants.tsv"]


def plot_components(result: PcaResult, groups: np.ndarray, directory: Path) -> list[str]:
    """PC1×PC2 (and PC3×PC4 when there are four) coloured by predicted ancestry, as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    files = []
    colours = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#999999")
    for a, b in ((0, 1), (2, 3)):
        if b >= result.k:
            break
        figure = Figure(figsize=(6.4, 5.2), dpi=110)
        axes = figure.add_subplot()
        for g, name in enumerate(ANCESTRY_GROUPS):
            hit = groups == g
            if hit.any():
                axes.scatter(result.components[hit, a], result.components[hit, b], s=6, alpha=0.7,
                             color=colours[g], label=name, linewidths=0)
        axes.set_xlabel(f"PC{a + 1} (eigenvalue {result.eigenvalues[a]:.3g})")
        axes.set_ylabel(f"PC{b + 1} (eigenvalue {result.eigenvalues[b]:.3g})")
        axes.set_title("Principal components by predicted ancestry")
        axes.legend(title="ancestry", markerscale=2, fontsize="small", loc="best")
        figure.tight_layout()
        stem = f"pca_pc{a + 1}_pc{b + 1}"
        for suffix in ("png", "svg"):
            figure.savefig(directory / f"{stem}.{suffix}", format=suffix)
            files.append(f"{stem}.{suffix}")
    return files
