"""The synthetic program's causal variants are found: at 10,000 participants, a logistic GWAS of type 2 diabetes
(with age, sex and ten principal components) puts rs7903146 (TCF7L2) at genome-wide significance, first, with a
positive effect, and the genomic inflation of the scan stays near 1 once the principal components absorb ancestry."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from research_workbench.curation import curate
from research_workbench.genomics.gwas_run import run_gwas
from research_workbench.genomics.pca import run_pca
from research_workbench.genomics.store import GenotypeStore
from research_workbench.index.build import build_index
from research_workbench.synth.generate import generate

T2D = 201826  # Type 2 diabetes mellitus: rs7903146 raises its risk in synth/participants.py
GENOME_WIDE = -__import__("math").log10(5e-8)


@pytest.mark.slow
def test_a_gwas_of_type_2_diabetes_at_10k_participants_finds_rs7903146_genome_wide(tmp_path: Path):
    generate(10_000, 11, tmp_path / "raw")
    curate(tmp_path / "raw", "r", tmp_path / "releases")
    index = build_index(tmp_path / "releases" / "r" / "controlled").path
    persons = GenotypeStore.open(index).samples
    run_pca(index, persons, tmp_path / "pca", k=10)
    cases = {"includes": [{"id": "g", "items": [{"id": "i", "type": "CONDITION", "searchParameters": [
        {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "conceptId": T2D, "group": True}]}]}]}
    run_gwas(index, {"cases": cases, "covariates": ["age", "sex", "pcs"], "pcs": str(tmp_path / "pca" / "pcs.parquet")},
             tmp_path / "gwas")
    results = pq.read_table(tmp_path / "gwas" / "results.parquet").to_pandas().sort_values("log10p", ascending=False)
    top = results.iloc[0]
    assert top.rsid == "rs7903146" and top.gene == "TCF7L2"
    assert top.log10p > GENOME_WIDE and top.beta > 0
    summary = json.loads((tmp_path / "gwas" / "summary.json").read_text())
    assert 0.9 < summary["lambda_gc"] < 1.15
