"""The BGEN of a genotype extract: ``NAME.bgen`` (layout 2, zstd, 8 bits per probability, sample ids inside),
its bgenix index ``NAME.bgen.bgi`` (written by the ``bgen`` package as it goes) and the Oxford ``NAME.sample``.

Alleles are written REF first, ALT second, the VCF's order: ``BgenReader``'s ``alt_dosage`` (the last allele's)
is then the ALT count, and PLINK 2 reads the file with ``--bgen NAME.bgen ref-first``. Hard calls become unphased
probabilities (1, 0, 0), (0, 1, 0), (0, 0, 1); a missing call is written as missing (NaN probabilities).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ._extract_vcf import gt_codes

BIT_DEPTH = 8
# Probabilities of (REF/REF, REF/ALT, ALT/ALT) by ALT count 0, 1, 2 and, last, a missing call.
_PROBABILITIES = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [np.nan, np.nan, np.nan]], dtype=np.float64)


class BgenWriter:
    def __init__(self, directory: Path, name: str, samples: np.ndarray, variant_count: int, contigs: list[str]):
        from bgen import BgenWriter as _Writer

        self.path = Path(directory) / f"{name}.bgen"
        self.sample_path = Path(directory) / f"{name}.sample"
        ids = [str(s) for s in samples.tolist()]
        with open(self.sample_path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("ID_1 ID_2 missing\n0 0 0\n")
            handle.writelines(f"{pid} {pid} 0\n" for pid in ids)
        self._writer = _Writer(str(self.path), len(ids), samples=ids, compression="zstd", layout=2)

    def write(self, variants: dict[str, list[Any]], genotypes: np.ndarray) -> None:
        codes = gt_codes(genotypes)
        for j in range(genotypes.shape[0]):
            self._writer.add_variant(varid=variants["variant_id"][j], rsid=variants["id"][j],
                                     chrom=variants["chrom"][j], pos=int(variants["pos"][j]),
                                     alleles=[variants["ref"][j], variants["alt"][j]],
                                     genotypes=_PROBABILITIES[codes[j]], ploidy=2, phased=False,
                                     bit_depth=BIT_DEPTH)

    def close(self) -> list[Path]:
        self._writer.close()
        index = self.path.with_name(self.path.name + ".bgi")
        # The index records the path it was written at (a staging directory); keep only the name, which stays
        # true once the directory is renamed into place.
        with sqlite3.connect(index) as db:
            db.execute("UPDATE Metadata SET filename = ?", (self.path.name,))
        db.close()
        return [self.path, index, self.sample_path]

    def abort(self) -> None:
        self._writer.close()
