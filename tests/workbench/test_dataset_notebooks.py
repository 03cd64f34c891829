"""A dataset's notebook, executed headless (nbclient) in its own kernel against the Workbench served over HTTP, reads
exactly the engine's rows: Python with pandas and with polars, and R through reticulate (IRkernel from Debian).

The kernel is another process: it reaches the Workbench as a notebook's kernels do, through the SDK with a
personal token in its environment (``RW_WORKBENCH_URL``, ``RW_WORKBENCH_TOKEN``; ``RETICULATE_PYTHON`` for R).
"""

from __future__ import annotations

import json
import shutil
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from research_workbench.cdr.facts import Domain
from research_workbench.cohorts.builder.engine import CohortEngine
from research_workbench.datasets import extract as dx
from research_workbench.sdk import client as sdk_client

from ..chromium import free_port, served
from ..conftest import need
from .cohort_data import cohort_ws, fixture_cdr  # noqa: F401
from .test_dataset_api import dataset, writer  # noqa: F401
from .test_resources import token

SHOW = {  # a last cell printing the condition rows as JSON, per language
    "python-pandas": "print(condition_df[['person_id', 'event_id', 'standard_concept_name', 'age_at_event']]"
                     ".to_json(orient='values'))",
    "python-polars": "import json\nprint(json.dumps(condition_df.select(['person_id', 'event_id', "
                     "'standard_concept_name', 'age_at_event']).rows()))",
    "r": "cat(jsonlite::toJSON(condition_df[, c('person_id', 'event_id', 'standard_concept_name', 'age_at_event')], "
         "dataframe = 'values'))",
}


@pytest.fixture
def workbench_over_http(cohort_ws, monkeypatch):
    """The test's Workbench served on a free port; the kernels' environment pointing at it with a token."""
    port = free_port()
    api = token(cohort_ws.wb, "owner@state.edu", "workspaces:read", "data:read")
    with served(cohort_ws.wb.app, port, "workbench") as base:
        monkeypatch.setenv(sdk_client.ENV_URL, base)
        monkeypatch.setenv(sdk_client.ENV_TOKEN, api.headers["authorization"].removeprefix("Bearer "))
        monkeypatch.setenv("RETICULATE_PYTHON", sys.executable)
        yield base


def engine_rows(cohort_ws) -> list[list]:
    from research_workbench.workspaces.datasets import resolve
    from research_workbench.state.models import Resource, Workspace
    from research_workbench.workspaces.resources import version_of
    from sqlalchemy import select

    with cohort_ws.wb.db.reading() as session:
        workspace = session.scalar(select(Workspace).where(Workspace.namespace == "study"))
        dataset = session.scalar(select(Resource).where(Resource.kind == "dataset"))
        request = resolve(session, workspace, version_of(session, dataset).content).request
    engine = CohortEngine(cohort_ws.cdr.parent / "cdr.index", cdr_dir=cohort_ws.cdr)
    try:
        table = dx.read(engine, dx.plan(engine, request), Domain.CONDITION)
    finally:
        engine.close()
    return [[r["person_id"], r["event_id"], r["standard_concept_name"], r["age_at_event"]] for r in table.to_pylist()]


@pytest.mark.parametrize("language", ["python-pandas", "python-polars", "r"])
def test_the_datasets_notebook_reads_the_engines_rows(cohort_ws, dataset, workbench_over_http, language, tmp_path):
    if language == "r":
        need(shutil.which("R") is not None, "R is not installed (apt-get install r-base-core r-cran-irkernel "
                                            "r-cran-reticulate)")
    _, dataset_id = dataset
    api = writer(cohort_ws)
    answer = api.get(f"/api/workspaces/study/datasets/{dataset_id}/notebook", params={"language": language})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ipynb+json")
    document = nbformat.reads(answer.text, as_version=4)
    assert document.metadata.kernelspec.name == ("ir" if language == "r" else "python3")
    document.cells.append(new_code_cell(SHOW[language]))
    NotebookClient(document, timeout=180, kernel_name=document.metadata.kernelspec.name,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in document.cells[-1].outputs if o.output_type == "stream")
    assert json.loads(printed) == engine_rows(cohort_ws)
    info = [o for o in document.cells[2].outputs if o.output_type in ("execute_result", "display_data")]
    assert info and "2026Q4" in json.dumps(info[0]["data"])  # the session's data version, for a methods section
