"""The Dataset Builder's export panel and the workspace's Exports page: the dataset's code into a new notebook or
added to an existing one (same language, not held by someone else), and a Parquet snapshot started, followed and
cancelled from the pages. The dataset is the one of ``test_dataset_api`` (persons 1, 2, 3, 4, 6, 7)."""

from __future__ import annotations

import json
import re
import time
from html import unescape

from sqlalchemy import select

from research_workbench.state.models import DatasetExport
from research_workbench.workspaces import notebooks as files

from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .conftest import post
from .test_dataset_api import dataset, writer  # noqa: F401


def build_page(ns: str, dataset_id: int) -> str:
    return f"/workspaces/{ns}/datasets/{dataset_id}/build"


def flashes(client, path: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", client.get(path).text)).split())


def test_the_export_panel_is_a_writers_on_a_saved_dataset(cohort_ws, dataset):
    _, dataset_id = dataset
    page = cohort_ws.client.get(build_page("study", dataset_id)).text
    assert 'id="to-notebook-form"' in page and 'id="snapshot-form"' in page
    reader = cohort_ws.sign_in("reader@state.edu")
    assert 'id="to-notebook-form"' not in reader.get(build_page("study", dataset_id)).text
    assert 'id="to-notebook-form"' not in cohort_ws.client.get("/workspaces/study/datasets/new").text


def test_the_code_goes_into_a_new_notebook(cohort_ws, dataset):
    _, dataset_id = dataset
    client = cohort_ws.client
    answer = post(client, f"/workspaces/study/datasets/{dataset_id}/to-notebook",
                  {"language": "python-polars", "name": "DM analysis", "existing": ""},
                  form_page=build_page("study", dataset_id))
    assert answer.status_code == 303 and answer.headers["location"] == "/workspaces/study/notebooks/DM%20analysis.ipynb"
    path = files.folder(cohort_ws.wb.config.resolve(cohort_ws.wb.config.notebooks_dir), "study") / "DM analysis.ipynb"
    document = json.loads(path.read_text())
    assert document["metadata"]["kernelspec"]["name"] == "python3"
    assert [c["cell_type"] for c in document["cells"]] == ["markdown", "code", "code"]
    assert f"dataset = wb.dataset({dataset_id}, version=1)" in "".join(document["cells"][1]["source"])
    assert 'condition_df = dataset.to_polars("CONDITION")' in "".join(document["cells"][1]["source"])
    taken = post(client, f"/workspaces/study/datasets/{dataset_id}/to-notebook",
                 {"language": "python-polars", "name": "DM analysis", "existing": ""},
                 form_page=build_page("study", dataset_id))
    assert taken.status_code == 303 and "could not be written" in flashes(client, taken.headers["location"])


def test_the_code_is_added_to_an_existing_notebook_of_its_language_that_no_one_else_holds(cohort_ws, dataset):
    _, dataset_id = dataset
    client, wb = cohort_ws.client, cohort_ws.wb
    root = wb.config.resolve(wb.config.notebooks_dir)
    files.write_notebook(root, "study", "analysis", [("code", "x <- 1")], "r")
    form = build_page("study", dataset_id)
    wrong = post(client, f"/workspaces/study/datasets/{dataset_id}/to-notebook",
                 {"language": "python-pandas", "name": "", "existing": "analysis.ipynb"}, form_page=form)
    assert ("analysis.ipynb runs R: add Python code to a notebook that runs Python"
            in flashes(client, wrong.headers["location"]))
    added = post(client, f"/workspaces/study/datasets/{dataset_id}/to-notebook",
                 {"language": "r", "name": "", "existing": "analysis.ipynb"}, form_page=form)
    assert added.headers["location"] == "/workspaces/study/notebooks/analysis.ipynb"
    cells = json.loads((files.folder(root, "study") / "analysis.ipynb").read_text())["cells"]
    assert len(cells) == 4 and "".join(cells[0]["source"]) == "x <- 1"
    assert 'condition_df <- read_table("CONDITION")' in "".join(cells[2]["source"])
    # Someone else has it open: nothing is written over their work.
    files.acquire(root, "study", "analysis.ipynb", user_id=999, who="writer@state.edu", now=wb.clock.now)
    held = post(client, f"/workspaces/study/datasets/{dataset_id}/to-notebook",
                {"language": "r", "name": "", "existing": "analysis.ipynb"}, form_page=form)
    assert "analysis.ipynb is in use by writer@state.edu" in flashes(client, held.headers["location"])
    assert len(json.loads((files.folder(root, "study") / "analysis.ipynb").read_text())["cells"]) == 4


def test_a_snapshot_is_started_followed_and_cancelled_from_the_pages(cohort_ws, dataset, monkeypatch):
    _, dataset_id = dataset
    client = cohort_ws.client
    started = post(client, f"/workspaces/study/datasets/{dataset_id}/export", {}, form_page=build_page("study", dataset_id))
    assert started.status_code == 303 and started.headers["location"] == "/workspaces/study/exports"
    deadline = time.monotonic() + 60
    while "done" not in client.get("/workspaces/study/exports").text and time.monotonic() < deadline:
        time.sleep(0.1)
    page = flashes(client, "/workspaces/study/exports")
    assert "DM data , version 1 done" in page and "PERSON 6 rows, CONDITION 7 rows" in page
    services = cohort_ws.wb.app.state.services
    monkeypatch.setattr(services.exports, "submit", lambda export_id: None)  # the next one waits in the queue
    post(client, f"/workspaces/study/datasets/{dataset_id}/export", {}, form_page=build_page("study", dataset_id))
    with cohort_ws.wb.db.session() as session:
        queued = session.scalar(select(DatasetExport.id).where(DatasetExport.status == "queued"))
    listing = client.get("/workspaces/study/exports").text
    assert 'hx-trigger="every 2s"' in listing and f"Cancel export {queued}" in listing
    cancelled = post(client, f"/workspaces/study/exports/{queued}/cancel", {}, form_page="/workspaces/study/exports")
    assert cancelled.status_code == 303 and "(stopping)" in client.get("/workspaces/study/exports").text
    services.exports.run(queued)
    assert "cancelled: nothing was written" in flashes(client, "/workspaces/study/exports")
    reader = cohort_ws.sign_in("reader@state.edu")
    assert "Cancel export" not in reader.get("/workspaces/study/exports").text
