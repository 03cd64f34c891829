"""PCA of a cohort's genotypes: QC, PLINK-equivalent LD pruning, standardisation, exact and randomized components.

PLINK 2 is the oracle: Debian's ``plink2`` runs on the very store (.bed/.bim/.fam) our code reads. Simulated
stores follow the synthetic program's Balding–Nichols model: ancestral frequencies p0, population frequencies
Beta(p0(1-F)/F, (1-p0)(1-F)/F), genotypes Binomial(2, p) per person's population.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from research_workbench.genomics import pca as pca_module
from research_workbench.genomics.pca import (
    PruneSettings,
    compute_pca,
    ld_prune,
    pair_r2,
    prune_pairs,
    qc_mask,
    run_pca,
    variant_statistics,
)
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.genotype_store import GenotypeStoreWriter
from research_workbench.index.variant_query import VariantSelection

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (apt-get install plink2)")


def write_store(root: Path, genotypes: np.ndarray, chroms: list[str] | None = None, samples=None) -> GenotypeStore:
    """A wgs store of ``genotypes`` (variants × samples, -9 missing); sample i is person 10·(i+1)."""
    genotypes = np.asarray(genotypes, dtype=np.int8)
    m, n = genotypes.shape
    chroms = chroms or ["chr1"] * m
    samples = np.arange(1, n + 1) * 10 if samples is None else np.asarray(samples)
    writer = GenotypeStoreWriter(root, "wgs", samples)
    writer.add([{"variant_id": f"{c[3:]}-{i + 1}-A-G", "chrom": c, "pos": i + 1, "ref": "A", "alt": "G",
                 "rsid": f"rs{i + 1}"} for i, c in enumerate(chroms)], genotypes)
    writer.close()
    return GenotypeStore.open(root)


def simulate(seed: int, n: int, m: int, populations: int, *, ld_share: float = 0.0, missing: float = 0.0):
    """Balding–Nichols genotypes (variants × samples) with F = 0.1; with ``ld_share`` of variants copying their
    predecessor's genotypes for a random share of people (LD), and ``missing`` calls set to -9."""
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.05, 0.5, m)
    f = 0.1
    af = rng.beta(p0[:, None] * (1 - f) / f, (1 - p0[:, None]) * (1 - f) / f, (m, populations))
    pop = rng.integers(0, populations, n)
    g = (rng.random((m, n)) < af[:, pop]).astype(np.int8) + (rng.random((m, n)) < af[:, pop])
    for j in range(1, m):
        if rng.random() < ld_share:
            keep_own = rng.random(n) < rng.uniform(0.05, 0.8)
            g[j] = np.where(keep_own, g[j], g[j - 1])
    g = g.astype(np.int8)
    if missing:
        g[rng.random(g.shape) < missing] = -9
    return g, pop


def plink(*args: str, cwd: Path) -> None:
    subprocess.run([PLINK2, *args, "--threads", "2", "--memory", "2000"], cwd=cwd, check=True, capture_output=True)


def everything(store: GenotypeStore) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(len(store.samples)), np.arange(store.n_variants)


# ---- exact small cases -----------------------------------------------------------------------------------------
TINY = np.array([
    [0, 1, 2, 1, 0, 0],
    [2, 2, 1, 0, 0, 1],
    [0, 0, 1, 1, 2, -9],
    [1, 0, 0, 0, 1, 2],
    [1, 1, 1, 2, 0, 0],
], dtype=np.int8)


