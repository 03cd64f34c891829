"""Nothing stale is served: a store records the manifest hash of every CDR it was built from, and a store whose
sources have changed (or that predates the record) is refused by the reader, the app and `workbench browser serve`,
with the exact command that rebuilds it. A store whose sources are not on this machine is served with a warning."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from research_workbench.browser.serving.app import create_app
from research_workbench.browser.building.writer import build_store
from research_workbench.browser.serving.store import Store
from research_workbench.browser.staleness import StaleStoreError
from research_workbench.cli.commands import app as cli

from .tiny import Program, release


def _program() -> Program:
    p = Program()
    for pid in range(1, 4):
        p.person(pid)
        p.genome(pid)
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()


def _touch_manifest(cdr: Path) -> None:
    """Change a CDR the way a re-curation would: its manifest.json gets different bytes."""
    manifest = json.loads((cdr / "manifest.json").read_text())
    manifest["notes"].append("re-curated")
    (cdr / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.fixture
def rel(tmp_path: Path) -> Path:
    return release(tmp_path / "rel", _program(), _program())


def test_a_store_records_the_manifest_hash_and_path_of_each_tier_it_was_built_from(rel: Path, tmp_path: Path):
    result = build_store(rel, tmp_path / "rel.sqlite")
    assert result.meta["sources"] == [
        {"role": "registered", "path": str(rel / "registered"), "manifest_sha256": _sha(rel / "registered")},
        {"role": "controlled", "path": str(rel / "controlled"), "manifest_sha256": _sha(rel / "controlled")},
    ]
    con = sqlite3.connect(result.path)
    stored = json.loads(con.execute("SELECT value FROM meta WHERE key = 'sources'").fetchone()[0])
    con.close()
    assert stored == result.meta["sources"]
    single = _program().write(tmp_path / "cdr")
    assert build_store(single, tmp_path / "cdr.sqlite").meta["sources"] == [
        {"role": "cdr", "path": str(single), "manifest_sha256": _sha(single)}]


@pytest.mark.parametrize("tier", ["registered", "controlled"])
def test_a_store_whose_source_tier_changed_is_refused_naming_it_with_the_rebuild_command(rel: Path, tmp_path: Path, tier: str):
    store = build_store(rel, tmp_path / "rel.sqlite", bin_size=10).path
    Store(store)  # current: opens
    _touch_manifest(rel / tier)
    expected_command = f"workbench browser build {rel} --out {store} --bin-size 10 --replace"
    for open_it in (Store, create_app):
        with pytest.raises(StaleStoreError) as refused:
            open_it(store)
        message = str(refused.value)
        assert f"the {tier.capitalize()} Tier of rel ({rel / tier})" in message
        assert "manifest.json has changed" in message and expected_command in message
    served = CliRunner().invoke(cli, ["browser", "serve", str(store), "--port", "1"])
    assert served.exit_code == 1
    assert "stale results store" in served.output and "--replace" in served.output
    # the command it gives does rebuild it, and the rebuilt store is served again
    rebuilt = CliRunner().invoke(cli, expected_command.split()[1:])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert Store(store).meta["bin_size"] == 10


def test_a_single_cdr_that_lost_its_manifest_is_refused(tmp_path: Path):
    cdr = _program().write(tmp_path / "cdr")
    store = build_store(cdr, tmp_path / "cdr.sqlite").path
    (cdr / "manifest.json").unlink()
    with pytest.raises(StaleStoreError, match=r"the CDR .*cdr has no manifest.json any more"):
        Store(store)


def test_a_store_whose_sources_are_not_on_this_machine_is_served_with_a_warning(rel: Path, tmp_path: Path, caplog):
    store = build_store(rel, tmp_path / "rel.sqlite").path
    deployed = tmp_path / "public-host" / "rel.sqlite"
    deployed.parent.mkdir()
    shutil.copy(store, deployed)
    shutil.rmtree(rel)
    with caplog.at_level(logging.WARNING, logger="research_workbench.browser.serving.store"):
        opened = Store(deployed)
    assert len(opened.warnings) == 2
    assert all("is not on this machine" in w for w in opened.warnings)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "the Registered Tier of rel" in caplog.records[0].getMessage()
    from fastapi.testclient import TestClient

    from .conftest import BASE_URL

    assert TestClient(create_app(deployed), base_url=BASE_URL).get("/api/info").status_code == 200


def test_a_store_built_before_hashes_were_recorded_is_refused_with_the_rebuild_command(rel: Path, tmp_path: Path):
    store = build_store(rel, tmp_path / "rel.sqlite").path
    con = sqlite3.connect(store)
    con.execute("DELETE FROM meta WHERE key = 'sources'")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    con.commit()
    con.close()
    with pytest.raises(StaleStoreError, match="built before stores recorded the manifest hash") as refused:
        Store(store)
    assert f"workbench browser build {rel} --out {store} --replace" in str(refused.value)
    served = CliRunner().invoke(cli, ["browser", "serve", str(store), "--port", "1"])
    assert served.exit_code == 1 and "Rebuild it" in served.output
    assert Store(store, check_sources=False).meta["release"] == "rel"  # inspecting it is still possible
