"""A small synthetic Controlled Tier with genomes, curated and indexed once per test process
(``tests/synthetic_genomes.py``, shared with the Workbench's tests).

``ct_release``: the Controlled Tier CDR of a 2,000-participant synthetic program (seed 7; about half have genomes).
``ct_index``: its search index, with the genotype stores (``genomics/wgs.*``, ``genomics/array.*``).
``rt_index``: the Registered Tier's index of the same release (no genomes), for the tier checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..synthetic_genomes import PARTICIPANTS, SEED, synthetic_genomes  # noqa: F401  (the program's size and seed)


@pytest.fixture(scope="session")
def ct_releases(tmp_path_factory) -> Path:
    return synthetic_genomes(tmp_path_factory)["ct_release"].parent


@pytest.fixture(scope="session")
def ct_release(tmp_path_factory) -> Path:
    return synthetic_genomes(tmp_path_factory)["ct_release"]


@pytest.fixture(scope="session")
def ct_index(tmp_path_factory) -> Path:
    return synthetic_genomes(tmp_path_factory)["ct_index"]


@pytest.fixture(scope="session")
def rt_index(tmp_path_factory) -> Path:
    return synthetic_genomes(tmp_path_factory)["rt_index"]
