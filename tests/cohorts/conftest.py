"""A cache of tiny CDRs: tests that share tables (parametrized cases) load them once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .circe_fixtures import build_cdr


@pytest.fixture(scope="session")
def tiny_cdr(tmp_path_factory):
    built: dict[str, Path] = {}

    def make(**tables) -> Path:
        key = json.dumps(tables, sort_keys=True)
        if key not in built:
            built[key] = build_cdr(tmp_path_factory.mktemp("tiny"), **tables)
        return built[key]

    return make
