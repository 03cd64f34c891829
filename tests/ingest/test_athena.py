"""Athena vocabulary downloads: tab-separated, unquoted, YYYYMMDD dates, loaded into a CDR atomically."""

from __future__ import annotations

import datetime as dt

import pytest

from research_workbench.cdr.manifest import Manifest
from research_workbench.ingest import LoadError, load_athena_vocabulary, load_omop_folder

from ..helpers import minimal_omop, rows

CONCEPT_HEADER = ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                  "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"]
CONCEPTS = [
    [201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S", "44054006", "19700101", "20991231", ""],
    [45533023, 'Diabetes "type 2" without complications', "Condition", "ICD10CM", "4-char billing code", "", "E11.9", "20070101", "20991231", ""],
]


def tsv(folder, name, header, rows):
    """Raw tab-separated text with no quoting at all, as Athena writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def athena(folder):
    """A small Athena download; a concept name carries bare double quotes, as real ones do."""
    tsv(folder, "CONCEPT.csv", CONCEPT_HEADER, CONCEPTS)
    tsv(folder, "CONCEPT_RELATIONSHIP.csv", ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date", "invalid_reason"],
        [[45533023, 201826, "Maps to", "20070101", "20991231", ""]])
    tsv(folder, "VOCABULARY.csv", ["vocabulary_id", "vocabulary_name", "vocabulary_reference", "vocabulary_version", "vocabulary_concept_id"],
        [["None", "OMOP Standardized Vocabularies", "OMOP generated", "v5.0 31-AUG-26", 44819096]])
    tsv(folder, "CONCEPT_CPT4.csv", ["x"], [[1]])  # Athena's CPT4 helper: not a table
    return folder


def test_athena_vocabulary_replaces_the_vocabulary_and_keeps_the_rest(tmp_path):
    before = load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr").manifest
    result = load_athena_vocabulary(athena(tmp_path / "athena"), tmp_path / "cdr")
    after = Manifest.read(tmp_path / "cdr")
    assert after.vocabulary_version == "v5.0 31-AUG-26"
    assert (after.tables["concept"].rows, after.tables["concept_relationship"].rows, after.tables["concept_ancestor"].rows) == (2, 1, 0)
    assert after.tables["person"] == before.tables["person"]
    assert after.tables["condition_occurrence"] == before.tables["condition_occurrence"]
    concepts = rows(tmp_path / "cdr", "concept", "concept_id")
    assert concepts[1][1] == 'Diabetes "type 2" without complications'
    assert concepts[0][7:9] == (dt.date(1970, 1, 1), dt.date(2099, 12, 31))
    assert result.manifest.source == before.source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["athena", "cdr", "src"]


def test_athena_vocabulary_into_a_new_directory_makes_a_vocabulary_only_cdr(tmp_path):
    result = load_athena_vocabulary(athena(tmp_path / "athena"), tmp_path / "vocab")
    assert result.manifest.tables["concept"].rows == 2
    assert result.manifest.tables["person"].rows == 0


def test_athena_date_in_iso_form_is_refused_with_line_and_column(tmp_path):
    folder = athena(tmp_path / "athena")
    text = (folder / "CONCEPT.csv").read_text().replace("20070101", "2007-01-01", 1)
    (folder / "CONCEPT.csv").write_text(text)
    load_omop_folder(minimal_omop(tmp_path / "src"), tmp_path / "cdr")
    before = Manifest.read(tmp_path / "cdr")
    with pytest.raises(LoadError) as caught:
        load_athena_vocabulary(folder, tmp_path / "cdr")
    assert str(caught.value) == "CONCEPT.csv, line 3, column valid_start_date: not a date (value '2007-01-01')"
    assert Manifest.read(tmp_path / "cdr") == before


def test_folder_without_concept_file_is_not_an_athena_download(tmp_path):
    (tmp_path / "athena").mkdir()
    with pytest.raises(LoadError, match="CONCEPT.csv is missing"):
        load_athena_vocabulary(tmp_path / "athena", tmp_path / "cdr")
