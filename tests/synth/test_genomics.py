"""Genomes: the VCF is valid, indexed, ancestry-structured and carries the causal variants."""

from __future__ import annotations

import gzip

import numpy as np
import pysam

from research_workbench.synth import config as C
from research_workbench.synth.vocab import vocabulary

from .conftest import scalar


def read_vcf(path):
    """Positions, ids and a (variants × samples) allele-count matrix from a VCF of diploid GT fields."""
    samples, ids, chroms, rows = [], [], [], []
    with gzip.open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"##"):
                continue
            if line.startswith(b"#CHROM"):
                samples = line.rstrip(b"\n").split(b"\t")[9:]
                continue
            fields = line.split(b"\t", 9)
            chroms.append(fields[0].decode())
            ids.append(fields[2].decode())
            gt = np.frombuffer(fields[9], dtype=np.uint8).reshape(-1, 4)
            rows.append((gt[:, 0] - 48) + (gt[:, 2] - 48))
    return [int(s) for s in samples], ids, chroms, np.array(rows, dtype=np.int8)


def test_vcf_is_indexed_and_has_ten_thousand_variants_over_several_chromosomes(synth_cdr):
    path = synth_cdr / "genomics" / "wgs.vcf.gz"
    assert (synth_cdr / "genomics" / "wgs.vcf.gz.tbi").is_file()
    vcf = pysam.VariantFile(str(path))
    assert any(r.key == "reference" and r.value == "GRCh38" for r in vcf.header.records)
    records = list(vcf.fetch("chr10", 112_998_000, 112_999_000))
    assert any(r.id == "rs7903146" for r in records)
    tbx = pysam.TabixFile(str(path))
    assert len(tbx.contigs) >= 5
    total = sum(1 for _ in tbx.fetch())
    assert total >= 10_000


def test_vcf_samples_are_the_genome_participants_and_the_array_is_a_subset(synth_cdr, con):
    samples, ids, _, g = read_vcf(synth_cdr / "genomics" / "wgs.vcf.gz")
    wgs = {r[0] for r in con.execute("SELECT person_id FROM genomic_sample WHERE data_type = 'wgs'").fetchall()}
    assert set(samples) == wgs
    a_samples, a_ids, _, a_g = read_vcf(synth_cdr / "genomics" / "array.vcf.gz")
    assert a_samples == samples
    assert 500 <= len(a_ids) < len(ids)
    index = {v: i for i, v in enumerate(ids)}
    rows = [index[v] for v in a_ids]
    assert np.array_equal(a_g, g[rows])  # the array genotypes are the WGS genotypes at those sites
    assert scalar(con, "SELECT count(*) FROM ancestry_prediction") == len(samples)


def test_allele_frequencies_differ_by_predicted_ancestry(synth_cdr, con):
    samples, ids, _, g = read_vcf(synth_cdr / "genomics" / "wgs.vcf.gz")
    pred = dict(con.execute("SELECT person_id, ancestry_pred FROM ancestry_prediction").fetchall())
    groups = np.array([pred[s] for s in samples])
    common = g.mean(axis=1) / 2 > 0.05
    afr, eur = g[:, groups == "afr"].mean(axis=1) / 2, g[:, groups == "eur"].mean(axis=1) / 2
    assert (groups == "afr").sum() > 50 and (groups == "eur").sum() > 200
    assert np.mean(np.abs(afr - eur)[common]) > 0.03
    assert set(np.unique(groups)) <= set(C.ANCESTRIES)


def _cmh_chi2(g: np.ndarray, case: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Cochran-Mantel-Haenszel allelic test per variant, stratified by ancestry (chi-square, 1 df)."""
    num = np.zeros(g.shape[0])
    var = np.zeros(g.shape[0])
    for s in np.unique(strata):
        m = strata == s
        if case[m].all() or (~case[m]).all():
            continue
        a = g[:, m & case].sum(axis=1).astype(float)  # alt alleles in cases
        n1, n0 = 2 * (m & case).sum(), 2 * (m & ~case).sum()
        alt = g[:, m].sum(axis=1).astype(float)
        n = n1 + n0
        num += a - n1 * alt / n
        var += n1 * n0 * alt * (n - alt) / (n * n * (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, num ** 2 / var, 0.0)


def test_association_test_finds_the_type_2_diabetes_variant(synth_cdr, con):
    samples, ids, _, g = read_vcf(synth_cdr / "genomics" / "wgs.vcf.gz")
    ehr = {r[0] for r in con.execute("SELECT DISTINCT person_id FROM visit_occurrence").fetchall()}
    t2d = {r[0] for r in con.execute("""SELECT DISTINCT person_id FROM condition_occurrence c JOIN concept_ancestor a
                                        ON a.descendant_concept_id = c.condition_concept_id WHERE a.ancestor_concept_id = 201826""").fetchall()}
    pred = dict(con.execute("SELECT person_id, ancestry_pred FROM ancestry_prediction").fetchall())
    keep = np.array([s in ehr for s in samples])
    case = np.array([s in t2d for s in samples])[keep]
    strata = np.array([pred[s] for s in samples])[keep]
    chi2 = _cmh_chi2(g[:, keep], case, strata)
    causal = ids.index("rs7903146")
    assert chi2[causal] > 10.8  # p < 0.001
    rank = (chi2 > chi2[causal]).sum()
    assert rank < 50  # in the top 0.5 % of 10,000 sites
    null = np.array([i for i, v in enumerate(ids) if not v.startswith("rs") or int(v[2:]) >= 2_000_000_000])
    assert (chi2[null] > 10.8).mean() < 0.01  # null sites are rarely "significant"
    assert {v["rsid"] for v in vocabulary().causal_variants} <= set(ids)
