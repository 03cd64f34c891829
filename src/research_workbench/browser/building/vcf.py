"""Raw per-variant allele counts of a whole-genome VCF, in total and per genetic ancestry group.

The VCF is streamed one line at a time; a line whose samples all carry a plain ``GT`` of three characters (``0/1``,
``1|1``, ``./.``) is decoded with numpy in one step, any other line field by field. Sample names are person ids of
the tier; samples that are not participants of the tier (withdrawn since the VCF was written, say) are left out.
A participant without an ancestry prediction counts in ``oth``. Raw rows go to Parquet files in the scratch
directory in blocks, so memory does not grow with the number of variants.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import ANCESTRIES, ANCESTRY_LABELS, spec

BLOCK_VARIANTS = 4096
ARROW_TYPES = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}


@dataclass(frozen=True)
class ScratchTable:
    """Raw rows of one store table in a scratch Parquet file (with the table's columns)."""

    path: Path

    def records(self) -> Iterator[dict[str, Any]]:
        """The rows by column name, block by block."""
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=8192):
            yield from batch.to_pylist()


def _schema(table: str) -> pa.Schema:
    return pa.schema([(c.name, ARROW_TYPES[c.type]) for c in spec(table).columns])


def _info_gene(info: bytes) -> str:
    for item in info.split(b";"):
        if item.startswith(b"GENE="):
            return item[5:].decode()
    return ""


def scan_vcf(vcf: Path, ancestry_of: dict[int, str | None], scratch: Path) -> tuple[ScratchTable, ScratchTable]:
    """Per-variant and per-variant-and-ancestry raw counts of a VCF (the variant and variant_ancestry tables)."""
    variant_path, ancestry_path = scratch / "variant.parquet", scratch / "variant_ancestry.parquet"
    variant_schema, ancestry_schema = _schema("variant"), _schema("variant_ancestry")
    group_index = {name: i for i, name in enumerate(ANCESTRIES)}
    other = group_index["oth"]
    K = len(ANCESTRIES)
    with gzip.open(vcf, "rb") as fh, \
            pq.ParquetWriter(variant_path, variant_schema, compression="zstd") as vw, \
            pq.ParquetWriter(ancestry_path, ancestry_schema, compression="zstd") as aw:
        samples: list[bytes] = []
        for line in fh:
            if line.startswith(b"##"):
                continue
            if line.startswith(b"#CHROM"):
                samples = line.rstrip(b"\r\n").split(b"\t")[9:]
                break
        S = len(samples)
        groups = np.full(S, -1, dtype=np.int64)  # -1: not a participant of this tier
        for i, name in enumerate(samples):
            try:
                pid = int(name)
            except ValueError:
                continue
            if pid in ancestry_of:
                groups[i] = group_index.get(ancestry_of[pid] or "oth", other)
        keep = groups >= 0
        g_kept = groups[keep]
        variants: list[dict[str, Any]] = []
        per_ancestry: list[dict[str, Any]] = []

        def flush() -> None:
            if variants:
                vw.write_table(pa.Table.from_pylist(variants, variant_schema))
                aw.write_table(pa.Table.from_pylist(per_ancestry, ancestry_schema))
                variants.clear()
                per_ancestry.clear()

        for line in fh:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t", 9)
            if len(fields) < 8:
                continue
            chrom, pos, vid, ref, alts, _q, _f, info = fields[:8]
            alt_list = alts.split(b",")
            n_alt = len(alt_list)
            per_alt = _genotype_counts(fields[8] if len(fields) > 8 else b"", fields[9] if len(fields) > 9 else b"",
                                       S, n_alt, keep, g_kept, K)
            gene = _info_gene(info)
            rsid = vid.decode() if vid != b"." else ""
            c, p, r = chrom.decode(), int(pos), ref.decode()
            for k, alt in enumerate(alt_list, start=1):
                if alt in (b".", b"*"):
                    continue
                ac, an, hom = per_alt[k]
                variant_id = f"{c.removeprefix('chr')}-{p}-{r}-{alt.decode()}"
                variants.append({"variant_id": variant_id, "chrom": c, "pos": p, "ref": r, "alt": alt.decode(), "rsid": rsid,
                                 "gene": gene, "allele_count": int(ac.sum()), "allele_number": int(an.sum()),
                                 "homozygote_count": int(hom.sum()), "allele_frequency": None})
                for i, name in enumerate(ANCESTRIES):
                    per_ancestry.append(_ancestry_row(variant_id, name, i + 1, int(ac[i]), int(an[i]), int(hom[i])))
                per_ancestry.append(_ancestry_row(variant_id, "total", K + 1, int(ac.sum()), int(an.sum()), int(hom.sum())))
            if len(variants) >= BLOCK_VARIANTS:
                flush()
        flush()
    return ScratchTable(variant_path), ScratchTable(ancestry_path)


