"""Allele frequencies per genetic ancestry group, for any cohort and any variant selection.

For each selected variant and each predicted-ancestry group (and in total): allele count (ALT alleles among called
genotypes), allele number (alleles called), homozygous-ALT count and frequency, over the cohort's participants who
have genotypes in the store. A participant's group is the CDR's ``ancestry_prediction.ancestry_pred``
(lower-cased); one without a prediction, or with a label outside the seven groups, counts in ``oth``: the same rule
as the Data Browser's per-ancestry numbers (``browser/building/vcf.py``), so that for everyone the two agree
(``tests/genomics/test_ancestry_af.py`` checks it).

The counts are three matrix products per chunk of variants: (variants × samples) indicator matrices — called, ALT
dosage with missing calls as 0, homozygous ALT — times a (samples × groups) one-hot matrix. Memory is bounded by
the chunk, whatever the cohort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..index.variant_query import VariantSelection, select_variants
from .store import GenomicsError, GenotypeStore, index_cdr

# The seven groups, in the Data Browser's order: the same codes as ``browser/schema.py`` ANCESTRIES (whose labels,
# ANCESTRY_LABELS, pages show). Genomics sits below the browser in the layers, so it spells them here; a test
# checks the two tuples are equal.
ANCESTRY_GROUPS = ("afr", "amr", "eas", "eur", "mid", "sas", "oth")
OTHER = "oth"
TOTAL = "total"
# Float32 sums of 0/1/2 values are exact below 2**24; an allele number is at most twice the samples.
_FLOAT32_EXACT_SAMPLES = 2**23 - 1

FREQUENCY_SCHEMA = pa.schema([
    ("variant_index", pa.int64()),
    ("variant_id", pa.string()),
    ("rsid", pa.string()),
    ("gene", pa.string()),
    ("ancestry", pa.string()),  # one of ANCESTRY_GROUPS, or "total"
    ("allele_count", pa.int64()),
    ("allele_number", pa.int64()),
    ("homozygote_count", pa.int64()),
    ("allele_frequency", pa.float64()),  # allele_count / allele_number; null when no allele is called
])

Progress = Callable[[str, int, int], None]


def ancestry_labels(index_dir: Path) -> dict[int, str]:
    """person id → predicted ancestry label (lower-cased) from the index's CDR; empty when it has no predictions. A
    person with several rows gets the smallest label, as the Data Browser's ``min(ancestry_pred)``."""
    from ..cdr.store import Cdr

    cdr = Cdr(index_cdr(index_dir))
    if "ancestry_prediction" not in cdr.manifest.tables:
        return {}
    table = pq.read_table(cdr.table_file("ancestry_prediction"), columns=["person_id", "ancestry_pred"])
    best: dict[int, str] = {}
    for pid, label in zip(table["person_id"].to_pylist(), table["ancestry_pred"].to_pylist()):
        if pid is None or label is None:
            continue
        label = str(label).strip().lower()
        if pid not in best or label < best[pid]:
            best[pid] = label
    return best


def group_indices(person_ids: np.ndarray, labels: Mapping[int, str]) -> np.ndarray:
    """Each person's index into ANCESTRY_GROUPS: their label's, or ``oth`` without one or with another label."""
    code = {name: i for i, name in enumerate(ANCESTRY_GROUPS)}
    other = code[OTHER]
    return np.array([code.get(str(labels.get(pid, OTHER)).strip().lower(), other)
                     for pid in np.asarray(person_ids).tolist()], dtype=np.int64)


def predicted_ancestry(index_dir: Path, person_ids: np.ndarray) -> np.ndarray:
    """Each person's group index into ANCESTRY_GROUPS, from the index's CDR's predictions."""
    return group_indices(person_ids, ancestry_labels(index_dir))


def cohort_positions(store: GenotypeStore, person_ids: Iterable[int] | None, where: str = "person_ids") -> np.ndarray:
    """Store positions of the cohort's participants with genotypes (None: everyone in the store); refuses none."""
    if person_ids is None:
        positions = np.arange(len(store.samples))
    else:
        wanted = np.unique(np.fromiter((int(x) for x in person_ids), dtype=np.int64))
        positions = store.sample_positions(wanted)
        if len(wanted) == 0:
            raise GenomicsError([f"{where}: the cohort is empty"])
        if len(positions) == 0:
            raise GenomicsError([f"{where}: none of the {len(wanted):,} participants has {store.kind} genotypes"])
    if len(positions) == 0:
        raise GenomicsError([f"{store.index_dir}: the {store.kind} store has no samples"])
    return positions


