"""Who carries the variants a selection means, read from an index's genotype store: the answer to a variant
criterion of the Cohort Builder.

A store (``layout.genome_store_files``) keeps, per variant, its heterozygous and homozygous-ALT carriers as
serialized 32-bit pyroaring bitmaps of store positions (``KIND.carriers.sqlite``), beside its variant table
(``KIND.variants.parquet``) and its samples (``KIND.fam``, in person-id order); a union of positions becomes person
ids through the .fam (Controlled Tier research ids exceed 32 bits, so they come back as ``BitMap64``). ``carriers_table`` selects the variants
(``variant_query.select_variants``, the one meaning of "which variants"), unions the bitmaps the zygosity asks for
and gives the carriers as a one-column Arrow table, ``person_id`` (int64, ascending, unique): small, and what any
engine can register beside a compiled statement (DuckDB ``register``, Spark ``createDataFrame``), so the SQL only
names it. No long-form carriers table is written at index time: at a million participants it would be about a
billion rows.

Both reads are kept per process (variant tables whole, carriers least recently used first out, by bytes), keyed by
the store files' identity (path, inode, size, modification and change times), so a rebuilt index is read afresh.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap, BitMap64

from .layout import GENOME_KINDS, genome_store_files

if TYPE_CHECKING:  # (pydantic and pyarrow.compute cost 0.2 s to import: a GWAS reading only the store skips them)
    from .variant_query import VariantSelection

Zygosity = Literal["any", "heterozygous", "homozygous"]
# The carriers' bitmap columns each zygosity unions (fixed names: no request value reaches the SQL text).
ZYGOSITY_COLUMNS: dict[str, tuple[str, ...]] = {"any": ("het", "hom"), "heterozygous": ("het",), "homozygous": ("hom",)}
CARRIERS_SCHEMA = pa.schema([("person_id", pa.int64())])
CARRIERS_CACHE_BYTES = 128 * 1024 * 1024
# Variant indices per SQLite statement: one bound JSON array each, so a whole chromosome is a few statements.
_BATCH = 5000


def has_genotypes(index_dir: Path, kind: str) -> bool:
    """Whether the index has the genotype store of ``kind`` (a Controlled Tier index of a release with genomes)."""
    files = genome_store_files(kind)
    return all((Path(index_dir) / files[role]).is_file() for role in ("variants", "carriers"))


def _store_file(index_dir: Path, kind: str, role: str) -> Path:
    if kind not in GENOME_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(GENOME_KINDS)}")
    path = Path(index_dir) / genome_store_files(kind)[role]
    if not path.is_file():
        raise FileNotFoundError(f"{index_dir}: this index has no {kind} genotypes ({path.name} is missing); variant "
                                "criteria need the index of a Controlled Tier release with genomes")
    return path


def _identity(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


class _Cache:
    """Least recently used first out, bounded by the bytes of what it keeps; safe across threads."""

    def __init__(self, limit: int):
        self.limit, self.lock, self.items, self.bytes = limit, threading.Lock(), OrderedDict(), 0

    def get(self, key):
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key, value, size: int) -> None:
        with self.lock:
            if key in self.items or size > self.limit:
                return
            self.items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.limit:
                _, (_, dropped) = self.items.popitem(last=False)
                self.bytes -= dropped


_TABLES = _Cache(512 * 1024 * 1024)
_CARRIERS = _Cache(CARRIERS_CACHE_BYTES)


def _read_once(index_dir: Path, kind: str, role: str, load, size) -> object:
    """A store file's content, read once per process while the file is unchanged (``size``: its bytes in memory)."""
    path = _store_file(index_dir, kind, role)
    key = _identity(path)
    found = _TABLES.get(key)
    if found is not None:
        return found[0]
    value = load(path)
    _TABLES.put(key, value, size(value))
    return value


def variant_table(index_dir: Path, kind: str) -> pa.Table:
    """The store's variant table (``genotype_store.VARIANT_SCHEMA``), read once per process and store."""
    return _read_once(index_dir, kind, "variants", lambda path: pq.ParquetFile(path).read(), lambda t: t.nbytes)


def _read_fam(path: Path) -> np.ndarray:
    samples = np.loadtxt(path, dtype=np.int64, usecols=1, ndmin=1) if path.stat().st_size else np.zeros(0, np.int64)
    samples.flags.writeable = False  # shared by every reader of the store in this process
    return samples


def store_samples(index_dir: Path, kind: str) -> np.ndarray:
    """The store's person ids in store order (its .fam), read once per process and store."""
    return _read_once(index_dir, kind, "fam", _read_fam, lambda a: a.nbytes + 64)


def selected_variants(index_dir: Path, kind: str, selection: VariantSelection) -> np.ndarray:
    """The variant indices (ascending) of the store of ``kind`` that ``selection`` means."""
    from .variant_query import select_variants

    return select_variants(variant_table(index_dir, kind), selection)


def carriers_of(index_dir: Path, kind: str, variant_indices, zygosity: Zygosity = "any") -> BitMap64:
    """The union of the carriers (heterozygous, homozygous ALT or either, per ``zygosity``) of the variants."""
    if zygosity not in ZYGOSITY_COLUMNS:
        raise ValueError(f"zygosity: {zygosity!r} is not one of {', '.join(ZYGOSITY_COLUMNS)}")
    indices = [int(i) for i in np.asarray(variant_indices, dtype=np.int64)]
    if not indices:
        return BitMap64()
    path = _store_file(index_dir, kind, "carriers")
    positions: list[BitMap] = []
    columns = ", ".join(ZYGOSITY_COLUMNS[zygosity])
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for start in range(0, len(indices), _BATCH):
            rows = db.execute(f"SELECT {columns} FROM carriers WHERE variant_index IN (SELECT value FROM json_each(?))",
                              [json.dumps(indices[start:start + _BATCH])])
            positions += [BitMap.deserialize(blob) for blobs in rows for blob in blobs if blob]
    finally:
        db.close()
    union = BitMap.union(*positions) if positions else BitMap()
    samples = store_samples(index_dir, kind)
    return BitMap64(samples[np.asarray(union.to_array(), dtype=np.int64)].astype(np.uint64))


def carriers_table(index_dir: Path, kind: str, selection: VariantSelection, zygosity: Zygosity = "any") -> pa.Table:
    """The participants who carry any variant of ``selection`` in the store of ``kind`` with ``zygosity``: one column,
    ``person_id`` (int64, ascending, unique). FileNotFoundError, naming the index, when it has no such store."""
    carriers_path = _store_file(index_dir, kind, "carriers")
    variants_path = _store_file(index_dir, kind, "variants")
    key = (_identity(carriers_path), _identity(variants_path), kind, selection.model_dump_json(), zygosity)
    found = _CARRIERS.get(key)
    if found is not None:
        return found[0]
    indices = selected_variants(index_dir, kind, selection)
    ids = np.asarray(carriers_of(index_dir, kind, indices, zygosity).to_array(), dtype=np.uint64).astype(np.int64)
    table = pa.table({"person_id": ids}, schema=CARRIERS_SCHEMA)
    _CARRIERS.put(key, table, table.nbytes + 256)
    return table
