"""The variant index: a VCF read into a genotype store — exact genotypes, variants, counts and carriers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pysam
import pytest
from pyroaring import BitMap

from research_workbench.genomics.store import GenotypeStore
from research_workbench.index.genotype_store import pack_bed
from research_workbench.index.variants import build_genotype_store

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000000>
##contig=<ID=chr2,length=1000000>
##INFO=<ID=GENE,Number=1,Type=String,Description="Gene">
##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: Allele|Consequence">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
"""
# Samples: 30, 10, 20 are persons; "NA1" is not a number, 99 is not a person of the CDR.
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t30\t10\tNA1\t99\t20\n"
LINES = [
    "chr1\t100\trs1\tA\tG\t.\tPASS\tGENE=ABC;CSQ=G|missense_variant&splice_region_variant\tGT\t0/1\t1/1\t0/0\t1/1\t./.",
    "chr1\t200\t.\tC\tT,G\t.\tPASS\t.\tGT\t1|2\t2/2\t0/0\t0/1\t0/1",  # multi-allelic: one variant per ALT
    "chr2\t300\trs3\tT\tA\t.\tPASS\tCSQ=A|synonymous_variant\tGT:DP\t0/1:12\t./1:3\t1/1:7\t0/0:9\t1/1:20",  # general path
    "chr2\t400\trs4\tG\tC\t.\tPASS\t.\tGT\t1\t0\t1\t1\t.",  # haploid calls
]


@pytest.fixture()
def vcf(tmp_path: Path) -> Path:
    plain = tmp_path / "toy.vcf"
    plain.write_text(HEADER + COLUMNS + "\n".join(LINES) + "\n")
    pysam.tabix_compress(str(plain), str(plain) + ".gz", force=True)
    return Path(str(plain) + ".gz")


def test_a_vcf_becomes_biallelic_alt_counts_of_the_persons_in_person_id_order(vcf: Path, tmp_path: Path):
    counts = build_genotype_store(vcf, tmp_path / "index", "wgs", persons={10, 20, 30, 40})
    assert counts == {"variants": 5, "samples": 3}
    store = GenotypeStore.open(tmp_path / "index")
    assert store.samples.tolist() == [10, 20, 30]
    assert store.read(range(5)).tolist() == [
        [2, -9, 1],  # rs1
        [0, 1, 1],  # 1-200-C-T: the sample with 1|2 carries one T; 2/2 carries none
        [2, 0, 1],  # 1-200-C-G
        [-9, 2, 1],  # rs3: a half-called ./1 is missing, as in PLINK
        [0, -9, 1],  # rs4, haploid: 0 or 1 ALT allele
    ]


def test_the_variant_table_has_ids_annotations_and_frequencies_over_the_stores_samples(vcf: Path, tmp_path: Path):
    build_genotype_store(vcf, tmp_path / "index", "wgs", persons={10, 20, 30})
    rows = GenotypeStore.open(tmp_path / "index").variants.to_pylist()
    assert [(r["variant_id"], r["rsid"], r["gene"], r["consequence"]) for r in rows] == [
        ("1-100-A-G", "rs1", "ABC", "missense_variant"),
        ("1-200-C-T", None, None, None),
        ("1-200-C-G", None, None, None),
        ("2-300-T-A", "rs3", None, "synonymous_variant"),
        ("2-400-G-C", "rs4", None, None),
    ]
    first = rows[0]
    assert (first["allele_count"], first["allele_number"], first["het_count"], first["hom_count"]) == (3, 4, 1, 1)
    assert first["allele_frequency"] == pytest.approx(0.75)
    assert first["call_rate"] == pytest.approx(2 / 3)
    assert [r["variant_index"] for r in rows] == [0, 1, 2, 3, 4]


def test_carriers_are_kept_apart_by_zygosity_as_store_positions(vcf: Path, tmp_path: Path):
    build_genotype_store(vcf, tmp_path / "index", "wgs", persons={10, 20, 30})
    db = sqlite3.connect(tmp_path / "index" / "genomics" / "wgs.carriers.sqlite")
    rows = {i: (list(BitMap.deserialize(het)), list(BitMap.deserialize(hom)))
            for i, het, hom in db.execute("SELECT variant_index, het, hom FROM carriers")}
    # positions in the store's samples (10, 20, 30)
    assert rows[0] == ([2], [0])
    assert rows[2] == ([2], [0])
    assert rows[3] == ([2], [1])


def test_the_bim_and_fam_files_read_as_plink_reads_them(vcf: Path, tmp_path: Path):
    build_genotype_store(vcf, tmp_path / "index", "wgs", persons={10, 20, 30})
    base = tmp_path / "index" / "genomics"
    assert (base / "wgs.fam").read_text().splitlines() == ["10\t10\t0\t0\t0\t-9", "20\t20\t0\t0\t0\t-9", "30\t30\t0\t0\t0\t-9"]
    assert (base / "wgs.bim").read_text().splitlines()[1] == "chr1\t1-200-C-T\t0\t200\tT\tC"  # A1 (column 5) = ALT


def test_bed_packing_puts_four_samples_a_byte_low_bits_first_with_a1_as_alt():
    # ALT counts 0, 1, 2, missing → codes 11, 10, 00, 01; a fifth sample spills into a zero-padded byte.
    assert pack_bed(np.array([[0, 1, 2, -9, 2]], dtype=np.int8)) == bytes([0b01_00_10_11, 0b00_00_00_00])


def test_a_data_line_before_the_header_is_refused(tmp_path: Path):
    plain = tmp_path / "bad.vcf"
    plain.write_text("chr1\t1\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n")
    pysam.tabix_compress(str(plain), str(plain) + ".gz", force=True)
    with pytest.raises(ValueError, match="before the #CHROM header"):
        build_genotype_store(Path(str(plain) + ".gz"), tmp_path / "index", "wgs", persons={1})
