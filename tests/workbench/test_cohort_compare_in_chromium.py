"""Compare cohorts in a real browser (Debian's Chromium through Playwright) at a phone's width: a reader picks two
saved cohorts, sees the overlap, the demographic charts (each opening as a table) and the concepts that differ most,
on the fixture data version (tests/cohort_builder/fixture.py). The page passes ``check_page`` (no CSP violation or
JavaScript error, every field labelled, nothing wider than the phone, WCAG AA contrast); screenshots go to
test-artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from research_workbench.state.models import Resource, ResourceVersion, User, Workspace
from research_workbench.workspaces import resources as res

from ..chromium import ARTIFACTS, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, Workbench, make_user
from .test_cohort_compare import HTN, T2DM
from .test_workspaces_in_chromium import Codes, sign_in


def save_cohort(wb: Workbench, name: str, content: dict) -> int:
    """A cohort resource at version 1, straight into the database (the resource pages are another area's)."""
    now = wb.clock.now
    with wb.db.session() as session:
        owner = session.scalar(select(User.id).where(User.email == "owner@state.edu"))
        ws = session.scalar(select(Workspace.id).where(Workspace.namespace == "study"))
        row = Resource(workspace_id=ws, kind="cohort", name=name, description="", version=1, created_by=owner,
                       created_at=now, updated_by=owner, updated_at=now)
        session.add(row)
        session.flush()
        session.add(ResourceVersion(resource_id=row.id, version=1, name=name, description="",
                                    content=res.validate_content("cohort", content), created_by=owner, created_at=now,
                                    note="created"))
        return row.id


@pytest.fixture
def page():
    with phone_page() as pg:
        yield pg


def test_a_reader_compares_two_cohorts_on_a_phone(served, page, fixture_cdr):
    wb, base = served
    make_user(wb, "owner@state.edu", modules=ALL_RT)
    reader = make_user(wb, "reader@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr),
                  {"owner@state.edu": "OWNER", "reader@state.edu": "READER"})
    save_cohort(wb, "Type 2 diabetes", T2DM)
    save_cohort(wb, "Hypertension", HTN)

    sign_in(page, base, reader, Codes(), "/workspaces/study/compare")
    assert page.locator("h1").inner_text() == "Compare cohorts"
    page.select_option("#a", label="Type 2 diabetes")
    page.select_option("#b", label="Hypertension")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/workspaces/study/compare?a=*&b=*")
    check_page(page, base)
    assert [page.locator(f"#{i}").inner_text() for i in ("only-a", "both", "only-b", "union", "jaccard")] == [
        "2", "1", "2", "5", "0.20"]
    hypertension = page.locator("#differences-condition tbody tr").first
    assert hypertension.locator("th").inner_text().startswith("Essential hypertension")
    assert hypertension.locator("td").all_inner_texts() == ["1 (33.3%)", "3 (100.0%)", "−2.00"]
    page.screenshot(path=str(ARTIFACTS / "workbench-cohort-compare-phone.png"), full_page=True)

    # A chart's "Show as table" opens its table (a <details>: no script needed)
    gender = page.locator("#demographic-gender")
    assert not gender.locator("table").is_visible()
    gender.get_by_text("Show as table").click()
    assert gender.locator("tbody tr").first.locator("td").all_inner_texts() == ["1 (33.3%)", "3 (100.0%)"]
    check_page(page, base)
    gender.screenshot(path=str(ARTIFACTS / "workbench-cohort-compare-gender-table-phone.png"))
