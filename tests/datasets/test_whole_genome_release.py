"""Whole genome variants end to end: a curated Controlled Tier release of the synthetic program (2,000 participants,
seed 7; about half with genomes) and its index's genotype store, against the release's VCF read independently with
pysam — the same participants, alleles and ALT counts — and the Registered Tier release of the same program refused.

The release and its indexes are ``tests/genomics/conftest.py``'s (built once per test run).
"""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.datasets import extract as dx
from research_workbench.index.variant_query import VariantSelection

from ..genomics.conftest import ct_index, ct_release, ct_releases, rt_index  # noqa: F401  (fixtures)

WGV = Domain.WHOLE_GENOME_VARIANT
RSIDS = ["rs7903146", "rs429358"]  # causal variants of the synthetic program: TCF7L2 (chr10) and APOE (chr19)
COLUMNS = ["person_id", "variant_id", "chrom", "pos", "ref", "alt", "rsid", "genotype"]
WOMEN = {"includes": [{"id": "g", "items": [{"id": "i", "type": "PERSON", "searchParameters": [
    {"parameterId": "p", "domain": "PERSON", "type": "GENDER", "conceptId": 8532}]}]}]}


def _engine(index: Path, cdr: Path) -> CohortEngine:
    CohortEngine(index, cdr_dir=cdr).close()  # see test_zip_socioeconomic.py: the first engine of an index is spent
    return CohortEngine(index, cdr_dir=cdr)


def vcf_rows(vcf: Path, rsids: list[str], persons: set[int] | None) -> list[tuple]:
    """The table's rows as the VCF says them: non-reference or missing calls, by person then the VCF's record order
    (genome order)."""
    out = []
    with pysam.VariantFile(str(vcf)) as variants:
        for order, record in enumerate(variants):
            if record.id not in rsids:
                continue
            chrom = record.chrom.removeprefix("chr")
            for sample, call in record.samples.items():
                person = int(sample)
                if persons is not None and person not in persons:
                    continue
                alleles = call["GT"]
                genotype = None if None in alleles else sum(1 for a in alleles if a)
                if genotype != 0:
                    out.append(((person, order), (person, f"{chrom}-{record.pos}-{record.ref}-{record.alts[0]}",
                                                       record.chrom, record.pos, record.ref, record.alts[0], record.id,
                                                       genotype)))
    return [row for _, row in sorted(out, key=lambda x: x[0])]


def test_the_rows_agree_with_the_releases_vcf_for_everyone_and_for_a_cohort(ct_release, ct_index):
    engine = _engine(ct_index, ct_release)
    try:
        vcf = ct_release / "genomics" / "wgs.vcf.gz"
        selection = VariantSelection(rsids=RSIDS)
        everyone = dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[WGV],
                                                     values={WGV: COLUMNS}, genome_selection=selection))
        table = dx.read(engine, everyone, WGV)
        expected = vcf_rows(vcf, RSIDS, None)
        assert len(expected) > 100  # a common variant of about a thousand genomes
        assert [tuple(r.values()) for r in table.to_pylist()] == expected
        assert dx.preview(engine, everyone, WGV).equals(table.slice(0, dx.PREVIEW_ROWS))

        women = dx.plan(engine, dx.DatasetRequest(cohorts=[WOMEN], whole_domains=[WGV], values={WGV: COLUMNS},
                                                  genome_selection=selection))
        members = set(women.persons)
        rows = [tuple(r.values()) for r in dx.read(engine, women, WGV).to_pylist()]
        assert rows == vcf_rows(vcf, RSIDS, members) and 0 < len(rows) < len(expected)
    finally:
        engine.close()


def test_the_registered_tier_release_refuses_the_set(ct_releases, rt_index):
    engine = _engine(rt_index, ct_releases / "registered")
    try:
        with pytest.raises(dx.DatasetError) as refused:
            dx.plan(engine, dx.DatasetRequest(all_participants=True, whole_domains=[WGV], values={WGV: COLUMNS},
                                              genome_selection=VariantSelection(rsids=RSIDS)))
        assert [p.where for p in refused.value.problems] == ["values.WHOLE_GENOME_VARIANT"]
        assert "Controlled Tier only (this data version is Registered Tier)" in refused.value.problems[0].message
    finally:
        engine.close()
