"""The variant index of a CDR with genomes: each ``genomics/*.vcf.gz`` of its manifest (``layout.GENOME_KINDS``)
read once into a genotype store (``genotype_store.py``): genotypes as PLINK 1 .bed, per-variant annotations and
allele frequencies, and each variant's heterozygous and homozygous carriers as bitmaps.

The VCF is streamed line by line. A line whose samples are all bare three-character genotypes (``0/1``, ``1|1``,
``./.``) — how joint-called GT-only VCFs look — is decoded with numpy in one step (4-byte cells read as uint32); any
other line (more FORMAT fields, haploid or multi-digit alleles) field by field. A multi-allelic line becomes one
biallelic variant per ALT (a sample's count of that ALT; a call with another ALT counts 0 of this one). Samples are
the VCF's sample names read as person ids; names that are not persons of the CDR are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pysam

from .genotype_store import MISSING, GenotypeStoreWriter
from .layout import GENOME_KINDS

FIXED_COLUMNS = 9  # CHROM POS ID REF ALT QUAL FILTER INFO FORMAT
BLOCK_BYTES = 64 << 20  # genotypes held per block (variants × samples int8)
_ZERO, _DOT, _SLASH, _PIPE, _TAB = (ord(c) for c in "0./|\t")
_ALLELE_SPLIT = re.compile(rb"[/|]")


def genome_kinds(manifest_files: dict) -> dict[str, str]:
    """The genome kinds a CDR has: kind → its VCF (relative path), for the VCFs its manifest lists."""
    return {kind: rel for kind, rel in GENOME_KINDS.items() if rel in manifest_files}


def _info(info: bytes, key: bytes) -> bytes | None:
    for item in info.split(b";"):
        if item.startswith(key + b"="):
            return item[len(key) + 1:]
    return None


def _consequence(info: bytes, alt: bytes) -> str | None:
    """The variant's consequence where the VCF knows it: VEP's CSQ or snpEff's ANN (the entry of this ALT, else
    the first), or a plain CONSEQUENCE key."""
    for key in (b"CSQ", b"ANN"):
        value = _info(info, key)
        if value:
            entries = [e.split(b"|") for e in value.split(b",")]
            entry = next((e for e in entries if e and e[0] == alt), entries[0])
            if len(entry) > 1 and entry[1]:
                return entry[1].split(b"&")[0].decode()
    value = _info(info, b"CONSEQUENCE")
    return value.decode() if value else None


class _LineDecoder:
    """ALT counts of the kept samples (``keep``: positions among the VCF's samples) for each ALT of a data line."""

    def __init__(self, n_samples: int, keep: np.ndarray):
        self.n = n_samples
        self.keep = keep

    def __call__(self, fmt: bytes, body: bytes, n_alt: int) -> list[np.ndarray]:
        fast = self._fast(fmt, body, n_alt)
        return fast if fast is not None else self._general(fmt, body, n_alt)

    def _fast(self, fmt: bytes, body: bytes, n_alt: int) -> list[np.ndarray] | None:
        if fmt != b"GT" or len(body) != 4 * self.n - 1 or n_alt > 9:
            return None
        cells = np.frombuffer(body + b"\t", dtype="<u4")
        if not (cells >> 24 == _TAB).all():
            return None
        chosen = cells[self.keep]
        sep = (chosen >> 8) & 0xFF
        if not ((sep == _SLASH) | (sep == _PIPE)).all():
            return None
        a = (chosen & 0xFF).astype(np.int16) - _ZERO
        b = ((chosen >> 16) & 0xFF).astype(np.int16) - _ZERO
        missing_a, missing_b = a == _DOT - _ZERO, b == _DOT - _ZERO
        if not (((a >= 0) & (a <= 9)) | missing_a).all() or not (((b >= 0) & (b <= 9)) | missing_b).all():
            return None
        missing = missing_a | missing_b  # a half-called genotype counts as missing, as in PLINK
        out = []
        for k in range(1, n_alt + 1):
            g = ((a == k).astype(np.int8) + (b == k)).astype(np.int8)
            g[missing] = MISSING
            out.append(g)
        return out

    def _general(self, fmt: bytes, body: bytes, n_alt: int) -> list[np.ndarray]:
        cells = body.split(b"\t") if body else []
        keys = fmt.split(b":")
        gt_at = keys.index(b"GT") if b"GT" in keys else None
        out = [np.full(len(self.keep), MISSING, dtype=np.int8) for _ in range(n_alt)]
        if gt_at is None:
            return out
        for j, s in enumerate(self.keep.tolist()):
            if s >= len(cells):
                continue
            parts = cells[s].split(b":")
            if gt_at >= len(parts):
                continue
            alleles = _ALLELE_SPLIT.split(parts[gt_at])
            if not alleles or not all(x.isdigit() for x in alleles):
                continue  # missing or half-called
            called = [int(x) for x in alleles]
            for k in range(1, n_alt + 1):
                out[k - 1][j] = min(called.count(k), 2)  # ALT count (haploid calls: 0 or 1)
        return out


def _records(path: Path, persons: set[int]) -> tuple[np.ndarray, Iterator[tuple[dict, np.ndarray]]]:
    """(the kept samples' person ids, an iterator of (variant, genotypes) for each biallelic variant)."""
    raw = pysam.BGZFile(str(path), "rb")
    lines = iter(raw)
    names: list[bytes] = []
    for line in lines:
        if line.startswith(b"#CHROM"):
            names = line.rstrip(b"\r\n").split(b"\t")[FIXED_COLUMNS:]
            break
        if not line.startswith(b"##"):
            raw.close()
            raise ValueError(f"{path}: a data line comes before the #CHROM header")
    keep, samples = [], []
    for i, name in enumerate(names):
        try:
            pid = int(name)
        except ValueError:
            continue
        if pid in persons:
            keep.append(i)
            samples.append(pid)
    order = np.argsort(np.asarray(samples, dtype=np.int64), kind="stable")
    keep_array = np.asarray(keep, dtype=np.intp)[order]
    decode = _LineDecoder(len(names), keep_array)

    def records() -> Iterator[tuple[dict, np.ndarray]]:
        try:
            for number, line in enumerate(lines, start=1):
                line = line.rstrip(b"\r\n")
                if not line:
                    continue
                fields = line.split(b"\t", FIXED_COLUMNS)
                if len(fields) < 8:
                    raise ValueError(f"{path}: data line {number} has {len(fields)} columns, not at least 8")
                chrom, pos, vid, ref, alts, _qual, _filter, info = fields[:8]
                alt_list = alts.split(b",")
                genotypes = decode(fields[8] if len(fields) > 8 else b"", fields[9] if len(fields) > 9 else b"", len(alt_list))
                gene = _info(info, b"GENE")
                c, p, r = chrom.decode(), int(pos), ref.decode()
                for k, alt in enumerate(alt_list):
                    if alt in (b".", b"*"):
                        continue
                    yield {
                        "variant_id": f"{c.removeprefix('chr')}-{p}-{r}-{alt.decode()}",
                        "chrom": c, "pos": p, "ref": r, "alt": alt.decode(),
                        "rsid": vid.decode() if vid != b"." else None,
                        "gene": gene.decode() if gene else None,
                        "consequence": _consequence(info, alt),
                    }, genotypes[k]
        finally:
            raw.close()

    return np.asarray(samples, dtype=np.int64)[order], records()


def build_genotype_store(vcf: Path, index_dir: Path, kind: str, persons: set[int],
                         progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Read ``vcf`` into the ``kind`` store of ``index_dir``; returns its counts (variants, samples)."""
    samples, records = _records(vcf, persons)
    writer = GenotypeStoreWriter(index_dir, kind, samples)
    block = max(1, BLOCK_BYTES // max(len(samples), 1))
    try:
        variants: list[dict] = []
        genotypes = np.empty((block, len(samples)), dtype=np.int8)
        for variant, g in records:
            genotypes[len(variants)] = g
            variants.append(variant)
            if len(variants) == block:
                writer.add(variants, genotypes)
                variants = []
                if progress:
                    progress(writer.written)
        writer.add(variants, genotypes[:len(variants)])
    except BaseException:
        writer.abort()
        raise
    return writer.close()