def test_components_are_plinks_standardised_relationship_matrix_eigenpairs(tmp_path):
    store = write_store(tmp_path, TINY)
    result = compute_pca(store, *everything(store), 2, min_maf=0, min_call_rate=0, prune=None, method="exact")
    # By hand: p from called genotypes; x = (g - 2p) / sqrt(2p(1-p)), missing 0; K = X Xᵀ / M.
    called = TINY >= 0
    p = np.where(called, TINY, 0).sum(1) / (2 * called.sum(1))
    x = np.where(called, (TINY - 2 * p[:, None]) / np.sqrt(2 * p * (1 - p))[:, None], 0).T
    values, vectors = np.linalg.eigh(x @ x.T / TINY.shape[0])
    np.testing.assert_allclose(result.eigenvalues, values[::-1][:2], rtol=1e-12)
    for i in range(2):
        expected = vectors[:, -1 - i]
        expected = expected * np.sign(expected[np.argmax(np.abs(expected))])  # largest entry positive
        np.testing.assert_allclose(result.components[:, i], expected, atol=1e-12)
    np.testing.assert_allclose(result.alt_frequency, p)
    assert result.person_ids.tolist() == [10, 20, 30, 40, 50, 60]
    assert result.method == "exact"


def test_variant_weights_reproduce_the_components(tmp_path):
    store = write_store(tmp_path, TINY)
    result = compute_pca(store, *everything(store), 2, min_maf=0, min_call_rate=0, prune=None, method="exact",
                         loadings=True)
    called = TINY >= 0
    p = result.alt_frequency
    x = np.where(called, (TINY - 2 * p[:, None]) / np.sqrt(2 * p * (1 - p))[:, None], 0).T
    s = np.sqrt(result.eigenvalues * TINY.shape[0])
    np.testing.assert_allclose(x @ result.loadings / s, result.components, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(result.loadings, axis=0), 1.0, atol=1e-12)


def test_qc_drops_rare_monomorphic_and_poorly_called_variants(tmp_path):
    n = 100
    g = np.zeros((5, n), dtype=np.int8)
    g[0, :30] = 1  # MAF 0.15: kept
    g[1, :1] = 1  # MAF 0.005: below 0.01
    # g[2]: monomorphic
    g[3, :40] = 1
    g[3, 40:46] = -9  # call rate 0.94
    g[4, :20] = 2  # MAF 0.2: kept
    store = write_store(tmp_path, g)
    freq, rate = variant_statistics(store, np.arange(5), np.arange(n), 2)
    np.testing.assert_allclose(freq, [0.15, 0.005, 0.0, 40 / 188, 0.2])
    np.testing.assert_allclose(rate, [1, 1, 1, 0.94, 1])
    assert qc_mask(freq, rate, 0.01, 0.95).tolist() == [True, False, False, False, True]
    assert qc_mask(freq, rate, 0.0, 0.9).tolist() == [True, True, False, True, True]  # monomorphic always goes


def test_pair_r2_uses_the_samples_called_in_both():
    a = np.array([[0, 1, 2, 2, -9, 1, 0]], dtype=np.int8)
    b = np.array([[0, 1, 1, 2, 2, -9, 1], [1, 1, 1, 1, 1, 1, 1]], dtype=np.int8)
    both = [0, 1, 2, 3, 6]
    expected = np.corrcoef(a[0, both].astype(float), b[0, both].astype(float))[0, 1] ** 2
    r2 = pair_r2(a, b)
    assert r2[0, 0] == pytest.approx(expected, rel=1e-12)
    assert r2[0, 1] == 0.0  # a constant partner has no correlation


def test_prune_pairs_replays_plinks_window_order():
    # Variants 0..5, window 3, step 1. High pairs (0,1), (1,2), (3,5). MAFs make 1 the rarest of 0-1-2.
    pairs = np.array([[0, 1], [1, 2], [3, 5]])
    maf = np.array([0.3, 0.1, 0.2, 0.25, 0.4, 0.25])
    kept = prune_pairs(pairs, maf, PruneSettings(window=3, step=1, r2=0.2))
    # Window [0,3): f=0 meets 1 (rarer): 1 goes; f=2 has no partner after it. 3–5 first share window [3,6):
    # equal MAF, so the partner (5) goes.
    assert kept.tolist() == [True, False, True, True, True, False]
    # The first variant goes when it is the rarer one; ties go against the partner.
    assert prune_pairs(np.array([[0, 1]]), np.array([0.1, 0.3]), PruneSettings(3, 1, 0.2)).tolist() == [False, True]
    # A pair farther apart than the window never meets.
    assert prune_pairs(np.array([[0, 3]]), np.array([0.1, 0.1, 0.1, 0.1]), PruneSettings(3, 1, 0.2)).all()


