"""Tiny genotype stores with exact genotypes for the GWAS tests (written with the index's own store writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from research_workbench.genomics.store import GenotypeStore
from research_workbench.index.genotype_store import GenotypeStoreWriter


def write_store(directory: Path, genotypes: np.ndarray, person_ids=None, chroms=None) -> GenotypeStore:
    """A wgs store of ``genotypes`` (variants x samples, int8 ALT counts, -9 missing) under ``directory``."""
    G = np.asarray(genotypes, dtype=np.int8)
    m, n = G.shape
    ids = np.arange(1, n + 1) if person_ids is None else np.asarray(person_ids)
    chroms = chroms if chroms is not None else ["chr1"] * m
    writer = GenotypeStoreWriter(directory, "wgs", ids)
    writer.add([{"variant_id": f"{c.removeprefix('chr')}-{1000 + i}-A-G", "chrom": c, "pos": 1000 + i, "ref": "A",
                 "alt": "G", "rsid": f"rs{100 + i}", "gene": "GENE1" if i % 2 else None}
                for i, c in enumerate(chroms)], G)
    writer.close()
    return GenotypeStore.open(directory)


def simulate(rng: np.random.Generator, n: int, m: int, missing: float = 0.0, af=(0.05, 0.5)) -> np.ndarray:
    """Hardy-Weinberg genotypes with allele frequencies uniform in ``af`` and a share ``missing`` of calls -9."""
    freq = rng.uniform(af[0], af[1], m)
    G = ((rng.random((m, n)) < freq[:, None]).astype(np.int8) + (rng.random((m, n)) < freq[:, None])).astype(np.int8)
    if missing:
        G[rng.random((m, n)) < missing] = -9
    return G


def covariates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Age-like, sex-like (0/1) and PC-like columns: scales as different as real ones."""
    return np.column_stack([rng.normal(55, 12, n), rng.integers(0, 2, n), rng.normal(0, 0.02, n)])
