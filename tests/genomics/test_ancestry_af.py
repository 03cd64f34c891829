"""Per-ancestry allele frequencies: exact counts on a hand-computed store, and the Data Browser's numbers for
everyone on the synthetic Controlled Tier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from research_workbench.browser.schema import ANCESTRIES
from research_workbench.genomics.ancestry_af import (
    ANCESTRY_GROUPS,
    FREQUENCY_SCHEMA,
    ancestry_frequencies,
    ancestry_labels,
    group_counts,
)
from research_workbench.genomics.store import GenomicsError, GenotypeStore
from research_workbench.index.genotype_store import GenotypeStoreWriter
from research_workbench.index.variant_query import VariantSelection

# Persons 10..60; variant A has a missing call (person 40).
GENOTYPES = np.array([
    [0, 1, 2, -9, 1, 2],
    [2, 2, 0, 0, 0, 1],
], dtype=np.int8)
ANCESTRY = {10: "afr", 20: "AFR", 30: "eur", 40: "eur", 50: "sas", 70: "eas"}  # 60: none (oth); 70: not in store


def write_store(root: Path) -> Path:
    writer = GenotypeStoreWriter(root, "wgs", np.array([10, 20, 30, 40, 50, 60]))
    writer.add([
        {"variant_id": "10-100-C-T", "chrom": "chr10", "pos": 100, "ref": "C", "alt": "T", "rsid": "rs1", "gene": "TCF7L2"},
        {"variant_id": "19-200-T-C", "chrom": "chr19", "pos": 200, "ref": "T", "alt": "C", "rsid": None, "gene": "APOE"},
    ], GENOTYPES)
    writer.close()
    return root


def rows_by_group(table) -> dict[tuple[str, str], tuple]:
    return {(r["variant_id"], r["ancestry"]): (r["allele_count"], r["allele_number"], r["homozygote_count"],
                                               r["allele_frequency"]) for r in table.to_pylist()}


def test_the_seven_groups_are_the_data_browsers():
    assert ANCESTRY_GROUPS == tuple(ANCESTRIES)


def test_counts_per_group_and_total_equal_a_hand_count(tmp_path):
    table = ancestry_frequencies(write_store(tmp_path), ancestry=ANCESTRY)
    assert table.schema == FREQUENCY_SCHEMA
    assert table.num_rows == 2 * 8
    assert table["ancestry"].to_pylist()[:8] == [*ANCESTRY_GROUPS, "total"]
    got = rows_by_group(table)
    # Variant A: afr 10 (0), 20 (1); eur 30 (2), 40 missing; sas 50 (1); oth 60 (2, no prediction).
    assert got[("10-100-C-T", "afr")] == (1, 4, 0, 0.25)
    assert got[("10-100-C-T", "eur")] == (2, 2, 1, 1.0)
    assert got[("10-100-C-T", "sas")] == (1, 2, 0, 0.5)
    assert got[("10-100-C-T", "oth")] == (2, 2, 1, 1.0)
    for empty in ("amr", "eas", "mid"):
        assert got[("10-100-C-T", empty)] == (0, 0, 0, None)
    assert got[("10-100-C-T", "total")] == (6, 10, 2, 0.6)
    assert got[("19-200-T-C", "afr")] == (4, 4, 2, 1.0)
    assert got[("19-200-T-C", "eur")] == (0, 4, 0, 0.0)
    assert got[("19-200-T-C", "oth")] == (1, 2, 0, 0.5)
    assert got[("19-200-T-C", "total")] == (5, 12, 2, 5 / 12)
    first = table.slice(0, 1).to_pylist()[0]
    assert (first["variant_index"], first["rsid"], first["gene"]) == (0, "rs1", "TCF7L2")
    assert table.slice(8, 1).to_pylist()[0]["rsid"] is None


def test_a_cohort_and_a_selection_narrow_the_counts(tmp_path):
    root = write_store(tmp_path)
    table = ancestry_frequencies(root, [20, 30, 999], VariantSelection(genes=["tcf7l2"]), ancestry=ANCESTRY)
    got = rows_by_group(table)
    assert set(table["variant_id"].to_pylist()) == {"10-100-C-T"}
    assert got[("10-100-C-T", "afr")] == (1, 2, 0, 0.5)
    assert got[("10-100-C-T", "eur")] == (2, 2, 1, 1.0)
    assert got[("10-100-C-T", "total")] == (3, 4, 1, 0.75)


def test_a_label_outside_the_groups_counts_as_other(tmp_path):
    table = ancestry_frequencies(write_store(tmp_path), ancestry={**ANCESTRY, 60: "martian", 50: "SAS "})
    got = rows_by_group(table)
    assert got[("19-200-T-C", "oth")] == (1, 2, 0, 0.5)
    assert got[("19-200-T-C", "sas")] == (0, 2, 0, 0.0)


def test_chunks_do_not_change_the_counts(tmp_path):
    root = write_store(tmp_path)
    whole = ancestry_frequencies(root, ancestry=ANCESTRY)
    assert ancestry_frequencies(root, ancestry=ANCESTRY, chunk_size=1).equals(whole)


def test_group_counts_is_a_missing_aware_one_hot_product():
    one_hot = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    ac, an, hom = group_counts(np.array([[2, -9, 1]], dtype=np.int8), one_hot)
    assert ac.tolist() == [[2, 1]] and an.tolist() == [[2, 2]] and hom.tolist() == [[1, 0]]


@pytest.mark.parametrize(("persons", "selection", "message"), [
    ([], None, "person_ids: the cohort is empty"),
    ([1, 2, 3], None, "person_ids: none of the 3 participants has wgs genotypes"),
    (None, VariantSelection(rsids=["rs404"]), "selection: no variant of the wgs store matches rs404"),
])
def test_bad_requests_are_refused_naming_what(tmp_path, persons, selection, message):
    with pytest.raises(GenomicsError) as err:
        ancestry_frequencies(write_store(tmp_path), persons, selection, ancestry=ANCESTRY)
    assert message in str(err.value)


def test_an_index_without_genomes_is_refused(rt_index):
    with pytest.raises(GenomicsError, match="this index has no wgs genotypes"):
        ancestry_frequencies(rt_index)


def test_everyone_s_frequencies_equal_the_data_browser_s(ct_index, ct_release, tmp_path):
    from research_workbench.browser.building.vcf import scan_vcf

    labels = ancestry_labels(ct_index)
    persons = pq.read_table(ct_release / "person.parquet", columns=["person_id"])["person_id"].to_pylist()
    store = GenotypeStore.open(ct_index)
    assert set(store.samples.tolist()) <= set(persons)  # every genome belongs to a participant of the tier
    _, per_ancestry = scan_vcf(ct_release / "genomics" / "wgs.vcf.gz", {p: labels.get(p) for p in persons}, tmp_path)
    browser = {(r["variant_id"], r["ancestry"]): (r["allele_count"], r["allele_number"], r["homozygote_count"])
               for r in per_ancestry.records()}
    selection = VariantSelection(rsids=["rs7903146", "rs429358", "rs73885319"], genes=["FTO"], regions=["chr22"])
    table = ancestry_frequencies(ct_index, None, selection)
    assert table.num_rows >= 8 * 20
    for row in table.to_pylist():
        assert browser[(row["variant_id"], row["ancestry"])] == (row["allele_count"], row["allele_number"],
                                                                 row["homozygote_count"]), row
    apol1 = {r["ancestry"]: r for r in table.to_pylist() if r["rsid"] == "rs73885319"}
    assert apol1["afr"]["allele_frequency"] > 5 * apol1["eur"]["allele_frequency"]  # the simulated APOL1 contrast


def test_the_command_hides_small_counts_but_its_file_keeps_them(ct_index, tmp_path):
    import typer
    from typer.testing import CliRunner

    from research_workbench.cli.genomics_pca import frequencies

    app = typer.Typer()
    app.command()(frequencies)
    out = tmp_path / "af.parquet"
    run = CliRunner().invoke(app, ["--index", str(ct_index), "--rsid", "rs73885319", "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    shown = {r["ancestry"]: r for r in json.loads(run.stdout)["rows"]}
    exact = {r["ancestry"]: r for r in pq.read_table(out).to_pylist()}
    assert set(shown) == {*ANCESTRY_GROUPS, "total"}
    for group, row in exact.items():
        for column in ("allele_count", "allele_number", "homozygote_count"):
            n = row[column]
            assert shown[group][column] == ("<20" if 0 < n < 20 else str(n))
    assert any(0 < r["allele_count"] < 20 for r in exact.values())  # the rule had something to hide
    refused = CliRunner().invoke(app, ["--index", str(ct_index), "--rsid", "x", "--min-af", "2"])
    assert refused.exit_code == 1
    assert "--rsid: not an rsID: 'x'" in refused.output and "--min-af:" in refused.output