def _ancestry_row(variant_id: str, ancestry: str, order: int, ac: int, an: int, hom: int) -> dict[str, Any]:
    return {"variant_id": variant_id, "ancestry": ancestry, "label": ANCESTRY_LABELS[ancestry], "sort_order": order,
            "allele_count": ac, "allele_number": an, "homozygote_count": hom, "allele_frequency": None}


def _genotype_counts(fmt: bytes, blob: bytes, S: int, n_alt: int, keep: np.ndarray, groups: np.ndarray, K: int):
    """{alt index: (allele count, allele number, homozygote count) per ancestry group} for one VCF line."""
    out = {}
    if S == 0 or not blob:
        zero = np.zeros(K, dtype=np.int64)
        return {k: (zero, zero, zero) for k in range(1, n_alt + 1)}
    fast = fmt == b"GT" and len(blob) == 4 * S - 1 and n_alt < 9
    if fast:
        cells = np.frombuffer(blob + b"\t", dtype=np.uint8).reshape(S, 4)
        sep = cells[:, 1]
        fast = bool(np.all((sep == ord("/")) | (sep == ord("|"))) and np.all(cells[:, 3] == ord("\t")))
    if fast:
        a = cells[keep, 0].astype(np.int16) - ord("0")
        b = cells[keep, 2].astype(np.int16) - ord("0")
        called_a = (a >= 0) & (a <= 9)
        called_b = (b >= 0) & (b <= 9)
        an = np.bincount(groups, weights=called_a.astype(np.int64) + called_b, minlength=K).astype(np.int64)
        for k in range(1, n_alt + 1):
            ha, hb = called_a & (a == k), called_b & (b == k)
            ac = np.bincount(groups, weights=ha.astype(np.int64) + hb, minlength=K).astype(np.int64)
            hom = np.bincount(groups, weights=(ha & hb).astype(np.int64), minlength=K).astype(np.int64)
            out[k] = (ac, an, hom)
        return out
    # general path: any FORMAT, ploidy, missing calls
    keys = fmt.split(b":")
    gt_at = keys.index(b"GT") if b"GT" in keys else None
    an = np.zeros(K, dtype=np.int64)
    acs = {k: np.zeros(K, dtype=np.int64) for k in range(1, n_alt + 1)}
    homs = {k: np.zeros(K, dtype=np.int64) for k in range(1, n_alt + 1)}
    cells_list = blob.split(b"\t")
    kept_index = np.flatnonzero(keep)
    for j, s in enumerate(kept_index.tolist()):
        if gt_at is None or s >= len(cells_list):
            continue
        parts = cells_list[s].split(b":")
        if gt_at >= len(parts):
            continue
        alleles = parts[gt_at].replace(b"|", b"/").split(b"/")
        called = [int(x) for x in alleles if x.isdigit()]
        g = groups[j]
        an[g] += len(called)
        for k in set(called):
            if k == 0 or k > n_alt:
                continue
            acs[k][g] += called.count(k)
            if len(called) == len(alleles) and len(called) >= 2 and all(x == k for x in called):
                homs[k][g] += 1
    return {k: (acs[k], an, homs[k]) for k in range(1, n_alt + 1)}