def test_randomized_components_agree_with_exact(tmp_path):
    g, _ = simulate(11, 400, 600, 4)
    store = write_store(tmp_path, g)
    exact = compute_pca(store, *everything(store), 5, prune=None, method="exact")
    fast = compute_pca(store, *everything(store), 5, prune=None, method="randomized", seed=3)
    # Three components carry the four populations; their eigenvalues stand far above the rest.
    np.testing.assert_allclose(fast.eigenvalues[:3], exact.eigenvalues[:3], rtol=1e-8)
    for i in range(3):
        assert abs(np.corrcoef(fast.components[:, i], exact.components[:, i])[0, 1]) > 0.999999
    np.testing.assert_allclose(fast.components[:, :3], exact.components[:, :3], atol=1e-4)  # same signs too


# ---- PLINK 2 as the oracle --------------------------------------------------------------------------------------
@needs_plink2
def test_ld_pruning_keeps_exactly_the_variants_plink2_indep_pairwise_keeps(tmp_path):
    g, _ = simulate(3, 600, 1500, 6, ld_share=0.35, missing=0.02)
    chroms = ["chr1"] * 900 + ["chr2"] * 600
    store = write_store(tmp_path, g, chroms)
    positions, variants = everything(store)
    freq, _ = variant_statistics(store, variants, positions, 5000)
    kept = ld_prune(store, variants, positions, freq, PruneSettings(50, 5, 0.2))
    plink("--bfile", "genomics/wgs", "--indep-pairwise", "50", "5", "0.2", "--out", "pruned", cwd=tmp_path)
    theirs = set((tmp_path / "pruned.prune.in").read_text().split())
    ours = {f"rs{i + 1}" for i in np.flatnonzero(kept)}
    assert 0.5 * len(variants) < len(ours) < len(variants)  # the LD is there and pruning did something
    assert ours == theirs


@needs_plink2
def test_components_match_plink2_pca_on_the_same_pruned_variants(tmp_path):
    g, pop = simulate(5, 1000, 2000, 6, ld_share=0.2)
    store = write_store(tmp_path, g)
    result = compute_pca(store, *everything(store), 10, method="exact")
    (tmp_path / "used.txt").write_text("\n".join(f"rs{i + 1}" for i in result.variant_indices) + "\n")
    plink("--bfile", "genomics/wgs", "--extract", "used.txt", "--pca", "10", "--out", "pca", cwd=tmp_path)
    theirs = np.loadtxt(tmp_path / "pca.eigenvec", skiprows=1, usecols=range(2, 12))
    values = np.loadtxt(tmp_path / "pca.eigenval")
    assert result.counts["variants_used"] < result.counts["variants_passing_qc"]  # pruning removed some
    # Exact on both sides: every eigenvalue to PLINK's printed precision (6 significant digits).
    np.testing.assert_allclose(result.eigenvalues, values, rtol=2e-5)
    # Six populations: five components with eigenvalues well apart from the rest, equal up to sign.
    for i in range(5):
        assert abs(np.corrcoef(result.components[:, i], theirs[:, i])[0, 1]) >= 0.9999
    fast = compute_pca(store, *everything(store), 10, method="randomized")
    np.testing.assert_allclose(fast.eigenvalues[:5], values[:5], rtol=1e-3)
    for i in range(5):
        assert abs(np.corrcoef(fast.components[:, i], theirs[:, i])[0, 1]) >= 0.99


