"""Variant criteria of the Cohort Builder end to end, on the synthetic Controlled Tier's index (research ids past 32
bits, so no concept bitmaps: 64-bit sets and the compiled statement with the carriers registered): the participants
of a criterion are exactly the carriers read from the release's VCF with pysam (allele frequencies computed here);
the Registered Tier's index refuses the criterion."""

from __future__ import annotations

import duckdb
import pysam
import pytest
from pyroaring import BitMap64

from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.builder.model import DefinitionError, parse_definition
from research_workbench.cohorts.builder.results import cohort_results
from research_workbench.index.layout import PERSONS_FILE
from research_workbench.index.variant_query import parse_region

ZYGOSITY = {"any": (1, 2), "heterozygous": (1,), "homozygous": (2,)}


def vcf_carriers(vcf, persons: set[int], criterion: dict) -> list[int]:
    """The criterion answered from the VCF: genotypes of the index's persons, ALT allele counts, frequencies."""
    found = set()
    regions = [parse_region(r) for r in criterion.get("regions", [])]
    with pysam.VariantFile(str(vcf)) as reader:
        for record in reader:
            chrom = record.chrom.removeprefix("chr")
            named = (record.id in criterion.get("rsids", []) or record.info.get("GENE") in criterion.get("genes", [])
                     or any(chrom == c and start <= record.pos <= end for c, start, end in regions))
            if not named:
                continue
            counts = {int(s): sum(a for a in g["GT"] if a is not None) for s, g in record.samples.items()
                      if int(s) in persons and None not in g["GT"]}
            frequency = sum(counts.values()) / (2 * len(counts))
            if not criterion.get("min_af", 0) <= frequency <= criterion.get("max_af", 1):
                continue
            found |= {p for p, n in counts.items() if n in ZYGOSITY[criterion.get("zygosity", "any")]}
    return sorted(found)


def definition(criterion: dict) -> dict:
    return {"includes": [{"id": "g", "items": [{"id": "v", "type": "WHOLE_GENOME_VARIANT", "searchParameters": [
        {"parameterId": "p", "domain": "WHOLE_GENOME_VARIANT", "type": "VARIANT", "variant": criterion}]}]}]}


@pytest.mark.parametrize("criterion", [
    {"rsids": ["rs7903146"]},
    {"rsids": ["rs7903146"], "zygosity": "heterozygous"},
    {"rsids": ["rs7903146"], "zygosity": "homozygous"},
    {"genes": ["TCF7L2"], "min_af": 0.05, "max_af": 0.3, "zygosity": "homozygous"},
    {"regions": ["chr19:44000000-46000000"], "max_af": 0.02},
], ids=["rsid", "heterozygous", "homozygous", "gene-af", "region-rare"])
def test_a_variant_criterion_counts_the_carriers_in_the_vcf(ct_index, ct_release, criterion):
    persons = set(duckdb.execute("SELECT person_id FROM read_parquet(?)", [str(ct_index / PERSONS_FILE)]).fetchnumpy()["person_id"].tolist())
    expected = vcf_carriers(ct_release / "genomics" / "wgs.vcf.gz", persons, criterion)
    assert expected and max(expected) > 2**32  # not vacuous, and past 32 bits
    engine = CohortEngine(ct_index)
    try:
        assert not engine.accelerate and engine.bitmap_type is BitMap64
        cohort = parse_definition(definition(criterion))
        assert engine.person_ids(cohort).tolist() == expected
        assert engine.count(cohort)[0] == len(expected)
        assert engine.participant_ids(cohort, 0, 10_000) == expected
        assert list(engine.cohort_persons(cohort)) == expected
        assert cohort_results(engine, cohort, with_demographics=False).count == len(expected)
    finally:
        engine.close()


def test_the_registered_tier_index_refuses_variant_criteria(rt_index):
    engine = CohortEngine(rt_index)
    try:
        with pytest.raises(DefinitionError, match="variant criteria need a Controlled Tier index with genomes"):
            engine.count(parse_definition(definition({"rsids": ["rs7903146"]})))
    finally:
        engine.close()
