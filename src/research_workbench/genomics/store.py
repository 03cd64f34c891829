"""Reading a genotype store of an index (written by ``index.genotype_store``; layout: ``index.layout``).

Genotypes come back as int8 ALT-allele counts, variants × samples, -9 for a missing call. Samples are addressed by
their position in the store (``sample_positions`` maps person ids to positions); pgenlib reads any list of variants
for any subset of samples straight from the packed .bed, without a float matrix of everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..cdr.problems import ProblemsError
from ..index.layout import GENOME_KINDS, INDEX_MANIFEST, genome_store_files
from ..index.variant_carriers import store_samples

MISSING = -9


def index_cdr(index_dir: Path) -> Path:
    """The CDR an index was built from (its manifest's ``cdr``): where phenotypes, conditions and ancestry are read."""
    manifest = Path(index_dir) / INDEX_MANIFEST
    try:
        recorded = json.loads(manifest.read_text()).get("cdr")
    except (OSError, ValueError):
        raise GenomicsError([f"{manifest}: not a readable index manifest"]) from None
    if not recorded:
        raise GenomicsError([f"{manifest}: the index does not record its CDR (field cdr)"])
    return Path(recorded)


class GenomicsError(ProblemsError):
    """Genomics input that cannot be used: no genomes in this data, a cohort without genomes, an empty region…"""

    heading = "Genomics request refused"


@dataclass
class GenotypeStore:
    """One store (``kind``: wgs or array) of an index."""

    index_dir: Path
    kind: str
    samples: np.ndarray  # person ids, in store order
    _variants: pa.Table | None = field(default=None, repr=False)

    @classmethod
    def open(cls, index_dir: Path, kind: str = "wgs") -> GenotypeStore:
        if kind not in GENOME_KINDS:
            raise GenomicsError([f"kind: {kind!r} is not one of {', '.join(GENOME_KINDS)}"])
        fam = Path(index_dir) / genome_store_files(kind)["fam"]
        if not fam.is_file():
            raise GenomicsError([f"{index_dir}: this index has no {kind} genotypes (genomes are in Controlled Tier "
                                 f"releases only; rebuild the index of one with `workbench index`)"])
        return cls(Path(index_dir), kind, store_samples(index_dir, kind))

    def path(self, role: str) -> Path:
        return self.index_dir / genome_store_files(self.kind)[role]

    @property
    def variants(self) -> pa.Table:
        """The variant table (``index.genotype_store.VARIANT_SCHEMA``), one row per variant in store order."""
        if self._variants is None:
            # ParquetFile.read, not pq.read_table: the latter imports pyarrow.dataset and pandas (0.3–1 s per process)
            self._variants = pq.ParquetFile(self.path("variants")).read()
        return self._variants

    @property
    def n_variants(self) -> int:
        return self.variants.num_rows

    def sample_positions(self, person_ids) -> np.ndarray:
        """Positions (sorted, unique) of those of ``person_ids`` that have genotypes in this store."""
        wanted = np.unique(np.asarray(list(person_ids) if not isinstance(person_ids, np.ndarray) else person_ids, dtype=np.int64))
        order = np.argsort(self.samples, kind="stable")
        found = np.searchsorted(self.samples, wanted, sorter=order)
        found = np.clip(found, 0, max(len(self.samples) - 1, 0))
        hit = len(self.samples) > 0
        positions = order[found] if hit else np.zeros(0, dtype=np.int64)
        keep = (self.samples[positions] == wanted) if hit else np.zeros(0, dtype=bool)
        return np.sort(positions[keep])

    def read(self, variant_indices, sample_positions=None) -> np.ndarray:
        """Genotypes of ``variant_indices`` (any order) × ``sample_positions`` (sorted; None: every sample), int8."""
        variants = np.asarray(variant_indices, dtype=np.int64)
        with self._reader(sample_positions) as (reader, n):
            return self._read_with(reader, variants, n)

    def chunks(self, variant_indices, sample_positions=None, size: int = 2000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(variant indices, genotypes) ``size`` variants at a time: memory bounded by size × samples. One reader
        serves every chunk (opening one per chunk cost as much as reading it)."""
        variants = np.asarray(variant_indices, dtype=np.int64)
        with self._reader(sample_positions) as (reader, n):
            for start in range(0, len(variants), size):
                part = variants[start:start + size]
                yield part, self._read_with(reader, part, n)

    @contextmanager
    def _reader(self, sample_positions):
        import pgenlib

        subset = None if sample_positions is None else np.asarray(sample_positions, dtype=np.uint32)
        n = len(self.samples) if subset is None else len(subset)
        if subset is not None and np.any(subset[1:] <= subset[:-1]):
            raise ValueError("sample positions must be sorted and unique")
        if n == 0:
            yield None, 0
            return
        reader = pgenlib.PgenReader(str(self.path("bed")).encode(), raw_sample_ct=len(self.samples),
                                    sample_subset=subset if subset is not None and n < len(self.samples) else None)
        try:
            yield reader, n
        finally:
            reader.close()

    @staticmethod
    def _read_with(reader, variants: np.ndarray, n: int) -> np.ndarray:
        out = np.empty((len(variants), n), dtype=np.int8)
        if len(variants) and n:
            reader.read_list(variants.astype(np.uint32), out)
        return out
