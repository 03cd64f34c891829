"""The prepackaged "Whole genome variants" set (Controlled Tier only): genotype calls in long form for the dataset's
participants at the variants its ``genome_selection`` names, read from the index's genotype store.

The data is the Cohort Builder's fixture with genomes (``tests/cohort_builder/fixture.py``, ``genomes=True``):
whole genomes of persons 1–6, stored in the order 4, 1, 6, 2, 5, 3 (not person order), and six variants:
rs7903146 (1 het, 2 hom, 4 het, 6 missing), rs34872471 (3 het), rs9939609 (2 het, 5 and 6 hom), rs429358 (5 het,
the others hom), rs7412 (nobody) and an APOL1 variant without rsID (6 het). Persons 7 and 8 have no genome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.datasets import codegen, genotypes, prepackaged
from research_workbench.datasets import extract as dx
from research_workbench.datasets.columns import CATALOGUE, DEFAULT_COLUMNS, column_problems
from research_workbench.index.genotype_store import GenotypeStoreWriter
from research_workbench.index.variant_query import VariantSelection
from research_workbench.workspaces import resources as res

from ..cohort_builder import fixture as f
from . import zip_fixture

WGV = Domain.WHOLE_GENOME_VARIANT
COLUMNS = ["person_id", "variant_id", "chrom", "pos", "ref", "alt", "rsid", "gene", "genotype"]
TCF7L2 = ("10-114758349-C-T", "chr10", 114758349, "C", "T", "rs7903146", "TCF7L2")
TCF7L2_B = ("10-114800000-G-A", "chr10", 114800000, "G", "A", "rs34872471", "TCF7L2")
FTO = ("16-53786615-T-A", "chr16", 53786615, "T", "A", "rs9939609", "FTO")
APOE = ("19-44908684-T-C", "chr19", 44908684, "T", "C", "rs429358", "APOE")
APOL1 = ("22-36265860-A-G", "chr22", 36265860, "A", "G", None, "APOL1")
WOMEN = {"includes": [{"id": "g", "items": [{"id": "i", "type": "PERSON", "searchParameters": [
    {"parameterId": "p", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}  # persons 2, 3, 5 and 7


def _spent(cdr: Path) -> Path:
    # The first CohortEngine of an index in a process leaves a result half-fetched that DuckDB 2 makes the
    # connection's next con.sql refuse (see test_zip_socioeconomic.py); it is opened and closed here.
    CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr).close()
    return cdr


def _store(cdr: Path, samples: list[int], genotypes_: np.ndarray, variants: list[dict]) -> None:
    writer = GenotypeStoreWriter(cdr.parent / "cdr.index", "wgs", np.array(samples))
    writer.add(variants, genotypes_)
    writer.close()


def _chr1(n: int) -> list[dict]:
    return [{"variant_id": f"1-{p}-A-G", "chrom": "chr1", "pos": p, "ref": "A", "alt": "G", "rsid": None, "gene": None,
             "consequence": None} for p in range(1, n + 1)]


@pytest.fixture(scope="module")
def genome_cdr(tmp_path_factory) -> Path:
    return _spent(f.build(tmp_path_factory.mktemp("wgv"), genomes=True))


@pytest.fixture(scope="module")
def wide_cdr(tmp_path_factory) -> Path:
    """The zip fixture's five persons with a store of 5,001 chr1 variants (positions 1 to 5,001): person 1 is
    heterozygous at each, the others homozygous reference."""
    cdr = zip_fixture.build(tmp_path_factory.mktemp("wgv-wide"))
    calls = np.zeros((5001, 5), dtype=np.int8)
    calls[:, 0] = 1
    _store(cdr, [1, 2, 3, 4, 5], calls, _chr1(5001))
    return _spent(cdr)


@pytest.fixture(scope="module")
def registered_cdr(tmp_path_factory) -> Path:
    """The zip fixture as a Registered Tier release, with a genotype store all the same (a tier refuses, not the
    files)."""
    cdr = zip_fixture.build(tmp_path_factory.mktemp("wgv-rt"), tier="registered")
    _store(cdr, [1, 2], np.array([[1, 2]], dtype=np.int8), _chr1(1))
    return _spent(cdr)


def _engine(cdr: Path):
    return CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr)


@pytest.fixture
def engine(genome_cdr):
    engine = _engine(genome_cdr)
    yield engine
    engine.close()


def request(selection: VariantSelection | None = None, names=None, **extra) -> dx.DatasetRequest:
    return dx.DatasetRequest(**{"all_participants": True, **extra}, whole_domains=[WGV],
                             values={WGV: list(names or COLUMNS)}, genome_selection=selection)


def rows(table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def refusal(engine, req) -> list[tuple[str, str]]:
    with pytest.raises(dx.DatasetError) as refused:
        dx.plan(engine, req)
    return [(p.where, p.message) for p in refused.value.problems]


# -- the rows -----------------------------------------------------------------------------------------------------

def test_the_calls_at_the_chosen_variants_in_long_form_by_person_then_genome_position(engine):
    table = dx.read(engine, dx.plan(engine, request(VariantSelection(genes=["TCF7L2", "APOE", "APOL1"]))), WGV)
    assert table.schema.names == COLUMNS
    assert [str(field.type) for field in table.schema] == ["int64", "string", "string", "int64", "string", "string",
                                                           "string", "string", "int8"]
    # homozygous reference calls have no row (rs7412 nobody carries; 3 and 5 at rs7903146); 6's missing call at
    # rs7903146 is a row with an empty genotype; 7 and 8 have no genome
    assert rows(table) == [
        (1, *TCF7L2, 1), (1, *APOE, 2),
        (2, *TCF7L2, 2), (2, *APOE, 2),
        (3, *TCF7L2_B, 1), (3, *APOE, 2),
        (4, *TCF7L2, 1), (4, *APOE, 2),
        (5, *APOE, 1),
        (6, *TCF7L2, None), (6, *APOE, 2), (6, *APOL1, 1),
    ]


def test_genome_position_is_the_stores_order_not_the_text_order_of_the_chromosome(engine):
    # "chr10" sorts before "chr16" and "chr19" as text and as genome alike; regions name every chromosome here, so
    # the check is that rows of one person follow the store (chr10, chr16, chr19, chr22), whatever the selection's
    # order of naming
    selection = VariantSelection(regions=["chr22", "chr19", "chr16", "chr10"])
    table = dx.read(engine, dx.plan(engine, request(selection, ["person_id", "variant_id"])), WGV)
    assert [v for p, v in rows(table) if p == 6] == [TCF7L2[0], FTO[0], APOE[0], APOL1[0]]
    assert [p for p, _ in rows(table)] == sorted(p for p, _ in rows(table))


def test_only_the_cohorts_participants_with_a_genome_have_rows(engine):
    plan = dx.plan(engine, request(VariantSelection(rsids=["rs9939609", "rs429358"]), all_participants=False,
                                   cohorts=[WOMEN]))
    assert sorted(plan.persons) == [2, 3, 5, 7]
    assert rows(dx.read(engine, plan, WGV)) == [  # 7 has no genome
        (2, *FTO, 1), (2, *APOE, 2), (3, *APOE, 2), (5, *FTO, 2), (5, *APOE, 1)]


def test_each_kind_of_identifier_and_the_allele_frequency_range_choose_the_variants(engine):
    def variants(**selection) -> list[str]:
        table = dx.read(engine, dx.plan(engine, request(VariantSelection(**selection), ["variant_id"])), WGV)
        return sorted(set(table.column("variant_id").to_pylist()))

    assert variants(rsids=["RS7903146"]) == [TCF7L2[0]]
    assert variants(variant_ids=["chr22-36265860-a-g"]) == [APOL1[0]]
    assert variants(regions=["chr10:114758349-114800000"]) == [TCF7L2[0], TCF7L2_B[0]]
    assert variants(regions=["16"], genes=["apol1"]) == [FTO[0], APOL1[0]]  # a union
    # AF over the store's called samples: rs7903146 4/10, rs34872471 1/12, rs429358 11/12, rs7412 0
    assert variants(genes=["TCF7L2", "APOE"], min_af=0.3) == [TCF7L2[0], APOE[0]]
    assert variants(genes=["TCF7L2", "APOE"], max_af=0.1) == [TCF7L2_B[0]]


def test_the_columns_chosen_come_in_the_order_chosen(engine):
    table = dx.read(engine, dx.plan(engine, request(VariantSelection(rsids=["rs7903146"]), ["genotype", "person_id"])),
                    WGV)
    assert table.schema.names == ["genotype", "person_id"]
    assert rows(table) == [(1, 1), (2, 2), (1, 4), (None, 6)]


def test_the_preview_is_the_reads_first_rows_however_the_participants_are_read_in_blocks(engine, monkeypatch):
    plan = dx.plan(engine, request(VariantSelection(regions=["chr10", "chr16", "chr19", "chr22"])))
    whole = rows(dx.read(engine, plan, WGV))
    assert len(whole) == 15
    for block in (1, 2, genotypes.PREVIEW_BLOCK):  # 1: blocks of 1, 4 and 16 participants
        monkeypatch.setattr(genotypes, "PREVIEW_BLOCK", block)
        for n in (0, 1, 2, 3, 7, 14, 15, 20):
            assert rows(dx.preview(engine, plan, WGV, rows=n)) == whole[:n], (block, n)
    assert rows(dx.preview(engine, plan, WGV)) == whole[:dx.PREVIEW_ROWS]


def test_participants_without_a_genome_give_an_empty_table_with_the_columns(engine):
    plan = dx.plan(engine, request(VariantSelection(rsids=["rs7903146"])))
    plan.persons = engine.bitmap([7, 8])  # a cohort of the two participants without a genome
    for table in (dx.read(engine, plan, WGV), dx.preview(engine, plan, WGV)):
        assert table.num_rows == 0 and table.schema.names == COLUMNS
    everyone = dx.plan(engine, request(VariantSelection(rsids=["rs7412"])))  # a variant nobody carries
    assert dx.read(engine, everyone, WGV).num_rows == 0


def test_the_export_writes_the_reads_rows_with_the_other_domains_and_the_manifest_counts_them(engine, tmp_path):
    plan = dx.plan(engine, dx.DatasetRequest(
        all_participants=True, whole_domains=[WGV], genome_selection=VariantSelection(rsids=["rs7903146"]),
        values={Domain.PERSON: ["person_id"], WGV: ["person_id", "rsid", "genotype"]}))
    assert plan.domains == [Domain.PERSON, WGV]
    seen = []
    manifest = dx.export(engine, plan, tmp_path / "snapshot", about={"dataset": "x"},
                         progress=lambda done, total, name: seen.append((done, total, name)))
    assert seen == [(0, 2, None), (1, 2, "PERSON"), (2, 2, "WHOLE_GENOME_VARIANT")]
    entry = manifest["domains"]["WHOLE_GENOME_VARIANT"]
    assert (entry["file"], entry["rows"], entry["columns"]) == ("whole_genome_variant.parquet", 4,
                                                                ["person_id", "rsid", "genotype"])
    written = pq.read_table(tmp_path / "snapshot" / "whole_genome_variant.parquet")
    assert rows(written) == [(1, "rs7903146", 1), (2, "rs7903146", 2), (4, "rs7903146", 1), (6, "rs7903146", None)]
    assert written.equals(dx.read(engine, plan, WGV))


def test_a_failed_export_leaves_nothing(engine, tmp_path, monkeypatch):
    plan = dx.plan(engine, request(VariantSelection(rsids=["rs7903146"])))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(genotypes, "_calls", broken)
    with pytest.raises(OSError, match="disk full"):
        dx.export(engine, plan, tmp_path / "snapshot", about={})
    assert list(tmp_path.iterdir()) == []


# -- what is refused ----------------------------------------------------------------------------------------------

def test_the_variants_must_be_named_by_identifier(engine):
    for selection in (None, VariantSelection(), VariantSelection(min_af=0.01, max_af=0.5)):
        assert refusal(engine, request(selection)) == [("genome_selection", genotypes.SELECTION_REQUIRED)]
    assert genotypes.SELECTION_REQUIRED.startswith("choose the variants: rsIDs, genes, regions or variant ids")


def test_a_selection_that_matches_no_variant_is_refused_naming_it(engine):
    assert refusal(engine, request(VariantSelection(rsids=["rs1"], genes=["BRCA2"]))) == [
        ("genome_selection", "no variant of this data version is rs1, gene BRCA2: check the rsIDs, genes, regions and "
                             "variant ids")]


def test_more_than_the_limit_of_variants_is_refused_with_the_count_and_the_extract_pointed_to(wide_cdr):
    engine = _engine(wide_cdr)
    try:
        assert genotypes.MAX_DATASET_VARIANTS == 5000
        assert refusal(engine, request(VariantSelection(regions=["chr1"]))) == [(
            "genome_selection", "5,001 variants are chr1, more than a dataset takes (5,000, MAX_DATASET_VARIANTS): "
                                "narrow the selection, or for whole-genome scale, extract the cohort's genotypes as "
                                "VCF, PLINK or BGEN files on the workspace's Genomics page")]
        plan = dx.plan(engine, request(VariantSelection(regions=["chr1:1-5000"]), ["person_id", "pos", "genotype"]))
        table = dx.read(engine, plan, WGV)  # the limit itself is allowed
        assert table.num_rows == 5000 and set(table.column("person_id").to_pylist()) == {1}
        assert table.column("pos").to_pylist() == list(range(1, 5001))
    finally:
        engine.close()


def test_a_registered_tier_data_version_refuses_the_set_even_with_a_store(registered_cdr):
    engine = _engine(registered_cdr)
    try:
        assert refusal(engine, request(VariantSelection(regions=["chr1"]))) == [
            ("values.WHOLE_GENOME_VARIANT", "WHOLE_GENOME_VARIANT: Whole Genome Variant data is available in the "
                                            "Controlled Tier only (this data version is Registered Tier)")]
    finally:
        engine.close()


def test_an_index_without_a_genotype_store_refuses_the_domain_naming_it(dataset_cdr):
    engine = _engine(_spent(dataset_cdr))
    try:
        assert refusal(engine, request(VariantSelection(rsids=["rs7903146"]))) == [
            ("values.WHOLE_GENOME_VARIANT", "this data version has no whole genome variants (its index has no wgs "
                                            "genotype store): WHOLE_GENOME_VARIANT cannot be read from it")]
    finally:
        engine.close()


def test_the_columns_without_the_set_and_unknown_columns_are_refused(engine):
    assert refusal(engine, dx.DatasetRequest(all_participants=True, values={WGV: ["person_id"]},
                                             genome_selection=VariantSelection(rsids=["rs7412"]))) == [
        ("values.WHOLE_GENOME_VARIANT", "no concept set of the WHOLE_GENOME_VARIANT domain is chosen: choose one (or "
                                        "the domain's prepackaged set) or leave its columns out")]
    assert refusal(engine, request(VariantSelection(rsids=["rs7412"]), ["person_id", "dosage"])) == [
        ("values.WHOLE_GENOME_VARIANT", "WHOLE_GENOME_VARIANT: no column 'dosage' (see the column catalogue)")]


# -- the content: the selection stored with the dataset -------------------------------------------------------------

def content(**extra) -> dict:
    return {"all_participants": True, "prepackaged": ["whole_genome"], "values": {"WHOLE_GENOME_VARIANT": COLUMNS},
            **extra}


def problems(document: dict) -> list[tuple[str, str]]:
    with pytest.raises(res.ResourceError) as refused:
        res.validate_content("dataset", document)
    return [(p.where, p.message) for p in refused.value.problems]


def test_the_selection_is_stored_normalised_with_only_the_fields_used():
    stored = res.validate_content("dataset", content(genome_selection={
        "rsids": [" RS7903146 "], "genes": ["apoe"], "variant_ids": ["chr22-36265860-a-g"], "regions": [],
        "min_af": 0.0, "max_af": None}))
    assert stored["genome_selection"] == {"rsids": ["rs7903146"], "genes": ["APOE"],
                                          "variant_ids": ["22-36265860-A-G"], "min_af": 0.0}
    # a dataset without genomes stores no selection at all
    plain = res.validate_content("dataset", {"all_participants": True, "values": {"PERSON": ["person_id"]}})
    assert "genome_selection" not in plain
    from types import SimpleNamespace

    from research_workbench.workspaces.datasets import resolve

    resolved = resolve(None, SimpleNamespace(tier="controlled"), stored)  # no references to read: no session
    assert resolved.request.genome_selection == VariantSelection(rsids=["rs7903146"], genes=["APOE"],
                                                                 variant_ids=["22-36265860-A-G"], min_af=0.0)
    assert resolved.request.whole_domains == [WGV]


def test_a_bad_selection_is_refused_at_each_item():
    assert problems(content(genome_selection={"rsids": ["rs1", "7903146"], "regions": ["chr10:1-2", "chr10:5-1"],
                                              "genes": [3], "variant_ids": ["10-1-C"], "min_af": 1.5,
                                              "colour": "red"})) == [
        ("content.genome_selection.rsids[1]", "not an rsID: '7903146' (rs followed by digits)"),
        ("content.genome_selection.genes[0]", "Input should be a valid string"),
        ("content.genome_selection.regions[1]", "'chr10:5-1': the region must start at 1 or later and end at or after "
                                                "its start"),
        ("content.genome_selection.variant_ids[0]", "not a variant id: '10-1-C' (CHROM-POS-REF-ALT)"),
        ("content.genome_selection.min_af", "Input should be less than or equal to 1"),
        ("content.genome_selection.colour", "Extra inputs are not permitted"),
    ]
    assert problems(content(genome_selection={"rsids": ["rs1"], "min_af": 0.5, "max_af": 0.1})) == [
        ("content.genome_selection", "min_af (0.5) is above max_af (0.1)")]
    too_many = [f"rs{i}" for i in range(1, genotypes.MAX_DATASET_VARIANTS + 2)]
    assert problems(content(genome_selection={"rsids": too_many})) == [
        ("content.genome_selection.rsids", "List should have at most 5000 items after validation, not 5001")]


def test_the_set_needs_a_selection_by_identifier_and_a_selection_needs_the_set():
    for selection in (None, {}, {"min_af": 0.1}):
        document = content() if selection is None else content(genome_selection=selection)
        assert problems(document) == [("content.genome_selection", genotypes.SELECTION_REQUIRED)]
    left_over = {"all_participants": True, "values": {"PERSON": ["person_id"]}, "genome_selection": {"genes": ["FTO"]}}
    assert problems(left_over) == [("content.genome_selection", genotypes.SELECTION_UNUSED)]
    assert genotypes.SELECTION_UNUSED == ("a variant selection is read only with the Whole genome variants set "
                                          "('whole_genome'): add the set, or remove the selection")


# -- catalogue, prepackaged set, code --------------------------------------------------------------------------------

def test_the_catalogue_entry_and_the_prepackaged_set():
    assert [c.name for c in CATALOGUE[WGV]] == COLUMNS == genotypes.SCHEMA.names
    assert [c.type for c in CATALOGUE[WGV]] == ["BIGINT", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR",
                                               "VARCHAR", "VARCHAR", "TINYINT"]
    described = {c.name: c.description for c in CATALOGUE[WGV]}
    assert "empty for a missing call" in described["genotype"] and "two reference alleles" in described["genotype"]
    assert all(c.description.endswith(".") for c in CATALOGUE[WGV])
    assert DEFAULT_COLUMNS[WGV] == tuple(COLUMNS)
    assert column_problems(WGV, ["person_id", "dosage"]) == [
        "WHOLE_GENOME_VARIANT[1]: no column 'dosage' in WHOLE_GENOME_VARIANT (see the column catalogue)"]
    assert prepackaged.prepackaged_problem(genotypes.SET_NAME) is None
    assert prepackaged.domain_of(genotypes.SET_NAME) is WGV
    assert prepackaged.CONTROLLED_TIER_ONLY == {"zip_code_socioeconomic", "whole_genome"}
    assert prepackaged.tier_problem(WGV, "registered", what="'whole_genome'", holder="workspace") == (
        "'whole_genome': Whole Genome Variant data is available in the Controlled Tier only (this workspace is "
        "Registered Tier)")
    assert prepackaged.tier_problem(WGV, "controlled", what="x", holder="workspace") is None


def test_the_code_reads_the_table_through_the_sdk_and_the_sql_says_where_the_rows_come_from(engine):
    plan = dx.plan(engine, dx.DatasetRequest(
        all_participants=True, whole_domains=[WGV], genome_selection=VariantSelection(rsids=["rs7903146"]),
        values={Domain.PERSON: ["person_id"], WGV: COLUMNS}))
    assert list(plan.queries) == [Domain.PERSON]  # no SQL statement for the genotypes
    target = codegen.CodeTarget("ws", 7, "Genomes", 2, "2026Q4", ["PERSON", "WHOLE_GENOME_VARIANT"],
                                {"PERSON": plan.queries[Domain.PERSON].statement()}, {"PERSON": {}},
                                genome_selection=plan.genomes.selection.describe())
    sql = codegen.code("sql", target)
    assert sql.endswith(
        "-- WHOLE_GENOME_VARIANT\n"
        "-- These rows come from the data version's genotype store (the PLINK files of its index), not from SQL:\n"
        "-- read them with the SDK, in Python:\n"
        "--   from research_workbench.sdk import Workbench\n"
        '--   Workbench(workspace="ws").dataset(7, version=2).to_pandas("WHOLE_GENOME_VARIANT")\n'
        "-- One row per participant and variant whose call is not homozygous reference (genotype: the ALT allele\n"
        "-- count, 1 or 2; null for a missing call), ordered by person_id, then genome position.\n"
        "-- Variants: rs7903146.\n")
    assert "-- PERSON\n" in sql
    for language, reader in (("python-pandas", "to_pandas"), ("python-polars", "to_polars")):
        assert f'whole_genome_variant_df = dataset.{reader}("WHOLE_GENOME_VARIANT")' in codegen.code(language, target)
    assert 'whole_genome_variant_df <- read_table("WHOLE_GENOME_VARIANT")' in codegen.code("r", target)
    notebook = codegen.notebook("python-pandas", target)
    assert "`WHOLE_GENOME_VARIANT` → `whole_genome_variant_df`" in notebook.cells[0].source
