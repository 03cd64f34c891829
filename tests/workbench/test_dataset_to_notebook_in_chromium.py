"""The whole path in a real browser (Debian's Chromium through Playwright): the Dataset Builder shows a saved
dataset's preview, exports its code to a new notebook, JupyterLab opens it through the proxy on the notebook host,
and the notebook's own code, run in its kernel, reads the dataset's rows through the SDK (7 condition rows of the
fixture's cohort "diabetes or hypertension" and the concept set "diabetes")."""

from __future__ import annotations

from playwright.sync_api import expect

from ..chromium import ARTIFACTS, DESKTOP, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, register_data_version  # noqa: F401
from .conftest import ALL_RT, make_user
from .test_dataset_api import DIABETES
from .test_notebooks_in_chromium import served_notebooks  # noqa: F401
from .test_resources import token
from .test_reviews import DM_OR_HTN
from .test_workspaces_in_chromium import Codes, sign_in


def test_a_dataset_goes_from_the_builder_to_a_notebook_that_reads_it(served_notebooks, fixture_cdr):
    wb, base, port = served_notebooks
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr), {"owner@state.edu": "OWNER"})
    api = token(wb, "owner@state.edu", "workspaces:read", "workspaces:write")
    cohort = api.post("/api/workspaces/study/resources", json={"kind": "cohort", "name": "DM or HTN",
                                                               "content": DM_OR_HTN}).json()["id"]
    api.post("/api/workspaces/study/resources", json={"kind": "concept_set", "name": "Diabetes", "content": DIABETES})
    dataset = api.post("/api/workspaces/study/resources", json={"kind": "dataset", "name": "DM data", "content": {
        "cohorts": [cohort], "concept_sets": ["Diabetes"], "values": {
            "CONDITION": ["person_id", "standard_concept_name", "start_date"]}}}).json()["id"]
    codes = Codes()
    with phone_page(DESKTOP) as pg:
        sign_in(pg, base, owner, codes, f"/workspaces/study/datasets/{dataset}/build")
        pg.locator("#preview-tabs").get_by_role("tab", name="Conditions").click()
        expect(pg.locator("#preview-rows tbody tr")).to_have_count(7)
        check_page(pg, base)
        pg.select_option("#language", "python-pandas")
        pg.fill("#name", "DM notebook")
        pg.get_by_role("button", name="Create the notebook").click()
        pg.wait_for_url(base + "/workspaces/study/notebooks/DM%20notebook.ipynb")
        check_page(pg, base)
        pg.screenshot(path=str(ARTIFACTS / "dataset-to-notebook-1-created.png"), full_page=True)
        pg.locator("#open-lab").click()  # the notebook's page: Open in JupyterLab
        pg.wait_for_selector(".jp-LabShell", timeout=60_000)
        assert pg.url.startswith(f"http://localhost:{port}/notebooks/") and "token" not in pg.url
        pg.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        pg.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=60_000)  # the kernel is up
        pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()  # Run → Run All Cells
        pg.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        pg.wait_for_selector(".jp-OutputArea-output:has-text('2026Q4')", timeout=90_000)  # the SDK's session_info
        last = pg.locator(".jp-Notebook .jp-CodeCell").last
        last.locator(".cm-content").click()
        pg.keyboard.press("Escape")
        pg.keyboard.press("b")  # a new cell below, then edit it
        pg.keyboard.press("Enter")
        pg.keyboard.type("print(len(condition_df), condition_df['person_id'].nunique())")
        pg.keyboard.press("Shift+Enter")
        pg.wait_for_selector(".jp-OutputArea-output:has-text('7 4')", timeout=60_000)
        pg.screenshot(path=str(ARTIFACTS / "dataset-to-notebook-2-jupyterlab.png"))
