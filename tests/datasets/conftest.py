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