@needs_plink2
def test_with_missing_calls_components_match_plink2_pca_approx_which_mean_imputes(tmp_path):
    g, _ = simulate(8, 800, 1500, 5, missing=0.03)
    store = write_store(tmp_path, g)
    result = compute_pca(store, *everything(store), 6, min_call_rate=0.9, prune=None, method="randomized")
    (tmp_path / "used.txt").write_text("\n".join(f"rs{i + 1}" for i in result.variant_indices) + "\n")
    plink("--bfile", "genomics/wgs", "--extract", "used.txt", "--pca", "6", "approx", "--out", "pca", cwd=tmp_path)
    theirs = np.loadtxt(tmp_path / "pca.eigenvec", skiprows=1, usecols=range(2, 8))
    values = np.loadtxt(tmp_path / "pca.eigenval")
    np.testing.assert_allclose(result.eigenvalues[:4], values[:4], rtol=1e-3)
    for i in range(4):
        assert abs(np.corrcoef(result.components[:, i], theirs[:, i])[0, 1]) >= 0.99


# ---- refusals -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k: 0 components"),
    ({"k": 101}, "k: 101 components"),
    ({"method": "power"}, "method: 'power' is not one of"),
    ({"min_maf": 0.7}, "min_maf: 0.7"),
    ({"min_call_rate": 1.5}, "min_call_rate: 1.5"),
    ({"prune": PruneSettings(window=1)}, "prune window: 1"),
    ({"prune": PruneSettings(window=10, step=11)}, "prune step: 11"),
    ({"prune": PruneSettings(r2=0)}, "prune r2: 0"),
    ({"k": 6}, "k: 6 components need more than 6 participants"),
])
def test_bad_settings_are_refused_naming_the_setting(tmp_path, kwargs, message):
    store = write_store(tmp_path, TINY)
    with pytest.raises(GenomicsError) as err:
        compute_pca(store, *everything(store), **{"k": 2, **kwargs})
    assert message in str(err.value)


def test_too_few_variants_left_after_qc_is_refused(tmp_path):
    store = write_store(tmp_path, TINY)
    with pytest.raises(GenomicsError, match="k: 3 components need at least 3 variants; 2 are left"):
        compute_pca(store, *everything(store), 3, min_maf=0.41, min_call_rate=0, prune=None)


def test_exact_is_refused_above_its_size_limit(tmp_path, monkeypatch):
    store = write_store(tmp_path, TINY)
    monkeypatch.setattr(pca_module, "EXACT_MAX_SAMPLES", 5)
    with pytest.raises(GenomicsError, match="method: exact PCA builds a 6 × 6 matrix"):
        compute_pca(store, *everything(store), 2, min_maf=0, prune=None, method="exact")


