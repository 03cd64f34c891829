"""Notebooks in a real browser (Debian's Chromium through Playwright): an owner signs in on the Workbench
(127.0.0.1), creates a notebook on the workspace's Notebooks page, opens it, and JupyterLab renders through the
proxy on the notebook host (localhost: another site, so no cookie of one is ever sent to the other); a fresh browser
context without cookies asking the notebook host for the same lab is refused. Every Workbench page visited passes
``check_page`` (no CSP violation or script error, fields labelled, nothing wider than the phone, contrast)."""

from __future__ import annotations

import pytest

from research_workbench.accounts.clock import utcnow

from ..chromium import ARGS, ARTIFACTS, CHROMIUM, DESKTOP, check_page, free_port, phone_page
from ..chromium import served as served_app
from ..conftest import need
from .cohort_data import add_workspace, register_data_version
from .conftest import ALL_RT, Clock, Workbench, add_institutions, make_user
from .test_workspaces_in_chromium import Codes, sign_in


@pytest.fixture
def served_notebooks(tmp_path, monkeypatch):
    """The Workbench on 127.0.0.1:<port> with its notebook host localhost:<port> (the same server)."""
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database
    from research_workbench.workbench.app import create_app

    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    monkeypatch.setenv("RW_WORKBENCH_SECRET", "notebooks-secret-" + "z" * 40)
    port = free_port()
    config = load_workbench_config(None, database_url=f"sqlite:///{tmp_path}/wb.sqlite",
                                   base_url=f"http://127.0.0.1:{port}", notebook_host="localhost",
                                   notebooks_dir=str(tmp_path / "notebooks"),
                                   review_extracts_dir=str(tmp_path / "review-extracts"),
                                   passwords={"time_cost": 1, "memory_kib": 1024, "parallelism": 1})
    db = Database(config.resolved_database_url)
    db.upgrade()
    clock = Clock(utcnow())
    add_institutions(db, clock.now)
    app = create_app(config, db=db)
    try:
        with served_app(app, port, "workbench") as base:
            yield Workbench(app, db, clock, config), base, port
    finally:
        app.state.notebooks.close()
        db.dispose()


def test_open_a_notebook_in_jupyterlab_through_the_proxy(served_notebooks, tmp_path):
    wb, base, port = served_notebooks
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, tmp_path / "no-cdr"), {"owner@state.edu": "OWNER"})
    codes = Codes()
    with phone_page() as pg:
        sign_in(pg, base, owner, codes, "/workspaces/study/notebooks")
        pg.fill("#name", "Glucose analysis")
        pg.get_by_label("Python").check()
        pg.get_by_role("button", name="Create notebook").click()
        pg.wait_for_url(base + "/workspaces/study/notebooks/Glucose%20analysis.ipynb")
        check_page(pg, base)
        assert pg.locator("#preview").count() == 1
        pg.goto(base + "/workspaces/study/notebooks")
        check_page(pg, base)
        assert pg.locator("#notebooks tbody tr").count() == 1
        pg.screenshot(path=str(ARTIFACTS / "workbench-notebooks-phone.png"), full_page=True)

        pg.set_viewport_size(DESKTOP)
        pg.get_by_role("button", name="Open Glucose analysis in JupyterLab").click()
        pg.wait_for_selector(".jp-LabShell", timeout=60_000)
        lab = pg.url
        assert lab.startswith(f"http://localhost:{port}/notebooks/")
        assert "/lab/tree/Glucose%20analysis.ipynb" in lab and "token" not in lab
        pg.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
        cookies = {c["name"]: c for c in pg.context.cookies() if c["domain"] == "localhost"}
        assert "rw_session" not in cookies and "csrftoken" not in cookies
        assert (cookies["rw_notebooks"]["httpOnly"], cookies["rw_notebooks"]["sameSite"],
                cookies["rw_notebooks"]["path"]) == (True, "Strict", "/notebooks/")
        # The kernel answers over the proxied WebSocket (once it is up: a cell run before is not sent).
        pg.wait_for_selector(".jp-StatusBar-TextItem:has-text('| Idle')", timeout=60_000)
        pg.locator(".jp-Cell .cm-content").first.click()
        pg.keyboard.type("print(6 * 7)")
        pg.keyboard.press("Shift+Enter")
        pg.wait_for_selector(".jp-OutputArea-output:has-text('42')", timeout=60_000)
        pg.screenshot(path=str(ARTIFACTS / "workbench-notebooks-jupyterlab.png"))

        # A fresh browser context (no cookies) asking the notebook host for the same lab is refused.
        other = pg.context.browser.new_context()
        try:
            fresh = other.new_page()
            response = fresh.goto(lab)
            assert response.status == 403
            assert fresh.locator(".jp-LabShell").count() == 0
            assert "Open notebooks from the Workbench" in fresh.content()
            fresh.screenshot(path=str(ARTIFACTS / "workbench-notebooks-refused.png"))
        finally:
            other.close()
    assert ARGS  # the shared launch arguments (no sandbox, no background networking)