def selected_variants(store: GenotypeStore, selection: VariantSelection | None, where: str = "selection") -> np.ndarray:
    """Variant indices a selection means (None: every variant); refuses a selection that matches nothing."""
    selection = selection or VariantSelection()
    indices = select_variants(store.variants, selection)
    if len(indices) == 0:
        raise GenomicsError([f"{where}: no variant of the {store.kind} store matches {selection.describe()}"])
    return indices


def group_counts(genotypes: np.ndarray, one_hot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(allele count, allele number, homozygote count), each variants × groups, of int8 genotypes (variants ×
    samples, -9 missing) and a samples × groups one-hot matrix (float32)."""
    called = genotypes >= 0
    dosage = np.where(called, genotypes, 0).astype(np.float32)
    ac = dosage @ one_hot
    an = 2 * (called.astype(np.float32) @ one_hot)
    hom = (genotypes == 2).astype(np.float32) @ one_hot
    return ac.astype(np.int64), an.astype(np.int64), hom.astype(np.int64)


def ancestry_frequencies(index_dir: Path, person_ids: Iterable[int] | None = None,
                         selection: VariantSelection | None = None, *, kind: str = "wgs",
                         ancestry: Mapping[int, str] | None = None, chunk_size: int | None = None,
                         progress: Progress | None = None) -> pa.Table:
    """Per variant of ``selection`` (None: all) and per ancestry group then in total, the counts and frequency over
    those of ``person_ids`` (None: everyone) with ``kind`` genotypes: a FREQUENCY_SCHEMA table, variants in store
    order, groups in ANCESTRY_GROUPS order then ``total``. ``ancestry``: person id → group label, instead of the
    CDR's predictions (labels outside the groups count in ``oth``)."""
    store = GenotypeStore.open(Path(index_dir), kind)
    positions = cohort_positions(store, person_ids)
    variants = selected_variants(store, selection)
    if len(positions) > _FLOAT32_EXACT_SAMPLES:
        raise GenomicsError([f"person_ids: {len(positions):,} samples is more than the {_FLOAT32_EXACT_SAMPLES:,} "
                             "whose counts are exact in one product"])
    samples = store.samples[positions]
    groups = group_indices(samples, ancestry_labels(index_dir) if ancestry is None else ancestry)
    K = len(ANCESTRY_GROUPS)
    one_hot = np.zeros((len(positions), K + 1), dtype=np.float32)
    one_hot[np.arange(len(positions)), groups] = 1.0
    one_hot[:, K] = 1.0  # the total, as one more group everyone is in
    size = chunk_size or max(1, min(4096, 32_000_000 // len(positions)))  # ~32 MB of int8 per chunk
    counts = []
    total_chunks = -(-len(variants) // size)
    for done, (_, g) in enumerate(store.chunks(variants, positions, size=size)):
        if progress:
            progress("variants", done, total_chunks)
        counts.append(group_counts(g, one_hot))
    if progress:
        progress("", total_chunks, total_chunks)
    ac, an, hom = (np.concatenate([c[i] for c in counts]) for i in range(3))
    return _frequency_table(store.variants, variants, ac, an, hom)


def _frequency_table(table: pa.Table, variants: np.ndarray, ac: np.ndarray, an: np.ndarray, hom: np.ndarray) -> pa.Table:
    names = (*ANCESTRY_GROUPS, TOTAL)
    G = len(names)
    rows = table.take(pa.array(variants))
    repeat = lambda column: np.repeat(np.asarray(rows[column].to_pylist(), dtype=object), G)  # noqa: E731
    ac, an, hom = ac.reshape(-1), an.reshape(-1), hom.reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(an > 0, ac / np.maximum(an, 1), np.nan)
    return pa.table({
        "variant_index": np.repeat(variants.astype(np.int64), G),
        "variant_id": pa.array(repeat("variant_id"), pa.string()),
        "rsid": pa.array(repeat("rsid"), pa.string()),
        "gene": pa.array(repeat("gene"), pa.string()),
        "ancestry": pa.array(np.tile(np.asarray(names, dtype=object), len(variants)), pa.string()),
        "allele_count": ac,
        "allele_number": an,
        "homozygote_count": hom,
        "allele_frequency": pa.array(freq, pa.float64(), from_pandas=True),
    }, schema=FREQUENCY_SCHEMA)
