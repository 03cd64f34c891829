"""``workbench release publish|versions|set-default|archive``: a curated release's tiers become data versions, only
once their indexes and the public aggregates are shown to match them; names are never reused; release numbers
increase; one default per tier; archived versions are kept but not offered for new workspaces."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from research_workbench.cli import app

runner = CliRunner()
SECRET = "cli-test-secret-" + "d" * 40
WB = ("RW_WORKBENCH_CONFIG", "RW_WORKBENCH_SECRET_FILE", "RW_WORKBENCH_ALLOWED_HOSTS", "RW_WORKBENCH_MAIL_JOBS")
EHR = ["CONDITION", "DRUG", "PROCEDURE", "MEASUREMENT", "OBSERVATION", "VISIT", "DEVICE"]
# The synthetic program has every kind of data; its genomes (VCF files) are in the Controlled Tier only (the
# Registered Tier keeps the genomic_sample table, which says who has a genome, but no genome).
REGISTERED_TYPES = EHR + ["SURVEY", "PHYSICAL_MEASUREMENT", "FITBIT"]
CONTROLLED_TYPES = REGISTERED_TYPES + ["WHOLE_GENOME_VARIANT", "ARRAY_DATA"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A 200-participant synthetic program, curated into release R1, both tiers indexed, its aggregates built."""
    root = tmp_path_factory.mktemp("release-publish")
    ok("synth", "--participants", "200", "--seed", "3", "--out", root / "raw")
    ok("curate", root / "raw", "--release", "R1", "--out", root / "releases")
    rel = root / "releases" / "R1"
    for tier in ("registered", "controlled"):
        ok("index", rel / tier)
    ok("browser", "build", rel, "--out", root / "releases" / "R1.browser.sqlite")
    return rel


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """A migrated Workbench database (SQLite) and its config; the secret in RW_WORKBENCH_SECRET."""
    for name in WB:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RW_WORKBENCH_SECRET", SECRET)
    path = tmp_path / "wb.toml"
    path.write_text('base_url = "http://127.0.0.1:8001"\ndatabase_url = "sqlite:///state/wb.sqlite"\n')
    result = run("admin", "migrate", "--config", path)
    assert result.exit_code == 0, result.output
    return path


def database(config: Path):
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database

    return Database(load_workbench_config(config).resolved_database_url)


