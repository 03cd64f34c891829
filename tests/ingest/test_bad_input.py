"""Bad input is refused with a message naming file, line and column, and the target is left untouched."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from research_workbench.cdr.manifest import Manifest
from research_workbench.ingest import LoadError, load_omop_folder

from ..helpers import CONDITION_HEADER, CONDITIONS, PERSON_HEADER, PERSONS, minimal_omop, write_csv


def refused(src: Path, tmp_path: Path, **options) -> LoadError:
    """Load ``src`` over an existing good CDR with replace=True and return the error; assert nothing changed."""
    good = load_omop_folder(minimal_omop(tmp_path / "good"), tmp_path / "cdr")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cdr").iterdir()}
    with pytest.raises(LoadError) as caught:
        load_omop_folder(src, tmp_path / "cdr", replace=True, **options)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cdr").iterdir()}
    assert after == before, "a failed load must leave the target untouched"
    assert Manifest.read(tmp_path / "cdr").tables == good.manifest.tables
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "no temporary directory may remain"
    return caught.value


def only(error: LoadError):
    assert len(error.problems) >= 1
    return error.problems[0]


def test_missing_required_column_names_file_and_column(tmp_path):
    header = [h for h in PERSON_HEADER if h != "year_of_birth"]
    write_csv(tmp_path / "src", "person.csv", header, [[v for h, v in zip(PERSON_HEADER, p) if h != "year_of_birth"] for p in PERSONS])
    problem = only(refused(tmp_path / "src", tmp_path))
    assert (problem.file, problem.line, problem.column) == ("person.csv", 1, "year_of_birth")
    assert str(problem) == "person.csv, line 1, column year_of_birth: required column is missing from the header"


def test_unparseable_date_names_line_and_column(tmp_path):
    bad = [list(c) for c in CONDITIONS]
    bad[2][3] = "2015-02-30"
    write_csv(tmp_path / "src", "condition_occurrence.csv", CONDITION_HEADER, bad)
    problem = only(refused(tmp_path / "src", tmp_path))
    assert str(problem) == "condition_occurrence.csv, line 4, column condition_start_date: not a date (value '2015-02-30')"


def test_unparseable_number_names_line_and_column(tmp_path):
    bad = [list(p) for p in PERSONS]
    bad[1][2] = "19x8"
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, bad)
    problem = only(refused(tmp_path / "src", tmp_path))
    assert (problem.line, problem.column, problem.value, problem.message) == (3, "year_of_birth", "19x8", "not an integer")


def test_fraction_in_an_integer_column_is_refused_not_rounded(tmp_path):
    bad = [list(p) for p in PERSONS]
    bad[0][1] = "8507.5"
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, bad)
    problem = only(refused(tmp_path / "src", tmp_path))
    assert (problem.line, problem.column, problem.value) == (2, "gender_concept_id", "8507.5")


def test_every_bad_column_is_reported_with_a_count_of_further_rows(tmp_path):
    bad = [list(p) for p in PERSONS]
    bad[0][2] = "x"
    bad[2][2] = "y"
    bad[1][6] = "white"
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, bad)
    error = refused(tmp_path / "src", tmp_path)
    assert [str(p) for p in error.problems] == [
        "person.csv, line 2, column year_of_birth: not an integer (value 'x') [and 1 more row]",
        "person.csv, line 3, column race_concept_id: not an integer (value 'white')",
    ]


def test_required_value_missing_names_line_and_column(tmp_path):
    bad = [list(c) for c in CONDITIONS]
    bad[1][1] = ""
    write_csv(tmp_path / "src", "condition_occurrence.csv", CONDITION_HEADER, bad)
    problem = only(refused(tmp_path / "src", tmp_path))
    assert str(problem) == "condition_occurrence.csv, line 3, column person_id: required value is missing"


def test_duplicate_primary_key_names_the_repeat_and_the_first_line(tmp_path):
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS + [[2, 8507, 1970, "", "", "", 0, 0]])
    error = refused(tmp_path / "src", tmp_path)
    assert str(error.problems[0]) == "person.csv, line 5, column person_id: duplicate primary key person_id=2 (first at line 3)"
    assert "--allow-duplicate-keys" in str(error)


def test_truncated_gzip_is_refused(tmp_path):
    path = write_csv(tmp_path / "src", "condition_occurrence.csv", CONDITION_HEADER, CONDITIONS * 2000, gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    problem = only(refused(tmp_path / "src", tmp_path))
    assert problem.file == "condition_occurrence.csv.gz"
    assert problem.message.startswith("gzip stream is truncated: the file ends after line ")
    assert 1 < problem.line < 6001


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "person.csv").write_bytes(b"")
    assert str(only(refused(tmp_path / "src", tmp_path))) == "person.csv, line 1: file is empty (no header line)"


def test_empty_gzip_file_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    with gzip.open(tmp_path / "src" / "person.csv.gz", "wb"):
        pass
    assert str(only(refused(tmp_path / "src", tmp_path))) == "person.csv.gz, line 1: file is empty (no header line)"


def test_line_with_too_few_fields_is_refused_with_its_line(tmp_path):
    path = write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS)
    path.write_text(path.read_text() + "4,8507\n")
    problem = only(refused(tmp_path / "src", tmp_path))
    assert str(problem) == "person.csv, line 5: malformed line: expected 8 fields, found 2"


def test_line_with_too_many_fields_is_refused_with_its_line(tmp_path):
    path = write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS)
    path.write_text(path.read_text().replace("1988,,,,", "1988,,,,,extra,", 1))
    assert str(only(refused(tmp_path / "src", tmp_path))) == "person.csv, line 3: malformed line: more fields than the header's 8"


def test_unterminated_quote_is_refused_with_its_line(tmp_path):
    path = write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS)
    path.write_text(path.read_text().replace("2,8532", '2,"8532', 1))
    assert str(only(refused(tmp_path / "src", tmp_path))) == "person.csv, line 3: malformed line: a quoted value is never closed"


def test_invalid_utf8_is_refused_at_its_line_not_the_header(tmp_path):
    path = write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS)
    path.write_bytes(path.read_bytes().replace(b"2001", b"20\xff1"))
    assert str(only(refused(tmp_path / "src", tmp_path))) == "person.csv, line 4: malformed line: not valid UTF-8 text"


def test_wrong_delimiter_is_named(tmp_path):
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS, delimiter=";")
    assert str(only(refused(tmp_path / "src", tmp_path))) == (
        "person.csv, line 1: the header is a single column; the file seems to be separated by ';', not ','"
    )


def test_corrupt_parquet_file_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "person.parquet").write_bytes(b"PAR1 not really")
    problem = only(refused(tmp_path / "src", tmp_path))
    assert problem.file == "person.parquet" and problem.message.startswith("cannot read the Parquet file")


def test_windows_line_endings_are_fine(tmp_path):
    path = write_csv(tmp_path / "src", "person.csv", PERSON_HEADER, PERSONS)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert load_omop_folder(tmp_path / "src", tmp_path / "cdr").manifest.tables["person"].rows == 3


def test_unknown_table_is_refused_with_strict(tmp_path):
    minimal_omop(tmp_path / "src")
    write_csv(tmp_path / "src", "my_notes.csv", ["a"], [[1]])
    problem = only(refused(tmp_path / "src", tmp_path, strict=True))
    assert str(problem) == "my_notes.csv: unknown table 'my_notes' (not part of the CDR model)"


def test_unknown_column_is_refused_with_strict(tmp_path):
    write_csv(tmp_path / "src", "person.csv", PERSON_HEADER + ["favourite_colour"], [p + ["blue"] for p in PERSONS])
    problem = only(refused(tmp_path / "src", tmp_path, strict=True))
    assert (problem.line, problem.column) == (1, "favourite_colour")


def test_two_files_for_one_table_are_refused(tmp_path):
    minimal_omop(tmp_path / "src")
    write_csv(tmp_path / "src", "PERSON.csv", PERSON_HEADER, PERSONS, gz=True)
    problem = only(refused(tmp_path / "src", tmp_path))
    assert "two files hold table person" in problem.message


def test_error_in_a_late_table_leaves_no_trace_of_the_early_ones(tmp_path):
    minimal_omop(tmp_path / "src")
    write_csv(tmp_path / "src", "visit_occurrence.csv", ["visit_occurrence_id", "person_id"], [[1, 1]])
    error = refused(tmp_path / "src", tmp_path)
    assert {p.column for p in error.problems} >= {"visit_concept_id", "visit_start_date"}


def test_failed_first_load_creates_no_target(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "person.csv").write_bytes(b"")
    with pytest.raises(LoadError):
        load_omop_folder(tmp_path / "src", tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
