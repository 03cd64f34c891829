"""Genomics jobs (``genomics.jobs``): one request model per kind, validated with every bad field named by its path;
``run_job`` calls the library and writes a new directory whole or not at all (a cancellation or an error leaves
nothing, not even a hidden sibling); ``persons_read`` is exactly the cohort's genotyped participants;
``participant_level`` says which files are downloads of participant-level data.

Unit tests run on a tiny store written with ``GenotypeStoreWriter`` (exact genotypes); the kinds that read the CDR
as well (frequencies, PCA plots, GWAS covariates) run end to end on the synthetic Controlled Tier (``ct_index``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from research_workbench.genomics import jobs
from research_workbench.genomics.ancestry_af import ancestry_frequencies
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.genotype_store import GenotypeStoreWriter
from research_workbench.index.variant_query import VariantSelection

M = -9
SAMPLES = [30, 10, 50, 20, 40]  # store order is not person-id order
VARIANTS = [("chr1", 100, "rs1", "A", "G", "GENEA"), ("chr1", 200, "rs2", "C", "T", "GENEA"),
            ("chr2", 300, "rs3", "G", "A", "GENEB")]
GENOTYPES = np.array([[0, 1, 2, M, 1],
                      [2, 0, 1, 1, 0],
                      [1, 1, 0, 0, 2]], dtype=np.int8)


def write_store(index_dir: Path) -> Path:
    writer = GenotypeStoreWriter(index_dir, "wgs", np.array(SAMPLES))
    writer.add([{"variant_id": f"{c[3:]}-{p}-{r}-{a}", "chrom": c, "pos": p, "rsid": rs, "ref": r, "alt": a, "gene": g}
                for c, p, rs, r, a, g in VARIANTS], GENOTYPES)
    writer.close()
    (index_dir / "index.json").write_text(json.dumps({"cdr": "/releases/r1/controlled", "cdr_manifest_sha256": "c0",
                                                      "created_at": "2026-11-29T00:00:00+00:00"}))
    return index_dir


@pytest.fixture
def index(tmp_path) -> Path:
    return write_store(tmp_path / "index")


def problems(kind, request) -> list[str]:
    with pytest.raises(GenomicsError) as caught:
        jobs.validate(kind, request)
    return caught.value.problems


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


# -- validation --------------------------------------------------------------------------------------------------

def test_every_kind_has_a_request_model_whose_defaults_are_the_librarys():
    assert jobs.JOB_KINDS == ("extract", "gwas", "pca", "phewas", "frequencies")
    extract = jobs.validate("extract", {"person_ids": [1], "selection": {}})
    assert (extract.formats, extract.kind, extract.name, extract.selection) == (
        ["vcf", "plink1", "pgen", "bgen"], "wgs", "extract", VariantSelection())
    gwas = jobs.validate("gwas", {"measurement_concept_id": 3004410})
    assert (gwas.covariates, gwas.min_maf, gwas.min_call_rate, gwas.model) == (["age", "sex"], 0.01, 0.95, None)
    pca = jobs.validate("pca", {})
    assert (pca.person_ids, pca.k, pca.prune.window, pca.prune.step, pca.prune.r2) == (None, 10, 50, 5, 0.2)
    assert jobs.validate("frequencies", {}).person_ids is None


def test_bad_requests_are_refused_naming_each_field_by_its_path():
    assert problems("bogus", {}) == ["kind: 'bogus' is not one of extract, gwas, pca, phewas, frequencies"]
    assert problems("extract", {"selection": {}}) == ["person_ids: Field required"]
    assert problems("extract", {"person_ids": [], "formats": ["vcf", "zip"], "colour": "red"}) == [
        "selection: Field required",  # an extract says which variants: never the whole genome by omission
        "formats[1]: Input should be 'vcf', 'plink1', 'pgen' or 'bgen' (got 'zip')",
        "person_ids: List should have at least 1 item after validation, not 0",
        "colour: Extra inputs are not permitted"]
    assert problems("frequencies", {"selection": {"min_af": 2, "rsids": ["x1"]}}) == [
        "selection.rsids: not an rsID: 'x1' (rs followed by digits)",
        "selection.min_af: Input should be less than or equal to 1"]
    assert problems("pca", {"k": 0, "prune": {"window": 1}}) == [
        "k: Input should be greater than or equal to 1", "prune.window: Input should be greater than or equal to 2"]
    assert problems("gwas", {"covariates": ["height"]}) == [
        "covariates[0]: Input should be 'age', 'sex' or 'pcs' (got 'height')"]
    assert problems("phewas", {}) == ["(request): give exactly one exposure: variant, carriers or exposed"]
    assert problems("phewas", {"variant": "rs1", "exposed": [1]}) == [
        "(request): give exactly one exposure: variant, carriers or exposed (got variant, exposed)"]
    assert problems("frequencies", ["not", "an", "object"]) == [
        "(request): a frequencies request is an object of fields, not list"]


# -- running -----------------------------------------------------------------------------------------------------

def test_an_extract_job_writes_the_cohorts_genotypes_and_says_what_it_wrote(index, tmp_path):
    import pgenlib

    steps = []
    summary = jobs.run_job("extract", index, {"person_ids": [40, 10, 99, 20], "selection": {"genes": ["genea"]},
                                              "formats": ["plink1"], "name": "t"}, tmp_path / "out",
                           progress=lambda step, done, total: steps.append((done, total)))
    assert summary == {"samples": 3, "variants": 2, "files": {"plink1": ["t.bed", "t.bim", "t.fam"]},
                       "manifest": "manifest.json", "persons_requested": 4, "variants_below_min_call_rate": 0,
                       "selection": "gene GENEA", "formats": ["plink1"], "kind": "wgs",
                       "seconds": summary["seconds"]}
    assert leftovers(tmp_path / "out") == ["manifest.json", "t.bed", "t.bim", "t.fam"]
    assert [line.split()[0] for line in (tmp_path / "out/t.fam").read_text().splitlines()] == ["10", "20", "40"]
    reader = pgenlib.PgenReader(str(tmp_path / "out/t.bed").encode(), raw_sample_ct=3)
    got = np.empty((2, 3), dtype=np.int8)
    reader.read_list(np.array([0, 1], dtype=np.uint32), got)
    assert got.tolist() == [[1, M, 1], [0, 1, 0]]  # persons 10, 20, 40: ALT counts, 20's first call missing
    assert steps[-1][0] == steps[-1][1]  # the last report is "all done"


def test_a_job_cancelled_midway_leaves_nothing_not_even_a_hidden_sibling(index, tmp_path):
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 1  # go on once, then stop

    with pytest.raises(jobs.JobCancelled):
        jobs.run_job("extract", index, {"person_ids": [10, 20], "selection": {}}, tmp_path / "jobs/out",
                     cancelled=cancelled)
    assert leftovers(tmp_path / "jobs") == []
    with pytest.raises(jobs.JobCancelled, match="before it started"):
        jobs.run_job("extract", index, {"person_ids": [10], "selection": {}}, tmp_path / "jobs/out",
                     cancelled=lambda: True)
    assert leftovers(tmp_path / "jobs") == []


def test_a_cancellation_raised_by_the_progress_callback_also_leaves_nothing(index, tmp_path):
    class Stop(Exception):
        pass

    def progress(step, done, total):
        raise Stop

    with pytest.raises(Stop):
        jobs.run_job("extract", index, {"person_ids": [10, 20], "selection": {}}, tmp_path / "jobs/out",
                     progress=progress)
    assert leftovers(tmp_path / "jobs") == []


def test_a_job_refuses_to_write_into_an_existing_directory_and_the_data_is_checked(index, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(GenomicsError) as caught:
        jobs.run_job("extract", index, {"person_ids": [10], "selection": {}}, tmp_path / "out")
    assert caught.value.problems == [f"out_dir: {tmp_path / 'out'} exists: an extract writes a new directory"]
    with pytest.raises(GenomicsError) as caught:
        jobs.run_job("extract", index, {"person_ids": [98, 99], "selection": {}}, tmp_path / "other")
    assert caught.value.problems == ["persons: none of the 2 participants has wgs genotypes"]
    assert not (tmp_path / "other").exists()


def test_new_directory_renames_into_place_only_when_complete(tmp_path):
    with jobs.new_directory(tmp_path / "done") as work:
        work.mkdir()
        (work / "a.txt").write_text("a")
    assert leftovers(tmp_path) == ["done"] and (tmp_path / "done/a.txt").read_text() == "a"
    with pytest.raises(RuntimeError):
        with jobs.new_directory(tmp_path / "failed") as work:
            work.mkdir()
            (work / "a.txt").write_text("a")
            raise RuntimeError("midway")
    assert leftovers(tmp_path) == ["done"]
    with pytest.raises(GenomicsError, match="exists: a job writes a new directory"):
        with jobs.new_directory(tmp_path / "done"):
            pass


def test_persons_read_are_the_cohorts_participants_with_genotypes_ascending(index):
    assert jobs.persons_read("extract", index, {"person_ids": [50, 99, 10, 10], "selection": {}}).tolist() == [10, 50]
    assert jobs.persons_read("frequencies", index, {}).tolist() == [10, 20, 30, 40, 50]  # everyone genotyped
    assert jobs.persons_read("pca", index, {"person_ids": [20]}).tolist() == [20]


def test_participant_level_files_are_genotypes_and_components_not_aggregates():
    assert [name for name in ("t.vcf.gz", "t.bed", "t.bgen", "manifest.json")
            if jobs.participant_level("extract", name)] == ["t.vcf.gz", "t.bed", "t.bgen"]
    assert [name for name in ("pcs.parquet", "pcs.tsv", "pca.json", "pca_pc1_pc2.png")
            if jobs.participant_level("pca", name)] == ["pcs.parquet", "pcs.tsv"]
    assert not any(jobs.participant_level("gwas", n) for n in ("results.tsv", "manhattan.png", "summary.json"))
    assert not jobs.participant_level("frequencies", "frequencies.tsv")


# -- end to end on the synthetic Controlled Tier --------------------------------------------------------------------

def test_a_frequencies_job_writes_exactly_the_librarys_table(ct_index, tmp_path):
    store = GenotypeStore.open(ct_index)
    cohort = store.samples[::3].tolist() + [1]  # a third of the genotyped, and someone without a genome
    selection = {"genes": ["TCF7L2", "APOE"]}
    summary = jobs.run_job("frequencies", ct_index, {"person_ids": cohort, "selection": selection},
                           tmp_path / "freq")
    expected = ancestry_frequencies(ct_index, cohort, VariantSelection(**selection))
    assert pq.read_table(tmp_path / "freq/frequencies.parquet").equals(expected)
    assert summary == {"kind": "wgs", "selection": "gene TCF7L2, gene APOE", "variants": expected.num_rows // 8,
                       "samples": len(store.samples[::3]),
                       "groups": ["afr", "amr", "eas", "eur", "mid", "sas", "oth", "total"],
                       "rows": expected.num_rows, "files": ["frequencies.parquet", "frequencies.tsv", "summary.json"]}
    assert json.loads((tmp_path / "freq/summary.json").read_text()) == summary
    assert leftovers(tmp_path) == ["freq"]


def test_a_pca_job_writes_components_and_plots_of_its_cohort(ct_index, tmp_path):
    store = GenotypeStore.open(ct_index)
    cohort = store.samples[:200].tolist()
    summary = jobs.run_job("pca", ct_index, {"person_ids": cohort, "k": 4, "selection": {"regions": ["chr1"]}},
                           tmp_path / "pca")
    pcs = pq.read_table(tmp_path / "pca/pcs.parquet")
    assert pcs.column_names == ["person_id", "PC1", "PC2", "PC3", "PC4"]
    assert sorted(pcs["person_id"].to_pylist()) == sorted(cohort)
    assert (summary["samples"], summary["components"], summary["selection"]) == (200, 4, "chr1")
    assert {"pca_pc1_pc2.png", "pca_pc3_pc4.svg", "pcs.tsv"} <= set(leftovers(tmp_path / "pca"))


def test_a_gwas_job_writes_results_and_plots_and_reads_exactly_its_analysed_samples(ct_index, tmp_path):
    request = {"measurement_concept_id": 3004410, "covariates": ["age", "sex"], "selection": {"regions": ["chr10"]}}
    summary = jobs.run_job("gwas", ct_index, request, tmp_path / "gwas")
    assert {"results.parquet", "results.tsv", "manhattan.png", "manhattan.svg", "qq.png", "qq.svg",
            "summary.json"} <= set(leftovers(tmp_path / "gwas"))
    assert summary["model"] == "linear" and summary["variants"]["selection"] == "chr10"
    read = jobs.persons_read("gwas", ct_index, request)
    assert len(read) == summary["samples"] and np.all(np.diff(read) > 0)
    assert set(read.tolist()) <= set(GenotypeStore.open(ct_index).samples.tolist())
