"""check_file: CSV, TSV, Parquet and notebooks by suffix; refusals name the file (and the line)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from research_workbench.publication import check_file


def found(report) -> list[tuple[str, str, object]]:
    return [(f.kind, f.where, f.value) for f in report.findings]


def test_a_csv_has_its_numbers_parsed(tmp_path):
    path = tmp_path / "by_race.csv"
    path.write_text('race,participants,person_id\n"Asian, East",7,3\nWhite,"1,250",4\nOther,,5\nTotal,1260,\n')
    assert found(check_file(path)) == [
        ("small_count", f'{path}: row 1, column "participants"', 7),
        ("recoverable_by_subtraction", f'{path}: row 4, column "participants"', 3),
    ]


def test_a_tsv(tmp_path):
    path = tmp_path / "counts.tsv"
    path.write_text("group\tn\nA\t0\nB\t19\nC\tNA\n")
    assert found(check_file(path)) == [("small_count", f'{path}: row 2, column "n"', 19)]
    assert check_file(path, threshold=19).ok


def test_a_parquet_file(tmp_path):
    path = tmp_path / "counts.parquet"
    pq.write_table(pa.table({"group": ["A", "B"], "female": [3, 30]}), path)
    assert check_file(path).ok
    assert found(check_file(path, counts="all")) == [("small_count", f'{path}: row 1, column "female"', 3)]


def test_a_notebook_file(tmp_path):
    path = tmp_path / "Analysis.IPYNB"
    cells = [{"cell_type": "code", "source": [], "outputs": [{"output_type": "stream", "text": "7 people\n"}]}]
    path.write_text(json.dumps({"nbformat": 4, "cells": cells}))
    assert found(check_file(path)) == [("small_count", f"{path}: cell 1, output 1, line 1", 7)]


def test_a_csv_row_with_the_wrong_number_of_fields_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("group,n\nA,30\nB,30,1\n")
    with pytest.raises(ValueError) as err:
        check_file(path)
    assert str(err.value) == f"{path}, line 3: 3 fields where the header has 2"


def test_a_csv_that_is_not_text_or_is_empty_is_refused(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=rf"^{empty}: empty file: no header row$"):
        check_file(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"group,n\n\xff\xfe,3\n")
    with pytest.raises(ValueError, match=rf"^{binary}: not UTF-8 text$"):
        check_file(binary)


def test_a_file_that_is_not_parquet_is_refused(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("group,n\n")
    with pytest.raises(ValueError, match=rf"^{path}: not a Parquet file"):
        check_file(path)


@pytest.mark.parametrize("name", ["results.xlsx", "results", "notes.txt"])
def test_an_unknown_suffix_is_refused_with_the_suffixes_read(tmp_path, name):
    path = tmp_path / name
    path.write_text("n\n3\n")
    with pytest.raises(ValueError) as err:
        check_file(path)
    suffix = path.suffix or "suffix-less"
    assert str(err.value) == f"{path}: cannot check a {suffix} file; the checker reads .csv, .tsv, .parquet, .ipynb"


def test_a_missing_file_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        check_file(tmp_path / "missing.csv")
    assert err.value.filename == str(tmp_path / "missing.csv")
