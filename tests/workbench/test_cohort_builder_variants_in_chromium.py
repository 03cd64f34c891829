"""The Cohort Builder's Genomics → Variants panel in a real browser (Debian's Chromium through Playwright, at a
desktop's size), in a Controlled Tier workspace on the synthetic program with genomes (``test_genomics_jobs.genomes``).

A researcher finds rs7903146 by its rsID (one variant, in TCF7L2), adds its homozygous carriers, then any carrier, to an
include group, and each time the page's count equals the number of samples the genotype store itself calls with two
ALT alleles (homozygous) or at least one (any); a bad region (chrQ:1-2) is refused with the server's problem beside
the Regions field (marked invalid, described by it, focused), and goes once the region is put right. A Registered
Tier workspace's criteria menu has no Variants (nor any Genomics entry). Every state passes ``check_page`` (no CSP
violation or script error, labelled fields, WCAG AA contrast); screenshots go to test-artifacts/."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest
from playwright.sync_api import expect

from research_workbench.genomics.store import GenotypeStore

from ..chromium import ARTIFACTS, DESKTOP, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, served  # noqa: F401  (fixtures)
from .conftest import make_user
from .test_genomics_jobs import genomes, register  # noqa: F401  (genomes: a fixture)
from .test_workspace_matrix import CT_MODULES
from .test_workspaces_in_chromium import Codes, sign_in

RSID = "rs7903146"


@pytest.fixture
def page():
    with phone_page(DESKTOP) as pg:
        yield pg


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"cohort-builder-variants-{name}.png"), full_page=True)


def carriers_in_store(index, rsid: str) -> dict[str, int]:
    """How many of the store's samples carry ``rsid``'s ALT allele twice (homozygous) or at all (any), read here
    from the genotypes themselves (-9 is a missing call)."""
    store = GenotypeStore.open(index)
    variants = store.variants
    rows = variants.filter(pc.equal(pc.utf8_lower(variants["rsid"]), rsid))
    assert rows.num_rows == 1, rows.to_pylist()
    calls = store.read([rows["variant_index"][0].as_py()])[0]
    return {"homozygous": int(np.sum(calls == 2)), "any": int(np.sum(calls >= 1))}


def wait_count(pg, expected: str) -> None:
    pg.wait_for_function(f"() => document.getElementById('total-count').textContent === {json.dumps(expected)}")


def find_variants(pg, zygosity: str) -> None:
    """In the criteria dialog: Genomics → Variants, rs7903146 with ``zygosity``, Find variants; its one row."""
    pg.locator("#criteria").get_by_role("button", name="Genomics: Variants", exact=True).click()
    expect(pg.locator("#domain-heading")).to_have_text("Variants")
    panel = pg.locator("#domain-panel")
    expect(panel.get_by_label("Data")).to_have_value("WHOLE_GENOME_VARIANT")
    panel.get_by_label("rsIDs").fill(RSID)
    panel.get_by_label("Zygosity").select_option(zygosity)
    panel.get_by_role("button", name="Find variants").click()
    result = panel.locator(".variant-result")
    expect(result.locator("p").first).to_have_text("1 variant matches.")
    rows = result.get_by_role("table", name="Matching variants").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(0)).to_have_text(RSID)
    expect(rows.first.locator("td").nth(1)).to_have_text("TCF7L2")
    result.scroll_into_view_if_needed()  # the result is below the form, out of the dialog's view at 1280×900


def test_carriers_of_an_rsid_count_as_the_genotype_store_says_and_a_bad_region_is_shown_at_its_field(
        served, page, genomes):
    wb, base = served
    owner = make_user(wb, "owner@citylab.org", institution="city-lab", modules=CT_MODULES)
    add_workspace(wb, "ct-study", register(wb, "r1", "controlled", genomes["ct_release"], genomes["ct_index"]),
                  {"owner@citylab.org": "OWNER"}, tier="controlled")
    expected = carriers_in_store(genomes["ct_index"], RSID)
    assert 0 < expected["homozygous"] < expected["any"]  # so the count shows which zygosity was asked for
    pg = page
    sign_in(pg, base, owner, Codes(), "/workspaces/ct-study/cohorts/new")
    expect(pg.locator("#results-state")).to_have_text("Add an include group to see a count.")

    # Homozygous carriers: the count is the store's samples with two ALT alleles
    pg.get_by_role("button", name="Add an include group").click()
    find_variants(pg, "homozygous")
    check_page(pg, base)
    shot(pg, "1-found")
    pg.get_by_role("button", name=f"Select: carriers of variant {RSID} (homozygous)").click()
    expect(pg.locator("#tray-list")).to_have_text(f"Carriers of variant {RSID} (homozygous) Remove")
    pg.get_by_role("button", name="Add selected criteria to the group").click()
    expect(pg.locator("#criteria")).not_to_be_visible()
    wait_count(pg, f"{expected['homozygous']:,}")
    expect(pg.locator("#sentence")).to_have_text(f"Participants who have [variant {RSID} (homozygous)].")
    check_page(pg, base)
    shot(pg, "2-homozygous")

    # Or any carrier, in the same group: the count is the store's samples with at least one ALT allele
    group = pg.locator("#includes [data-group]").first
    group.get_by_role("button", name="Add criteria").click()
    find_variants(pg, "any")
    pg.get_by_role("button", name=f"Select: carriers of variant {RSID} (heterozygous or homozygous)").click()
    pg.get_by_role("button", name="Add selected criteria to the group").click()
    wait_count(pg, f"{expected['any']:,}")
    check_page(pg, base)
    shot(pg, "3-any")

    # A bad region: refused, the problem beside the Regions field (which is marked invalid and focused)
    group.get_by_role("button", name="Add criteria").click()
    pg.locator("#criteria").get_by_role("button", name="Genomics: Variants", exact=True).click()
    panel = pg.locator("#domain-panel")
    regions = panel.get_by_label("Regions")
    regions.fill("chrQ:1-2")
    panel.get_by_role("button", name="Find variants").click()
    beside = regions.locator("xpath=..").locator(".field-error")
    expect(beside).to_have_text("'chrQ:1-2' is not a region (chr10:114000000-115000000, 10:1-2000 or chr10)")
    expect(regions).to_have_attribute("aria-invalid", "true")
    expect(regions).to_have_attribute("aria-describedby", beside.get_attribute("id"))
    expect(regions).to_be_focused()
    expect(beside).to_be_in_viewport()
    expect(panel.locator(".field-error")).to_have_count(1)
    expect(panel.get_by_role("table")).to_have_count(0)
    check_page(pg, base)
    shot(pg, "4-bad-region")
    # put right, the problem goes and the variants are found
    regions.fill("chr10")
    panel.get_by_role("button", name="Find variants").click()
    expect(panel.get_by_role("table", name="Matching variants")).to_be_visible()
    expect(panel.locator(".field-error")).to_have_count(0)
    expect(regions).not_to_have_attribute("aria-invalid", "true")
    check_page(pg, base)


def test_a_registered_tier_workspaces_cohort_builder_offers_no_variants(served, page, genomes):
    wb, base = served
    owner = make_user(wb, "owner@citylab.org", institution="city-lab", modules=CT_MODULES)
    add_workspace(wb, "rt-study", register(wb, "r1", "registered", genomes["rt_release"], genomes["rt_index"]),
                  {"owner@citylab.org": "OWNER"}, tier="registered")
    pg = page
    sign_in(pg, base, owner, Codes(), "/workspaces/rt-study/cohorts/new")
    pg.get_by_role("button", name="Add an include group").click()
    menu = pg.locator("#criteria-menu")
    expect(menu.get_by_role("button", name="Conditions", exact=True)).to_be_visible()
    expect(menu.get_by_role("button", name="Genomics: Variants")).to_have_count(0)
    expect(menu.get_by_role("button", name="Genomics:")).to_have_count(0)  # nor the has-genome-data flags
    check_page(pg, base)
    shot(pg, "5-registered-tier-menu")
