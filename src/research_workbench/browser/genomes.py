"""Genome aggregates, from the Controlled Tier: participants with whole-genome and array data, and per variant
of the whole-genome VCF the allele count, allele number, homozygote count (and, after rounding, allele
frequency) in each genetic ancestry group and in total.

Demographic strata of genome participants use the **Registered Tier's** categories only. The Controlled Tier
keeps the demographics the Registered Tier generalises (sex at birth other than female/male, say) and
participants the Registered Tier leaves out (aged 89 or over), so stratifying by its own person table published
categories that no public aggregate of the Registered Tier has (an intersex stratum, a 90+ age band). Here the
gender, sex-at-birth and age strata count the genome participants who are in the Registered Tier, with its
generalised values (joined on the research id, which both tiers share). A genome participant who is only in the
Controlled Tier is counted in the totals, the genetic-ancestry strata and the variant allele counts (Controlled
Tier facts, with categories of their own), and in no demographic stratum: any category given them would be either
one the Registered Tier removed or an untrue one.

The VCF is streamed one line at a time; a line whose samples all carry a plain ``GT`` of three characters (``0/1``,
``1|1``, ``./.``) is decoded with numpy in one step, any other line field by field. Sample names are person ids of
the tier; samples that are not participants of the tier (withdrawn since the VCF was written, say) are left out.
A participant without an ancestry prediction counts in ``oth``. Raw rows go to Parquet files in the scratch
directory in blocks, so memory does not grow with the number of variants.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..cdr.engine import one_row
from .aggregates import _strata_rows, connect_cdr, people_table
from .protect import RawTable
from .schema import ANCESTRIES, ANCESTRY_LABELS, spec
from .source import BrowserSource

BLOCK_VARIANTS = 4096
GROUPS = (*ANCESTRIES, "total")
# Controlled Tier facts: every genome participant counts.
GENOME_DIM_SQL = {
    "total": "'all'",
    "ancestry": "COALESCE(a.ancestry, 'none')",
}
# Registered Tier categories (``r``: the Registered Tier's people): only genome participants who are in it.
REGISTERED_DIM_SQL = {
    "gender": "CAST(r.gender AS VARCHAR)",
    "sex_at_birth": "CAST(r.sex_at_birth AS VARCHAR)",
    "age": "r.age_now",
}
REGISTERED_PEOPLE_COLUMNS = ("person_id", "gender", "sex_at_birth", "age_now")


def genome_tables(source: BrowserSource, *, scratch: Path, memory_limit: str | None = None,
                  registered_people: pa.Table | None = None,
                  registered_labels: dict[int, tuple] | None = None) -> tuple[RawTable, list[RawTable], int]:
    """``registered_people``: the Registered Tier's ``people`` (``REGISTERED_PEOPLE_COLUMNS``), and
    ``registered_labels`` the names of its concepts; without them (a single CDR) the one CDR's own are used."""
    if registered_people is None and source.kind == "release":
        raise ValueError("the genome aggregates of a release need its Registered Tier's people")
    scratch.mkdir(parents=True, exist_ok=True)
    con = connect_cdr(source.controlled, scratch / "duckdb", memory_limit)
    try:
        people_table(con, source.cutoff)
        if registered_people is None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE reg AS SELECT {', '.join(REGISTERED_PEOPLE_COLUMNS)} FROM people")
        else:
            con.register("registered_people_arrow", registered_people)
            con.execute(f"CREATE OR REPLACE TEMP TABLE reg AS SELECT {', '.join(REGISTERED_PEOPLE_COLUMNS)} "
                        f"FROM registered_people_arrow")
            con.unregister("registered_people_arrow")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE anc AS SELECT person_id, lower(min(ancestry_pred)) AS ancestry "
            "FROM ancestry_prediction GROUP BY person_id"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE gs AS SELECT DISTINCT lower(g.data_type) AS data_type, g.person_id "
            "FROM genomic_sample g JOIN people p ON p.person_id = g.person_id WHERE g.data_type IS NOT NULL"
        )
        con.execute("INSERT INTO gs SELECT DISTINCT 'any', person_id FROM gs")
        parts = [
            f"SELECT g.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) FROM gs g "
            f"LEFT JOIN anc a ON a.person_id = g.person_id GROUP BY ALL"
            for dim, expr in GENOME_DIM_SQL.items()
        ] + [
            f"SELECT g.data_type, '{dim}' AS dimension, {expr} AS stratum, count(*) FROM gs g "
            f"JOIN reg r ON r.person_id = g.person_id GROUP BY ALL"
            for dim, expr in REGISTERED_DIM_SQL.items()
        ]
        rows = _strata_rows(con, " UNION ALL ".join(parts), 1, names=registered_labels)
        rows = [_ancestry_label(r) for r in rows]
        participants = one_row(con, "SELECT count(*) FROM gs WHERE data_type = 'any'")[0]
        ancestry_of = dict(
            con.execute("SELECT p.person_id, a.ancestry FROM people p LEFT JOIN anc a ON a.person_id = p.person_id").fetchall()
        )
    finally:
        con.close()
    summary = RawTable(spec("genome"), rows)
    vcf = source.wgs_vcf
    if vcf is None:
        return summary, [RawTable(spec("variant"), []), RawTable(spec("variant_ancestry"), [])], participants
    variant_file, ancestry_file = scan_vcf(vcf, ancestry_of, scratch)
    return summary, [RawTable(spec("variant"), _read_rows(variant_file)),
                     RawTable(spec("variant_ancestry"), _read_rows(ancestry_file))], participants


