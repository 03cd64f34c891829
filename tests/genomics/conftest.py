"""A small synthetic Controlled Tier with genomes, curated and indexed once per test run.

``ct_release``: the Controlled Tier CDR of a 2,000-participant synthetic program (seed 7; about half have genomes).
``ct_index``: its search index, with the genotype stores (``genomics/wgs.*``, ``genomics/array.*``).
``rt_index``: the Registered Tier's index of the same release (no genomes), for the tier checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from research_workbench.curation import curate
from research_workbench.index.build import build_index
from research_workbench.synth.generate import generate

PARTICIPANTS = 2000
SEED = 7


@pytest.fixture(scope="session")
def ct_releases(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("genomics")
    generate(PARTICIPANTS, SEED, root / "raw")
    curate(root / "raw", "r1", root / "releases")
    return root / "releases" / "r1"


@pytest.fixture(scope="session")
def ct_release(ct_releases: Path) -> Path:
    return ct_releases / "controlled"


@pytest.fixture(scope="session")
def ct_index(ct_release: Path) -> Path:
    return build_index(ct_release).path


@pytest.fixture(scope="session")
def rt_index(ct_releases: Path) -> Path:
    return build_index(ct_releases / "registered").path
