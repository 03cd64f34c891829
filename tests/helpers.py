"""Tiny OMOP fixtures written by the tests themselves, with exact values to assert on."""

from __future__ import annotations

import csv
import socket
import gzip
from pathlib import Path

import duckdb

PERSON_HEADER = ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime",
                 "race_concept_id", "ethnicity_concept_id"]
PERSONS = [
    [1, 8507, 1950, 4, 12, "1950-04-12 00:00:00", 8527, 38003564],
    [2, 8532, 1988, "", "", "", 8516, 38003563],
    [3, 8532, 2001, 1, 30, "", 0, 0],
]
CONDITION_HEADER = ["condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                    "condition_end_date", "condition_type_concept_id", "condition_source_value"]
CONDITIONS = [
    [10, 1, 201826, "2010-03-01", "2010-03-09", 32817, "E11.9"],
    [11, 1, 320128, "2012-07-15", "", 32817, "I10"],
    [12, 2, 201826, "2015-01-02 00:00:00", "", 32817, ""],
]


def write_csv(folder: Path, name: str, header: list[str], rows: list[list], *, gz: bool = False, delimiter: str = ",") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name + (".gz" if gz else ""))
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def minimal_omop(folder: Path) -> Path:
    """person.csv and condition_occurrence.csv of a 5.4 source."""
    write_csv(folder, "person.csv", PERSON_HEADER, PERSONS)
    write_csv(folder, "condition_occurrence.csv", CONDITION_HEADER, CONDITIONS)
    return folder


def rows(cdr: Path, table: str, order_by: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.read_parquet(str(cdr / f"{table}.parquet")).order(order_by).fetchall()
    finally:
        con.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
