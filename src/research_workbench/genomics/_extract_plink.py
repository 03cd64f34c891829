"""The PLINK files of a genotype extract: PLINK 1 ``NAME.bed/.bim/.fam`` and PLINK 2 ``NAME.pgen/.pvar/.psam``.

Orientation is the store's (``index.genotype_store``): .bim column 5 (A1) is ALT and column 6 is REF, so a reader
counting A1 counts ALT alleles; the .pgen stores ALT counts with REF known to be REF (no provisional-REF flags),
so PLINK 2 reports the VCF's REF and ALT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..index.genotype_store import BED_MAGIC, pack_bed


def _write_lines(path: Path, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)


class Plink1Writer:
    """``NAME.bed`` (variant-major), ``NAME.bim`` and ``NAME.fam`` (FID = IID = person id, sex and phenotype
    unknown, as in the store)."""

    def __init__(self, directory: Path, name: str, samples: np.ndarray, variant_count: int, contigs: list[str]):
        self.paths = [Path(directory) / f"{name}.{suffix}" for suffix in ("bed", "bim", "fam")]
        _write_lines(self.paths[2], [f"{pid}\t{pid}\t0\t0\t0\t-9\n" for pid in samples.tolist()])
        self._bed = open(self.paths[0], "wb")
        self._bed.write(BED_MAGIC)
        self._bim = open(self.paths[1], "w", encoding="utf-8", newline="\n")

    def write(self, variants: dict[str, list[Any]], genotypes: np.ndarray) -> None:
        self._bed.write(pack_bed(genotypes))
        self._bim.writelines(f"{chrom}\t{vid}\t0\t{pos}\t{alt}\t{ref}\n" for chrom, vid, pos, alt, ref in zip(
            variants["chrom"], variants["id"], variants["pos"], variants["alt"], variants["ref"]))

    def close(self) -> list[Path]:
        self._bed.close()
        self._bim.close()
        return list(self.paths)

    def abort(self) -> None:
        self._bed.close()
        self._bim.close()


class PgenWriter:
    """``NAME.pgen`` (pgenlib; the variant count is declared up front, as the format requires), ``NAME.pvar``
    (``#CHROM POS ID REF ALT``) and ``NAME.psam`` (``#IID``)."""

    def __init__(self, directory: Path, name: str, samples: np.ndarray, variant_count: int, contigs: list[str]):
        import pgenlib

        self.paths = [Path(directory) / f"{name}.{suffix}" for suffix in ("pgen", "pvar", "psam")]
        _write_lines(self.paths[2], ["#IID\n", *(f"{pid}\n" for pid in samples.tolist())])
        self._pvar = open(self.paths[1], "w", encoding="utf-8", newline="\n")
        self._pvar.write("#CHROM\tPOS\tID\tREF\tALT\n")
        # nonref_flags=False: every REF is the reference allele, not PLINK's "provisional" REF.
        self._pgen = pgenlib.PgenWriter(str(self.paths[0]).encode(), len(samples), variant_ct=variant_count,
                                        nonref_flags=False)

    def write(self, variants: dict[str, list[Any]], genotypes: np.ndarray) -> None:
        self._pgen.append_biallelic_batch(np.ascontiguousarray(genotypes, dtype=np.int8))
        self._pvar.writelines(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\n" for chrom, pos, vid, ref, alt in zip(
            variants["chrom"], variants["pos"], variants["id"], variants["ref"], variants["alt"]))

    def close(self) -> list[Path]:
        self._pgen.close()
        self._pvar.close()
        return list(self.paths)

    def abort(self) -> None:
        self._pvar.close()
        try:
            self._pgen.close()
        except RuntimeError:  # fewer variants than declared: expected when abandoning a half-written file
            pass
