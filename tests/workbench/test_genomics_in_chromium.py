"""Genomics in a real browser (Debian's Chromium through Playwright) at a phone's width: a Controlled Tier
researcher opens the workspace's Genomics page, starts an extract of a saved cohort's TCF7L2 genotypes, watches its
page until the job is done (htmx refreshing it) and sees its files listed with their download links. Every page
passes ``check_page`` (no CSP violation or JavaScript error, every field labelled, nothing wider than the phone,
WCAG AA contrast); screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..chromium import ARTIFACTS, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, served  # noqa: F401  (fixtures)
from .conftest import make_user
from .test_genomics_jobs import WOMEN, genomes, register  # noqa: F401  (genomes: a fixture)
from .test_resources import token
from .test_workspace_matrix import CT_MODULES
from .test_workspaces_in_chromium import Codes, sign_in


@pytest.fixture
def page():
    with phone_page() as pg:
        yield pg


def test_a_researcher_extracts_a_cohorts_genotypes_and_sees_the_files(served, page, genomes):
    wb, base = served
    owner = make_user(wb, "owner@citylab.org", institution="city-lab", modules=CT_MODULES)
    add_workspace(wb, "ct-study", register(wb, "r1", "controlled", genomes["ct_release"], genomes["ct_index"]),
                  {"owner@citylab.org": "OWNER"}, tier="controlled")
    made = token(wb, "owner@citylab.org", "workspaces:read", "workspaces:write").post(
        "/api/workspaces/ct-study/resources", json={"kind": "cohort", "name": "Women", "content": WOMEN})
    assert made.status_code == 201, made.text
    pg = page
    sign_in(pg, base, owner, Codes(), "/workspaces/ct-study/genomics")
    expect(pg.get_by_role("heading", name="Genomics", exact=True)).to_be_visible()
    pg.locator("#start-extract > summary").click()
    pg.select_option("#extract-cohort", label="Women")
    pg.fill("#extract-selection-genes", "TCF7L2")
    check_page(pg, base)
    pg.screenshot(path=str(ARTIFACTS / "genomics-1-extract-form-phone.png"), full_page=True)
    pg.get_by_role("button", name="Start the extract").click()
    pg.wait_for_url(re.compile(re.escape(base) + r"/workspaces/ct-study/genomics/jobs/\d+$"))
    expect(pg.locator(".flash")).to_contain_text("Genotype extract job")
    expect(pg.locator("#job-status")).to_have_text("done", timeout=120_000)
    files = pg.locator("#files tbody th a")
    expect(files).to_have_text(["extract.vcf.gz", "extract.vcf.gz.tbi", "manifest.json"])
    assert files.first.get_attribute("href").endswith("/files/extract.vcf.gz")
    expect(pg.locator("#job-request")).to_contain_text("cohort “Women” (v1); gene TCF7L2; vcf")
    check_page(pg, base)
    pg.screenshot(path=str(ARTIFACTS / "genomics-2-extract-done-phone.png"), full_page=True)
    pg.get_by_role("link", name="All genomics jobs").click()
    expect(pg.locator("#jobs tbody tr")).to_have_count(1)
    expect(pg.locator("#jobs tbody tr .status")).to_contain_text("done")
    check_page(pg, base)


def test_a_gwas_page_shows_its_plots_on_a_phone(served, page, genomes):
    wb, base = served
    owner = make_user(wb, "owner@citylab.org", institution="city-lab", modules=CT_MODULES)
    add_workspace(wb, "ct-study", register(wb, "r1", "controlled", genomes["ct_release"], genomes["ct_index"]),
                  {"owner@citylab.org": "OWNER"}, tier="controlled")
    api = token(wb, "owner@citylab.org", "workspaces:read", "workspaces:write", "data:read")
    assert api.post("/api/workspaces/ct-study/resources", json={"kind": "cohort", "name": "Women",
                                                               "content": WOMEN}).status_code == 201
    started = api.post("/api/workspaces/ct-study/genomics/jobs", json={"kind": "gwas", "request": {
        "cases": "Women", "covariates": ["age"], "selection": {"regions": ["chr10"]}}})
    assert started.status_code == 202, started.text
    pg = page
    sign_in(pg, base, owner, Codes(), f"/workspaces/ct-study/genomics/jobs/{started.json()['id']}")
    expect(pg.locator("#job-status")).to_have_text("done", timeout=120_000)
    for figure in ("#figure-manhattan img", "#figure-qq img"):
        pg.locator(figure).scroll_into_view_if_needed()
        assert pg.locator(figure).evaluate("img => img.complete && img.naturalWidth > 0"), figure
    expect(pg.locator("#top-hits tbody tr")).to_have_count(20)
    check_page(pg, base)
    pg.screenshot(path=str(ARTIFACTS / "genomics-3-gwas-phone.png"), full_page=True)
