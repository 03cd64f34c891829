"""Writing a genotype store (its layout: ``layout.genome_store_files``): PLINK 1 bed/bim/fam, the variant table and
the carriers' bitmaps, block of variants by block, so memory is bounded by one block × the samples.

Why PLINK 1 .bed as the store: it is written as a stream (no variant count up front, unlike .pgen), PLINK 2 reads
it as it is (the tests' oracle), and pgenlib reads any variants × any samples of it faster than anything else.
Orientation is pinned once, here: .bim column 5 (A1) is ALT, so every reader that counts A1 (PLINK 2, pgenlib)
counts ALT alleles, the VCF's meaning.
"""

from __future__ import annotations

import array
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap

from .layout import genome_store_files

BED_MAGIC = b"\x6c\x1b\x01"  # PLINK 1 .bed, variant-major
MISSING = -9
# .bed 2-bit codes by ALT count (0, 1, 2) and, last, a missing call; A1 = ALT, so 00 = two ALT alleles.
_BED_CODES = np.array([0b11, 0b10, 0b00, 0b01], dtype=np.uint8)

# One row per .bim line, in the same order (``variant_index`` is the row). Counts are over the store's samples.
VARIANT_SCHEMA = pa.schema([
    ("variant_index", pa.int64()),
    ("variant_id", pa.string()),  # CHROM-POS-REF-ALT, CHROM without "chr" (the Data Browser's spelling)
    ("chrom", pa.string()),  # as in the VCF ("chr10")
    ("pos", pa.int64()),
    ("ref", pa.string()),
    ("alt", pa.string()),
    ("rsid", pa.string()),  # null when the VCF's ID is "."
    ("gene", pa.string()),  # INFO GENE, null when absent
    ("consequence", pa.string()),  # INFO CSQ/ANN's first consequence, or CONSEQUENCE; null when unknown
    ("allele_count", pa.int64()),  # ALT alleles among called genotypes
    ("allele_number", pa.int64()),  # alleles among called genotypes
    ("allele_frequency", pa.float64()),  # allele_count / allele_number, null when nothing is called
    ("het_count", pa.int64()),
    ("hom_count", pa.int64()),  # homozygous ALT
    ("call_rate", pa.float64()),  # called samples / samples
])
VARIANT_COLUMNS = tuple(VARIANT_SCHEMA.names)
DESCRIBED_COLUMNS = ("variant_id", "chrom", "pos", "ref", "alt", "rsid", "gene", "consequence")  # what a caller gives


def pack_bed(block: np.ndarray) -> bytes:
    """Variants × samples ALT counts (int8; -9 missing) as .bed bytes: each variant's samples, 4 per byte, low bits
    first, padded with zero bits to a whole byte."""
    u = np.asarray(block, dtype=np.int8).view(np.uint8)  # -9 → 247
    # The codes of _BED_CODES in byte arithmetic (a lookup table would index through an 8-byte-per-genotype array):
    # high bit for 0 and 1 ALT alleles, low bit for 0 ALT alleles and for a missing call.
    codes = ((u < 2).view(np.uint8) << 1) | ((u == 0) | (u > 2)).view(np.uint8)
    pad = (-codes.shape[1]) % 4
    if pad:
        codes = np.pad(codes, ((0, 0), (0, pad)))
    c = codes.reshape(codes.shape[0], -1, 4)
    return (c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)).astype(np.uint8).tobytes()


def _bitmap(mask: np.ndarray) -> bytes:
    """The samples where ``mask`` holds as a serialized 32-bit roaring bitmap of store positions (dense: runs and
    bitsets compress them). Built from an ``array.array``, which pyroaring reads as one buffer: ~14× faster than a
    numpy array, which it reads element by element."""
    bitmap = BitMap(array.array("I", np.flatnonzero(mask).astype(np.uint32).tobytes()))
    bitmap.run_optimize()
    return bitmap.serialize()


class GenotypeStoreWriter:
    """Writes one store (``kind``: wgs, array) under ``index_dir``; ``close`` returns its counts. The caller writes
    into a directory that is swapped into place whole (the index build), so a failed build leaves nothing."""

    def __init__(self, index_dir: Path, kind: str, samples: np.ndarray):
        self.files = {role: Path(index_dir) / rel for role, rel in genome_store_files(kind).items()}
        self.files["bed"].parent.mkdir(parents=True, exist_ok=True)
        self.samples = np.asarray(samples, dtype=np.int64)
        if len(self.samples) and self.samples.min() < 0:
            raise ValueError(f"{kind}: person ids must not be negative")
        self.S = len(self.samples)
        with open(self.files["fam"], "w") as fam:
            for pid in self.samples.tolist():
                fam.write(f"{pid}\t{pid}\t0\t0\t0\t-9\n")
        self.bed = open(self.files["bed"], "wb")
        self.bed.write(BED_MAGIC)
        self.bim = open(self.files["bim"], "w")
        self.parquet = pq.ParquetWriter(self.files["variants"], VARIANT_SCHEMA, compression="zstd")
        self.db = sqlite3.connect(self.files["carriers"])
        self.db.execute("CREATE TABLE carriers (variant_index INTEGER PRIMARY KEY, het BLOB, hom BLOB)")
        self.written = 0

    def add(self, variants: list[dict[str, Any]], genotypes: np.ndarray) -> None:
        """Append variants (dicts with ``DESCRIBED_COLUMNS``) and their genotypes (len(variants) × samples, int8 ALT
        counts, -9 missing)."""
        g = np.asarray(genotypes, dtype=np.int8).reshape(len(variants), self.S)
        if not variants:
            return
        het, hom = g == 1, g == 2
        n_called = self.S - np.count_nonzero(g < 0, axis=1).astype(np.int64)
        het_n, hom_n = np.count_nonzero(het, axis=1).astype(np.int64), np.count_nonzero(hom, axis=1).astype(np.int64)
        ac = het_n + 2 * hom_n
        an = 2 * n_called
        rows = {name: [] for name in VARIANT_COLUMNS}
        for j, v in enumerate(variants):
            index = self.written + j
            self.bim.write(f"{v['chrom']}\t{v.get('rsid') or v['variant_id']}\t0\t{v['pos']}\t{v['alt']}\t{v['ref']}\n")
            for name in DESCRIBED_COLUMNS:
                rows[name].append(v.get(name) or None if name in ("rsid", "gene", "consequence") else v[name])
            rows["variant_index"].append(index)
            rows["allele_count"].append(int(ac[j]))
            rows["allele_number"].append(int(an[j]))
            rows["allele_frequency"].append(float(ac[j] / an[j]) if an[j] else None)
            rows["het_count"].append(int(het_n[j]))
            rows["hom_count"].append(int(hom_n[j]))
            rows["call_rate"].append(float(n_called[j] / self.S) if self.S else None)
            self.db.execute("INSERT INTO carriers VALUES (?, ?, ?)", (index, _bitmap(het[j]), _bitmap(hom[j])))
        self.bed.write(pack_bed(g))
        self.parquet.write_table(pa.table(rows, schema=VARIANT_SCHEMA))
        self.written += len(variants)

    def close(self) -> dict[str, int]:
        self.bed.close()
        self.bim.close()
        self.parquet.close()
        self.db.commit()
        self.db.close()
        return {"variants": self.written, "samples": self.S}

    def abort(self) -> None:
        for handle in (self.bed, self.bim):
            handle.close()
        self.parquet.close()
        self.db.close()
