"""`workbench cdr verify` and Cdr.check: every difference from the manifest, located, with expected and found."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from research_workbench.cdr.manifest import Manifest
from research_workbench.cdr.store import Cdr, CdrBuilder, sha256_file
from research_workbench.cli import app

PERSON_SQL = ("SELECT * FROM (VALUES (1, 8507, 1950, 0, 0), (2, 8532, 1980, 0, 0), (3, 8532, 1999, 0, 0)) "
              "t(person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id)")
COLUMNS = {"person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"}
runner = CliRunner()


def build(path, query, genome: bytes | None = None) -> Manifest:
    with CdrBuilder(path) as builder:
        builder.write_table("person", builder.con.sql(query), available=COLUMNS)
        if genome is not None:
            builder.add_file("genomes/wgs.vcf.gz", "genomes").write_bytes(genome)
        return builder.commit(source={"kind": "test"})


def problems(cdr, content=True) -> list[tuple]:
    return [(p.table, p.file, p.check, p.expected, p.found) for p in Cdr(cdr).check(content=content)]


def test_an_intact_cdr_has_no_problems(tmp_path):
    build(tmp_path / "cdr", PERSON_SQL, genome=b"##fileformat=VCFv4.2\n")
    assert Cdr(tmp_path / "cdr").check(content=True) == []
    assert Cdr(tmp_path / "cdr").verify(content=True) == []


def test_changed_rows_behind_a_consistent_file_hash_are_found_by_the_content_hash(tmp_path):
    """Someone rewrote a table and "fixed" its SHA-256 and size in the manifest: only the content hash sees it."""
    original = build(tmp_path / "cdr", PERSON_SQL).tables["person"]
    changed = build(tmp_path / "other", PERSON_SQL.replace("1999", "1998")).tables["person"]
    shutil.copyfile(tmp_path / "other" / "person.parquet", tmp_path / "cdr" / "person.parquet")
    manifest = Manifest.read(tmp_path / "cdr")
    manifest.tables["person"] = manifest.tables["person"].model_copy(update={"file_sha256": changed.file_sha256, "bytes": changed.bytes})
    manifest.write(tmp_path / "cdr")
    assert original.content_hash != changed.content_hash
    assert problems(tmp_path / "cdr", content=False) == []
    assert problems(tmp_path / "cdr") == [("person", "person.parquet", "content_hash", original.content_hash, changed.content_hash)]
    assert Cdr(tmp_path / "cdr").verify(content=True) == ["person: file person.parquet differs from the manifest"]


def test_a_replaced_table_file_is_reported_for_size_hash_rows_and_content(tmp_path):
    original = build(tmp_path / "cdr", PERSON_SQL).tables["person"]
    fewer = build(tmp_path / "other", PERSON_SQL.replace(", (3, 8532, 1999, 0, 0)", "")).tables["person"]
    assert original.bytes != fewer.bytes
    shutil.copyfile(tmp_path / "other" / "person.parquet", tmp_path / "cdr" / "person.parquet")
    assert problems(tmp_path / "cdr") == [
        ("person", "person.parquet", "bytes", original.bytes, fewer.bytes),
        ("person", "person.parquet", "sha256", original.file_sha256, fewer.file_sha256),
        ("person", "person.parquet", "rows", 3, 2),
        ("person", "person.parquet", "content_hash", original.content_hash, fewer.content_hash),
    ]


def test_a_missing_and_a_truncated_table_file_are_reported(tmp_path):
    manifest = build(tmp_path / "cdr", PERSON_SQL)
    (tmp_path / "cdr" / "concept.parquet").unlink()
    path = tmp_path / "cdr" / "person.parquet"
    with path.open("r+b") as fh:
        fh.truncate(100)
    found = problems(tmp_path / "cdr")
    assert found[:3] == [
        ("concept", "concept.parquet", "missing", "concept.parquet", None),
        ("person", "person.parquet", "bytes", manifest.tables["person"].bytes, 100),
        ("person", "person.parquet", "sha256", manifest.tables["person"].file_sha256, sha256_file(path)),
    ]
    assert found[3][:4] == ("person", "person.parquet", "unreadable", "a Parquet file") and len(found) == 4
    assert Cdr(tmp_path / "cdr").verify() == ["concept: file concept.parquet is missing", "person: file person.parquet differs from the manifest"]


def test_an_altered_genome_file_is_reported(tmp_path):
    manifest = build(tmp_path / "cdr", PERSON_SQL, genome=b"##fileformat=VCFv4.2\n")
    path = tmp_path / "cdr" / "genomes" / "wgs.vcf.gz"
    path.write_bytes(b"##fileformat=VCFv4.3\n")
    assert problems(tmp_path / "cdr") == [("genomes/wgs.vcf.gz", "genomes/wgs.vcf.gz", "sha256", manifest.files["genomes/wgs.vcf.gz"].sha256,
                                          sha256_file(path))]


def test_cli_verify_reports_every_difference_as_json_and_exits_1(tmp_path):
    original = build(tmp_path / "cdr", PERSON_SQL).tables["person"]
    changed = build(tmp_path / "other", PERSON_SQL.replace("1999", "1998")).tables["person"]
    shutil.copyfile(tmp_path / "other" / "person.parquet", tmp_path / "cdr" / "person.parquet")
    (tmp_path / "cdr" / "death.parquet").unlink()
    result = runner.invoke(app, ["cdr", "verify", str(tmp_path / "cdr"), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["intact"] is False and document["content_checked"] is True
    assert document["problems"] == ["death: file death.parquet is missing", "person: file person.parquet differs from the manifest"]
    size_changed = original.bytes != changed.bytes
    expected = [
        {"kind": "table", "table": "death", "file": "death.parquet", "check": "missing", "expected": "death.parquet", "found": None,
         "message": "death: file death.parquet is missing"},
    ] + ([{"kind": "table", "table": "person", "file": "person.parquet", "check": "bytes", "expected": original.bytes, "found": changed.bytes,
           "message": f"person: file person.parquet: size in bytes differs from the manifest: expected {original.bytes}, found {changed.bytes}"}]
         if size_changed else []) + [
        {"kind": "table", "table": "person", "file": "person.parquet", "check": "sha256", "expected": original.file_sha256,
         "found": changed.file_sha256,
         "message": f"person: file person.parquet: SHA-256 differs from the manifest: expected {original.file_sha256}, found {changed.file_sha256}"},
        {"kind": "table", "table": "person", "file": "person.parquet", "check": "content_hash", "expected": original.content_hash,
         "found": changed.content_hash,
         "message": f"person: file person.parquet: content hash differs from the manifest: expected {original.content_hash}, found {changed.content_hash}"},
    ]
    assert document["details"] == expected
    human = runner.invoke(app, ["cdr", "verify", str(tmp_path / "cdr")])
    assert human.exit_code == 1
    for line in expected:
        assert line["message"] in human.output.replace("\n", "")


@pytest.mark.parametrize("content", [True, False])
def test_cli_verify_of_an_intact_cdr_exits_0(tmp_path, content):
    build(tmp_path / "cdr", PERSON_SQL)
    result = runner.invoke(app, ["cdr", "verify", str(tmp_path / "cdr"), "--json", "--content" if content else "--no-content"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": str(tmp_path / "cdr"), "intact": True, "content_checked": content, "problems": [], "details": []}
