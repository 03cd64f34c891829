"""Review sets' participant extracts: the participants' rows of the CDR copied into person-sorted Parquet files
(``cohorts.participant_extract``), built in the background when a set is drawn (``workbench.review_extracts``),
and read by the participant page instead of the CDR — with the same answers.

The data is the Cohort Builder's fixture CDR (8 persons; ``tests/cohort_builder/fixture.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict

import duckdb
import pyarrow.parquet as pq
import pytest

from research_workbench.cdr.store import Cdr, CdrFileError
from research_workbench.cohorts import participant_extract as pe
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.cohorts.participant import EXTRACT_EVENTS, Filters, ParticipantReader

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .test_reviews import DM_OR_HTN, content_of, draw, save_cohort


def cdr_rows(cdr: Cdr, name: str, persons: list[int]) -> list[tuple]:
    """The person ids of the rows of table ``name`` of ``persons``, read from the CDR."""
    con = duckdb.connect()
    try:
        return con.execute("SELECT person_id FROM read_parquet(?) WHERE list_contains(?, person_id)",
                           [str(cdr.table_file(name)), persons]).fetchall()
    finally:
        con.close()


def test_an_extract_holds_exactly_the_participants_rows_of_every_table_a_page_reads(tmp_path, fixture_cdr):
    cdr = Cdr(fixture_cdr)
    path = pe.build(tmp_path, cdr, [3, 1, 3])
    events = pq.read_table(path / EXTRACT_EVENTS)
    ids = events.column("person_id").to_pylist()
    assert ids == sorted(ids) and set(ids) == {1, 3}
    per_table = Counter(zip(ids, events.column("table_name").to_pylist()))
    expected = Counter()
    for name in ("condition_occurrence", "drug_exposure", "measurement", "visit_occurrence", "survey_conduct",
                 "observation", "procedure_occurrence", "device_exposure"):
        if name in cdr.manifest.tables:
            expected.update((row[0], name) for row in cdr_rows(cdr, name, [1, 3]))
    assert per_table == expected
    assert per_table[(1, "condition_occurrence")] == 2 and per_table[(3, "measurement")] == 2
    condition = next(r for r in events.to_pylist() if r["table_name"] == "condition_occurrence" and r["event_id"] == 1)
    assert (condition["standard_concept_id"], condition["source_concept_id"], condition["visit_occurrence_id"]) == (
        443732, 45533023, 1001)
    marker = json.loads((path / pe.MARKER).read_text())
    assert marker["participants"] == 2 and marker["rows"][EXTRACT_EVENTS] == len(events)


def test_an_extract_is_named_by_the_cdr_and_the_participants(tmp_path, fixture_cdr):
    cdr = Cdr(fixture_cdr)
    assert pe.extract_key(cdr, [1, 3]) == pe.extract_key(cdr, [3, 1, 1])
    assert pe.extract_key(cdr, [1, 3]) != pe.extract_key(cdr, [1, 4])
    other = tmp_path / "other-cdr"
    shutil.copytree(fixture_cdr, other)
    manifest = other / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # the same tables, another manifest
    assert pe.extract_key(Cdr(other), [1, 3]) != pe.extract_key(cdr, [1, 3])
    assert pe.find(tmp_path / "store", pe.extract_key(cdr, [1, 3])) is None
    built = pe.build(tmp_path / "store", cdr, [1, 3])
    assert pe.find(tmp_path / "store", pe.extract_key(cdr, [1, 3])) == built
    assert pe.build(tmp_path / "store", cdr, [3, 1]) == built  # found, not built again


def test_a_failed_build_leaves_nothing_behind(tmp_path, fixture_cdr):
    broken = tmp_path / "broken-cdr"
    shutil.copytree(fixture_cdr, broken)
    cdr = Cdr(broken)
    measurement = broken / cdr.manifest.tables["measurement"].file
    measurement.write_bytes(measurement.read_bytes()[:100])
    with pytest.raises(CdrFileError, match="measurement"):
        pe.build(tmp_path / "store", cdr, [1, 3])
    assert list((tmp_path / "store").iterdir()) == []


def test_pruning_removes_unused_extracts_and_abandoned_builds_only(tmp_path, fixture_cdr):
    cdr = Cdr(fixture_cdr)
    old, fresh = pe.build(tmp_path, cdr, [1]), pe.build(tmp_path, cdr, [2])
    abandoned, building = tmp_path / ".abc.building-1234", tmp_path / ".def.building-5678"
    abandoned.mkdir(), building.mkdir()
    now = time.time()
    for path in (old, abandoned):
        os.utime(path, (now - 40 * 86400, now - 40 * 86400))
    assert pe.prune(tmp_path, unused_days=30, now=now) == sorted([old.name, abandoned.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, building.name])
    os.utime(fresh, (now - 40 * 86400, now - 40 * 86400))
    assert pe.find(tmp_path, fresh.name) == fresh  # reading an extract keeps it
    assert pe.prune(tmp_path, unused_days=30, now=now) == []


def test_a_reader_on_the_extract_gives_the_same_participant_as_on_the_cdr(tmp_path, fixture_cdr):
    persons = [1, 2, 3, 5, 7]
    path = pe.build(tmp_path, Cdr(fixture_cdr), persons)
    engine = CohortEngine(fixture_cdr.parent / "cdr.index", cdr_dir=fixture_cdr)
    try:
        on_cdr, on_extract = ParticipantReader(engine.con, fixture_cdr), ParticipantReader(engine.con, fixture_cdr, path)
        for person in persons:
            a, b = on_cdr.read(person), on_extract.read(person)
            assert [asdict(e) for e in a.shown(Filters())] == [asdict(e) for e in b.shown(Filters())]
            assert a.wearables == b.wearables and a.person == b.person
        assert len(on_extract.read(5).shown(Filters(), "surveys")) == 1
    finally:
        engine.close()


def test_a_reader_on_an_extract_reads_no_event_table_of_the_cdr(tmp_path, fixture_cdr):
    copy = tmp_path / "cdr"
    shutil.copytree(fixture_cdr, copy)
    path = pe.build(tmp_path / "store", Cdr(copy), [1, 2])
    measurement = copy / Cdr(copy).manifest.tables["measurement"].file
    measurement.write_bytes(measurement.read_bytes()[:100])  # the CDR's table damaged after the extract was made
    engine = CohortEngine(fixture_cdr.parent / "cdr.index", cdr_dir=fixture_cdr)
    try:
        assert len(ParticipantReader(engine.con, copy, path).read(1).shown(Filters(), "vitals")) == 2
        with pytest.raises(CdrFileError, match="measurement"):
            ParticipantReader(engine.con, copy).read(1)
    finally:
        engine.close()


def test_drawing_a_review_set_builds_its_extract_and_its_pages_read_it(cohort_ws):
    services = cohort_ws.wb.app.state.services
    cohort = save_cohort(cohort_ws.client, "DM or HTN", DM_OR_HTN)
    review_id, r = draw(cohort_ws.client, cohort, size="4")
    assert r.status_code == 303
    services.extracts.wait(timeout=60)
    participants = content_of(cohort_ws, review_id)["participants"]
    key = pe.extract_key(Cdr(cohort_ws.cdr), participants)
    path = pe.find(services.extracts.root, key)
    assert path is not None and path.parent == cohort_ws.wb.config.resolve(cohort_ws.wb.config.review_extracts_dir)
    long_ago = time.time() - 10 * 86400
    os.utime(path, (long_ago, long_ago))
    page = cohort_ws.client.get(f"/workspaces/study/reviews/{review_id}/participants/{participants[0]}?tab=conditions")
    assert page.status_code == 200
    assert path.stat().st_mtime > long_ago + 86400  # the page found it (a read keeps an extract from pruning)
    # The page reads the extract: with it gone mid-way (a store wiped), the next page reads the CDR and starts again.
    shutil.rmtree(path)
    again = cohort_ws.client.get(f"/workspaces/study/reviews/{review_id}/participants/{participants[0]}?tab=conditions")
    assert again.status_code == 200 and again.text.count("<tr") == page.text.count("<tr")
    services.extracts.wait(timeout=60)
    assert pe.find(services.extracts.root, key) == path
