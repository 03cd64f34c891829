"""The concept set builder in a real browser (Debian's Chromium through Playwright) at a phone's width: a writer
searches as they type, adds a concept and its descendants, pastes codes (the unmatched listed), saves, exports the
set as OHDSI JSON and imports the file again, on the fixture data version (tests/cohort_builder/fixture.py). Every
page passes ``check_page`` (no CSP violation or JavaScript error, every field labelled, nothing wider than the phone,
WCAG AA contrast); screenshots go to test-artifacts/."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from research_workbench.state.models import Resource, ResourceVersion

from ..chromium import ARTIFACTS, DESKTOP, check_page, phone_page
from ..cohort_builder import fixture as f
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_workspaces_in_chromium import Codes, sign_in


@pytest.fixture
def page():
    with phone_page() as pg:
        yield pg


def test_a_writer_builds_saves_exports_and_imports_a_concept_set(served, page, fixture_cdr):  # noqa: F811
    wb, base = served
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr), {"owner@state.edu": "OWNER"})
    sign_in(page, base, owner, Codes(), "/workspaces/study/concept-sets/new")
    assert page.locator("h1").inner_text() == "New concept set"

    # search as you type: the hits come from the API, each source hit with its standard concept
    page.fill("#q", "diabetes")
    add = page.get_by_role("button", name="Add: Type 2 diabetes mellitus", exact=True)
    add.click()
    assert add.inner_text() == "In the set" and add.is_disabled()
    assert page.locator("#tray-count").inner_text() == "1"
    toggle = page.locator("#tray-table").get_by_role("button", name="Include descendants of Type 2 diabetes mellitus")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert page.locator("#tray").input_value() == f"{f.T2DM}d" and toggle.get_attribute("aria-pressed") == "true"
    page.fill("#q", "E11.9")
    expect(page.locator("#search-results > li")).to_have_count(1)
    assert "→ maps to SNOMED 44054006 Type 2 diabetes mellitus" in page.locator("#search-results").inner_text()
    check_page(page, base)
    page.screenshot(path=str(ARTIFACTS / "workbench-concept-set-search-phone.png"), full_page=True)

    # pasted codes, the source concepts themselves (the mapping box unticked); the unmatched listed
    page.fill("#codes", "E11.9, I10x\n8480-6")
    page.uncheck("#map")
    page.get_by_role("button", name="Match and add codes").click()
    page.locator("#codes-report ul.unmatched").wait_for()
    report = page.locator("#codes-report").inner_text()
    assert "1 code added." in report and "I10x: no concept has this code" in report and "Of another domain, not added: 8480-6" in report
    assert page.locator("#tray").input_value() == f"{f.T2DM}d {f.E11_9}n"
    check_page(page, base)

    page.fill("#name", "Type 2 diabetes codes")
    page.fill("#description", "T2DM with its descendants, and ICD10CM E11.9")
    page.get_by_role("button", name="Save concept set").click()
    page.wait_for_url("**/workspaces/study/concept-sets/*")
    assert "saved (version 1, 2 concepts)" in page.locator(".flash").inner_text()
    with wb.db.session() as session:
        resource = session.scalar(select(Resource).where(Resource.kind == "concept_set"))
        content = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == resource.id))
    assert content == {"domain": "CONDITION", "concepts": [{"conceptId": f.T2DM, "standard": True, "includeDescendants": True},
                                                           {"conceptId": f.E11_9, "standard": False}]}
    check_page(page, base)
    page.screenshot(path=str(ARTIFACTS / "workbench-concept-set-saved-phone.png"), full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export as OHDSI JSON").click()
    path = download.value.path()
    assert download.value.suggested_filename == "type-2-diabetes-codes.json"
    exported = json.loads(open(path, encoding="utf-8").read())
    assert [(i["concept"]["CONCEPT_ID"], i["concept"]["VOCABULARY_ID"], i["includeDescendants"]) for i in exported["items"]] == [
        (f.T2DM, "SNOMED", True), (f.E11_9, "ICD10CM", False)]

    # the file imported again: read into the box by the page, opened in the builder unsaved
    page.goto(f"{base}/workspaces/study/concept-sets/import")
    check_page(page, base)
    page.set_input_files("#json-file", path)
    expect(page.locator("#json")).to_have_value(open(path, encoding="utf-8").read())
    page.fill("#name", "Imported again")
    page.get_by_role("button", name="Open in the builder").click()
    page.wait_for_url("**/workspaces/study/concept-sets/import")
    assert page.locator("#tray").input_value() == f"{f.T2DM}d {f.E11_9}n"
    assert "not saved yet" in page.locator("#notes").inner_text()
    check_page(page, base)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / "workbench-concept-set-imported-desktop.png"), full_page=True)
    check_page(page, base)
