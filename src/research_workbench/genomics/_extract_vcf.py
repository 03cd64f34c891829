"""The VCF of a genotype extract: ``NAME.vcf.gz`` (bgzipped) and its tabix index ``NAME.vcf.gz.tbi``.

Genotype text is made a whole chunk at a time from a 4-entry lookup table (one numpy gather), not per record
through pysam's record objects: the per-call cost of those objects is what makes VCF writing slow at biobank
widths. pysam still does the bgzip blocks and the tabix index, so the file is exactly what htslib expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__

# bgzip level 4 instead of bgzip's 6: measured on 10,000-sample genotype text, 3.4× faster for 19 % more bytes.
BGZF_LEVEL = 4
# "0/0\t", "0/1\t", "1/1\t", "./.\t" by ALT count 0, 1, 2 and, last, a missing call: each 4-byte text one uint32,
# so a gather of uint32 lays the bytes of a whole line down at once (8× faster than gathering 4-byte rows).
_GT_TEXT = np.frombuffer(b"0/0\t0/1\t1/1\t./.\t", dtype=np.uint32)
_MISSING_CODE = 3


def gt_codes(genotypes: np.ndarray) -> np.ndarray:
    """ALT counts (-9 missing) as entries of a 4-entry lookup table: 0, 1, 2, and 3 for a missing call."""
    codes = np.ascontiguousarray(genotypes).astype(np.uint8)  # C order: rows of text are variants
    codes[genotypes < 0] = _MISSING_CODE
    return codes


def allele_counts(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AC, AN) per variant over the called genotypes of these samples."""
    called = genotypes >= 0
    ac = np.where(called, genotypes, 0).sum(axis=1, dtype=np.int64)
    an = 2 * called.sum(axis=1, dtype=np.int64)
    return ac, an


def header(samples: list[str], contigs: list[str]) -> bytes:
    lines = [
        "##fileformat=VCFv4.2",
        f"##source=research_workbench {__version__} genotype extract",
        *(f"##contig=<ID={c}>" for c in contigs),
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="ALT alleles among the called genotypes of this file\'s '
        'samples">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Alleles among the called genotypes of this file\'s samples">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="ALT allele frequency among this file\'s samples: AC / AN">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype (unphased hard call)">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    return ("\n".join(lines) + "\n").encode()


def _info(ac: int, an: int, gene: str | None) -> str:
    text = f"AC={ac};AN={an};AF={ac / an:.6g}" if an else f"AC={ac};AN={an};AF=."
    return f"{text};GENE={gene}" if gene else text


class VcfWriter:
    """Writes ``NAME.vcf.gz`` chunk by chunk; ``close`` indexes it and returns both files."""

    def __init__(self, directory: Path, name: str, samples: np.ndarray, variant_count: int, contigs: list[str]):
        import pysam

        self.path = Path(directory) / f"{name}.vcf.gz"
        self._file = pysam.BGZFile(str(self.path), f"wb{BGZF_LEVEL}")
        self._file.write(header([str(s) for s in samples.tolist()], contigs))

    def write(self, variants: dict[str, list[Any]], genotypes: np.ndarray) -> None:
        m = genotypes.shape[0]
        if m == 0:
            return
        text = _GT_TEXT[gt_codes(genotypes)].view(np.uint8).reshape(m, -1)
        text[:, -1] = ord("\n")  # the last sample's tab ends the line instead
        ac, an = allele_counts(genotypes)
        lines = []
        for j in range(m):
            fixed = "\t".join((variants["chrom"][j], str(variants["pos"][j]), variants["rsid"][j] or ".",
                               variants["ref"][j], variants["alt"][j], ".", ".",
                               _info(int(ac[j]), int(an[j]), variants["gene"][j]), "GT"))
            lines.append(fixed.encode() + b"\t" + text[j].tobytes())
        self._file.write(b"".join(lines))

    def close(self) -> list[Path]:
        import pysam

        self._file.close()
        pysam.tabix_index(str(self.path), preset="vcf", force=True)
        return [self.path, self.path.with_name(self.path.name + ".tbi")]

    def abort(self) -> None:
        self._file.close()
