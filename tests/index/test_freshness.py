"""Nothing stale is served: an index is refused once its CDR has changed, and a damaged index file is named."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from research_workbench.cdr.manifest import Manifest
from research_workbench.cli import app
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.index import search_criteria
from research_workbench.index.layout import DATABASE_FILE, INDEX_MANIFEST, SEARCH_DB

from ..cohort_builder import fixture as f

runner = CliRunner()
T2DM = {"includes": [{"id": "g", "items": [{"id": "a", "type": "CONDITION", "searchParameters": [
    {"parameterId": "p", "domain": "CONDITION", "type": "SNOMED", "conceptId": f.T2DM, "group": True}]}]}]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return f.build(tmp_path_factory.mktemp("fresh"))


@pytest.fixture
def cdr(built, tmp_path):
    """A private copy of the CDR and its index (the index's record of its CDR pointed at the copy)."""
    shutil.copytree(built, tmp_path / "cdr")
    shutil.copytree(built.parent / "cdr.index", tmp_path / "cdr.index")
    manifest = json.loads((tmp_path / "cdr.index" / INDEX_MANIFEST).read_text())
    manifest["cdr"] = str(tmp_path / "cdr")
    (tmp_path / "cdr.index" / INDEX_MANIFEST).write_text(json.dumps(manifest))
    return tmp_path / "cdr"


def change(cdr):
    """The CDR changes after indexing (a reload or a vocabulary load rewrites its manifest)."""
    manifest = Manifest.read(cdr)
    manifest.notes.append("reloaded")
    manifest.write(cdr)


@pytest.fixture
def definition(tmp_path):
    path = tmp_path / "def.json"
    path.write_text(json.dumps(T2DM))
    return path


@pytest.mark.parametrize("command", [["count"], ["ids"], ["breakdown"], ["sql", "--dialect", "postgres"]])
def test_every_cohort_command_refuses_an_index_whose_cdr_changed_since_it_was_built(cdr, definition, command):
    assert runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr), "--json"]).exit_code == 0
    change(cdr)
    result = runner.invoke(app, ["cohort", *command, str(definition), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith(f"{cdr}.index is stale for the CDR {cdr}: it was built from {cdr} when")
    assert error.endswith(f"rebuild the index with `workbench index {cdr} --replace`")


def test_a_rebuilt_index_is_served_again(cdr, definition):
    change(cdr)
    assert runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr)]).exit_code == 1
    assert runner.invoke(app, ["index", str(cdr), "--replace", "--json"]).exit_code == 0
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["count"] == 3


def test_criteria_search_refuses_an_index_whose_cdr_changed(cdr):
    from research_workbench.index import StaleIndexError

    assert [r["concept_id"] for r in search_criteria(cdr.parent / "cdr.index", "E11.9")] == [f.E11_9]
    change(cdr)
    with pytest.raises(StaleIndexError, match=r"workbench index .*cdr --replace"):
        search_criteria(cdr.parent / "cdr.index", "E11.9")
    result = runner.invoke(app, ["criteria", "search", "E11.9", "--index", str(cdr.parent / "cdr.index"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith(f"{cdr}.index is stale for the CDR {cdr}:")


def test_the_cohort_engine_refuses_a_stale_index(cdr):
    from research_workbench.index import StaleIndexError

    CohortEngine(cdr.parent / "cdr.index").close()
    change(cdr)
    with pytest.raises(StaleIndexError) as caught:
        CohortEngine(cdr.parent / "cdr.index")
    assert (caught.value.index_dir, caught.value.cdr_dir) == (cdr.parent / "cdr.index", cdr)


def test_an_index_used_with_another_cdr_is_refused(cdr, definition, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(cdr, other)
    change(other)
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(other), "--index", str(cdr.parent / "cdr.index"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].endswith(f"`workbench index {other} --replace --out {cdr.parent / 'cdr.index'}`")


def test_an_index_that_does_not_record_its_cdr_is_refused(cdr, definition):
    path = cdr.parent / "cdr.index" / INDEX_MANIFEST
    manifest = json.loads(path.read_text())
    del manifest["cdr_manifest_sha256"]
    path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == (
        f"{cdr}.index does not record which state of its CDR it was built from (built by an older version), so it cannot be "
        f"shown to match {cdr}; rebuild it with `workbench index {cdr} --replace`")


def test_a_deleted_index_file_is_named(cdr, definition):
    from research_workbench.cdr.store import CdrFileError

    (cdr.parent / "cdr.index" / DATABASE_FILE).unlink()
    with pytest.raises(CdrFileError) as caught:
        CohortEngine(cdr.parent / "cdr.index")
    assert str(caught.value) == (f"{cdr}.index/{DATABASE_FILE}: index file missing; the index at {cdr}.index is damaged; "
                                 f"rebuild it with `workbench index {cdr} --replace`")
    result = runner.invoke(app, ["cohort", "count", str(definition), "--cdr", str(cdr), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == str(caught.value)


def test_a_truncated_index_file_is_named(cdr):
    path = cdr.parent / "cdr.index" / SEARCH_DB
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)
    result = runner.invoke(app, ["criteria", "search", "diabetes", "--index", str(cdr.parent / "cdr.index"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith(
        f"{path}: index file truncated: {size // 2:,} bytes, {INDEX_MANIFEST} says {size:,}; the index at {cdr}.index is damaged")


def test_a_cdr_replaced_after_an_earlier_check_is_refused(cdr):
    """Checks of unchanged files are remembered in-process; replacing the CDR (a rename, as every writer does) or
    rewriting its manifest in place is still seen."""
    import os
    import time

    from research_workbench.index import StaleIndexError, check_index

    index_dir = cdr.parent / "cdr.index"
    settled = time.time() - 10
    for path in (cdr / "manifest.json", index_dir / INDEX_MANIFEST):
        os.utime(path, (settled, settled))
    check_index(index_dir)
    check_index(index_dir)  # remembered
    replacement = cdr.parent / "manifest.json.new"
    manifest = Manifest.read(cdr)
    manifest.notes.append("reloaded")
    replacement.write_text(manifest.model_dump_json(indent=2) + "\n")
    os.replace(replacement, cdr / "manifest.json")
    with pytest.raises(StaleIndexError):
        check_index(index_dir)