def test_run_pca_refuses_a_cohort_without_genomes_and_an_empty_selection(tmp_path):
    write_store(tmp_path, TINY)
    with pytest.raises(GenomicsError, match="person_ids: none of the 2 participants has wgs genotypes"):
        run_pca(tmp_path, [7, 8], tmp_path / "out", 2, plots=False)
    with pytest.raises(GenomicsError, match="person_ids: the cohort is empty"):
        run_pca(tmp_path, [], tmp_path / "out", 2, plots=False)
    with pytest.raises(GenomicsError, match="selection: no variant of the wgs store matches gene NOPE"):
        run_pca(tmp_path, None, tmp_path / "out", 2, selection=VariantSelection(genes=["NOPE"]), plots=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_index_without_genomes_is_refused(rt_index, tmp_path):
    with pytest.raises(GenomicsError, match="this index has no wgs genotypes"):
        run_pca(rt_index, None, tmp_path / "out")


# ---- outputs ------------------------------------------------------------------------------------------------------
def test_run_pca_writes_covariate_table_eigenvalues_and_variants(tmp_path):
    g, _ = simulate(2, 60, 120, 3)
    write_store(tmp_path / "index", g)
    result = run_pca(tmp_path / "index", None, tmp_path / "out", 3, prune=None, loadings=True, plots=False)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["eigenvalues.tsv", "pca.json", "pca_variants.tsv",
                                                     "pcs.parquet", "pcs.tsv"]
    pcs = pq.read_table(out / "pcs.parquet")
    assert pcs.column_names == ["person_id", "PC1", "PC2", "PC3"]
    assert pcs["person_id"].to_pylist() == (np.arange(1, 61) * 10).tolist()
    np.testing.assert_allclose(pcs["PC2"].to_numpy(), result.components[:, 1])
    assert (out / "pcs.tsv").read_text().splitlines()[0] == '"person_id"\t"PC1"\t"PC2"\t"PC3"'
    lines = (out / "eigenvalues.tsv").read_text().splitlines()
    assert lines[0] == "component\teigenvalue" and float(lines[1].split("\t")[1]) == result.eigenvalues[0]
    variants = (out / "pca_variants.tsv").read_text().splitlines()
    assert len(variants) == 1 + result.counts["variants_used"] and "PC3_weight" in variants[0]
    summary = json.loads((out / "pca.json").read_text())
    assert summary["method"] == "exact" and summary["prune"] is None and summary["components"] == 3


def test_nothing_is_written_when_the_analysis_fails_while_writing(tmp_path, monkeypatch):
    g, _ = simulate(2, 60, 120, 3)
    write_store(tmp_path / "index", g)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pcs.tsv").write_text("an earlier result\n")

    def broken(*args, **kwargs):
        raise KeyboardInterrupt  # a cancellation half-way through the files

    monkeypatch.setattr(pca_module, "_write_variants", broken)
    with pytest.raises(KeyboardInterrupt):
        run_pca(tmp_path / "index", None, tmp_path / "out", 3, prune=None, plots=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pcs.tsv"]
    assert (tmp_path / "out" / "pcs.tsv").read_text() == "an earlier result\n"


# ---- end to end on the synthetic Controlled Tier ------------------------------------------------------------------
def test_components_of_the_synthetic_program_separate_predicted_ancestry(ct_index, tmp_path):
    from research_workbench.genomics.ancestry_af import ANCESTRY_GROUPS, predicted_ancestry

    result = run_pca(ct_index, None, tmp_path / "out", 10)
    out = tmp_path / "out"
    for name in ("pca_pc1_pc2", "pca_pc3_pc4"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{name}.svg").read_bytes()[:2000]
    assert result.counts["participants"] == len(GenotypeStore.open(ct_index).samples)
    groups = predicted_ancestry(ct_index, result.person_ids)
    # The six clear groups (not "oth", the mixed) sit apart: nearest group centre on PC1–PC5 recovers each person's
    # predicted group for nearly everyone.
    clear = groups != ANCESTRY_GROUPS.index("oth")
    coords = result.components[:, :5] * np.sqrt(result.eigenvalues[:5])
    present = [g for g in np.unique(groups[clear]) if np.sum(groups == g) >= 5]
    centres = np.array([coords[groups == g].mean(axis=0) for g in present])
    nearest = np.array(present)[np.argmin(((coords[clear, None, :] - centres[None]) ** 2).sum(-1), axis=1)]
    assert np.mean(nearest == groups[clear]) > 0.9


def test_the_command_writes_the_files_and_reports_in_json(ct_index, tmp_path):
    import typer
    from typer.testing import CliRunner

    from research_workbench.cli.genomics_pca import pca

    app = typer.Typer()
    app.command()(pca)
    run = CliRunner().invoke(app, ["--index", str(ct_index), "--out", str(tmp_path / "out"), "--k", "3",
                                   "--no-plots", "--gene", "TCF7L2", "--region", "chr1", "--json"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["components"] == 3 and "pcs.parquet" in summary["files"]
    assert pq.read_table(tmp_path / "out" / "pcs.parquet").column_names == ["person_id", "PC1", "PC2", "PC3"]
    refused = CliRunner().invoke(app, ["--index", str(ct_index), "--out", str(tmp_path / "x"), "--method", "svd"])
    assert refused.exit_code == 1 and "method: 'svd' is not one of" in refused.output
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
