"""The CDR directory: content hashes that ignore layout but not content, atomic builds, verification."""

from __future__ import annotations

import pytest

from research_workbench.cdr.store import Cdr, CdrBuilder

PERSON_SQL = "SELECT * FROM (VALUES (1, 8507, 1950, 0, 0), (2, 8532, 1980, 0, 0), (3, 8532, 1999, 0, 0)) t(person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id)"
COLUMNS = {"person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"}


def build(path, query):
    with CdrBuilder(path) as builder:
        builder.write_table("person", builder.con.sql(query), available=COLUMNS)
        return builder.commit(source={"kind": "test"})


def test_content_hash_ignores_row_order(tmp_path):
    a = build(tmp_path / "a", PERSON_SQL)
    b = build(tmp_path / "b", PERSON_SQL + " ORDER BY person_id DESC")
    assert a.tables["person"].content_hash == b.tables["person"].content_hash


def test_content_hash_sees_a_changed_value_and_a_repeated_row(tmp_path):
    base = build(tmp_path / "a", PERSON_SQL).tables["person"].content_hash
    changed = build(tmp_path / "b", PERSON_SQL.replace("1999", "1998")).tables["person"].content_hash
    repeated = build(tmp_path / "c", PERSON_SQL + " UNION ALL SELECT 3, 8532, 1999, 0, 0").tables["person"].content_hash
    null = build(tmp_path / "d", PERSON_SQL.replace("(3, 8532, 1999, 0, 0)", "(3, 8532, 1999, 0, NULL)")).tables["person"].content_hash
    assert len({base, changed, repeated, null}) == 4


def test_aborted_build_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with CdrBuilder(tmp_path / "cdr") as builder:
            builder.write_table("person", builder.con.sql(PERSON_SQL), available=COLUMNS)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_verify_finds_an_altered_file(tmp_path):
    build(tmp_path / "cdr", PERSON_SQL)
    assert Cdr(tmp_path / "cdr").verify() == []
    with open(tmp_path / "cdr" / "person.parquet", "ab") as fh:
        fh.write(b"x")
    assert Cdr(tmp_path / "cdr").verify() == ["person: file person.parquet differs from the manifest"]


def test_cdr_connection_exposes_every_table_as_a_view(tmp_path):
    build(tmp_path / "cdr", PERSON_SQL)
    con = Cdr(tmp_path / "cdr").connect()
    assert con.execute("SELECT count(*), sum(year_of_birth) FROM person").fetchone() == (3, 5929)
    assert con.execute("SELECT count(*) FROM concept").fetchone() == (0,)
