"""``index.variant_carriers``: who carries the variants a selection means, read from a genotype store's bitmaps,
as a one-column Arrow table an engine registers beside a compiled statement. Tiny stores with exact genotypes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from research_workbench.index import variant_carriers as vc
from research_workbench.index.genotype_store import GenotypeStoreWriter
from research_workbench.index.variant_query import VariantSelection

# Controlled Tier research ids go past 32 bits: the store keeps 64-bit bitmaps.
BIG = 9_876_543_210
SAMPLES = [BIG, 3, 1, 2]


def variant(rsid: str | None, gene: str | None, pos: int) -> dict:
    return {"variant_id": f"1-{pos}-A-G", "chrom": "chr1", "pos": pos, "ref": "A", "alt": "G", "rsid": rsid, "gene": gene,
            "consequence": None}


VARIANTS = [variant("rs1", "G1", 100), variant("rs2", "G1", 200), variant(None, "G2", 300)]
# genotypes by variant, in SAMPLES order (BIG, 3, 1, 2)
GENOTYPES = [[1, 2, 0, -9], [0, 1, 1, 0], [2, 0, 0, 0]]


def write_store(index_dir, genotypes=GENOTYPES, samples=SAMPLES, kind="wgs"):
    writer = GenotypeStoreWriter(index_dir, kind, np.array(samples))
    writer.add(VARIANTS, np.array(genotypes, dtype=np.int8))
    writer.close()


def ids(table: pa.Table) -> list[int]:
    assert table.schema == vc.CARRIERS_SCHEMA
    return table["person_id"].to_pylist()


def test_carriers_are_person_ids_ascending_unique_and_may_exceed_32_bits(tmp_path):
    write_store(tmp_path)
    gene = VariantSelection(genes=["g1"])
    assert ids(vc.carriers_table(tmp_path, "wgs", gene, "any")) == [1, 3, BIG]
    assert ids(vc.carriers_table(tmp_path, "wgs", gene, "heterozygous")) == [1, 3, BIG]
    assert ids(vc.carriers_table(tmp_path, "wgs", gene, "homozygous")) == [3]
    assert ids(vc.carriers_table(tmp_path, "wgs", VariantSelection(genes=["G2"]), "homozygous")) == [BIG]


def test_a_missing_call_carries_nothing_and_an_allele_frequency_range_selects_variants(tmp_path):
    write_store(tmp_path)
    # rs1: BIG het, 3 hom, 1 ref, 2 missing → AF 3/6; rs2: AF 2/8; the third: AF 2/8
    assert ids(vc.carriers_table(tmp_path, "wgs", VariantSelection(rsids=["rs1"]))) == [3, BIG]
    assert ids(vc.carriers_table(tmp_path, "wgs", VariantSelection(regions=["chr1"], min_af=0.3))) == [3, BIG]
    assert ids(vc.carriers_table(tmp_path, "wgs", VariantSelection(regions=["chr1:150-300"], max_af=0.25))) == [1, 3, BIG]
    assert list(vc.selected_variants(tmp_path, "wgs", VariantSelection(regions=["1:1-250"]))) == [0, 1]


def test_a_selection_of_no_variant_is_carried_by_nobody(tmp_path):
    write_store(tmp_path)
    table = vc.carriers_table(tmp_path, "wgs", VariantSelection(rsids=["rs404"]))
    assert ids(table) == [] and table.num_rows == 0
    assert len(vc.carriers_of(tmp_path, "wgs", [], "any")) == 0


def test_carriers_of_many_variants_are_read_in_batches(tmp_path, monkeypatch):
    write_store(tmp_path)
    monkeypatch.setattr(vc, "_BATCH", 2)  # three variants: two statements
    assert list(vc.carriers_of(tmp_path, "wgs", [0, 1, 2], "any")) == [1, 3, BIG]
    assert list(vc.carriers_of(tmp_path, "wgs", [2], "heterozygous")) == []


def test_a_rebuilt_store_is_read_afresh(tmp_path):
    write_store(tmp_path)
    rs2 = VariantSelection(rsids=["rs2"])
    assert ids(vc.carriers_table(tmp_path, "wgs", rs2)) == [1, 3]
    for path in (tmp_path / "genomics").iterdir():
        path.unlink()
    write_store(tmp_path, genotypes=[[0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 0]])
    assert ids(vc.carriers_table(tmp_path, "wgs", rs2)) == [2]


def test_an_index_without_the_store_and_bad_arguments_are_refused_by_name(tmp_path):
    write_store(tmp_path)
    assert vc.has_genotypes(tmp_path, "wgs") and not vc.has_genotypes(tmp_path, "array")
    with pytest.raises(FileNotFoundError, match="this index has no array genotypes"):
        vc.carriers_table(tmp_path, "array", VariantSelection(rsids=["rs1"]))
    with pytest.raises(ValueError, match="kind: 'exome' is not one of wgs, array"):
        vc.carriers_table(tmp_path, "exome", VariantSelection(rsids=["rs1"]))
    with pytest.raises(ValueError, match="zygosity: 'both' is not one of any, heterozygous, homozygous"):
        vc.carriers_of(tmp_path, "wgs", [0], "both")
