"""PostgreSQL as a source (and a destination): streamed COPY, the same checks, identical content."""

from __future__ import annotations

import psycopg
import pytest

from research_workbench.cdr.manifest import Manifest
from research_workbench.ingest import LoadError, load_omop_folder, load_omop_postgres
from research_workbench.ingest.postgres import redact, write_cdr

from ..helpers import minimal_omop

pytestmark = pytest.mark.postgres


@pytest.mark.datasets
def test_gibleed_round_trip_through_postgres_keeps_counts_and_content_hashes(gibleed_cdr, pg_url, pg_schema, tmp_path):
    schema = pg_schema("gibleed")
    counts = write_cdr(gibleed_cdr, pg_url, schema)
    assert counts["person"] == 2694
    back = load_omop_postgres(pg_url, schema, tmp_path / "back", allow_duplicate_keys=True)
    original = Manifest.read(gibleed_cdr)
    assert {n: (t.rows, t.content_hash) for n, t in back.manifest.tables.items()} == {
        n: (t.rows, t.content_hash) for n, t in original.tables.items()
    }


def test_vocabulary_tables_come_from_the_vocab_schema(pg_url, pg_schema, tmp_path):
    data, vocab = pg_schema("data"), pg_schema("vocab")
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    write_cdr(tmp_path / "cdr", pg_url, data)
    write_cdr(tmp_path / "cdr", pg_url, vocab)
    with psycopg.connect(pg_url) as conn:
        conn.execute(f'INSERT INTO "{vocab}".concept VALUES (201826, \'Type 2 diabetes mellitus\', \'Condition\', \'SNOMED\', \'Clinical Finding\', \'S\', \'44054006\', \'1970-01-01\', \'2099-12-31\', NULL)')
    back = load_omop_postgres(pg_url, data, tmp_path / "back", vocab_schema=vocab)
    assert back.manifest.tables["concept"].rows == 1
    assert back.manifest.tables["person"].rows == 3
    assert back.manifest.source == {"kind": "postgresql", "url": pg_url, "schema": data, "vocab_schema": vocab}


def test_bad_value_in_a_postgres_table_names_schema_table_row_and_column(pg_url, pg_schema, tmp_path):
    schema = pg_schema("bad")
    with psycopg.connect(pg_url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".person (person_id int, gender_concept_id int, year_of_birth int, race_concept_id int, ethnicity_concept_id int)')
        conn.execute(f'INSERT INTO "{schema}".person VALUES (1, 8507, 1950, 0, 0), (2, 8532, NULL, 0, 0)')
    with pytest.raises(LoadError) as caught:
        load_omop_postgres(pg_url, schema, tmp_path / "cdr")
    assert str(caught.value) == f"postgresql:{schema}.person, row 2, column year_of_birth: required value is missing"
    assert not (tmp_path / "cdr").exists()


def test_missing_schema_is_refused(pg_url, tmp_path):
    with pytest.raises(LoadError, match="schema has no tables"):
        load_omop_postgres(pg_url, "no_such_schema_here", tmp_path / "cdr")


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match="cannot connect to PostgreSQL"):
        load_omop_postgres("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2", "cdm", tmp_path / "cdr")


def test_writing_over_an_existing_schema_needs_replace(pg_url, pg_schema, tmp_path):
    schema = pg_schema("twice")
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    write_cdr(tmp_path / "cdr", pg_url, schema)
    with pytest.raises(LoadError, match="already exists"):
        write_cdr(tmp_path / "cdr", pg_url, schema)
    assert write_cdr(tmp_path / "cdr", pg_url, schema, replace=True)["person"] == 3


def test_passwords_never_reach_the_manifest():
    assert redact("postgresql://ann:s3cret@db:5432/omop") == "postgresql://ann:***@db:5432/omop"
