"""PCA of a genotype store, ours against PLINK 2: wall time and peak RSS (default 10,000 samples × 10,000 variants).

A store of Balding–Nichols genotypes (six populations, F = 0.1, a fifth of the variants in LD with their
predecessor) is written once into a temporary directory. Then, each in a fresh process (peak RSS from
``os.wait4`` of that process alone):

- ours: ``genomics.pca.compute_pca`` (QC, LD pruning 50 5 0.2, randomized PCA, k = 10), with its phases timed inside;
- the baseline, in the same run: ``plink2 --maf 0.01 --geno 0.05 --indep-pairwise 50 5 0.2`` (our QC and pruning)
  then ``plink2 --extract … --pca 10 approx``
  on the same .bed, each process measured.

It prints one JSON document, including how well the two agree (|correlation| of the first five components).

    python bench/bench_pca.py [--samples 10000] [--variants 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def simulate_store(root: Path, samples: int, variants: int, seed: int = 1) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from research_workbench.index.genotype_store import GenotypeStoreWriter

    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.05, 0.5, variants)
    f = 0.1
    af = rng.beta(p0[:, None] * (1 - f) / f, (1 - p0[:, None]) * (1 - f) / f, (variants, 6))
    pop = rng.integers(0, 6, samples)
    writer = GenotypeStoreWriter(root, "wgs", np.arange(1, samples + 1))
    block = 1000
    previous = None
    for start in range(0, variants, block):
        stop = min(start + block, variants)
        p = af[start:stop][:, pop]
        g = ((rng.random(p.shape) < p).astype(np.int8) + (rng.random(p.shape) < p)).astype(np.int8)
        for j in range(stop - start):
            source = g[j - 1] if j else previous
            if source is not None and rng.random() < 0.2:
                g[j] = np.where(rng.random(samples) < 0.3, g[j], source)
        previous = g[-1].copy()
        chrom = [f"chr{1 + (start + j) * 4 // variants}" for j in range(stop - start)]
        writer.add([{"variant_id": f"{c[3:]}-{start + j + 1}-A-G", "chrom": c, "pos": start + j + 1, "ref": "A",
                     "alt": "G", "rsid": f"rs{start + j + 1}"} for j, c in enumerate(chrom)], g)
    writer.close()


def measured(argv: list[str], env: dict | None = None) -> dict:
    """Wall time and peak RSS of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "stdout": output.decode()}


def worker(store_dir: Path, k: int) -> None:
    """Ours, in this process: prints the phase times and the components' file as JSON."""
    sys.path.insert(0, str(ROOT / "src"))
    from research_workbench.genomics.pca import compute_pca
    from research_workbench.genomics.store import GenotypeStore

    times: dict[str, float] = {}
    current = ["open", time.perf_counter()]

    def progress(item: str, done: int, total: int) -> None:  # called as each phase starts ("" at the end)
        now = time.perf_counter()
        times[current[0]] = round(times.get(current[0], 0.0) + now - current[1], 2)
        current[:] = ["LD pruning" if item.startswith("LD pruning") else item, now]

    store = GenotypeStore.open(store_dir)
    result = compute_pca(store, np.arange(len(store.samples)), np.arange(store.n_variants), k,
                         method="randomized", progress=progress)
    np.save(store_dir / "ours.npy", result.components)
    (store_dir / "ours_variants.txt").write_text("\n".join(f"rs{i + 1}" for i in result.variant_indices) + "\n")
    print(json.dumps({"phases_s": times, "counts": result.counts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.k)
        return
    plink2 = shutil.which("plink2")
    with tempfile.TemporaryDirectory(prefix="bench_pca_") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        simulate_store(root, args.samples, args.variants)
        setup = time.perf_counter() - started
        bed = str(root / "genomics" / "wgs")
        ours = measured([sys.executable, __file__, "--worker", str(root), "--k", str(args.k)])
        ours.update(json.loads(ours.pop("stdout")))
        result: dict = {"samples": args.samples, "variants": args.variants, "k": args.k,
                        "setup_s": round(setup, 1), "ours": ours}
        if plink2:
            common = ["--threads", str(args.threads), "--memory", "4000"]
            # The same QC as ours (MAF ≥ 0.01, call rate ≥ 0.95), so that pruning sees the same variants.
            prune = measured([plink2, "--bfile", bed, "--maf", "0.01", "--geno", "0.05", "--indep-pairwise", "50",
                              "5", "0.2", "--out", str(root / "p"), *common])
            pca = measured([plink2, "--bfile", bed, "--extract", str(root / "p.prune.in"), "--pca", str(args.k),
                            "approx", "--out", str(root / "p"), *common])
            for step in (prune, pca):
                step.pop("stdout")
            theirs = np.loadtxt(root / "p.eigenvec", skiprows=1, usecols=range(2, 2 + args.k))
            mine = np.load(root / "ours.npy")
            same_variants = set((root / "p.prune.in").read_text().split()) == set(
                (root / "ours_variants.txt").read_text().split())
            result["plink2"] = {"indep_pairwise": prune, "pca_approx": pca,
                                "wall_s": round(prune["wall_s"] + pca["wall_s"], 2),
                                "peak_rss_mb": max(prune["peak_rss_mb"], pca["peak_rss_mb"])}
            result["agreement"] = {
                "same_pruned_variants": same_variants,
                "abs_correlation_pc1_5": [round(abs(float(np.corrcoef(mine[:, i], theirs[:, i])[0, 1])), 5)
                                          for i in range(min(5, args.k))],
            }
            result["ours_vs_plink2_wall"] = round(ours["wall_s"] / result["plink2"]["wall_s"], 2)
        else:
            result["plink2"] = "not installed"
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
