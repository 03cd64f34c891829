"""Genomes in the Controlled Tier: the raw VCFs with sample ids replaced by research ids.

Samples of participants that curation removed are dropped; the others are renamed through the private person map,
and the INFO allele counts (AC, AN, AF), when present, are recomputed over the samples that remain, so the counts
of a withdrawn participant do not survive in the release. The VCF is streamed line by line (memory bounded by one
line), re-compressed as BGZF and tabix-indexed. The Registered Tier carries no genomes.

Speed: a program's callset has hundreds of thousands of samples per line. When every sample field is a bare
three-character genotype (``0/1``, ``1|1``, ``./.``), which is how joint-called GT-only VCFs look, a line is viewed
as a NumPy array of 4-byte cells and the kept samples are taken in one vectorised step; any other line (more FORMAT
fields, haploid or multi-digit alleles) goes through the general split-and-join path. Both give the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pysam

VCF_SUFFIX = ".vcf.gz"
FIXED_COLUMNS = 9  # CHROM POS ID REF ALT QUAL FILTER INFO FORMAT
INFO_COLUMN = 7
DEFAULT_COMPRESSION_LEVEL = 4  # zlib level of the BGZF blocks: ~3× faster than bgzip's 6, ~20% larger files

_ZERO, _DOT, _SLASH, _PIPE, _TAB = (ord(c) for c in "0./|\t")
_COUNT_KEYS = (b"AC", b"AN", b"AF")
_ALLELE_SPLIT = re.compile(rb"[/|]")


def genome_files(files: dict[str, object]) -> list[str]:
    """The VCFs among a manifest's files (their indexes are rebuilt, not copied)."""
    return sorted(name for name in files if name.endswith(VCF_SUFFIX))


def _with_counts(info: bytes, alt: bytes, called: int, per_allele: list[int]) -> bytes:
    """``info`` with AC, AN and AF (those present) set from the kept samples' alleles; other keys unchanged."""
    fields = info.split(b";")
    if not any(f.split(b"=", 1)[0] in _COUNT_KEYS for f in fields):
        return info
    n_alt = alt.count(b",") + 1
    counts = (per_allele + [0] * n_alt)[:n_alt]
    values = {
        b"AC": b",".join(str(c).encode() for c in counts),
        b"AN": str(called).encode(),
        b"AF": b",".join((f"{c / called:.6g}" if called else ".").encode() for c in counts),
    }
    return b";".join(f.split(b"=", 1)[0] + b"=" + values[f.split(b"=", 1)[0]] if f.split(b"=", 1)[0] in values else f for f in fields)


class _SampleSelector:
    """Keeps the samples at ``keep`` (0-based among the sample columns) of each data line."""

    def __init__(self, n_samples: int, keep: list[int]):
        self.n = n_samples
        self.keep = keep
        self.keep_array = np.asarray(keep, dtype=np.intp)

    def line(self, line: bytes) -> bytes:
        fixed_end = -1
        for _ in range(FIXED_COLUMNS):
            fixed_end = line.index(b"\t", fixed_end + 1)
        fixed = line[:fixed_end].split(b"\t")
        body = line[fixed_end + 1 :]
        fast = self._fast(fixed, body)
        if fast is not None:
            kept, called, per_allele = fast
        else:
            kept, called, per_allele = self._general(fixed, body)
        fixed[INFO_COLUMN] = _with_counts(fixed[INFO_COLUMN], fixed[4], called, per_allele)
        return b"\t".join(fixed) + (b"\t" + kept if self.keep else b"")

    def _fast(self, fixed: list[bytes], body: bytes) -> tuple[bytes, int, list[int]] | None:
        """The vectorised path: each sample cell is 4 bytes (allele, separator, allele, tab), read as one uint32."""
        if fixed[8] != b"GT" or len(body) != 4 * self.n - 1:
            return None
        cells = np.frombuffer(body + b"\t", dtype="<u4")
        if not (cells >> 24 == _TAB).all():
            return None  # not all bare three-character genotypes
        chosen = cells[self.keep_array]
        separators = (chosen >> 8) & 0xFF
        if not ((separators == _SLASH) | (separators == _PIPE)).all():
            return None
        alleles = np.concatenate(((chosen & 0xFF).astype(np.uint8), ((chosen >> 16) & 0xFF).astype(np.uint8)))
        digit = alleles - np.uint8(_ZERO) <= 9  # wraps below '0'
        if not (digit | (alleles == _DOT)).all():
            return None
        n_alt = fixed[4].count(b",") + 1
        per_allele = [int(np.count_nonzero(alleles == _ZERO + a)) for a in range(1, min(n_alt, 9) + 1)]
        return chosen.tobytes()[:-1], int(np.count_nonzero(digit)), per_allele

    def _general(self, fixed: list[bytes], body: bytes) -> tuple[bytes, int, list[int]]:
        samples = body.split(b"\t")
        kept = [samples[i] for i in self.keep]
        keys = fixed[8].split(b":")
        gt_at = keys.index(b"GT") if b"GT" in keys else None
        called, per_allele = 0, {}
        if gt_at is not None:
            for sample in kept:
                parts = sample.split(b":")
                for allele in _ALLELE_SPLIT.split(parts[gt_at]) if gt_at < len(parts) else ():
                    if allele.isdigit():
                        called += 1
                        per_allele[int(allele)] = per_allele.get(int(allele), 0) + 1
        top = max(per_allele, default=0)
        return b"\t".join(kept), called, [per_allele.get(a, 0) for a in range(1, top + 1)]


def deidentify_vcf(source: Path, target: Path, research_ids: dict[str, str], compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> int:
    """Write ``source`` to ``target`` keeping only samples in ``research_ids`` (renamed); returns samples kept."""
    selector: _SampleSelector | None = None
    with pysam.BGZFile(str(source), "rb") as raw, pysam.BGZFile(str(target), f"wb{compression_level}") as out:
        for line in raw:  # pysam yields lines without their newline
            line = line.rstrip(b"\r\n")
            if line.startswith(b"##"):
                out.write(line + b"\n")
                continue
            if line.startswith(b"#CHROM"):
                fields = line.split(b"\t")
                samples = [s.decode() for s in fields[FIXED_COLUMNS:]]
                keep = [i for i, s in enumerate(samples) if s in research_ids]
                renamed = [research_ids[samples[i]].encode() for i in keep]
                out.write(b"\t".join(fields[:FIXED_COLUMNS] + renamed) + b"\n")
                selector = _SampleSelector(len(samples), keep)
                continue
            if selector is None:
                raise ValueError(f"{source}: a data line comes before the #CHROM header")
            if line:
                out.write(selector.line(line) + b"\n")
    pysam.tabix_index(str(target), preset="vcf", force=True, index=str(target) + ".tbi")
    return len(selector.keep) if selector else 0
