"""The same release from both engines: a raw CDR curated on DuckDB and on Spark, with one private area (so the
research ids, date shifts and row-id key are drawn once and reused), gives equal manifests' content hashes for
every table of both tiers, and the same rows in every rule's sandbox."""

from __future__ import annotations

import pytest

from research_workbench.cdr.store import Cdr
from research_workbench.curation import curate

from .test_release import CONFIG, small_program
from .fixtures import write_cdr


def _contents(release, tier: str) -> dict[str, tuple[int, str]]:
    return {name: (entry.rows, entry.content_hash) for name, entry in Cdr(release / tier).manifest.tables.items()}


def _rule_effects(report: dict) -> list[tuple]:
    return [(r["name"], r["scope"], r["tables"]) for r in report["rules"]]


@pytest.mark.long  # 8 minutes on Spark local[2] (a few hundred statements at ~1 s each): see docs/spark.md
def test_a_release_curated_on_spark_equals_the_duckdb_release_of_the_same_raw_cdr(tmp_path, spark_engine):
    raw = write_cdr(tmp_path / "raw", small_program([101, 102, 103, 104], [0, 40, 80, 400]))
    private = tmp_path / "private"
    on_duckdb = curate(raw, "r1", tmp_path / "duckdb", config=CONFIG, private_dir=private)
    on_spark = curate(raw, "r1", tmp_path / "spark", config=CONFIG, private_dir=private, engine=spark_engine)
    assert on_spark.report["new_private_ids"] == {name: 0 for name in on_duckdb.report["new_private_ids"]}  # the maps were reused
    for tier in ("registered", "controlled"):
        duckdb_tables, spark_tables = _contents(on_duckdb.release_dir, tier), _contents(on_spark.release_dir, tier)
        assert sum(rows for rows, _ in duckdb_tables.values()) > 0
        assert spark_tables == duckdb_tables, tier
    assert _rule_effects(on_spark.report) == _rule_effects(on_duckdb.report)
    assert on_spark.report["sandbox_files"] == on_duckdb.report["sandbox_files"]
    assert on_spark.scan["ok"]
