"""Trustworthy releases: no raw identifier leaves curation, the sandbox is steward-only, one writer at a time,
nothing stale, no worker left behind (issue 10). Each test pins one class of defect."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from research_workbench.cdr.model import cdm
from research_workbench.cdr.store import Cdr, sha256_file
from research_workbench.curation import curate, load_config
from research_workbench.curation.lock import ReleasesLock, ReleasesLockedError
from research_workbench.curation.release import RawCdrChangedError
from research_workbench.curation.risk import residual_risk
from research_workbench.curation.row_ids import KEY_FILE, ROW_ID_BASE, RowIdCipher
from research_workbench.curation.rule import Tier
from research_workbench.curation.rules import rule_named
from research_workbench.curation.scan import scan_release

from .fixtures import cond, meas, person, run_rules, status, write_cdr
from .test_release import small_program

CONFIG = load_config().model_copy(update={"cutoff_date": date(2024, 6, 30)})
REPO = Path(__file__).resolve().parents[2]


def query(sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    finally:
        con.close()


# --- a synthetic program's release, shared by the scanner tests ------------------------------------------------


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    """A 300-participant synthetic program (genomes, wearables, surveys, injected defects), curated once."""
    from research_workbench.synth import generate

    root = tmp_path_factory.mktemp("program")
    generate(300, 5, root / "raw")
    result = curate(root / "raw", "r1", root / "out", config=CONFIG)
    return root, result


def person_map(root: Path) -> dict[int, int]:
    """Research id → raw person id."""
    return dict(query("SELECT research_id, person_id FROM read_parquet(?)", [str(root / "out" / ".private" / "person_map.parquet")]))


def rewrite(path: Path, select: str, *, manifest: bool = True) -> None:
    """Replace a Parquet file by ``select`` over it (``t``): how a test plants a value in a released table. With
    ``manifest``, the manifest's size and SHA-256 follow (as a careless or hostile editor would leave them), so the
    CDR still opens and only the scanner can notice."""
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    con.execute(f"COPY ({select}) TO '{tmp}' (FORMAT parquet)")
    con.close()
    os.replace(tmp, path)
    if manifest:
        document = json.loads((path.parent / "manifest.json").read_text())
        entry = next(e for e in document["tables"].values() if e["file"] == path.name)
        entry.update(bytes=path.stat().st_size, file_sha256=sha256_file(path))
        (path.parent / "manifest.json").write_text(json.dumps(document))


def test_a_synthetic_programs_release_passes_the_scan_and_no_sample_id_embeds_a_raw_person_id(program):
    root, result = program
    assert result.scan["ok"] is True and result.scan["checked"]["vcf_samples"] > 0
    raw_ids = {str(p) for p in person_map(root).values()}
    for tier in ("registered", "controlled"):
        samples = [r[0] for r in query("SELECT sample_id FROM read_parquet(?)", [str(result.release_dir / tier / "genomic_sample.parquet")])]
        assert samples and not [s for s in samples if s.split("_")[-1] in raw_ids]  # today: wgs_<raw person_id>
    again = scan_release(result.release_dir, config=CONFIG)
    assert again.ok, again.findings


def _research_and_raw(root: Path, table: str, tier: str = "controlled") -> tuple[int, int]:
    """A research id present in ``table`` of ``tier`` and that participant's raw person id. (Research ids are a
    keyed permutation, new each curation: the participant with the smallest one differs from run to run, and may
    be in one tier only — so pick from the tier the test then changes.)"""
    rid = query(f"SELECT MIN(person_id) FROM read_parquet('{root / 'out' / 'r1' / tier / table}.parquet')")[0][0]
    return rid, person_map(root)[rid]


def _plant_person_id(release: Path, root: Path) -> None:
    rid, raw = _research_and_raw(root, "condition_occurrence")
    rewrite(release / "controlled" / "condition_occurrence.parquet", f"SELECT * REPLACE (CASE WHEN person_id = {rid} THEN {raw} ELSE person_id END AS person_id) FROM t")


def _plant_row_id(release: Path, root: Path) -> None:
    raw_id = query(f"SELECT MIN(measurement_id) FROM read_parquet('{root / 'raw' / 'measurement.parquet'}')")[0][0]
    rewrite(release / "registered" / "measurement.parquet", f"SELECT * REPLACE (CASE WHEN row_number() OVER () = 1 THEN {raw_id} ELSE measurement_id END AS measurement_id) FROM t")


def _plant_response_id(release: Path, root: Path) -> None:
    raw_id = query(f"SELECT MIN(questionnaire_response_id) FROM read_parquet('{root / 'raw' / 'observation.parquet'}')")[0][0]
    rewrite(release / "registered" / "observation.parquet", f"SELECT * REPLACE (CASE WHEN questionnaire_response_id IS NOT NULL THEN {raw_id} END AS questionnaire_response_id) FROM t")


def _plant_device_id(release: Path, root: Path) -> None:
    raw_id = query(f"SELECT MIN(device_id) FROM read_parquet('{root / 'raw' / 'device.parquet'}')")[0][0]
    rewrite(release / "controlled" / "device.parquet", f"SELECT * REPLACE ('{raw_id}' AS device_id) FROM t")


def _plant_site_id(release: Path, root: Path) -> None:
    rewrite(release / "registered" / "genomic_sample.parquet", "SELECT * REPLACE ('biobank' AS src_id) FROM t")


def _plant_sample_id(release: Path, root: Path) -> None:
    rid, raw = _research_and_raw(root, "genomic_sample")
    rewrite(release / "controlled" / "genomic_sample.parquet", f"SELECT * REPLACE (CASE WHEN person_id = {rid} AND data_type = 'wgs' THEN 'wgs_{raw}' ELSE sample_id END AS sample_id) FROM t")


def _plant_embedded_person_id(release: Path, root: Path) -> None:
    _, raw = _research_and_raw(root, "observation")
    rewrite(release / "registered" / "observation.parquet", f"SELECT * REPLACE (CASE WHEN row_number() OVER () = 3 THEN 'see sample wgs_{raw}' ELSE value_source_value END AS value_source_value) FROM t")


def _plant_birth_fields(release: Path, root: Path) -> None:
    rewrite(release / "registered" / "person.parquet", "SELECT * REPLACE (CAST(3 AS BIGINT) AS month_of_birth, CAST(15 AS BIGINT) AS day_of_birth) FROM t")


def _plant_birth_date_in_text(release: Path, root: Path) -> None:
    rid, raw = _research_and_raw(root, "observation")
    y, m, d = query(f"SELECT year_of_birth, month_of_birth, day_of_birth FROM read_parquet('{root / 'raw' / 'person.parquet'}') WHERE person_id = {raw}")[0]
    rewrite(release / "controlled" / "observation.parquet", f"SELECT * REPLACE (CASE WHEN person_id = {rid} THEN 'born {m}/{d}/{y}' ELSE value_source_value END AS value_source_value) FROM t")


def _plant_source_identifier(release: Path, root: Path) -> None:
    rewrite(release / "registered" / "person.parquet", "SELECT * REPLACE ('MRN-0042' AS person_source_value) FROM t")


def _vcf(release: Path) -> Path:
    return release / "controlled" / "genomics" / "wgs.vcf.gz"


def _rewrite_vcf(release: Path, edit) -> None:
    path = _vcf(release)
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(edit(lines)) + "\n")


def _plant_vcf_sample(release: Path, root: Path) -> None:
    research = person_map(root)

    def edit(lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("#CHROM"))
        fields = lines[at].split("\t")
        fields[9] = str(research[int(fields[9])])
        lines[at] = "\t".join(fields)
        return lines

    _rewrite_vcf(release, edit)


def _plant_vcf_header(release: Path, root: Path) -> None:
    _, raw = _research_and_raw(root, "genomic_sample")
    _rewrite_vcf(release, lambda lines: [lines[0], f"##comment=sequenced from wgs_{raw}", *lines[1:]])


def _plant_file_name(release: Path, root: Path) -> None:
    _, raw = _research_and_raw(root, "person")
    (release / "controlled" / f"extract_{raw}.csv").write_text("x\n")


def _plant_sandbox(release: Path, root: Path) -> None:
    shutil.copytree(root / "out" / ".private" / "sandbox" / "r1", release / "sandbox")


def _plant_report(release: Path, root: Path) -> None:
    (release / "report.html").write_text((release / "report.html").read_text().replace("Curation report", "Edited report"))


def _plant_report_text(release: Path, root: Path) -> None:
    _, raw = _research_and_raw(root, "person")
    report = json.loads((release / "report.json").read_text())
    report["note"] = f"checked participant {raw} by hand"
    (release / "report.json").write_text(json.dumps(report))


PLANTS = {
    "raw person id in a person column": (_plant_person_id, "raw person id", "controlled/condition_occurrence.person_id"),
    "raw row id as a row's key": (_plant_row_id, "raw row id", "registered/measurement.measurement_id"),
    "raw survey response id": (_plant_response_id, "raw survey response id", "registered/observation.questionnaire_response_id"),
    "raw wearable device id": (_plant_device_id, "raw device id", "controlled/device.device_id"),
    "raw site id": (_plant_site_id, "raw site id", "registered/genomic_sample.src_id"),
    "raw sample id (wgs_<person_id>)": (_plant_sample_id, "raw sample id", "controlled/genomic_sample.sample_id"),
    "raw person id embedded in text": (_plant_embedded_person_id, "raw person id in text", "registered/observation.value_source_value"),
    "birth month and day": (_plant_birth_fields, "full date of birth (birth month and day, or birth datetime)", "registered/person"),
    "date of birth in text": (_plant_birth_date_in_text, "the participant's full date of birth in text", "controlled/observation.value_source_value"),
    "source person identifier": (_plant_source_identifier, "source system identifier (must be empty in a release)", "registered/person.person_source_value"),
    "raw person id as a VCF sample name": (_plant_vcf_sample, "raw person id as a VCF sample name", "controlled/genomics/wgs.vcf.gz: samples"),
    "raw id in a VCF header": (_plant_vcf_header, "raw person id in text", "controlled/genomics/wgs.vcf.gz: header"),
    "raw person id in a file name": (_plant_file_name, "raw person id in text", "file names"),
    "a stray file in a tier": (_plant_file_name, "unexpected file in a tier (not in its manifest)", "controlled/extract_"),
    "the sandbox inside the release": (_plant_sandbox, "a sandbox in the release folder (steward-only data belongs in the private area)", "sandbox"),
    "report.html edited": (_plant_report, "report.html is not the rendering of report.json", "report.html"),
    "raw person id in the report": (_plant_report_text, "raw person id in text", "report.json"),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_the_scanner_refuses_each_kind_of_identifier_planted_in_a_release(program, tmp_path, plant):
    root, result = program
    release = tmp_path / "r1"
    shutil.copytree(result.release_dir, release)
    make, what, where = PLANTS[plant]
    make(release, root)
    found = scan_release(release, private_dir=root / "out" / ".private", raw_dir=root / "raw", config=CONFIG)
    assert any(f.what == what and where in f.where for f in found.findings), found.findings


def test_a_raw_row_id_of_the_participants_own_row_in_text_is_refused(program, tmp_path):
    root, result = program
    release = tmp_path / "r1"
    shutil.copytree(result.release_dir, release)
    rid, raw = _research_and_raw(root, "condition_occurrence", "registered")
    own = query(f"SELECT MAX(condition_occurrence_id) FROM read_parquet('{root / 'raw' / 'condition_occurrence.parquet'}') WHERE person_id = {raw}")[0][0]
    rewrite(release / "registered" / "condition_occurrence.parquet",
            f"SELECT * REPLACE (CASE WHEN person_id = {rid} THEN 'follow-up of condition {own}' ELSE condition_source_value END AS condition_source_value) FROM t")
    short = CONFIG.model_copy(update={"scan": CONFIG.scan.model_copy(update={"min_embedded_digits": 1})})  # ids here are short
    found = scan_release(release, private_dir=root / "out" / ".private", raw_dir=root / "raw", config=short)
    # (with ids this short the number is also some raw response id: reported too)
    assert "raw row id of the participant's own row in text" in [f.what for f in found.findings if f.where == "registered/condition_occurrence.condition_source_value"]


def test_release_scan_cli_passes_a_clean_release_and_refuses_a_planted_one(program, tmp_path):
    from research_workbench.cli import app

    root, result = program
    runner = CliRunner()
    ok = runner.invoke(app, ["release", "scan", str(result.release_dir), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    release = tmp_path / "r1"
    shutil.copytree(result.release_dir, release)
    _plant_sample_id(release, root)
    bad = runner.invoke(app, ["release", "scan", str(release), "--private", str(root / "out" / ".private"), "--json"])
    assert bad.exit_code == 1
    problems = json.loads(bad.stdout)["problems"]
    assert any(p["what"] == "raw sample id" and p["where"] == "controlled/genomic_sample.sample_id" for p in problems)
    missing = runner.invoke(app, ["release", "scan", str(release), "--raw", str(tmp_path / "nowhere"), "--json"])
    assert missing.exit_code == 1 and "raw CDR" in json.loads(missing.stdout)["error"]


def test_every_identifier_like_column_of_the_model_says_what_it_identifies():
    """A new id column must be classified (identifiers.csv) before de-identification and the scanner can miss it."""
    classified = {(i.table, i.column) for i in cdm().identifiers()}
    unclassified = [
        f"{t.name}.{c.name}"
        for t in cdm().tables.values()
        if not t.is_vocabulary
        for c in t.columns
        if "concept_id" not in c.name and (c.name.endswith(("_id", "_id_1", "_id_2", "identifier")) or c.name in ("person_source_value",))
        and (t.name, c.name) not in classified
    ]
    assert unclassified == []


# --- row ids -------------------------------------------------------------------------------------------------


def test_row_ids_are_permuted_consistently_out_of_the_raw_range_and_invertible_with_the_private_key(tmp_path):
    tables = small_program([101, 102, 103], [0, 40, 80])
    tables["visit_occurrence"] = [{"visit_occurrence_id": 500 + p, "person_id": p, "visit_concept_id": 9202, "visit_start_date": date(2019, 1, 2),
                                   "visit_end_date": date(2019, 1, 2), "visit_type_concept_id": 32817} for p in (101, 102, 103)]
    for row in tables["condition_occurrence"]:
        row["visit_occurrence_id"] = 500 + row["person_id"]
    raw = write_cdr(tmp_path / "raw", tables)
    curate(raw, "r1", tmp_path / "out", config=CONFIG)
    key = bytes.fromhex((tmp_path / "out" / ".private" / KEY_FILE).read_text().strip())
    assert (tmp_path / "out" / ".private" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    for tier in ("registered", "controlled"):
        d = tmp_path / "out" / "r1" / tier
        joined = query(f"SELECT c.condition_occurrence_id, c.visit_occurrence_id, v.visit_occurrence_id FROM read_parquet('{d}/condition_occurrence.parquet') c "
                       f"LEFT JOIN read_parquet('{d}/visit_occurrence.parquet') v ON v.visit_occurrence_id = c.visit_occurrence_id")
        assert len(joined) == 3 and all(r[1] == r[2] for r in joined)  # references still join
        ids = np.array([r[0] for r in joined] + [r[1] for r in joined], dtype=np.int64)
        assert (ids >= ROW_ID_BASE).all()
        assert sorted(RowIdCipher(key).invert(ids).tolist()) == [101, 102, 103, 601, 602, 603]


def test_row_ids_are_stable_across_releases_and_tiers(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101, 102], [0, 40]))
    curate(raw, "r1", tmp_path / "out", config=CONFIG)
    curate(raw, "r2", tmp_path / "out", config=CONFIG)
    ids = {
        (r, t): query(f"SELECT observation_id FROM read_parquet('{tmp_path / 'out' / r / t / 'observation.parquet'}') ORDER BY 1")
        for r in ("r1", "r2") for t in ("registered", "controlled")
    }
    assert ids["r1", "registered"] == ids["r2", "registered"] and ids["r1", "controlled"] == ids["r2", "controlled"]
    assert set(ids["r1", "registered"]) < set(ids["r1", "controlled"])  # the Registered Tier drops zip answers: a subset, same ids


def test_a_raw_row_id_outside_the_permutations_range_is_refused_naming_the_column(tmp_path):
    run_ok = write_cdr(tmp_path / "raw", {"person": [person(1)], "participant_status": [status(1)], "condition_occurrence": [cond(-5, 1)]})
    with pytest.raises(Exception, match=r"condition_occurrence\.condition_occurrence_id: a row id outside 0 … 2\^60 − 1"):
        curate(run_ok, "r1", tmp_path / "out", config=CONFIG)


# --- the sandbox is steward-only -----------------------------------------------------------------------------


def test_the_sandbox_and_remap_logs_live_in_the_private_area_readable_by_the_steward_only(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101, 102, 103], [0, 40, 80]))
    result = curate(raw, "r1", tmp_path / "out", config=CONFIG)
    private = tmp_path / "out" / ".private"
    assert private.stat().st_mode & 0o777 == 0o700
    sandbox = private / "sandbox" / "r1"
    paths = list(sandbox.rglob("*"))
    assert any(p.suffix == ".parquet" for p in paths)
    for p in [sandbox, *paths]:
        assert p.stat().st_mode & 0o777 == (0o700 if p.is_dir() else 0o600), p
    assert not (result.release_dir / "sandbox").exists()
    # the release keeps the counts: every sandbox file and its rows
    files = result.report["sandbox_files"]
    assert sum(files["clean"].values()) == sum(query(f"SELECT COUNT(*) FROM read_parquet('{sandbox / 'clean' / f}')")[0][0] for f in files["clean"])


# --- one writer at a time -----------------------------------------------------------------------------------


def test_a_curation_into_a_locked_releases_folder_fails_at_once_naming_the_holder(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101], [0]))
    with ReleasesLock(tmp_path / "out", release="other"):
        with pytest.raises(ReleasesLockedError, match=rf"being written by another curation \(process {os.getpid()} on .*release 'other'"):
            curate(raw, "r1", tmp_path / "out", config=CONFIG)
    assert not (tmp_path / "out" / "r1").exists()
    curate(raw, "r1", tmp_path / "out", config=CONFIG)  # the lock is released with its holder


def test_two_curations_of_one_name_started_at_once_give_one_release_and_one_clear_refusal(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101, 102], [0, 40]))
    (tmp_path / "c.toml").write_text('cutoff_date = "2024-06-30"\n')
    command = [sys.executable, "-m", "research_workbench", "curate", str(raw), "--release", "r1", "--out", str(tmp_path / "out"), "--config", str(tmp_path / "c.toml"), "--json"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [(r.wait(timeout=600), r.stdout.read()) for r in runs]
    codes = sorted(code for code, _ in outputs)
    assert codes == [0, 1], outputs
    refusal = json.loads(next(out for code, out in outputs if code == 1))["error"]
    assert "being written by another curation" in refusal or "already exists" in refusal
    assert Cdr(tmp_path / "out" / "r1" / "registered").verify() == []


def test_the_next_run_removes_build_folders_left_by_a_killed_run(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101], [0]))
    out = tmp_path / "out"
    stale = [out / ".r0.building-dead0001" / "registered", out / ".r0.old-dead0002", out / ".private" / "sandbox" / ".r0.building-dead0001" / "clean"]
    for path in stale:
        path.mkdir(parents=True)
    curate(raw, "r1", out, config=CONFIG)
    assert sorted(p.name for p in out.iterdir()) == [".lock", ".private", "r1"]
    assert sorted(p.name for p in (out / ".private" / "sandbox").iterdir()) == ["r1"]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_curation_leaves_no_worker_process_behind_and_the_next_run_succeeds(program, tmp_path):
    root, _ = program
    command = [sys.executable, "-m", "research_workbench", "curate", str(root / "raw"), "--release", "k", "--out", str(tmp_path / "out"), "--json"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 300
    while run.poll() is None and not workers and time.monotonic() < deadline:
        workers = _children(run.pid)  # the genome rewrite's worker, alive from the Controlled Tier write to the end
        time.sleep(0.05)
    assert workers, "the curation finished before its genome worker could be seen"
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived the killed curation"
    assert list((tmp_path / "out").glob(".k.building-*")), "the killed run left its build folder (removed by the next run)"
    result = curate(root / "raw", "k", tmp_path / "out", config=CONFIG)
    assert result.scan["ok"] and not list((tmp_path / "out").glob(".k.*"))


def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    script = (
        "import time\n"
        "from research_workbench.cdr.workers import worker_pool\n"
        "pool = worker_pool(1, 'spawn')\n"
        "pool.submit(time.sleep, 120).running()\n"
        "time.sleep(1)\n"
        "print(*pool._processes, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert _alive(worker)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)


# --- nothing stale ---------------------------------------------------------------------------------------------


def test_curation_refuses_a_raw_cdr_whose_content_no_longer_matches_its_manifest(tmp_path):
    raw = write_cdr(tmp_path / "raw", small_program([101, 102], [0, 40]))
    rewrite(raw / "condition_occurrence.parquet", "SELECT * REPLACE (CASE WHEN person_id = 102 THEN 4000 ELSE condition_concept_id END AS condition_concept_id) FROM t")
    with pytest.raises(RawCdrChangedError, match=r"condition_occurrence: content hash .* the manifest says"):
        curate(raw, "r1", tmp_path / "out", config=CONFIG)
    rewrite(raw / "condition_occurrence.parquet", "SELECT * FROM t WHERE person_id = 101")
    with pytest.raises(RawCdrChangedError, match=r"condition_occurrence: 1 rows, the manifest says 2"):
        curate(raw, "r1", tmp_path / "out", config=CONFIG)
    assert not (tmp_path / "out" / "r1").exists()


# --- de-identification gaps ------------------------------------------------------------------------------------


def test_records_after_the_cutoff_are_removed_and_later_end_dates_capped(tmp_path):
    run = run_rules(tmp_path, {
        "person": [person(1)],
        "condition_occurrence": [cond(1, 1, date(2024, 6, 30)), cond(2, 1, date(2099, 1, 1)),
                                 cond(3, 1, date(2024, 1, 1), condition_end_date=date(2099, 1, 1), condition_end_datetime=datetime(2099, 1, 1))],
        "measurement": [meas(1, 1, d=date(2024, 7, 1)), meas(2, 1, d=date(2024, 6, 29))],
        "observation_period": [{"observation_period_id": 1, "person_id": 1, "observation_period_start_date": date(2020, 1, 1),
                                "observation_period_end_date": date(2030, 1, 1), "period_type_concept_id": 32817}],
        "steps_intraday": [{"person_id": 1, "datetime": datetime(2024, 6, 30, 23, 59), "steps": 1.0}, {"person_id": 1, "datetime": datetime(2024, 7, 1, 0, 0), "steps": 2.0}],
    }, [rule_named("records_after_cutoff")])
    assert run.sandboxed("records_after_cutoff", "condition_occurrence", action="removed") == {2}
    assert run.sandboxed("records_after_cutoff", "condition_occurrence", action="changed") == {3}
    assert run.sandboxed("records_after_cutoff", "measurement") == {1}
    assert run.sandboxed("records_after_cutoff", "steps_intraday", "steps") == {2.0}
    assert run.rows("condition_occurrence", "condition_occurrence_id", "condition_end_date", "condition_end_datetime") == [(1, None, None), (3, None, None)]
    assert run.rows("observation_period", "observation_period_id", "observation_period_end_date") == [(1, date(2024, 6, 30))]  # required: the cut-off


def test_the_person_tables_race_and_ethnicity_are_generalised_whatever_their_source(tmp_path):
    run = run_rules(tmp_path, {
        "person": [
            person(1, race_concept_id=8657),  # American Indian or Alaska Native, from the EHR, no survey answer
            person(2, race_concept_id=8527, race_source_concept_id=1586146),  # White (survey): kept
            person(3, race_concept_id=38003574),  # a detailed race (Asian Indian)
            person(4, race_concept_id=8515, race_source_concept_id=38003574),  # Asian, detailed source
            person(5, race_concept_id=8527, ethnicity_concept_id=38003565, ethnicity_source_concept_id=38003565),  # a detailed ethnicity
            person(6, race_concept_id=8516, race_source_concept_id=1586141),  # a generalised single survey answer
        ],
    }, [rule_named("program_concepts"), rule_named("generalise_person_race_ethnicity")], tier=Tier.REGISTERED)
    assert run.sandboxed("generalise_person_race_ethnicity", "person", action="changed") == {1, 3, 4, 5, 6}
    assert run.rows("person", "person_id", "race_concept_id", "race_source_concept_id", "ethnicity_concept_id", "ethnicity_source_concept_id") == [
        (1, 2000000001, 2000000001, 0, None),
        (2, 8527, 1586146, 0, None),
        (3, 2000000001, 2000000001, 0, None),
        (4, 8515, 8515, 0, None),
        (5, 8527, None, 0, 0),
        (6, 2000000001, 2000000001, 0, None),
    ]


# --- residual risk ---------------------------------------------------------------------------------------------


def test_the_residual_risk_report_counts_participants_unique_on_quasi_identifiers(tmp_path):
    def ext(pid, state):
        return {"person_id": pid, "state_of_residence_concept_id": state}

    people = [person(1, 1980), person(2, 1980), person(3, 1980), person(4, 1980),
              person(5, 1990, gender_concept_id=8532), person(6, 1990, gender_concept_id=8532), person(7, 1990, gender_concept_id=8532)]
    run = run_rules(tmp_path, {
        "person": people,
        "person_ext": [ext(p, 1 if p < 5 else 2) for p in range(1, 8)],
        "condition_occurrence": [cond(1, 1, concept=201826), cond(2, 2, concept=201826), cond(3, 2, concept=201826),
                                 cond(4, 4, concept=201826), cond(5, 4, concept=320128)],
    }, [], tier=Tier.REGISTERED)
    risk = residual_risk(run.ws, "tier")
    # classes: {1, 2} (same condition set), {3} (none), {4} (two conditions), {5, 6, 7}
    assert (risk["participants"], risk["equivalence_classes"], risk["unique"], risk["unique_share"]) == (7, 4, 2, round(2 / 7, 6))
    assert [(b["size"], b["classes"], b["participants"]) for b in risk["class_sizes"] if b["classes"]] == [("1", 2, 2), ("2", 1, 2), ("3–4", 1, 3)]
    demo = risk["demographics_only"]
    assert (demo["equivalence_classes"], demo["unique"], demo["in_classes_under_5"]) == (2, 0, 7)


def test_each_release_report_carries_the_residual_risk_of_its_registered_tier(program):
    _, result = program
    risk = result.report["residual_risk"]
    assert risk["participants"] == result.report["tiers"]["registered"]["persons"]
    assert sum(b["participants"] for b in risk["class_sizes"]) == risk["participants"]
    assert 0 <= risk["demographics_only"]["unique"] <= risk["unique"]
    assert "Residual risk" in (result.release_dir / "report.html").read_text()
