"""Genomes: a GRCh38 variant panel, per-sample genotypes from ancestry-specific allele frequencies, a bgzipped and
tabix-indexed multi-sample VCF, a genotyping-array VCF (a subset of the sites), genomic samples and predicted
ancestry.

The panel (``GENOME_VARIANTS`` sites over eleven chromosomes, about a third inside the genes of
``vocabulary/genes.csv``, annotated ``GENE=``) is drawn from the seed. Allele frequencies differ by ancestry
(afr, amr, eas, eur, mid, sas, oth) through the Balding-Nichols model, so genotypes carry ancestry signal. The
causal variants of ``vocabulary/causal_variants.csv`` (real rsIDs and positions: TCF7L2, APOE, APOL1,
CDKN2B-AS1, FTO) are drawn per participant in ``participants`` and raise the risk of the simulated conditions,
so an association test finds them; their genotypes in the VCF are exactly the ones that drove the phenotypes.
Other sites get synthetic rsIDs above rs2000000000 (outside dbSNP's range).

The VCF is written in blocks of variants (memory bounded by block size × samples) as BGZF blocks compressed in
threads, then indexed with pysam (tabix).
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config as C
from .frame import Frame, strings
from .participants import People
from .rng import stream
from .vocab import Vocabulary

CHROMOSOMES = {
    "chr1": 248956422, "chr2": 242193529, "chr6": 170805979, "chr7": 159345973, "chr9": 138394717,
    "chr10": 133797422, "chr11": 135086622, "chr16": 90338345, "chr17": 83257441, "chr19": 58617616, "chr22": 50818468,
}
SYNTHETIC_RSID_BASE = 2_000_000_000
BGZF_BLOCK = 65280
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass
class Panel:
    chrom: np.ndarray  # index into CHROMOSOMES
    pos: np.ndarray
    ref: list[str]
    alt: list[str]
    rsid: list[str]
    gene: list[str]
    af: np.ndarray  # (V, 7) alternate-allele frequency per ancestry
    causal: np.ndarray  # index into vocab.causal_variants, or -1
    on_array: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)


def make_panel(seed: int, vocab: Vocabulary, n_variants: int = C.GENOME_VARIANTS) -> Panel:
    rng = stream(seed, "panel")
    names = list(CHROMOSOMES)
    causal = vocab.causal_variants
    n_random = n_variants - len(causal)
    lengths = np.array(list(CHROMOSOMES.values()), dtype=np.float64)
    per = rng.multinomial(n_random, lengths / lengths.sum())
    genes_by_chrom: dict[str, list[dict]] = {}
    for g in vocab.genes:
        genes_by_chrom.setdefault(g["chrom"], []).append(g)
    chrom, pos = [], []
    taken = {(v["chrom"], int(v["pos"])) for v in causal}
    for ci, (name, k) in enumerate(zip(names, per)):
        in_gene = rng.random(k) < 0.35
        genes = genes_by_chrom.get(name, [])
        p = rng.integers(10_000, CHROMOSOMES[name] - 10_000, k)
        if genes:
            gi = rng.integers(0, len(genes), k)
            gs = np.array([int(genes[i]["start"]) for i in gi])
            ge = np.array([int(genes[i]["end"]) for i in gi])
            p = np.where(in_gene, gs + (rng.random(k) * (ge - gs)).astype(np.int64), p)
        chosen = set()
        for x in p.tolist():
            while x in chosen or (name, x) in taken:
                x += 1
            chosen.add(x)
        chrom += [ci] * k
        pos += sorted(chosen)
    chrom = np.array(chrom + [names.index(v["chrom"]) for v in causal], dtype=np.int64)
    pos = np.array(pos + [int(v["pos"]) for v in causal], dtype=np.int64)
    causal_idx = np.r_[np.full(n_random, -1), np.arange(len(causal))]
    order = np.lexsort((pos, chrom))
    chrom, pos, causal_idx = chrom[order], pos[order], causal_idx[order]
    V = len(pos)
    bases = np.array(list("ACGT"))
    ref_i = rng.integers(0, 4, V)
    alt_i = (ref_i + rng.integers(1, 4, V)) % 4
    ref = bases[ref_i].tolist()
    alt = bases[alt_i].tolist()
    # allele frequencies: rare and common sites, differentiated by ancestry (Balding-Nichols, F ~ 0.03-0.12)
    p0 = np.where(rng.random(V) < 0.55, rng.beta(0.4, 25.0, V), rng.uniform(0.03, 0.5, V))
    p0 = np.clip(p0, 0.0005, 0.95)
    F = rng.uniform(0.03, 0.12, (V, 1))
    a = p0[:, None] * (1 - F) / F
    b = (1 - p0[:, None]) * (1 - F) / F
    af = np.clip(rng.beta(a, b, (V, 6)), 0.0, 0.999)
    af = np.concatenate([af, (0.3 * af[:, 0] + 0.4 * af[:, 1] + 0.3 * af[:, 3])[:, None]], axis=1)
    rsid = [f"rs{SYNTHETIC_RSID_BASE + i}" for i in range(V)]
    for j in np.flatnonzero(causal_idx >= 0).tolist():
        v = causal[causal_idx[j]]
        ref[j], alt[j], rsid[j] = v["ref"], v["alt"], v["rsid"]
        af[j] = [float(v[f"af_{x}"]) for x in C.ANCESTRIES]
    gene = []
    for c, x in zip(chrom.tolist(), pos.tolist()):
        hit = ""
        for g in genes_by_chrom.get(names[c], []):
            if int(g["start"]) <= x <= int(g["end"]):
                hit = g["gene"]
                break
        gene.append(hit)
    on_array = (causal_idx >= 0) | ((af.max(axis=1) >= 0.01) & (np.arange(V) % C.ARRAY_EVERY == 0))
    return Panel(chrom, pos, ref, alt, rsid, gene, af, causal_idx, on_array)


# ---- per chunk: samples and predicted ancestry -------------------------------------------------------------
def chunk_genomics(rng: np.random.Generator, people: People, specimen_day: np.ndarray) -> tuple[dict[str, Frame], dict]:
    p = people
    rows = np.flatnonzero(p.has_genome)
    k = len(rows)
    side = {"person_id": p.person_id[rows], "ancestry": p.ancestry[rows], "genotypes": p.genotypes[rows]}
    if k == 0:
        return {}, side
    pid = p.person_id[rows]
    day = specimen_day[rows]
    sample_ids = [f"wgs_{x}" for x in pid.tolist()] + [f"array_{x}" for x in pid.tolist()]
    samples = {
        "sample_id": strings(np.arange(2 * k), sample_ids),
        "person_id": np.r_[pid, pid],
        "data_type": strings(np.r_[np.zeros(k, dtype=np.int64), np.ones(k, dtype=np.int64)], ["wgs", "array"]),
        "collection_date": np.r_[day, day].astype(np.int32),
        "src_id": strings(np.zeros(2 * k, dtype=np.int64), ["biobank"]),
    }
    anc = p.ancestry[rows].astype(np.int64)
    alpha = np.full((k, 6), 0.4)
    clear = anc < 6
    alpha[clear, anc[clear]] = 40.0
    mixed = np.flatnonzero(~clear)
    two = rng.integers(0, 6, (len(mixed), 2))
    alpha[mixed, two[:, 0]] = 3.0
    alpha[mixed, two[:, 1]] += 3.0
    probs = rng.gamma(alpha)
    probs /= probs.sum(axis=1, keepdims=True)
    probs = np.round(probs, 4)
    best = probs.argmax(axis=1)
    pred = np.where(probs.max(axis=1) >= 0.75, best, 6)
    prediction = {"person_id": pid, "ancestry_pred": strings(pred, list(C.ANCESTRIES))}
    for i, name in enumerate(C.ANCESTRIES[:6]):
        prediction[f"probability_{name}"] = probs[:, i]
    return {"genomic_sample": samples, "ancestry_prediction": prediction}, side


# ---- the VCF files -------------------------------------------------------------------------------------------
class BgzfWriter:
    """BGZF (blocked gzip) output, compressed in threads; deterministic for a given zlib."""

    def __init__(self, path: Path, level: int = 1, threads: int = 2):
        self.fh = open(path, "wb")
        self.level = level
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.pending = bytearray()

    def _block(self, data: bytes) -> bytes:
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        cdata = comp.compress(data) + comp.flush()
        if len(cdata) > 65536 - 26:
            comp = zlib.compressobj(0, zlib.DEFLATED, -15)
            cdata = comp.compress(data) + comp.flush()
        header = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(cdata) + 25)
        return header + cdata + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))

    def write(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) >= 64 * BGZF_BLOCK:
            full = len(self.pending) // BGZF_BLOCK * BGZF_BLOCK
            self._flush(bytes(self.pending[:full]))
            del self.pending[:full]

    def _flush(self, data: bytes) -> None:
        pieces = [data[i : i + BGZF_BLOCK] for i in range(0, len(data), BGZF_BLOCK)]
        for block in self.pool.map(self._block, pieces):
            self.fh.write(block)

    def close(self) -> None:
        if self.pending:
            self._flush(bytes(self.pending))
            self.pending.clear()
        self.fh.write(_BGZF_EOF)
        self.fh.close()
        self.pool.shutdown()


_GT = np.frombuffer(b"0/0\t0/1\t1/1\t", dtype=np.uint32)
_GT_LAST = np.frombuffer(b"0/0\n0/1\n1/1\n", dtype=np.uint32)


def _header(panel: Panel, samples: list[str], array: bool) -> bytes:
    lines = [
        "##fileformat=VCFv4.2",
        "##source=research_workbench.synth",
        "##reference=GRCh38",
    ]
    for name, length in CHROMOSOMES.items():
        lines.append(f"##contig=<ID={name},length={length},assembly=GRCh38>")
    lines += [
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count in genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">',
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene overlapping the variant">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ]
    if array:
        lines.append("##description=Genotyping array: a subset of the whole-genome sites")
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]))
    return ("\n".join(lines) + "\n").encode()


def write_vcfs(seed: int, panel: Panel, person_ids: np.ndarray, ancestry: np.ndarray, causal_genotypes: np.ndarray,
               wgs_path: Path, array_path: Path, progress=None) -> dict:
    """Write the WGS and array VCFs (bgzipped, with .tbi indexes). Samples are columns in person_id order."""
    import pysam

    S = len(person_ids)
    order = np.argsort(person_ids, kind="stable")
    person_ids, ancestry, causal_genotypes = person_ids[order], ancestry[order].astype(np.int64), causal_genotypes[order]
    samples = [str(x) for x in person_ids.tolist()]
    V = len(panel)
    block = int(np.clip((48 << 20) // max(4 * S, 1), 1, 512))
    names = list(CHROMOSOMES)
    wgs, arr = BgzfWriter(wgs_path), BgzfWriter(array_path)
    wgs.write(_header(panel, samples, False))
    arr.write(_header(panel, samples, True))
    n_blocks = (V + block - 1) // block
    array_sites = 0
    for b in range(n_blocks):
        lo, hi = b * block, min(V, (b + 1) * block)
        B = hi - lo
        if S:
            rng = stream(seed, "genotypes", b)
            thr = np.round(panel.af[lo:hi][:, ancestry] * 65536).astype(np.uint32)  # (B, S)
            h = rng.integers(0, 65536, size=(2, B, S), dtype=np.uint16)
            g = (h[0] < thr).astype(np.uint8) + (h[1] < thr)
            del h, thr
            for j in np.flatnonzero(panel.causal[lo:hi] >= 0).tolist():
                g[j] = causal_genotypes[:, panel.causal[lo + j]]
        else:
            g = np.zeros((B, 0), dtype=np.uint8)
        ac = g.sum(axis=1, dtype=np.int64)
        for j in range(B):
            v = lo + j
            info = f"AC={ac[j]};AN={2 * S};AF={(ac[j] / (2 * S)) if S else 0:.6g}"
            if panel.gene[v]:
                info += f";GENE={panel.gene[v]}"
            prefix = f"{names[panel.chrom[v]]}\t{panel.pos[v]}\t{panel.rsid[v]}\t{panel.ref[v]}\t{panel.alt[v]}\t.\tPASS\t{info}\tGT"
            if S:
                text = _GT[g[j]]
                text[-1] = _GT_LAST[g[j][-1]]
                line = prefix.encode() + b"\t" + text.tobytes()
            else:
                line = prefix.encode() + b"\n"
            wgs.write(line)
            if panel.on_array[v]:
                arr.write(line)
                array_sites += 1
        if progress:
            progress("genomes", b + 1, n_blocks)
    wgs.close()
    arr.close()
    for path in (wgs_path, array_path):
        pysam.tabix_index(str(path), preset="vcf", force=True, index=str(path) + ".tbi")
    return {"variants": V, "array_variants": array_sites, "samples": S, "reference": "GRCh38", "chromosomes": names}