def _ancestry_label(row: tuple) -> tuple:
    data_type, dimension, stratum, label, order, n = row
    if dimension == "ancestry":
        if stratum in ANCESTRIES:
            label, order = ANCESTRY_LABELS[stratum], ANCESTRIES.index(stratum) + 1
        elif stratum == "none":
            label, order = "No ancestry prediction", 99
        else:
            label, order = stratum, 98
    return (data_type, dimension, stratum, label, order, n)


def _read_rows(path: Path) -> Iterator[tuple]:
    """The rows of a scratch Parquet file, block by block."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        yield from zip(*(col.to_pylist() for col in batch.columns))


def _schema(table: str) -> pa.Schema:
    types = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
    return pa.schema([(c.name, types[c.type]) for c in spec(table).columns])


def _info_gene(info: bytes) -> str:
    for item in info.split(b";"):
        if item.startswith(b"GENE="):
            return item[5:].decode()
    return ""


def scan_vcf(vcf: Path, ancestry_of: dict[int, str | None], scratch: Path) -> tuple[Path, Path]:
    """Per-variant, per-ancestry raw counts of a VCF, written to two scratch Parquet files."""
    variant_path, ancestry_path = scratch / "variant.parquet", scratch / "variant_ancestry.parquet"
    group_index = {name: i for i, name in enumerate(ANCESTRIES)}
    other = group_index["oth"]
    K = len(ANCESTRIES)
    with gzip.open(vcf, "rb") as fh, \
            pq.ParquetWriter(variant_path, _schema("variant"), compression="zstd") as vw, \
            pq.ParquetWriter(ancestry_path, _schema("variant_ancestry"), compression="zstd") as aw:
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
        vrows: list[tuple] = []
        arows: list[tuple] = []

        def flush() -> None:
            if vrows:
                vw.write_table(pa.Table.from_pylist([dict(zip(_schema("variant").names, r)) for r in vrows], _schema("variant")))
                aw.write_table(pa.Table.from_pylist([dict(zip(_schema("variant_ancestry").names, r)) for r in arows],
                                                    _schema("variant_ancestry")))
                vrows.clear()
                arows.clear()

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
                vrows.append((variant_id, c, p, r, alt.decode(), rsid, gene, int(ac.sum()), int(an.sum()), int(hom.sum()), None))
                for i, name in enumerate(ANCESTRIES):
                    arows.append((variant_id, name, ANCESTRY_LABELS[name], i + 1, int(ac[i]), int(an[i]), int(hom[i]), None))
                arows.append((variant_id, "total", ANCESTRY_LABELS["total"], K + 1, int(ac.sum()), int(an.sum()), int(hom.sum()), None))
            if len(vrows) >= BLOCK_VARIANTS:
                flush()
        flush()
    return variant_path, ancestry_path


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