def audit_rows(config: Path) -> list[tuple]:
    from research_workbench.state.models import AuditEvent

    db = database(config)
    with db.session() as s:
        rows = [(e.action, e.actor_id, e.details) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    db.dispose()
    return rows


def person_rows(cdr: Path) -> int:
    with duckdb.connect() as con:
        return con.execute("SELECT count(*) FROM read_parquet(?)", [str(cdr / "person.parquet")]).fetchone()[0]


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(release: Path, config: Path, name: str, *extra: str) -> dict:
    return ok("release", "publish", release, "--name", name, "--config", config, *extra)


def expected_version(release: Path, vid: int, name: str, tier: str, number: int, *, default: bool,
                     archived: bool = False) -> dict:
    """A version as --json prints it, but for created_at and archived_at (checked apart: they are the clock's)."""
    cdr = release / tier
    return {"id": vid, "name": name, "tier": tier, "release_number": number, "participant_count": person_rows(cdr),
            "data_types": REGISTERED_TYPES if tier == "registered" else CONTROLLED_TYPES, "default": default,
            "archived": archived, "cdr_path": str(cdr), "index_path": str(release / f"{tier}.index"),
            "aggregates_path": str(release.parent / "R1.browser.sqlite"), "manifest_sha256": sha(cdr / "manifest.json")}


def without_times(version: dict) -> dict:
    return {k: v for k, v in version.items() if k not in ("created_at", "archived_at")}


def states(document: dict) -> list[tuple]:
    return [(v["name"], v["tier"], v["release_number"], v["default"], v["archived"]) for v in document["versions"]]


# -- publishing -------------------------------------------------------------------------------------------------

def test_publish_registers_exactly_one_version_per_tier_with_its_participants_and_data_types(release, config):
    before = datetime.now(timezone.utc)
    document = publish(release, config, "2026Q4R1")
    assert {k: v for k, v in document.items() if k != "versions"} == {
        "name": "2026Q4R1", "release": "R1", "release_number": 1}
    assert [without_times(v) for v in document["versions"]] == [
        expected_version(release, 1, "2026Q4R1", "registered", 1, default=True),
        expected_version(release, 2, "2026Q4R1", "controlled", 1, default=True)]
    created = {datetime.fromisoformat(v["created_at"]) for v in document["versions"]}
    assert len(created) == 1 and before <= created.pop() <= datetime.now(timezone.utc)
    assert [v["archived_at"] for v in document["versions"]] == [None, None]
    # The counts are the person tables' rows: the Controlled Tier keeps participants the Registered Tier drops.
    counts = [v["participant_count"] for v in document["versions"]]
    assert 0 < counts[0] <= counts[1] <= 200
    assert ok("release", "versions", "--config", config) == {"versions": document["versions"]}
    audit = audit_rows(config)
    assert [(a, actor) for a, actor, _ in audit] == [("data_version_published", None)] * 2
    assert audit[1][2] == {"data_version_id": 2, "name": "2026Q4R1", "tier": "controlled", "release_number": 1,
                           "release": "R1", "participant_count": counts[1], "data_types": CONTROLLED_TYPES,
                           "manifest_sha256": sha(release / "controlled" / "manifest.json"),
                           "cdr_path": str(release / "controlled"), "default": True, "previous_default": None,
                           "replaced": None, "via": "cli"}


def test_publish_says_what_it_registered(release, config):
    result = run("release", "publish", release, "--name", "2026Q4R1", "--config", config)
    assert result.exit_code == 0, result.output
    n_reg, n_ctl = person_rows(release / "registered"), person_rows(release / "controlled")
    assert result.stderr.splitlines() == [
        f"Published 2026Q4R1 (release 1) from {release}:",
        f"  2026Q4R1 Registered Tier (id 1, release 1, default): {n_reg:,} participants; Conditions (EHR), Drug "
        "exposures (EHR), Procedures (EHR), Labs and measurements (EHR), Observations (EHR), Visits (EHR), Devices "
        "(EHR), Surveys, Physical measurements, Fitbit (wearables)",
        f"  2026Q4R1 Controlled Tier (id 2, release 1, default): {n_ctl:,} participants; Conditions (EHR), Drug "
        "exposures (EHR), Procedures (EHR), Labs and measurements (EHR), Observations (EHR), Visits (EHR), Devices "
        "(EHR), Surveys, Physical measurements, Fitbit (wearables), Short-read whole genome sequencing, Genotyping "
        "arrays"]


def test_a_missing_index_is_refused_naming_the_tier_and_the_path(release, config, tmp_path):
    missing = tmp_path / "nowhere.index"
    document = refused("release", "publish", release, "--name", "2026Q4R1", "--controlled-index", missing,
                       "--config", config)
    assert document == {"error": "data version refused", "problems": [{
        "where": str(missing),
        "message": f"Controlled Tier: no index at {missing}: build it with `workbench index {release / 'controlled'} "
                   f"--out {missing}`"}]}
    assert ok("release", "versions", "--archived", "--config", config) == {"versions": []}
    assert audit_rows(config) == []


def test_an_index_of_another_cdr_is_refused_as_not_matching(release, config):
    wrong = release / "controlled.index"
    document = refused("release", "publish", release, "--name", "2026Q4R1", "--registered-index", wrong,
                       "--config", config)
    [problem] = document["problems"]
    assert problem["where"] == str(wrong)
    assert problem["message"].startswith(f"Registered Tier: the index does not match the CDR: {wrong} is stale for "
                                         f"the CDR {release / 'registered'}")
    assert ok("release", "versions", "--config", config) == {"versions": []}


def test_missing_foreign_and_stale_aggregates_are_refused(release, config, tmp_path):
    copy = tmp_path / "releases" / "R1"
    shutil.copytree(release, copy)
    store = tmp_path / "releases" / "R1.browser.sqlite"
    # No aggregates for the copy yet.
    document = refused("release", "publish", copy, "--name", "2026Q4R1", "--config", config)
    assert document["problems"] == [{"where": str(store), "message": (
        f"no public aggregates for this release: build them with `workbench browser build {copy} --out {store}`")}]
    # The original release's aggregates are current, but not this release's.
    original = release.parent / "R1.browser.sqlite"
    document = refused("release", "publish", copy, "--name", "2026Q4R1", "--aggregates", original, "--config", config)
    assert [(p["where"], p["message"].split(" (they come from")[0]) for p in document["problems"]] == [
        (str(original), f"{tier}: the public aggregates were not computed from this release's {name}/")
        for tier, name in (("Registered Tier", "registered"), ("Controlled Tier", "controlled"))]
    # Aggregates built, then the Registered Tier's CDR changes and its index is rebuilt: only the aggregates are stale.
    ok("browser", "build", copy, "--out", store)
    manifest = json.loads((copy / "registered" / "manifest.json").read_text())
    manifest["notes"].append("corrected after the aggregates were built")
    (copy / "registered" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    ok("index", copy / "registered", "--replace")
    document = refused("release", "publish", copy, "--name", "2026Q4R1", "--config", config)
    [problem] = document["problems"]
    assert problem["where"] == str(store)
    assert problem["message"].startswith(f"the public aggregates cannot be used: {store}: stale results store: the "
                                         f"Registered Tier of R1 ({copy / 'registered'}) its manifest.json has changed")
    assert f"workbench browser build {copy} --out {store} --replace" in problem["message"]
    assert ok("release", "versions", "--archived", "--config", config) == {"versions": []}
    # Rebuilt, they are current again: the copy publishes.
    ok("browser", "build", copy, "--out", store, "--replace")
    assert states(publish(copy, config, "2026Q4R1")) == [("2026Q4R1", "registered", 1, True, False),
                                                        ("2026Q4R1", "controlled", 1, True, False)]


def test_a_name_is_published_once(release, config):
    first = publish(release, config, "2026Q4R1")
    document = refused("release", "publish", release, "--name", "2026Q4R1", "--config", config)
    when = datetime.fromisoformat(first["versions"][0]["created_at"])
    assert document == {"error": "data version refused", "problems": [{"where": "name", "message": (
        f"2026Q4R1 is already published (release 1, {when:%Y-%m-%d %H:%M} UTC): a published data version is never "
        "changed; publish the release under a new name")}]}
    assert ok("release", "versions", "--config", config) == {"versions": first["versions"]}
    assert len(audit_rows(config)) == 2
    bad = refused("release", "publish", release, "--name", "no spaces", "--config", config)
    assert bad["problems"] == [{"where": "name", "message": (
        "'no spaces' is not a data version name: 1 to 60 letters, digits, '.', '_' or '-', starting with a letter or "
        "digit (e.g. 2026Q4R1)")}]


def test_replace_re_registers_an_unused_name_under_its_number_and_is_refused_once_a_workspace_uses_it(
        release, config):
    from research_workbench.state.models import User, Workspace

    publish(release, config, "2026Q4R1")
    publish(release, config, "2026Q4R2")
    again = publish(release, config, "2026Q4R1", "--replace")
    assert [(v["id"], v["release_number"], v["default"]) for v in again["versions"]] == [(5, 1, True), (6, 1, True)]
    listed = ok("release", "versions", "--config", config)
    assert [(v["id"], v["name"], v["tier"], v["default"]) for v in listed["versions"]] == [
        (3, "2026Q4R2", "registered", False), (4, "2026Q4R2", "controlled", False),
        (5, "2026Q4R1", "registered", True), (6, "2026Q4R1", "controlled", True)]
    assert audit_rows(config)[-1][2]["replaced"] == 2
    db = database(config)
    now = datetime.now(timezone.utc)
    with db.session() as s:
        user = User(email="pi@state.edu", given_name="P", family_name="I", created_at=now)
        s.add(user)
        s.flush()
        s.add(Workspace(namespace="ws-one", name="One", tier="registered", data_version_id=5, created_by=user.id,
                        created_at=now, updated_at=now))
    db.dispose()
    document = refused("release", "publish", release, "--name", "2026Q4R1", "--replace", "--config", config)
    assert document["problems"] == [{"where": "name", "message": (
        "2026Q4R1 cannot be replaced: 1 workspace uses it; publish the release under a new name")}]


# -- release numbers, defaults, archiving -----------------------------------------------------------------------

def test_release_numbers_increase_and_the_newest_becomes_the_default_unless_told_not_to(release, config):
    assert states(publish(release, config, "A")) == [("A", "registered", 1, True, False),
                                                     ("A", "controlled", 1, True, False)]
    assert states(publish(release, config, "B", "--no-default")) == [("B", "registered", 2, False, False),
                                                                    ("B", "controlled", 2, False, False)]
    assert states(publish(release, config, "C")) == [("C", "registered", 3, True, False),
                                                     ("C", "controlled", 3, True, False)]
    assert states(ok("release", "versions", "--config", config)) == [
        ("C", "registered", 3, True, False), ("C", "controlled", 3, True, False),
        ("B", "registered", 2, False, False), ("B", "controlled", 2, False, False),
        ("A", "registered", 1, False, False), ("A", "controlled", 1, False, False)]
    assert states(ok("release", "versions", "--tier", "controlled", "--config", config)) == [
        ("C", "controlled", 3, True, False), ("B", "controlled", 2, False, False), ("A", "controlled", 1, False, False)]


def test_a_tiers_first_version_is_its_default_even_with_no_default(release, config):
    assert states(publish(release, config, "A", "--no-default")) == [("A", "registered", 1, True, False),
                                                                    ("A", "controlled", 1, True, False)]


def test_set_default_moves_one_tiers_default_with_exact_json(release, config):
    publish(release, config, "A")
    publish(release, config, "B")
    document = ok("release", "set-default", "A", "--tier", "registered", "--config", config)
    assert [without_times(v) for v in document["versions"]] == [
        expected_version(release, 1, "A", "registered", 1, default=True)]
    assert {k: v for k, v in document.items() if k != "versions"} == {"changed": [1], "previous": {"registered": 3}}
    assert states(ok("release", "versions", "--config", config)) == [
        ("B", "registered", 2, False, False), ("B", "controlled", 2, True, False),
        ("A", "registered", 1, True, False), ("A", "controlled", 1, False, False)]
    again = ok("release", "set-default", "A", "--tier", "registered", "--config", config)
    assert (again["changed"], again["previous"]) == ([], {})
    assert audit_rows(config)[-1] == ("data_version_default_set", None, {
        "data_version_id": 1, "name": "A", "tier": "registered", "release_number": 1, "previous_default": 3,
        "previous_name": "B", "via": "cli"})
    assert refused("release", "set-default", "Z", "--config", config) == {
        "error": "no data version named 'Z' (see `workbench release versions --archived`)"}


def test_archive_keeps_a_version_readable_but_no_longer_offered_and_refuses_the_default(release, config):
    from research_workbench.workspaces import data_versions as dv

    publish(release, config, "A")
    publish(release, config, "B")
    document = refused("release", "archive", "B", "--tier", "controlled", "--config", config)
    assert document == {"error": "data version refused", "problems": [{
        "where": "data version B (Controlled Tier)",
        "message": "the tier's default cannot be archived: make another version the default first"}]}
    before = datetime.now(timezone.utc)
    document = ok("release", "archive", "A", "--config", config)  # both tiers of A
    assert document["changed"] == [1, 2]
    assert [without_times(v) for v in document["versions"]] == [
        expected_version(release, 1, "A", "registered", 1, default=False, archived=True),
        expected_version(release, 2, "A", "controlled", 1, default=False, archived=True)]
    archived_at = {datetime.fromisoformat(v["archived_at"]) for v in document["versions"]}
    assert len(archived_at) == 1 and before <= archived_at.pop() <= datetime.now(timezone.utc)
    assert states(ok("release", "versions", "--config", config)) == [
        ("B", "registered", 2, True, False), ("B", "controlled", 2, True, False)]
    assert states(ok("release", "versions", "--archived", "--config", config)) == [
        ("B", "registered", 2, True, False), ("B", "controlled", 2, True, False),
        ("A", "registered", 1, False, True), ("A", "controlled", 1, False, True)]
    assert ok("release", "archive", "A", "--tier", "registered", "--config", config)["changed"] == []
    assert [a for a, _, _ in audit_rows(config)].count("data_version_archived") == 2
    db = database(config)
    with db.reading() as s:
        assert [v.name for v in dv.offered_for_new(s, "registered")] == ["B"]
        assert dv.get_version(s, 1).name == "A"  # still there for the workspaces bound to it
        with pytest.raises(dv.DataVersionError, match="A is archived: it is not offered for new workspaces"):
            dv.require_offered(s, 1, "registered")
        assert dv.require_offered(s, 3, "registered").name == "B"
    db.dispose()
    # An archived version cannot be made the default.
    document = refused("release", "set-default", "A", "--tier", "registered", "--config", config)
    assert document["problems"] == [{"where": "data version A (Registered Tier)",
                                     "message": "archived: an archived version cannot be the default"}]
