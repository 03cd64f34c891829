"""Loading OMOP folders: what good input becomes, exactly."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from research_workbench.cdr.manifest import Manifest
from research_workbench.cdr.model import cdm
from research_workbench.ingest import load_omop_folder

from ..helpers import CONDITION_HEADER, CONDITIONS, PERSON_HEADER, PERSONS, minimal_omop, rows, write_csv


def test_minimal_folder_loads_with_values_typed_as_the_model_says(tmp_path):
    result = load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    person = rows(tmp_path / "cdr", "person", "person_id")
    assert [p[:6] for p in person] == [
        (1, 8507, 1950, 4, 12, dt.datetime(1950, 4, 12)),
        (2, 8532, 1988, None, None, None),
        (3, 8532, 2001, 1, 30, None),
    ]
    conditions = rows(tmp_path / "cdr", "condition_occurrence", "condition_occurrence_id")
    assert [(c[0], c[1], c[2], c[3], c[5]) for c in conditions] == [
        (10, 1, 201826, dt.date(2010, 3, 1), dt.date(2010, 3, 9)),
        (11, 1, 320128, dt.date(2012, 7, 15), None),
        (12, 2, 201826, dt.date(2015, 1, 2), None),  # a midnight date-time in a date column is a date
    ]
    source_value = cdm().table("condition_occurrence").column_names.index("condition_source_value")
    assert [c[source_value] for c in conditions] == ["E11.9", "I10", None]  # empty text is NULL
    assert result.manifest.tables["person"].rows == 3
    assert result.manifest.source_cdm_version == "5.4"


def test_every_model_table_exists_even_when_the_source_lacks_it(tmp_path):
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    manifest = Manifest.read(tmp_path / "cdr")
    assert set(manifest.tables) == set(cdm().tables)
    con = duckdb.connect()
    columns = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(tmp_path / "cdr" / "steps_intraday.parquet")]).fetchall()]
    assert columns == ["person_id", "datetime", "steps", "src_id"]
    assert manifest.tables["steps_intraday"].rows == 0


def test_file_and_column_names_are_case_insensitive(tmp_path):
    write_csv(tmp_path / "src", "PERSON.CSV", [h.upper() for h in PERSON_HEADER], PERSONS)
    load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    assert [p[0] for p in rows(tmp_path / "cdr", "person", "person_id")] == [1, 2, 3]


def test_csv_gzip_and_parquet_sources_give_the_same_content_hash(tmp_path):
    minimal_omop(tmp_path / "csv")
    write_csv(tmp_path / "gz", "person.csv", PERSON_HEADER, PERSONS, gz=True)
    write_csv(tmp_path / "gz", "condition_occurrence.csv", CONDITION_HEADER, CONDITIONS, gz=True)
    (tmp_path / "pq" / "person").mkdir(parents=True)
    con = duckdb.connect()
    # Parquet written in two parts and in another row order: a partitioned export.
    con.read_csv(str(tmp_path / "csv" / "person.csv"), all_varchar=True).filter("person_id = '1'").write_parquet(str(tmp_path / "pq" / "person" / "part-1.parquet"))
    con.read_csv(str(tmp_path / "csv" / "person.csv"), all_varchar=True).filter("person_id <> '1'").order("person_id DESC").write_parquet(str(tmp_path / "pq" / "person" / "part-0.parquet"))
    hashes = []
    for kind in ("csv", "gz", "pq"):
        result = load_omop_folder(tmp_path / kind, tmp_path / f"cdr-{kind}")
        hashes.append(result.manifest.tables["person"].content_hash)
    assert hashes[0] == hashes[1] == hashes[2]


def test_cdm_53_source_is_upgraded_to_54_with_renamed_columns_and_derived_keys(tmp_path):
    src = tmp_path / "src"
    write_csv(src, "cdm_source.csv",
              ["cdm_source_name", "cdm_source_abbreviation", "cdm_holder", "source_release_date", "cdm_release_date", "cdm_version", "vocabulary_version"],
              [["Old", "OLD", "Us", "2019-05-25", "2019-05-25", "v5.3.1", "v5.0 18-JAN-19"]])
    write_csv(src, "person.csv", PERSON_HEADER, PERSONS)
    write_csv(src, "visit_occurrence.csv",
              ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date", "visit_type_concept_id",
               "admitting_source_concept_id", "discharge_to_concept_id", "discharge_to_source_value"],
              [[5, 1, 9201, "2010-01-01", "2010-01-04", 44818517, 8536, 8863, "SNF"]])
    write_csv(src, "metadata.csv", ["metadata_concept_id", "metadata_type_concept_id", "name"], [[0, 0, "b"], [0, 0, "a"]])
    write_csv(src, "cohort_attribute.csv", ["cohort_definition_id", "subject_id"], [])
    result = load_omop_folder(src, tmp_path / "cdr")
    assert result.manifest.source_cdm_version == "5.3.1"
    assert result.manifest.cdm_version == "5.4"
    visit = dict(zip(cdm().table("visit_occurrence").column_names, rows(tmp_path / "cdr", "visit_occurrence", "visit_occurrence_id")[0]))
    assert (visit["admitted_from_concept_id"], visit["discharged_to_concept_id"], visit["discharged_to_source_value"]) == (8536, 8863, "SNF")
    assert [(r[0], r[3]) for r in rows(tmp_path / "cdr", "metadata", "metadata_id")] == [(1, "a"), (2, "b")]
    assert rows(tmp_path / "cdr", "cdm_source", "cdm_source_name")[0][9] == 756265  # cdm_version_concept_id for 5.4
    assert any("COHORT_ATTRIBUTE" in note for note in result.manifest.notes)
    assert result.manifest.vocabulary_version == "v5.0 18-JAN-19"


def test_cdm_version_is_detected_from_renamed_columns_without_cdm_source(tmp_path):
    write_csv(tmp_path / "src", "visit_detail.csv",
              ["visit_detail_id", "person_id", "visit_detail_concept_id", "visit_detail_start_date", "visit_detail_end_date",
               "visit_detail_type_concept_id", "visit_occurrence_id", "visit_detail_parent_id"],
              [[1, 1, 9201, "2010-01-01", "2010-01-02", 32817, 5, 7]])
    result = load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    assert result.manifest.source_cdm_version == "5.3.1"
    detail = dict(zip(cdm().table("visit_detail").column_names, rows(tmp_path / "cdr", "visit_detail", "visit_detail_id")[0]))
    assert detail["parent_visit_detail_id"] == 7


def test_death_records_get_ids_and_exactly_one_primary_record_per_person(tmp_path):
    write_csv(tmp_path / "src", "death.csv", ["person_id", "death_date", "death_type_concept_id"],
              [[1, "2020-05-01", 32817], [1, "2020-04-28", 32815], [2, "2019-01-01", 32817]])
    load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    death = [(r[0], r[1], r[2], r[9]) for r in rows(tmp_path / "cdr", "death", "death_id")]
    assert death == [
        (1, 1, dt.date(2020, 4, 28), True),
        (2, 1, dt.date(2020, 5, 1), False),
        (3, 2, dt.date(2019, 1, 1), True),
    ]


def test_header_only_file_is_an_empty_table(tmp_path):
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, [])
    result = load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    assert result.manifest.tables["person"].rows == 0


def test_unknown_table_is_skipped_with_a_warning(tmp_path):
    minimal_omop(tmp_path / "src")
    write_csv(tmp_path / "src", "my_notes.csv", ["a"], [[1]])
    result = load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    assert result.warnings == ["my_notes.csv: unknown table 'my_notes'; skipped"]
    assert "my_notes" not in result.manifest.tables


def test_unknown_column_is_skipped_with_a_warning(tmp_path):
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER + ["favourite_colour"], [p + ["blue"] for p in PERSONS])
    result = load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    assert result.warnings == ["person.csv: column favourite_colour is not part of table person; skipped"]


def test_duplicate_keys_are_kept_and_counted_when_allowed(tmp_path):
    write_csv(tmp_path / "src", "condition_occurrence.csv", CONDITION_HEADER, CONDITIONS + [[10, 3, 1, "2020-01-01", "", 32817, "x"], [10, 2, 1, "2020-01-01", "", 32817, "y"]])
    result = load_omop_folder(tmp_path / "src", tmp_path / "cdr", allow_duplicate_keys=True)
    entry = result.manifest.tables["condition_occurrence"]
    assert (entry.rows, entry.duplicate_key_rows) == (5, 2)
    assert result.warnings == ["condition_occurrence: 2 rows share their primary key with an earlier row (kept: --allow-duplicate-keys)"]


def test_manifest_records_source_counts_hashes_and_creation_time(tmp_path):
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    document = json.loads((tmp_path / "cdr" / "manifest.json").read_text())
    assert document["cdm_version"] == "5.4"
    assert document["source"] == {"kind": "omop-files", "path": str((tmp_path / "src").absolute())}
    assert document["tables"]["condition_occurrence"]["rows"] == 3
    assert len(document["tables"]["person"]["content_hash"]) == 64
    assert document["created_at"]
    assert {"vocabulary_version", "notes", "format_version"} <= set(document)


def test_loading_over_an_existing_cdr_needs_replace(tmp_path):
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    with pytest.raises(FileExistsError, match="--replace"):
        load_omop_folder(tmp_path / "src", tmp_path / "cdr")
    load_omop_folder(tmp_path / "src", tmp_path / "cdr", replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdr", "src"]  # no leftovers beside the target
