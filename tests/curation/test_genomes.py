"""Controlled Tier genomes: samples kept, renamed and re-counted, byte for byte (fast and general paths alike)."""

from __future__ import annotations

import pysam
import pytest

from research_workbench.curation.genomes import _SampleSelector, deidentify_vcf

HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr1,length=1000000>",
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">',
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">',
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
]
CHROM = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102\t103\t104"
LINES = [
    # GT only, three characters each: the vectorised path. Sample 102 (withdrawn) carries the only 1/1.
    "chr1\t100\trs1\tA\tG\t.\tPASS\tAC=3;AN=8;AF=0.375\tGT\t0/1\t1/1\t0/0\t0|0",
    # a missing call is not counted in AN
    "chr1\t200\trs2\tC\tT\t.\tPASS\tDP=9;AC=2;AN=8;AF=0.25\tGT\t./.\t0/1\t1|1\t0/0",
    # multi-allelic, with other INFO keys left alone
    "chr1\t300\trs3\tG\tA,C\t.\tPASS\tAC=1,2;AN=8;AF=0.125,0.25;DB\tGT\t0/2\t1/1\t0/2\t0/0",
    # GT:DP: the general path
    "chr1\t400\trs4\tT\tA\t.\tPASS\tAC=2;AN=8;AF=0.25\tGT:DP\t0/1:12\t1/1:30\t0/0:8\t0/0:5",
    # no allele counts in INFO: INFO unchanged
    "chr1\t500\trs5\tA\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\t1/1",
]
EXPECTED = [
    "chr1\t100\trs1\tA\tG\t.\tPASS\tAC=1;AN=6;AF=0.166667\tGT\t0/1\t0/0\t0|0",
    "chr1\t200\trs2\tC\tT\t.\tPASS\tDP=9;AC=2;AN=4;AF=0.5\tGT\t./.\t1|1\t0/0",
    "chr1\t300\trs3\tG\tA,C\t.\tPASS\tAC=0,2;AN=6;AF=0,0.333333;DB\tGT\t0/2\t0/2\t0/0",
    "chr1\t400\trs4\tT\tA\t.\tPASS\tAC=1;AN=6;AF=0.166667\tGT:DP\t0/1:12\t0/0:8\t0/0:5",
    "chr1\t500\trs5\tA\tT\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1",
]


def _write_vcf(path, lines):
    with pysam.BGZFile(str(path), "wb") as out:
        out.write(("\n".join(HEADER + [CHROM] + lines) + "\n").encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)


def _read_lines(path):
    with pysam.BGZFile(str(path), "rb") as vcf:
        return [line.decode() for line in vcf]


def test_withdrawn_sample_dropped_others_renamed_and_allele_counts_recomputed(tmp_path):
    source, target = tmp_path / "raw.vcf.gz", tmp_path / "out.vcf.gz"
    _write_vcf(source, LINES)
    kept = deidentify_vcf(source, target, {"101": "R9", "103": "R7", "104": "R1"}, compression_level=1)
    lines = _read_lines(target)
    assert kept == 3
    assert lines[: len(HEADER)] == HEADER
    assert lines[len(HEADER)] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tR9\tR7\tR1"
    assert lines[len(HEADER) + 1 :] == EXPECTED
    assert (tmp_path / "out.vcf.gz.tbi").is_file()
    with pysam.VariantFile(str(target)) as vcf:  # indexed: a region query works
        assert [r.pos for r in vcf.fetch("chr1", 250, 450)] == [300, 400]


@pytest.mark.parametrize("line", LINES)
def test_vectorised_and_general_paths_write_the_same_bytes(line):
    selector = _SampleSelector(4, [0, 2, 3])
    fixed, body = line.split("\t")[:9], "\t".join(line.split("\t")[9:])
    general = selector._general([f.encode() for f in fixed], body.encode())
    fast = selector._fast([f.encode() for f in fixed], body.encode())
    assert (fast is None) == ("GT:DP" in line)  # only the GT:DP line needs the general path
    assert fast is None or fast == general
    assert selector.line(line.encode()).decode() == EXPECTED[LINES.index(line)]


def test_no_sample_kept_leaves_the_sites_with_zero_counts(tmp_path):
    source, target = tmp_path / "raw.vcf.gz", tmp_path / "out.vcf.gz"
    _write_vcf(source, LINES[:1])
    assert deidentify_vcf(source, target, {}) == 0
    assert _read_lines(target)[-2:] == [
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT",
        "chr1\t100\trs1\tA\tG\t.\tPASS\tAC=0;AN=0;AF=.\tGT",
    ]


def test_data_line_before_the_chrom_header_is_refused(tmp_path):
    source = tmp_path / "raw.vcf.gz"
    with pysam.BGZFile(str(source), "wb") as out:
        out.write(("\n".join(HEADER + LINES[:1]) + "\n").encode())
    with pytest.raises(ValueError, match="a data line comes before the #CHROM header"):
        deidentify_vcf(source, tmp_path / "out.vcf.gz", {"101": "R1"})
