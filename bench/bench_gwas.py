"""GWAS speed and memory: our numpy kernels (genomics.gwas) against ``plink2 --glm`` on the same genotype store.

    python bench/bench_gwas.py                          # 10k samples x 10k variants, and 10k x 2.5k (memory)
    python bench/bench_gwas.py --sizes 100000x10000     # larger
    python bench/bench_gwas.py --models linear

For each size a store is written once with the index's own writer (GenotypeStoreWriter: PLINK 1 .bed; 2% missing
calls by default, ``--missing 0.02,0`` adds complete data, where PLINK takes its fastest path), with five covariates (age, sex, three PCs), a quantitative and a case/control phenotype. Each side runs in
its own process under ``/usr/bin/time`` (wall seconds and peak RSS of that process alone), one after the other:

- ours: read the store chunk by chunk with pgenlib, test every variant (linear: t test; logistic: score test for
  all, Firth for the top 100), write results.parquet;
- PLINK 2: ``--glm hide-covar`` (linear; logistic with its default Firth fallback) with ``--threads 2``, writing its
  text report.

Both include process start-up. The JSON on stdout has one record per size and model with both sides, the ratio
of wall times (ours / PLINK; target ≤ 2) and, for linear, the largest |Δ -log10 p| between the two. Memory flat in
the number of variants shows as the same peak RSS for 2.5k and 10k variants at the same sample count.
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
sys.path.insert(0, str(ROOT / "src"))

BLOCK = 500  # variants simulated and written at a time
TIME = "/usr/bin/time"


def make_store(directory: Path, n: int, m: int, missing: float, seed: int = 1) -> None:
    """A store of n samples x m variants (a share ``missing`` of calls missing), its phenotypes and covariates (npz
    and PLINK text files)."""
    import pandas as pd
    from scipy import special

    from research_workbench.index.genotype_store import GenotypeStoreWriter

    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    C = np.column_stack([rng.normal(55, 12, n), rng.integers(0, 2, n), rng.normal(0, 0.02, (n, 3))])
    causal = set(rng.choice(m, 20, replace=False).tolist())
    signal = np.zeros(n)
    writer = GenotypeStoreWriter(directory, "wgs", ids)
    for start in range(0, m, BLOCK):
        k = min(BLOCK, m - start)
        af = rng.uniform(0.02, 0.5, k)
        G = ((rng.random((k, n)) < af[:, None]).astype(np.int8) + (rng.random((k, n)) < af[:, None])).astype(np.int8)
        for j in range(k):
            if start + j in causal:
                signal += 0.1 * G[j]
        if missing:
            G[rng.random((k, n)) < missing] = -9
        writer.add([{"variant_id": f"1-{start + j + 1}-A-G", "chrom": "chr1", "pos": start + j + 1, "ref": "A",
                     "alt": "G", "rsid": f"rs{start + j + 1}"} for j in range(k)], G)
    writer.close()
    y = 0.02 * C[:, 0] + signal + rng.normal(size=n)
    yb = (rng.random(n) < special.expit(-1.5 + 0.02 * (C[:, 0] - 55) + signal)).astype(float)
    np.savez(directory / "analysis.npz", y=y, yb=yb, C=C)
    pd.DataFrame({"#FID": ids, "IID": ids, "QT": y, "BT": (yb + 1).astype(int)}).to_csv(directory / "pheno.txt", sep="\t", index=False)
    cols = {"#FID": ids, "IID": ids, "age": C[:, 0], "sex": C[:, 1]} | {f"PC{i}": C[:, 2 + i - 1] for i in (1, 2, 3)}
    pd.DataFrame(cols).to_csv(directory / "covar.txt", sep="\t", index=False)


def worker(store_dir: Path, model: str, out: Path) -> None:
    """Ours, in this process: every variant of the store, results written as Parquet."""
    started = time.perf_counter()
    import pyarrow.parquet as pq

    from research_workbench.genomics import gwas
    from research_workbench.genomics.store import GenotypeStore

    imported = time.perf_counter()
    data = np.load(store_dir / "analysis.npz")
    store = GenotypeStore.open(store_dir)
    y = data["y"] if model == "linear" else data["yb"]
    result = gwas.associate(store, np.arange(len(store.samples)), y, data["C"], np.arange(store.n_variants), model,
                            filters=gwas.Filters(0.0, 0.0))
    pq.write_table(result.results, out)
    done = time.perf_counter()
    # where the time goes inside the process (interpreter start-up is the rest of the wall time)
    out.with_suffix(".json").write_text(json.dumps({"imports_s": round(imported - started, 3),
                                                    "association_s": round(done - imported, 3),
                                                    "exact_tests": result.counts.get("exact_tests", 0)}))


def timed(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run ``command`` under /usr/bin/time: its wall seconds and peak RSS (MB)."""
    stats = log.with_suffix(".time")
    started = time.perf_counter()
    with open(log, "w") as err:
        subprocess.run([TIME, "-f", "%e %M", "-o", str(stats), *command], check=True, stdout=subprocess.DEVNULL,
                       stderr=err, env=env)
    wall = time.perf_counter() - started
    seconds, kb = stats.read_text().split()[-2:]
    return {"wall_s": round(wall, 3), "time_s": float(seconds), "peak_rss_mb": round(int(kb) / 1024, 1)}


