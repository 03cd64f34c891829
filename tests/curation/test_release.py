"""Whole releases: atomic and immutable, stable private maps, de-identification properties, report balance,
the CLI, and GiBleed end to end."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from research_workbench.cdr.model import cdm
from research_workbench.cdr.store import Cdr, CdrExistsError
from research_workbench.curation import curate, load_config

from .fixtures import answer, cond, obs, person, status, write_cdr

CONFIG = load_config().model_copy(update={"cutoff_date": date(2024, 6, 30)})
ZIP = 1585250


def small_program(pids: list[int], day0: list[int]) -> dict:
    tables: dict[str, list] = {"person": [], "participant_status": [], "observation": [], "condition_occurrence": [], "steps_intraday": [], "survey_conduct": [], "device": []}
    oid = 1
    for i, (pid, d) in enumerate(zip(pids, day0)):
        when = date(2019, 1, 1) + timedelta(days=d)
        tables["person"].append(person(pid, 1950 + i % 40, month_of_birth=1 + i % 12, day_of_birth=1 + i % 28, person_source_value=f"MRN{pid}"))
        tables["participant_status"].append(status(pid, src_id=f"site-{i % 3}"))
        response = 10_000 + pid
        tables["survey_conduct"].append({"survey_conduct_id": response, "person_id": pid, "survey_concept_id": 1, "survey_end_date": when, "survey_source_identifier": str(response)})
        tables["observation"] += [answer(oid, pid, 1585838, 1585839, response=response, observation_date=when),
                                  answer(oid + 1, pid, ZIP, None, response=response, value_as_string=f"{35000 + i:05d}", observation_date=when),
                                  obs(oid + 2, pid, when, value_as_string=f"note about {pid}")]
        oid += 3
        tables["condition_occurrence"].append(cond(pid, pid, when + timedelta(days=3), condition_end_date=when + timedelta(days=10), condition_start_datetime=datetime.combine(when, datetime.min.time())))
        tables["steps_intraday"].append({"person_id": pid, "datetime": datetime.combine(when, datetime.min.time()) + timedelta(hours=9), "steps": 100.0, "src_id": "fitbit"})
        tables["device"].append({"person_id": pid, "device_id": f"dev-{pid}", "device_date": when})
    return tables


@pytest.fixture
def raw(tmp_path):
    return write_cdr(tmp_path / "raw", small_program([101, 102, 103, 104], [0, 40, 80, 400]))


def test_a_release_holds_both_tiers_and_report_its_sandbox_is_private_and_the_raw_cdr_is_untouched(tmp_path, raw):
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    result = curate(raw, "2024Q2", tmp_path / "releases", config=CONFIG)
    release = tmp_path / "releases" / "2024Q2"
    assert sorted(p.name for p in release.iterdir()) == ["controlled", "registered", "report.html", "report.json"]
    sandbox = tmp_path / "releases" / ".private" / "sandbox" / "2024Q2"
    assert sorted(p.name for p in sandbox.iterdir()) == ["clean", "controlled", "registered"]
    assert result.report["sandbox_files"]["clean"] and all((sandbox / scope / f).is_file() for scope, files in result.report["sandbox_files"].items() for f in files)
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before and Cdr(raw).verify() == []
    raw_sha = json.loads((release / "report.json").read_text())["raw"]["manifest_sha256"]
    for tier in ("registered", "controlled"):
        cdr = Cdr(release / tier)
        assert cdr.verify() == []
        extra = cdr.manifest.extra
        assert (extra["release"], extra["tier"], extra["raw_input"]["manifest_sha256"]) == ("2024Q2", tier, raw_sha)
        assert cdr.manifest.vocabulary_version == "test"
        assert any(r["name"] == "person_ids" and r["tables"]["person"]["remapped"] == 4 for r in extra["rules"])
        assert set(cdr.manifest.tables) == set(cdm().tables)
    assert result.report["balanced"] is True
    assert not list((tmp_path / "releases").glob(".2024Q2*")), "no building directory left behind"
    html = (release / "report.html").read_text()
    assert "Waterfall" in html and "free_text_string_fields" in html


def test_reusing_a_release_name_is_refused_unless_replace(tmp_path, raw):
    curate(raw, "r1", tmp_path / "out", config=CONFIG)
    first = (tmp_path / "out" / "r1" / "registered" / "manifest.json").read_text()
    with pytest.raises(CdrExistsError, match="already exists"):
        curate(raw, "r1", tmp_path / "out", config=CONFIG)
    assert (tmp_path / "out" / "r1" / "registered" / "manifest.json").read_text() == first
    curate(raw, "r1", tmp_path / "out", config=CONFIG, replace=True)
    assert (tmp_path / "out" / "r1" / "registered" / "manifest.json").read_text() != first


def test_a_failed_run_leaves_no_release_behind(tmp_path, raw, monkeypatch):
    from research_workbench.curation import release as release_module

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(release_module, "write_report", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        curate(raw, "r1", tmp_path / "out", config=CONFIG)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".lock", ".private"]  # the lock file and the private area
    assert list((tmp_path / "out" / ".private" / "sandbox").iterdir()) == []  # no sandbox of a release that never appeared


def released(path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    Cdr(path).connect(con)
    return con.execute(sql).fetchall()


def test_research_ids_and_date_shifts_are_stable_across_releases(tmp_path, raw):
    curate(raw, "r1", tmp_path / "out", config=CONFIG)
    bigger = write_cdr(tmp_path / "raw2", small_program([101, 102, 103, 104, 105], [0, 40, 80, 400, 5]))
    curate(bigger, "r2", tmp_path / "out", config=CONFIG)
    q = "SELECT c.condition_occurrence_id, c.person_id, c.condition_start_date FROM condition_occurrence c ORDER BY condition_occurrence_id"
    r1 = released(tmp_path / "out" / "r1" / "registered", q)
    r2 = released(tmp_path / "out" / "r2" / "registered", q)
    assert len(r1) == 4 and len(r2) == 5 and set(r1) <= set(r2)  # the same row ids, research ids and shifted dates
    ct1 = released(tmp_path / "out" / "r1" / "controlled", "SELECT person_id FROM person ORDER BY person_id")
    rt1 = released(tmp_path / "out" / "r1" / "registered", "SELECT person_id FROM person ORDER BY person_id")
    assert ct1 == rt1  # the same research ids in both tiers
    private = tmp_path / "out" / ".private"
    assert sorted(p.name for p in private.iterdir()) == [
        "device_map.parquet", "person_map.parquet", "response_map.parquet", "row_ids.key", "sample_map.parquet", "sandbox", "site_map.parquet",
    ]
    assert not any(p.name == ".private" for p in (tmp_path / "out" / "r1").rglob("*"))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pids=st.lists(st.integers(min_value=1, max_value=2_000_000_000), min_size=1, max_size=6, unique=True),
    days=st.lists(st.integers(min_value=0, max_value=1500), min_size=6, max_size=6),
)
def test_deidentification_properties(tmp_path_factory, pids, days):
    tmp = tmp_path_factory.mktemp("prop")
    raw = write_cdr(tmp / "raw", small_program(pids, days[: len(pids)]))
    curate(raw, "r", tmp / "out", config=CONFIG)
    rt, ct = tmp / "out" / "r" / "registered", tmp / "out" / "r" / "controlled"
    con = duckdb.connect()
    person_map = con.execute("SELECT person_id, research_id, shift_days FROM read_parquet(?)", [str(tmp / "out" / ".private" / "person_map.parquet")]).fetchall()
    shifts = {rid: shift for _, rid, shift in person_map}
    rid_of = {pid: rid for pid, rid, _ in person_map}
    # every shift is within 1..364, and constant per participant across tables (conditions, surveys, wearables)
    assert all(1 <= s <= 364 for s in shifts.values())
    for pid, d in zip(pids, days):
        when = date(2019, 1, 1) + timedelta(days=d)
        rid = rid_of[pid]
        cond_date = released(rt, f"SELECT condition_start_date FROM condition_occurrence WHERE person_id = {rid}")[0][0]
        steps = released(rt, f"SELECT datetime FROM steps_intraday WHERE person_id = {rid}")[0][0]
        survey = released(rt, f"SELECT survey_end_date FROM survey_conduct WHERE person_id = {rid}")[0][0]
        shift = timedelta(days=shifts[rid])
        assert (cond_date, steps, survey) == (when + timedelta(days=3) - shift, datetime.combine(when, datetime.min.time()) + timedelta(hours=9) - shift, when - shift)
        assert released(ct, f"SELECT condition_start_date FROM condition_occurrence WHERE person_id = {rid}")[0][0] == when + timedelta(days=3)
    for tier in (rt, ct):
        cdr = Cdr(tier)
        for t in cdm().tables.values():
            if t.person_column:
                ids = {r[0] for r in released(tier, f"SELECT {t.person_column} FROM {t.name}")}
                assert not ids & set(pids), f"raw person_id in {tier.name}.{t.name}"
        # no free text: only generalised zip answers keep a string; no notes; source values suppressed
        strings = released(tier, "SELECT value_as_string FROM observation WHERE value_as_string IS NOT NULL")
        assert all(s[0].endswith("**") and len(s[0]) == 5 for s in strings)
        if tier == rt:
            assert strings == []
        assert released(tier, "SELECT count(*) FROM note")[0][0] == 0
        assert released(tier, "SELECT count(*) FROM person WHERE person_source_value IS NOT NULL OR month_of_birth IS NOT NULL")[0][0] == 0
        responses = {r[0] for r in released(tier, "SELECT questionnaire_response_id FROM observation")}
        assert not responses & {10_000 + p for p in pids}
        assert not {r[0] for r in released(tier, "SELECT device_id FROM device")} & {f"dev-{p}" for p in pids}
        assert {r[0] for r in released(tier, "SELECT src_id FROM steps_intraday")} <= {r[0] for r in released(tier, "SELECT src_id FROM steps_intraday WHERE src_id LIKE 'site %'")}
        assert cdr.manifest.tables["concept"].rows >= 14


def test_the_cli_curates_and_refuses_a_reused_name(tmp_path, raw):
    from research_workbench.cli import app

    (tmp_path / "c.toml").write_text('cutoff_date = "2024-06-30"\n')
    runner = CliRunner()
    args = ["curate", str(raw), "--release", "r1", "--out", str(tmp_path / "out"), "--config", str(tmp_path / "c.toml"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["participants"] == {"raw": 4, "registered": 4, "controlled": 4} and summary["balanced"] is True
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exists" in json.loads(again.stdout)["error"]
    (tmp_path / "bad.toml").write_text("[registered]\nmax_age = 'old'\n")
    bad = runner.invoke(app, [*args[:-3], "--config", str(tmp_path / "bad.toml"), "--json"])
    assert bad.exit_code == 1 and "registered.max_age" in json.loads(bad.stdout)["error"]


def test_the_cli_reports_phase_times_and_refuses_a_malformed_memory_limit(tmp_path, raw):
    from research_workbench.cli import app

    runner = CliRunner()
    args = ["curate", str(raw), "--release", "r1", "--out", str(tmp_path / "out"), "--json"]
    bad = runner.invoke(app, [*args, "--memory-limit", "lots"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["error"] == "memory limit 'lots': expected a size such as 512MB or 8GB"
    assert not (tmp_path / "out" / "r1").exists() and not list((tmp_path / "out").glob(".r1.*"))
    good = runner.invoke(app, [*args, "--memory-limit", "1GB"])
    assert good.exit_code == 0, good.output
    phases = json.loads(good.stdout)["phase_seconds"]
    assert list(phases) == [
        "load", "verify raw", "clean rules", "clean sandboxes", "private maps", "controlled copy", "controlled rules",
        "controlled sandboxes", "controlled write", "registered rules", "residual risk", "registered sandboxes", "registered write",
        "genomes wait and commit", "report", "scan", "swap",
    ]
    assert all(seconds >= 0 for seconds in phases.values())


def test_gibleed_curates_end_to_end_and_the_report_balances(gibleed_cdr, tmp_path):
    result = curate(gibleed_cdr, "gibleed", tmp_path / "out", config=CONFIG)
    report = result.report
    assert report["balanced"] is True
    raw = Cdr(gibleed_cdr).manifest
    assert report["raw"]["persons"] == raw.tables["person"].rows == 2694
    for tier in ("registered", "controlled"):
        cdr = Cdr(tmp_path / "out" / "gibleed" / tier)
        assert cdr.verify() == []
        assert report["tiers"][tier]["persons"] == cdr.manifest.tables["person"].rows > 0
        for name, entry in report["tiers"][tier]["tables"].items():
            assert entry["raw"] + entry["added"] - entry["removed"] == entry["final"] == cdr.manifest.tables[name].rows
    # GiBleed's repeated ids are all sandboxed, and none survives
    dup = next(r for r in report["rules"] if r["name"] == "duplicate_ids")
    assert set(dup["tables"]) == {"drug_exposure", "measurement", "observation"}  # the three tables with repeated ids
    rt = tmp_path / "out" / "gibleed" / "registered"
    assert released(rt, "SELECT count(*) - count(DISTINCT drug_exposure_id) FROM drug_exposure")[0][0] == 0
    assert report["tiers"]["registered"]["persons"] < report["tiers"]["controlled"]["persons"]  # 89+ excluded
