"""Cohort genotype extracts: time of each format's extract, against PLINK 2 doing the same job.

    python bench/bench_genomics_extract.py [--samples 10000] [--variants 10000] [--cohort-share 0.5] [--workdir DIR]

Writes a synthetic genotype store (``index.genotype_store``: allele frequencies uniform in 1–50 %, 0.5 % missing
calls, samples not in person-id order) of --samples × --variants, then extracts every variant for a cohort of a
random --cohort-share of the samples: once per format (vcf, plink1, pgen, bgen) and once with all four from one
read, after one untimed small extract that imports the writers' packages (PLINK 2's times include its process
start). Baseline in the same run, when plink2 is installed: ``plink2 --bfile STORE --keep --extract`` with
``--make-bed``, ``--make-pgen``, ``--export vcf bgz`` and ``--export bgen-1.2`` (its default thread count).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FORMATS = ("vcf", "plink1", "pgen", "bgen")
PLINK2_JOBS = {"plink1": ["--make-bed"], "pgen": ["--make-pgen"], "vcf": ["--export", "vcf", "bgz"],
               "bgen": ["--export", "bgen-1.2"]}
BLOCK = 1000  # variants per block written to the store


def write_store(index_dir: Path, samples: int, variants: int, seed: int) -> float:
    import numpy as np

    from research_workbench.index.genotype_store import GenotypeStoreWriter

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    # Person ids in no particular order: an extract then reorders every chunk's columns to ascending ids.
    writer = GenotypeStoreWriter(index_dir, "wgs", rng.permutation(np.arange(1, samples + 1, dtype=np.int64) * 3))
    for start in range(0, variants, BLOCK):
        m = min(BLOCK, variants - start)
        af = rng.uniform(0.01, 0.5, size=(m, 1))
        block = (rng.random((m, samples)) < af).astype(np.int8) + (rng.random((m, samples)) < af)
        block[rng.random((m, samples)) < 0.005] = -9
        writer.add([{"variant_id": f"1-{1000 + 10 * (start + j)}-A-G", "chrom": "chr1", "pos": 1000 + 10 * (start + j),
                     "ref": "A", "alt": "G", "rsid": f"rs{start + j + 1}", "gene": None} for j in range(m)], block)
    writer.close()
    (index_dir / "index.json").write_text(json.dumps({"cdr": "synthetic", "cdr_manifest_sha256": None}))
    return time.perf_counter() - started


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def main() -> None:
    import numpy as np

    from research_workbench.genomics.extract import extract
    from research_workbench.genomics.store import GenotypeStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--cohort-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-genomics-extract-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        index = workdir / "index"
        store_seconds = write_store(index, args.samples, args.variants, args.seed)
        store = GenotypeStore.open(index)
        rng = np.random.default_rng(args.seed + 1)
        cohort = np.sort(rng.choice(store.samples, size=max(1, int(len(store.samples) * args.cohort_share)),
                                    replace=False))
        request = {"selection": {}, "name": "x"}
        # Warm-up, not timed: imports the writers' packages and reads the store's variant table once.
        extract(store, cohort[:10], {"selection": {"variant_ids": ["1-1000-A-G"]}, "name": "x"}, workdir / "warm")
        shutil.rmtree(workdir / "warm")
        results: dict[str, dict] = {}
        for fmt in FORMATS:
            out = workdir / f"ours_{fmt}"
            started = time.perf_counter()
            result = extract(store, cohort, {**request, "formats": [fmt]}, out)
            results[fmt] = {"seconds": round(time.perf_counter() - started, 3), "bytes": directory_bytes(out)}
            assert (result.samples, result.variants) == (len(cohort), args.variants)
            shutil.rmtree(out)
        started = time.perf_counter()
        extract(store, cohort, {**request, "formats": list(FORMATS)}, workdir / "ours_all")
        all_formats = round(time.perf_counter() - started, 3)
        shutil.rmtree(workdir / "ours_all")

        baseline: dict[str, dict] | None = None
        if shutil.which("plink2"):
            (workdir / "keep.txt").write_text("".join(f"{p}\t{p}\n" for p in cohort.tolist()))
            (workdir / "extract.txt").write_text("".join(f"rs{i + 1}\n" for i in range(args.variants)))
            baseline = {}
            for fmt, job in PLINK2_JOBS.items():
                out = workdir / f"plink2_{fmt}"
                out.mkdir()
                started = time.perf_counter()
                subprocess.run(["plink2", "--bfile", str(index / "genomics/wgs"), "--keep", str(workdir / "keep.txt"),
                                "--extract", str(workdir / "extract.txt"), *job, "--out", str(out / "x")],
                               check=True, capture_output=True)
                baseline[fmt] = {"seconds": round(time.perf_counter() - started, 3),
                                 "bytes": sum(p.stat().st_size for p in out.iterdir() if p.suffix != ".log")}
                shutil.rmtree(out)
        print(json.dumps({
            "samples": args.samples, "variants": args.variants, "cohort_samples": len(cohort),
            "store_write_seconds": round(store_seconds, 3),
            "extract": results, "extract_all_four_seconds": all_formats,
            "plink2": baseline,
            "ratio_to_plink2": None if baseline is None else {
                fmt: round(results[fmt]["seconds"] / baseline[fmt]["seconds"], 2) for fmt in FORMATS},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
