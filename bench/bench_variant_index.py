"""The variant index's genotype stores at scale: a synthetic whole-genome VCF of ``--samples`` samples × 10,000
variants (and its array subset), written by the synthetic program's own writer, read into genotype stores by
``index.variants.build_genotype_store``; the baseline in the same run is PLINK 2 converting the same VCF to a .bed
(``plink2 --vcf … --make-bed``), when plink2 is installed. JSON on stdout.

    python bench/bench_variant_index.py --samples 500000 --workdir /work/bench-data   # a 1M-participant program's genomes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from research_workbench.index.variants import build_genotype_store
from research_workbench.synth.genomics import make_panel, write_vcfs
from research_workbench.synth.vocab import vocabulary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="plink2 --threads")
    args = parser.parse_args()
    out = args.workdir / f"variant-index-{args.samples}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    vocab = vocabulary()
    panel = make_panel(1, vocab)
    rng = np.random.default_rng(1)
    persons = np.arange(1, args.samples + 1, dtype=np.int64) * 17
    ancestry = rng.integers(0, 7, args.samples)
    causal = rng.integers(0, 3, (args.samples, len(vocab.causal_variants))).astype(np.uint8)
    started = time.perf_counter()
    write_vcfs(1, panel, persons, ancestry, causal, out / "wgs.vcf.gz", out / "array.vcf.gz")
    result = {"samples": args.samples, "write_vcf_s": round(time.perf_counter() - started, 1),
              "vcf_bytes": (out / "wgs.vcf.gz").stat().st_size}
    person_set = set(persons.tolist())
    for kind in ("wgs", "array"):
        started = time.perf_counter()
        counts = build_genotype_store(out / f"{kind}.vcf.gz", out / "index", kind, person_set)
        result[f"{kind}_store_s"] = round(time.perf_counter() - started, 1)
        result[kind] = counts
    result["store_bytes"] = {p.name: p.stat().st_size for p in sorted((out / "index" / "genomics").iterdir())}
    if shutil.which("plink2"):
        started = time.perf_counter()
        subprocess.run(["plink2", "--vcf", str(out / "wgs.vcf.gz"), "--make-bed", "--threads", str(args.threads),
                        "--out", str(out / "plink2")], check=True, capture_output=True)
        result["plink2_make_bed_s"] = round(time.perf_counter() - started, 1)
        result["ours_over_plink2"] = round(result["wgs_store_s"] / result["plink2_make_bed_s"], 2)
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
