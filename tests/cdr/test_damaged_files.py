"""A missing or truncated table file is named when the CDR is opened or queried, never a DuckDB traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cdr.store import Cdr, CdrBuilder
from research_workbench.cli import app

from ..helpers import minimal_omop

PERSON_SQL = ("SELECT * FROM (VALUES (1, 8507, 1950, 0, 0), (2, 8532, 1980, 0, 0), (3, 8532, 1999, 0, 0)) "
              "t(person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id)")
COLUMNS = {"person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"}
runner = CliRunner()


@pytest.fixture
def cdr(tmp_path):
    with CdrBuilder(tmp_path / "cdr") as builder:
        builder.write_table("person", builder.con.sql(PERSON_SQL), available=COLUMNS)
        builder.commit(source={"kind": "test"})
    return tmp_path / "cdr"


def damaged(cdr) -> str:
    return f"the CDR at {cdr} is damaged (see `workbench cdr verify {cdr}`)"


def truncate(path, size):
    with path.open("r+b") as fh:
        fh.truncate(size)


def test_opening_a_cdr_with_a_deleted_table_file_names_the_file(cdr):
    (cdr / "concept.parquet").unlink()
    with pytest.raises(ValueError) as caught:
        Cdr(cdr).connect()
    assert str(caught.value) == f"{cdr}/concept.parquet: table file missing (table concept); {damaged(cdr)}"
    with pytest.raises(ValueError, match="table file missing"):
        Cdr(cdr).table_file("concept")


def test_opening_a_cdr_with_a_truncated_table_file_names_the_file_and_sizes(cdr):
    size = (cdr / "person.parquet").stat().st_size
    truncate(cdr / "person.parquet", 100)
    with pytest.raises(ValueError) as caught:
        Cdr(cdr).connect()
    assert str(caught.value) == f"{cdr}/person.parquet: table file truncated: 100 bytes, the manifest says {size:,} (table person); {damaged(cdr)}"


def test_a_table_file_damaged_in_place_is_named(cdr):
    path = cdr / "person.parquet"
    data = bytearray(path.read_bytes())
    data[-4:] = b"XXXX"  # the Parquet footer's magic bytes, same size
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as caught:
        Cdr(cdr).connect()
    assert str(caught.value).startswith(f"{path}: not a readable Parquet file (table person): ")
    assert str(caught.value).endswith(damaged(cdr))


def test_a_table_file_deleted_while_the_cdr_is_open_is_named_when_queried(cdr):
    source = Cdr(cdr)
    con = source.connect()
    (cdr / "person.parquet").unlink()
    with pytest.raises(ValueError) as caught:
        with source.query_errors():
            con.execute("SELECT count(*) FROM person").fetchall()
    assert str(caught.value) == f"{cdr}/person.parquet: table file missing (table person); {damaged(cdr)}"


def test_cli_info_and_index_name_a_deleted_or_truncated_table_file(tmp_path):
    runner.invoke(app, ["load", "omop", str(minimal_omop(tmp_path / "src")), "--out", str(tmp_path / "cdr"), "--json"])
    cdr = tmp_path / "cdr"
    size = (cdr / "condition_occurrence.parquet").stat().st_size
    truncate(cdr / "condition_occurrence.parquet", 10)
    info = runner.invoke(app, ["cdr", "info", str(cdr), "--json"])
    assert info.exit_code == 1
    assert json.loads(info.stdout)["error"] == (
        f"{cdr}/condition_occurrence.parquet: table file truncated: 10 bytes, the manifest says {size:,} (table condition_occurrence); "
        f"{damaged(cdr)}")
    (cdr / "person.parquet").unlink()
    index = runner.invoke(app, ["index", str(cdr), "--json"])
    assert index.exit_code == 1
    assert json.loads(index.stdout)["error"].startswith(f"{cdr}/condition_occurrence.parquet: table file truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdr", "src"]  # no index, no half-built one
    human = runner.invoke(app, ["cdr", "info", str(cdr)])
    assert human.exit_code == 1 and "condition_occurrence.parquet: table file truncated" in human.output
