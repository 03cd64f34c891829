"""Cohort genotype extracts (``genomics.extract``, ``workbench genomics extract``): every format read back with its
own reader holds the exact expected matrix; orders, orientation and text files exact; manifest hashes true;
refusals name their field; an error or a cancellation leaves nothing."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from research_workbench.cdr.store import sha256_file
from research_workbench.cli.commands import app
from research_workbench.genomics.extract import ExtractCancelled, extract, parse_request, plan
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.genotype_store import GenotypeStoreWriter

runner = CliRunner()
M = -9  # a missing call

# The tiny store: samples in an order that is not person-id order, two chromosomes, an indel, variants without an
# rsID, missing calls.
SAMPLES = [107, 101, 105, 103, 109, 102, 108, 104, 106]
VARIANTS = [  # (chrom, pos, rsid, ref, alt, gene)
    ("chr1", 100, "rs1", "A", "G", "GENEA"),
    ("chr1", 200, "rs2", "C", "T", "GENEA"),
    ("chr1", 300, None, "AT", "A", "GENEA"),
    ("chr1", 400, "rs4", "G", "C", None),
    ("chr1", 500, "rs5", "T", "G", None),
    ("chr1", 600, "rs6", "A", "C", "OTHER"),
    ("chr2", 50, "rs7", "G", "A", None),
    ("chr2", 100, "rs8", "C", "A", "GENEB"),
    ("chr2", 200, None, "T", "C", "GENEB"),
    ("chr2", 250, "rs10", "A", "T", None),
    ("chr2", 300, "rs11", "G", "T", None),
    ("chr2", 400, "rs12", "C", "G", None),
]
GENOTYPES = np.array([  # columns in SAMPLES order
    [0, 1, 2, 0, 1, 0, M, 2, 1],
    [2, 2, 1, M, 0, 0, 1, 0, 0],
    [1, 0, 0, 1, 2, M, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1],
    [M, 0, 0, 0, 0, 0, 0, 0, 0],
    [2, 2, 2, 2, 2, 2, 2, 2, 2],
    [0, M, 1, 2, 0, 1, 2, 0, 0],
    [1, 0, M, 0, 0, 2, 1, 0, 1],
    [0, M, M, M, 0, M, M, 0, 0],
    [0, 1, 0, 1, 0, 1, 0, 1, 0],
    [2, 1, 0, 2, 1, 0, 2, 1, 0],
], dtype=np.int8)

# The cohort: 999 has no genome, 103 comes twice. Its samples with genomes, ascending: 101, 102, 103, 105, 108.
COHORT = [108, 103, 999, 101, 105, 102, 103]
COHORT_SAMPLES = [101, 102, 103, 105, 108]
# Gene GENEA (chr1:100, 200, 300) and chr2:100-250 (chr2:100, 200, 250).
SELECTION = {"genes": ["genea"], "regions": ["chr2:100-250"]}
EXPECTED = np.array([  # variants in genome order × COHORT_SAMPLES
    [1, 0, 0, 2, M],
    [2, 0, M, 1, 1],
    [0, M, 1, 0, 0],
    [M, 1, 2, 1, 2],
    [0, 2, 0, M, 1],
    [M, M, M, M, M],  # chr2:250: no call in the cohort
], dtype=np.int8)
FILES = ["t.vcf.gz", "t.vcf.gz.tbi", "t.bed", "t.bim", "t.fam", "t.pgen", "t.pvar", "t.psam",
         "t.bgen", "t.bgen.bgi", "t.sample"]


def write_store(index_dir: Path, variants=VARIANTS, genotypes=GENOTYPES, samples=SAMPLES) -> GenotypeStore:
    writer = GenotypeStoreWriter(index_dir, "wgs", np.array(samples))
    writer.add([{"variant_id": f"{c.removeprefix('chr')}-{p}-{r}-{a}", "chrom": c, "pos": p, "rsid": rs, "ref": r,
                 "alt": a, "gene": g} for c, p, rs, r, a, g in variants], genotypes)
    writer.close()
    (index_dir / "index.json").write_text(json.dumps({"cdr": "/releases/r1/controlled", "cdr_manifest_sha256": "c0ffee",
                                                      "created_at": "2026-11-29T00:00:00+00:00"}))
    return GenotypeStore.open(index_dir)


@pytest.fixture
def store(tmp_path) -> GenotypeStore:
    return write_store(tmp_path / "index")


@pytest.fixture
def extracted(store, tmp_path) -> Path:
    extract(store, COHORT, {"selection": SELECTION, "name": "t"}, tmp_path / "out")
    return tmp_path / "out"


def counts_from_gt(gt) -> int:
    return M if None in gt else sum(gt)


# -- every format, read back by its own reader ----------------------------------------------------------------

def test_vcf_read_by_pysam_holds_the_expected_genotypes_samples_and_info(extracted):
    import pysam

    with pysam.VariantFile(str(extracted / "t.vcf.gz")) as vcf:
        assert list(vcf.header.samples) == [str(s) for s in COHORT_SAMPLES]
        assert list(vcf.header.contigs) == ["chr1", "chr2"]
        records = list(vcf)
        matrix = np.array([[counts_from_gt(s["GT"]) for s in r.samples.values()] for r in records])
        assert [(r.chrom, r.pos, r.id, r.ref, r.alts) for r in records] == [
            ("chr1", 100, "rs1", "A", ("G",)), ("chr1", 200, "rs2", "C", ("T",)), ("chr1", 300, None, "AT", ("A",)),
            ("chr2", 100, "rs8", "C", ("A",)), ("chr2", 200, None, "T", ("C",)), ("chr2", 250, "rs10", "A", ("T",))]
        assert [(r.info["AC"], r.info["AN"]) for r in records] == [((3,), 8), ((4,), 8), ((1,), 8), ((6,), 8), ((3,), 8), ((0,), 0)]
        assert [r.info.get("GENE") for r in records] == ["GENEA", "GENEA", "GENEA", "GENEB", "GENEB", None]
        assert [r.info["AF"][0] for r in records[:5]] == pytest.approx([0.375, 0.5, 0.125, 0.75, 0.375])
        assert records[5].info["AF"] == (None,)
        # The tabix index answers a region query.
        assert [r.pos for r in vcf.fetch("chr2", 150, 300)] == [200, 250]
    np.testing.assert_array_equal(matrix, EXPECTED)


def test_vcf_text_is_exact(extracted):
    lines = gzip.decompress((extracted / "t.vcf.gz").read_bytes()).decode().splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    assert lines[-7] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102\t103\t105\t108"
    assert lines[-6:] == [
        "chr1\t100\trs1\tA\tG\t.\t.\tAC=3;AN=8;AF=0.375;GENE=GENEA\tGT\t0/1\t0/0\t0/0\t1/1\t./.",
        "chr1\t200\trs2\tC\tT\t.\t.\tAC=4;AN=8;AF=0.5;GENE=GENEA\tGT\t1/1\t0/0\t./.\t0/1\t0/1",
        "chr1\t300\t.\tAT\tA\t.\t.\tAC=1;AN=8;AF=0.125;GENE=GENEA\tGT\t0/0\t./.\t0/1\t0/0\t0/0",
        "chr2\t100\trs8\tC\tA\t.\t.\tAC=6;AN=8;AF=0.75;GENE=GENEB\tGT\t./.\t0/1\t1/1\t0/1\t1/1",
        "chr2\t200\t.\tT\tC\t.\t.\tAC=3;AN=8;AF=0.375;GENE=GENEB\tGT\t0/0\t1/1\t0/0\t./.\t0/1",
        "chr2\t250\trs10\tA\tT\t.\t.\tAC=0;AN=0;AF=.\tGT\t./.\t./.\t./.\t./.\t./.",
    ]
    assert '##contig=<ID=chr1>' in lines and '##contig=<ID=chr2>' in lines


def test_vcf_read_by_bcftools_holds_the_expected_genotypes(extracted):
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not installed")
    out = subprocess.run(["bcftools", "query", "-f", "[%GT ]\\n", str(extracted / "t.vcf.gz")],
                         capture_output=True, text=True, check=True).stdout
    codes = {"0/0": 0, "0/1": 1, "1/1": 2, "./.": M}
    np.testing.assert_array_equal(np.array([[codes[g] for g in line.split()] for line in out.splitlines()]), EXPECTED)


def test_plink1_read_by_bed_reader_counts_alt_as_a1(extracted):
    from bed_reader import open_bed

    with open_bed(extracted / "t.bed", count_A1=True) as bed:
        values = bed.read(dtype="int8")  # samples × variants; bed-reader's int8 missing value is -127
        assert list(bed.iid) == [str(s) for s in COHORT_SAMPLES]
        assert list(bed.allele_1) == ["G", "T", "A", "A", "C", "T"]  # A1 = ALT
        assert list(bed.allele_2) == ["A", "C", "AT", "C", "T", "A"]
    np.testing.assert_array_equal(np.where(values == -127, M, values).T, EXPECTED)


def test_pgen_read_by_pgenlib_holds_the_expected_genotypes(extracted):
    import pgenlib

    reader = pgenlib.PgenReader(str(extracted / "t.pgen").encode())
    try:
        assert (reader.get_raw_sample_ct(), reader.get_variant_ct()) == (5, 6)
        out = np.empty((6, 5), dtype=np.int8)
        reader.read_range(0, 6, out)
    finally:
        reader.close()
    np.testing.assert_array_equal(out, EXPECTED)


def test_bgen_read_by_bgen_reader_holds_the_expected_probabilities(extracted):
    from bgen import BgenReader

    reader = BgenReader(str(extracted / "t.bgen"), delay_parsing=True)
    try:
        assert list(reader.samples) == [str(s) for s in COHORT_SAMPLES]
        variants = list(reader)
        assert [(v.chrom, v.pos, v.rsid, v.varid, list(v.alleles)) for v in variants] == [
            ("chr1", 100, "rs1", "1-100-A-G", ["A", "G"]), ("chr1", 200, "rs2", "1-200-C-T", ["C", "T"]),
            ("chr1", 300, "1-300-AT-A", "1-300-AT-A", ["AT", "A"]), ("chr2", 100, "rs8", "2-100-C-A", ["C", "A"]),
            ("chr2", 200, "2-200-T-C", "2-200-T-C", ["T", "C"]), ("chr2", 250, "rs10", "2-250-A-T", ["A", "T"])]
        dosage = np.array([v.alt_dosage for v in variants])
        probabilities = np.array([v.probabilities for v in variants])  # variants × samples × 3
    finally:
        reader.close()
    np.testing.assert_array_equal(np.where(np.isnan(dosage), M, dosage).astype(np.int8), EXPECTED)
    called = EXPECTED >= 0
    np.testing.assert_array_equal(probabilities[called], np.eye(3)[EXPECTED[called]])  # hard calls, exactly
    assert np.isnan(probabilities[~called]).all()


# -- orders and text files ----------------------------------------------------------------------------------

def test_bim_fam_pvar_psam_and_sample_files_are_exact(extracted):
    assert (extracted / "t.bim").read_text() == (
        "chr1\trs1\t0\t100\tG\tA\nchr1\trs2\t0\t200\tT\tC\nchr1\t1-300-AT-A\t0\t300\tA\tAT\n"
        "chr2\trs8\t0\t100\tA\tC\nchr2\t2-200-T-C\t0\t200\tC\tT\nchr2\trs10\t0\t250\tT\tA\n")
    assert (extracted / "t.fam").read_text() == "".join(f"{s}\t{s}\t0\t0\t0\t-9\n" for s in COHORT_SAMPLES)
    assert (extracted / "t.pvar").read_text() == (
        "#CHROM\tPOS\tID\tREF\tALT\nchr1\t100\trs1\tA\tG\nchr1\t200\trs2\tC\tT\nchr1\t300\t1-300-AT-A\tAT\tA\n"
        "chr2\t100\trs8\tC\tA\nchr2\t200\t2-200-T-C\tT\tC\nchr2\t250\trs10\tA\tT\n")
    assert (extracted / "t.psam").read_text() == "#IID\n101\n102\n103\n105\n108\n"
    assert (extracted / "t.sample").read_text() == "ID_1 ID_2 missing\n0 0 0\n" + "".join(
        f"{s} {s} 0\n" for s in COHORT_SAMPLES)


def test_variants_come_out_in_genome_order_whatever_the_store_order(tmp_path):
    # A store whose chromosomes and positions are out of order: chr2 first (so it comes first), positions shuffled.
    variants = [("chr2", 300, "rs3", "A", "G", None), ("chr1", 200, "rs2", "A", "G", None),
                ("chr2", 100, "rs1", "A", "G", None), ("chr1", 50, "rs0", "A", "G", None)]
    genotypes = np.array([[0, 1], [1, 1], [2, 0], [M, 2]], dtype=np.int8)
    store = write_store(tmp_path / "index", variants, genotypes, samples=[2, 1])
    extract(store, [1, 2], {"selection": {}, "formats": ["vcf", "pgen"], "name": "t"}, tmp_path / "out")
    assert [line.split("\t")[2] for line in (tmp_path / "out/t.pvar").read_text().splitlines()[1:]] == \
        ["rs1", "rs3", "rs0", "rs2"]
    import pgenlib
    import pysam

    reader = pgenlib.PgenReader(str(tmp_path / "out/t.pgen").encode())
    out = np.empty((4, 2), dtype=np.int8)
    reader.read_range(0, 4, out)
    reader.close()
    np.testing.assert_array_equal(out, [[0, 2], [1, 0], [2, M], [1, 1]])  # samples 1, 2
    with pysam.VariantFile(str(tmp_path / "out/t.vcf.gz")) as vcf:
        assert [(r.chrom, r.pos) for r in vcf.fetch("chr1")] == [("chr1", 50), ("chr1", 200)]


def test_chunking_does_not_change_a_byte_of_the_genotypes(store, tmp_path):
    extract(store, COHORT, {"selection": SELECTION, "name": "t"}, tmp_path / "one")
    extract(store, COHORT, {"selection": SELECTION, "name": "t"}, tmp_path / "many", chunk_size=1)
    for name in ("t.bed", "t.bim", "t.pgen", "t.pvar", "t.bgen"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes(), name
    assert gzip.decompress((tmp_path / "one/t.vcf.gz").read_bytes()) == \
        gzip.decompress((tmp_path / "many/t.vcf.gz").read_bytes())


# -- plan, manifest, result ---------------------------------------------------------------------------------

def test_plan_counts_samples_with_genomes_and_selected_variants(store):
    planned = plan(store, COHORT, {"selection": SELECTION})
    assert list(planned.samples) == COHORT_SAMPLES
    assert list(planned.variant_indices) == [0, 1, 2, 7, 8, 9]
    assert planned.summary() == {
        "kind": "wgs", "selection": "gene GENEA, chr2:100-250", "formats": ["vcf", "plink1", "pgen", "bgen"],
        "persons_requested": 6, "samples": 5, "variants": 6, "variants_selected": 6, "variants_below_min_call_rate": 0}


def test_min_call_rate_keeps_variants_called_in_that_share_of_the_cohort(store, tmp_path):
    planned = plan(store, COHORT, {"selection": SELECTION, "min_call_rate": 0.8})  # 4 of 5 called: kept
    assert list(planned.variant_indices) == [0, 1, 2, 7, 8]
    assert planned.summary()["variants_below_min_call_rate"] == 1
    result = extract(store, COHORT, {"selection": SELECTION, "min_call_rate": 0.8, "formats": ["pgen"], "name": "t"},
                     tmp_path / "out")
    assert (result.variants, result.manifest["variants_below_min_call_rate"]) == (5, 1)
    with pytest.raises(GenomicsError) as err:
        plan(store, COHORT, {"selection": SELECTION, "min_call_rate": 0.81})
    assert err.value.problems == ["min_call_rate: none of the 6 selected variants is called in at least 0.81 of "
                                  "the 5 samples"]


def test_manifest_records_request_index_counts_and_true_hashes(store, tmp_path):
    result = extract(store, COHORT, {"selection": SELECTION, "name": "t"}, tmp_path / "out",
                     about={"data_version": "r1"})
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest == result.manifest
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*FILES, "manifest.json"])
    assert sorted(manifest["files"]) == sorted(FILES)
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(tmp_path / "out" / name), name
        assert entry["bytes"] == (tmp_path / "out" / name).stat().st_size
    assert manifest["index"] == {"path": str((tmp_path / "index").absolute()),
                                 "index_manifest_sha256": sha256_file(tmp_path / "index/index.json"),
                                 "cdr": "/releases/r1/controlled", "cdr_manifest_sha256": "c0ffee",
                                 "index_created_at": "2026-11-29T00:00:00+00:00"}
    assert (manifest["samples"], manifest["variants"], manifest["persons_requested"]) == (5, 6, 6)
    assert manifest["request"]["selection"]["genes"] == ["GENEA"]
    assert manifest["request"]["formats"] == ["vcf", "plink1", "pgen", "bgen"]
    assert manifest["data_version"] == "r1"
    assert manifest["code_version"] == __import__("research_workbench").__version__
    assert manifest["created_at"]
    assert result.files == {"vcf": FILES[:2], "plink1": FILES[2:5], "pgen": FILES[5:8], "bgen": FILES[8:]}


def test_only_the_requested_formats_are_written(store, tmp_path):
    result = extract(store, COHORT, {"selection": SELECTION, "formats": ["bgen", "plink1", "bgen"], "name": "t"},
                     tmp_path / "out")
    assert list(result.files) == ["bgen", "plink1"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["t.bgen", "t.bgen.bgi", "t.sample", "t.bed", "t.bim", "t.fam", "manifest.json"])


def test_progress_is_reported_per_chunk_then_once_done(store, tmp_path):
    calls = []
    extract(store, COHORT, {"selection": SELECTION, "formats": ["plink1"]}, tmp_path / "out", chunk_size=4,
            progress=lambda step, done, total: calls.append((step, done, total)))
    assert calls == [("variants 1–4 of 6", 0, 3), ("variants 5–6 of 6", 1, 3), ("closing and indexing files", 2, 3),
                     ("", 3, 3)]


# -- refusals -------------------------------------------------------------------------------------------------

def refusal(call) -> list[str]:
    with pytest.raises(GenomicsError) as err:
        call()
    return err.value.problems


def test_a_cohort_without_genomes_is_refused(store):
    assert refusal(lambda: plan(store, [999, 998], {"selection": {}})) == [
        "persons: none of the 2 participants has wgs genotypes"]
    assert refusal(lambda: plan(store, [], {"selection": {}})) == ["persons: no participants given (the cohort is empty)"]


def test_a_selection_matching_no_variants_is_refused(store):
    assert refusal(lambda: plan(store, COHORT, {"selection": {"regions": ["chr10:1-5"]}})) == [
        "selection: the selection chr10:1-5 matches no variants in the wgs store"]


def test_bad_request_fields_are_named(store):
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "formats": ["vcf", "vcz"]})) == [
        "formats[1]: Input should be 'vcf', 'plink1', 'pgen' or 'bgen' (got 'vcz')"]
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "formats": []}))[0].startswith("formats: ")
    assert refusal(lambda: plan(store, COHORT, {"selection": {"rsids": ["7903146"]}}))[0].startswith(
        "selection.rsids: not an rsID: '7903146'")
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "min_call_rate": 1.5}))[0].startswith("min_call_rate: ")
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "name": "../up"}))[0].startswith("name: ")
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "kind": "exome"}))[0].startswith("kind: ")
    assert refusal(lambda: plan(store, COHORT, {"formats": ["vcf"]})) == ["selection: Field required"]
    assert refusal(lambda: plan(store, COHORT, {"selection": {}, "kind": "array"})) == [
        "kind: the request is for array genotypes but the store read is wgs"]
    assert refusal(lambda: parse_request(["vcf"])) == [
        "(request): must be an object with selection, formats, kind, min_call_rate, name"]


def test_an_existing_output_directory_is_refused_and_left_alone(store, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/keep.txt").write_text("mine")
    assert refusal(lambda: extract(store, COHORT, {"selection": {}}, tmp_path / "out")) == [
        f"out_dir: {tmp_path / 'out'} exists: an extract writes a new directory"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_an_index_without_its_manifest_is_refused_before_writing(store, tmp_path):
    (tmp_path / "index/index.json").unlink()
    problems = refusal(lambda: extract(store, COHORT, {"selection": {}}, tmp_path / "out"))
    assert problems[0].startswith(f"index: {tmp_path / 'index/index.json'} cannot be read")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_registered_tier_index_is_refused_plainly(rt_index, tmp_path):
    problems = refusal(lambda: GenotypeStore.open(rt_index))
    assert "this index has no wgs genotypes" in problems[0] and "Controlled Tier" in problems[0]
    persons = tmp_path / "persons.txt"
    persons.write_text("1\n")
    result = runner.invoke(app, ["genomics", "extract", "--index", str(rt_index), "--persons", str(persons),
                                          "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["error"] == "Genomics request refused"
    assert "Controlled Tier" in document["problems"][0]
    assert not (tmp_path / "out").exists()


# -- nothing left behind ---------------------------------------------------------------------------------------

def test_cancellation_midway_leaves_no_output_and_no_temporary_directory(store, tmp_path):
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 2  # after two chunks of variants were written

    with pytest.raises(ExtractCancelled):
        extract(store, COHORT, {"selection": SELECTION}, tmp_path / "out", chunk_size=1, cancelled=cancelled)
    assert len(asked) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_an_error_midway_leaves_no_output_and_no_temporary_directory(store, tmp_path):
    def progress(step, done, total):
        if done == 1:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        extract(store, COHORT, {"selection": SELECTION}, tmp_path / "out", chunk_size=2, progress=progress)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


# -- the command --------------------------------------------------------------------------------------------

def test_cli_extracts_a_persons_file_and_reports_json(store, tmp_path):
    persons = tmp_path / "persons.txt"
    persons.write_text("# cohort\n108\n103\n\n999\n101  # first\n105\n102\n")
    result = runner.invoke(app, ["genomics", "extract", "--index", str(tmp_path / "index"), "--persons", str(persons),
                                          "--gene", "GENEA", "--region", "chr2:100-250", "--format", "pgen",
                                          "--name", "t", "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["samples"], document["variants"], document["files"]) == (
        5, 6, {"pgen": ["t.pgen", "t.pvar", "t.psam"]})
    assert json.loads((tmp_path / "out/manifest.json").read_text())["persons_file"] == str(persons)


def test_cli_refuses_bad_person_lines_and_a_missing_cohort(store, tmp_path):
    persons = tmp_path / "persons.txt"
    persons.write_text("101\nperson 7\n-3\n")
    result = runner.invoke(app, ["genomics", "extract", "--index", str(tmp_path / "index"), "--persons", str(persons),
                                          "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        f"{persons}, line 2: 'person 7' is not a person id (a whole number)",
        f"{persons}, line 3: '-3' is not a person id (a whole number)"]
    result = runner.invoke(app, ["genomics", "extract", "--index", str(tmp_path / "index"), "--out", str(tmp_path / "out"),
                                          "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == ["--cohort / --persons: give exactly one of them"]
    result = runner.invoke(app, ["genomics", "extract", "--index", str(tmp_path / "index"), "--persons", str(persons),
                                          "--format", "zip", "--out", str(tmp_path / "out"), "--json"])
    assert json.loads(result.stdout)["problems"] == [
        "formats[0]: Input should be 'vcf', 'plink1', 'pgen' or 'bgen' (got 'zip')"]
    assert not (tmp_path / "out").exists()


# -- end to end: a Cohort Builder cohort of the synthetic Controlled Tier, checked by PLINK 2 --------------------

WHOLE_GENOME = {"includes": [{"id": "g", "items": [{
    "id": "i", "type": "WHOLE_GENOME_VARIANT", "modifiers": [],
    "searchParameters": [{"parameterId": "p", "domain": "WHOLE_GENOME_VARIANT", "type": "NONE", "standard": True,
                          "group": False, "attributes": []}]}]}], "excludes": [], "dataFilters": []}


def plink2_alt_freqs(arguments: list[str], out: Path) -> list[tuple[str, str, str, float]]:
    """(ID, REF, ALT, ALT frequency) of each variant, in file order, as ``plink2 --freq`` reports them."""
    subprocess.run(["plink2", *arguments, "--freq", "--threads", "1", "--out", str(out)], check=True,
                   capture_output=True)
    lines = (out.parent / f"{out.name}.afreq").read_text().splitlines()
    header = lines[0].lstrip("#").split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    return [(row["ID"], row["REF"], row["ALT"], float(row["ALT_FREQS"])) for row in rows]


def test_cli_extract_of_tcf7l2_agrees_with_plink2_in_every_format(ct_index, tmp_path):
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not installed (CI has it)")
    definition = tmp_path / "wgs.json"
    definition.write_text(json.dumps(WHOLE_GENOME))
    result = runner.invoke(app, ["genomics", "extract", "--index", str(ct_index), "--cohort", str(definition),
                                          "--gene", "TCF7L2", "--name", "tcf7l2", "--out", str(tmp_path / "x"),
                                          "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    store = GenotypeStore.open(ct_index)
    # Everyone with a whole genome is the store's samples, so the cohort's ALT frequencies are the store's own.
    assert document["samples"] == len(store.samples)
    variants = store.variants.filter(pc.equal(store.variants["gene"], "TCF7L2"))  # store order is genome order
    assert document["variants"] == variants.num_rows > 0
    ids = [rs or vid for rs, vid in zip(variants["rsid"].to_pylist(), variants["variant_id"].to_pylist())]
    expected = list(zip(variants["ref"].to_pylist(), variants["alt"].to_pylist(),
                        variants["allele_frequency"].to_pylist()))
    x = tmp_path / "x"
    runs = {
        "plink1": ["--bfile", str(x / "tcf7l2")],
        "pgen": ["--pfile", str(x / "tcf7l2")],
        "bgen": ["--bgen", str(x / "tcf7l2.bgen"), "ref-first", "--sample", str(x / "tcf7l2.sample")],
        "vcf": ["--vcf", str(x / "tcf7l2.vcf.gz")],
    }
    for fmt, arguments in runs.items():
        found = plink2_alt_freqs(arguments, tmp_path / f"freq_{fmt}")
        if fmt != "vcf":  # a VCF's ID is the rsID or "."
            assert [row[0] for row in found] == ids, fmt
        assert [row[1:3] for row in found] == [row[:2] for row in expected], fmt
        np.testing.assert_allclose([row[3] for row in found], [row[2] for row in expected], atol=1e-6,
                                   err_msg=fmt)
