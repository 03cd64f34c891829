"""The Cohort Builder's fixture CDR and its index (``tests/cohort_builder/fixture.py``: 8 persons), built once per
run, and a cohort engine on it per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from research_workbench.cohorts.builder.engine import CohortEngine

from ..cohort_builder.fixture import build


@pytest.fixture(scope="session")
def dataset_cdr(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("dataset-data"))


@pytest.fixture
def engine(dataset_cdr):
    engine = CohortEngine(dataset_cdr.parent / "cdr.index", cdr_dir=dataset_cdr)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def synth_program(tmp_path_factory) -> Path:
    """A small synthetic program (wearables included) with its index beside it (``cdr.index``)."""
    from research_workbench.index import build_index
    from research_workbench.synth import generate

    cdr = tmp_path_factory.mktemp("dataset-synth") / "cdr"
    generate(150, 11, cdr, workers=1)
    build_index(cdr, cdr.parent / "cdr.index")
    return cdr