def run_size(work: Path, n: int, m: int, missing: float, models: list[str], threads: int,
             blas_threads: int | None) -> list[dict]:
    import pandas as pd

    store = work / f"{n}x{m}_missing{missing:g}"
    started = time.perf_counter()
    make_store(store, n, m, missing)
    setup = round(time.perf_counter() - started, 1)
    records = []
    for model in models:
        env = dict(os.environ)
        if blas_threads:
            env |= {"OPENBLAS_NUM_THREADS": str(blas_threads), "OMP_NUM_THREADS": str(blas_threads)}
        ours = timed([sys.executable, __file__, "--worker", str(store), "--model", model, "--out",
                      str(store / f"ours_{model}.parquet")], store / f"ours_{model}.log", env)
        ours |= json.loads((store / f"ours_{model}.json").read_text())
        pheno = "QT" if model == "linear" else "BT"
        theirs = timed(["plink2", "--bfile", str(store / "genomics" / "wgs"), "--pheno", str(store / "pheno.txt"),
                        "--pheno-name", pheno, "--covar", str(store / "covar.txt"), "--covar-variance-standardize",
                        "--glm", "hide-covar", "log10", "--threads", str(threads), "--memory", "4000",
                        "--out", str(store / f"plink_{model}")], store / f"plink_{model}.stdout")
        record = {"samples": n, "variants": m, "missing_calls": missing, "model": model, "store_setup_s": setup,
                  "ours": ours | {"blas_threads": blas_threads or "default"}, "plink2": theirs | {"threads": threads},
                  "ratio_wall": round(ours["wall_s"] / theirs["wall_s"], 2)}
        if model == "linear":
            import pyarrow.parquet as pq

            mine = pq.read_table(store / f"ours_{model}.parquet").to_pandas()
            plink = pd.read_csv(next(store.glob(f"plink_{model}.{pheno}.glm.*")), sep="\t").set_index("ID").loc[mine["rsid"]]
            record["max_abs_diff_log10p"] = float(np.max(np.abs(mine["log10p"].to_numpy() - plink["LOG10_P"].to_numpy())))
        records.append(record)
        print(json.dumps(record), file=sys.stderr, flush=True)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000x10000,10000x2500", help="SAMPLESxVARIANTS, comma-separated")
    parser.add_argument("--models", default="linear,logistic")
    parser.add_argument("--missing", default="0.02", help="shares of missing calls, comma-separated (e.g. 0.02,0)")
    parser.add_argument("--threads", type=int, default=2, help="PLINK 2 threads")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS for ours (default: the library's own, one per core)")
    parser.add_argument("--workdir", type=Path, default=None, help="Where stores go (default: a temporary directory)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.out)
        return
    if shutil.which("plink2") is None or not Path(TIME).exists():
        sys.exit("needs plink2 and /usr/bin/time (apt-get install plink2 time)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_gwas_"))
    records = []
    try:
        for missing in (float(x) for x in args.missing.split(",")):
            for size in args.sizes.split(","):
                n, m = (int(x) for x in size.lower().split("x"))
                records += run_size(work, n, m, missing, args.models.split(","), args.threads, args.blas_threads)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"benchmark": "gwas", "target": "ours within 2x of plink2 wall time; peak RSS flat in variants",
                      "results": records}, indent=2))


if __name__ == "__main__":
    main()
