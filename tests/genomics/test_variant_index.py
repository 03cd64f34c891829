"""``workbench index`` of a Controlled Tier builds its genotype stores; a Registered Tier index has none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest

from research_workbench.cdr.store import CdrFileError
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.freshness import check_index
from research_workbench.index.layout import genome_store_files


def test_a_controlled_tier_index_has_a_store_per_genome_kind_listed_in_its_manifest(ct_index: Path):
    manifest = json.loads((ct_index / "index.json").read_text())
    for kind in ("wgs", "array"):
        for rel in genome_store_files(kind).values():
            assert rel in manifest["files"] and rel in manifest["file_bytes"]
    assert manifest["counts"]["wgs_variants"] == 10_000
    assert manifest["counts"]["wgs_samples"] == GenotypeStore.open(ct_index).samples.size


def test_store_genotypes_equal_the_released_vcf(ct_index: Path, ct_release: Path):
    store = GenotypeStore.open(ct_index)
    variants = store.variants.to_pandas()
    row = variants[variants.rsid == "rs7903146"].iloc[0]
    assert row.gene == "TCF7L2"
    with pysam.VariantFile(str(ct_release / "genomics" / "wgs.vcf.gz")) as vcf:
        record = next(vcf.fetch(row.chrom, int(row.pos) - 1, int(row.pos)))
        expected = {int(name): sum(a for a in s["GT"]) for name, s in record.samples.items()}
    genotypes = store.read([int(row.variant_index)])[0]
    assert genotypes.tolist() == [expected[int(p)] for p in store.samples]
    assert int(row.allele_count) == int(genotypes.sum())


def test_the_array_store_holds_a_subset_of_the_whole_genome_sites(ct_index: Path):
    wgs = set(GenotypeStore.open(ct_index, "wgs").variants["variant_id"].to_pylist())
    array = GenotypeStore.open(ct_index, "array").variants["variant_id"].to_pylist()
    assert 0 < len(array) < len(wgs) and set(array) <= wgs


def test_a_registered_tier_index_has_no_genotypes_and_says_so(rt_index: Path):
    assert not (rt_index / "genomics").exists()
    with pytest.raises(GenomicsError, match="no wgs genotypes.*Controlled Tier"):
        GenotypeStore.open(rt_index)


def test_a_truncated_genotype_file_makes_the_index_refused(ct_index: Path, tmp_path: Path):
    copy = tmp_path / "copy.index"
    shutil.copytree(ct_index, copy)
    manifest = json.loads((copy / "index.json").read_text())
    cdr = Path(manifest["cdr"])
    bed = copy / genome_store_files("wgs")["bed"]
    bed.write_bytes(bed.read_bytes()[:-10])
    with pytest.raises(CdrFileError, match="truncated"):
        check_index(copy, cdr)


def test_an_unknown_kind_is_refused(ct_index: Path):
    with pytest.raises(GenomicsError, match="kind: 'exome'"):
        GenotypeStore.open(ct_index, "exome")


def test_sample_positions_keep_only_persons_with_genomes(ct_index: Path):
    store = GenotypeStore.open(ct_index)
    some = store.samples[[5, 2, 9]].tolist()
    assert store.sample_positions(some + [1, 2, 3]).tolist() == [2, 5, 9]
    assert store.read([0, 1], np.array([2, 5, 9])).shape == (2, 3)
