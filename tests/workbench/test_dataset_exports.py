"""Dataset exports: a background job writes the Parquet snapshot with its manifest, pinned to the dataset version
and the data version; it can be followed and cancelled; it stops, writing nothing, when the session or token that
started it ends or the user loses the role; a dataset whose cohort was deleted fails naming it; each finished
export is audited.

The data is the Cohort Builder's fixture CDR; the dataset is the one of ``test_dataset_api`` (cohort "diabetes or
hypertension": persons 1, 2, 3, 4, 6, 7; conditions of concept set 201820 with descendants: 7 rows).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from research_workbench.state.models import ApiToken, AuditEvent, DatasetExport, User, WorkspaceMember

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .test_dataset_api import dataset, make_dataset, writer  # noqa: F401


def wait(api, export_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/workspaces/study/exports/{export_id}").json()
        if body["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.fixture
def held(cohort_ws, monkeypatch):
    """Exports are queued but not run until the test runs them (``services.exports.run``)."""
    services = cohort_ws.wb.app.state.services
    monkeypatch.setattr(services.exports, "submit", lambda export_id: None)
    return services


def snapshots(cohort_ws) -> list[str]:
    root = Path(cohort_ws.wb.config.exports_dir) / "study"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_an_export_writes_the_snapshot_and_its_manifest_in_the_background(cohort_ws, dataset):
    _, dataset_id = dataset
    api = writer(cohort_ws)
    started = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    done = wait(api, started.json()["id"])
    assert (done["status"], done["done"], done["total"], done["message"]) == ("done", 2, 2, None)
    folder = Path(done["path"])
    assert folder.name == f"{done['id']}-dm-data-v1" and sorted(p.name for p in folder.iterdir()) == [
        "condition.parquet", "manifest.json", "person.parquet"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == done["manifest"]
    assert (manifest["dataset"], manifest["data_version"]["name"], manifest["workspace"], manifest["participants"]) == (
        {"id": dataset_id, "name": "DM data", "version": 1}, "2026Q4", "study", 6)
    assert manifest["definition"]["values"]["CONDITION"] == ["person_id", "event_id", "standard_concept_name",
                                                             "start_date", "age_at_event"]
    assert {d: v["rows"] for d, v in manifest["domains"].items()} == {"PERSON": 6, "CONDITION": 7}
    assert pq.read_table(folder / "condition.parquet").column("event_id").to_pylist() == [1, 2, 3, 4, 5, 8, 9]
    assert [e["id"] for e in api.get("/api/workspaces/study/exports").json()] == [done["id"]]
    with cohort_ws.wb.db.session() as session:
        events = [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "participant_access"))]
    assert [(e["purpose"], e["persons"]["count"]) for e in events] == [("dataset_export", 6)]


def test_a_cancelled_export_writes_nothing(cohort_ws, dataset, held):
    _, dataset_id = dataset
    api = writer(cohort_ws)
    export_id = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    assert api.post(f"/api/workspaces/study/exports/{export_id}/cancel").json()["cancel_requested"] is True
    held.exports.run(export_id)
    body = api.get(f"/api/workspaces/study/exports/{export_id}").json()
    assert (body["status"], body["message"], body["path"]) == ("cancelled", "cancelled: nothing was written", None)
    assert snapshots(cohort_ws) == []


def test_an_export_stops_when_the_session_that_started_it_times_out_midway(cohort_ws, dataset, held, monkeypatch):
    _, dataset_id = dataset
    client = cohort_ws.client  # signed in with a session cookie
    started = client.post(f"/api/workspaces/study/datasets/{dataset_id}/exports",
                          headers={"x-csrftoken": client.cookies.get("csrftoken")})
    assert started.status_code == 202, started.text
    export_id = started.json()["id"]
    real = held.exports._progress

    def progress(export, done, total):  # the researcher walks away after the first table: the session runs out
        real(export, done, total)
        if done == 1:
            cohort_ws.wb.clock.advance(hours=7)  # past the Registered Tier's idle limit (6 hours)

    monkeypatch.setattr(held.exports, "_progress", progress)
    held.exports.run(export_id)
    with cohort_ws.wb.db.session() as session:
        export = session.get(DatasetExport, export_id)
        assert (export.status, export.done_steps, export.path) == ("failed", 1, None)
        assert export.message == ("the session timed out (idle) during the export: nothing was written; sign in "
                                  "and start it again")
    assert snapshots(cohort_ws) == []


def test_an_export_stops_when_its_token_is_revoked(cohort_ws, dataset, held):
    _, dataset_id = dataset
    api = writer(cohort_ws)
    export_id = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    with cohort_ws.wb.db.session() as session:
        export = session.get(DatasetExport, export_id)
        session.get(ApiToken, export.token_id).revoked_at = cohort_ws.wb.clock.now
    held.exports.run(export_id)
    assert api.get(f"/api/workspaces/study/exports/{export_id}").status_code == 401  # the token reads nothing either
    with cohort_ws.wb.db.session() as session:
        export = session.get(DatasetExport, export_id)
        assert (export.status, export.message) == ("failed", "the API token that started the export was revoked or "
                                                             "expired: nothing was written")
    assert snapshots(cohort_ws) == []


def test_an_export_stops_when_the_writer_is_made_a_reader(cohort_ws, dataset, held):
    _, dataset_id = dataset
    api = writer(cohort_ws)
    export_id = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    with cohort_ws.wb.db.session() as session:
        owner = session.scalar(select(User.id).where(User.email == "owner@state.edu"))
        member = session.scalar(select(WorkspaceMember).where(WorkspaceMember.user_id == owner))
        member.role = "READER"
    held.exports.run(export_id)
    with cohort_ws.wb.db.session() as session:
        export = session.get(DatasetExport, export_id)
        assert export.status == "failed"
        assert export.message == ("you may no longer export from this workspace (This needs the Writer role in the "
                                  "workspace; you are a Reader.): nothing was written")


def test_exporting_needs_a_writer_and_a_live_dataset(cohort_ws, dataset, held):
    cohort, dataset_id = dataset
    reader = cohort_ws.sign_in("reader@state.edu")
    refused = reader.post(f"/api/workspaces/study/datasets/{dataset_id}/exports",
                          headers={"x-csrftoken": reader.cookies.get("csrftoken")})
    assert refused.status_code == 403
    api = writer(cohort_ws)
    assert api.post("/api/workspaces/study/datasets/999/exports").status_code == 404
    assert api.post(f"/api/workspaces/study/datasets/{cohort}/exports").status_code == 422  # a cohort, not a dataset
    export_id = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    assert api.post(f"/api/workspaces/study/resources/{cohort}/delete").status_code == 204
    held.exports.run(export_id)
    body = api.get(f"/api/workspaces/study/exports/{export_id}").json()
    assert body["status"] == "failed"
    assert body["message"].startswith("the dataset cannot be read as saved: content.cohorts[0]: the cohort")
    assert snapshots(cohort_ws) == []
    assert api.get("/api/workspaces/study/exports/999").status_code == 404


def test_exports_left_by_a_stopped_server_process_are_marked_failed_and_a_live_ones_are_not(cohort_ws, dataset, held):
    import os
    import socket

    _, dataset_id = dataset
    api = writer(cohort_ws)
    orphan = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    live = api.post(f"/api/workspaces/study/datasets/{dataset_id}/exports").json()["id"]
    with cohort_ws.wb.db.session() as session:
        session.get(DatasetExport, orphan).runner = f"{socket.gethostname()}:{2**22 + 12345}"  # no such process
        session.get(DatasetExport, live).runner = f"{socket.gethostname()}:{os.getppid()}"  # a live process
    assert held.exports.fail_orphans() == 1
    body = api.get(f"/api/workspaces/study/exports/{orphan}").json()
    assert (body["status"], body["message"]) == ("failed", "the server stopped during the export")
    assert api.get(f"/api/workspaces/study/exports/{live}").json()["status"] == "queued"
    held.exports.run(orphan)  # an ended export is not run again
    assert api.get(f"/api/workspaces/study/exports/{orphan}").json()["status"] == "failed"
