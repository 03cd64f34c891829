"""A small synthetic program and its results store, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

PARTICIPANTS, SEED = 600, 5
BASE_URL = "http://localhost"  # an allowed host (TestClient's own "testserver" is not one)


@pytest.fixture(scope="session")
def synth_cdr(tmp_path_factory) -> Path:
    from research_workbench.synth import generate

    out = tmp_path_factory.mktemp("browser-synth") / "cdr"
    generate(PARTICIPANTS, SEED, out, workers=1)
    return out


@pytest.fixture(scope="session")
def store_path(synth_cdr: Path, tmp_path_factory) -> Path:
    from research_workbench.browser.building.writer import build_store

    out = tmp_path_factory.mktemp("browser-store") / "program.browser.sqlite"
    build_store(synth_cdr, out)
    return out


@pytest.fixture(scope="session")
def client(store_path: Path):
    from fastapi.testclient import TestClient

    from research_workbench.browser.serving.app import create_app

    with TestClient(create_app(store_path), base_url=BASE_URL) as c:
        yield c
