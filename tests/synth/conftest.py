"""A synthetic CDR generated once per test session (N = 3000), and helpers to query it with DuckDB."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from research_workbench.cdr.store import Cdr
from research_workbench.synth import generate

N = 3000
SEED = int(os.environ.get("RW_SYNTH_TEST_SEED", "11"))


@pytest.fixture(scope="session")
def synth_cdr(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cdr"
    generate(N, SEED, out)
    return out


@pytest.fixture(scope="session")
def con(synth_cdr: Path) -> duckdb.DuckDBPyConnection:
    con = Cdr(synth_cdr).connect()
    con.read_parquet(str(synth_cdr / "ground_truth" / "defects.parquet")).create_view("gt")
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]


def ids(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> set:
    return {r[0] for r in con.execute(sql, params or []).fetchall()}
