"""The Dataset Builder's Whole genome variants set in a real browser (Debian's Chromium through Playwright), in a
Controlled Tier workspace on the Cohort Builder fixture with genomes (persons 1–6; ``tests/cohort_builder/fixture.py``).

A researcher takes All participants and Whole genome variants: the variant form appears and the problems say the
variants must be chosen; a bad region is refused beside the form; the gene TCF7L2 is accepted and the preview shows
its five calls (person 6's missing call as an empty cell); the saved dataset, reloaded, shows the selection in the
form; unticking the set hides the form and drops the selection. Every state passes ``check_page`` (no CSP violation
or script error, labelled fields, nothing wider than the screen, WCAG AA contrast)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from research_workbench.accounts.modules import Module
from research_workbench.state.models import ResourceVersion

from ..chromium import ARTIFACTS, DESKTOP, check_page, phone_page
from ..cohort_builder import fixture as f
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_workspaces_in_chromium import Codes, sign_in


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"dataset-genomes-{name}.png"), full_page=True)


def code_shown(pg, text: str) -> None:
    pg.wait_for_function("""t => !document.getElementById('dataset-builder').hasAttribute('aria-busy')
                              && document.getElementById('code-text').textContent.includes(t)""", arg=text)


def test_the_variant_form_follows_the_set_refuses_a_bad_region_previews_and_is_restored(served, tmp_path):
    from research_workbench.cohorts.builder.engine import CohortEngine

    wb, base = served
    cdr = f.build(tmp_path / "genomes", genomes=True)
    CohortEngine(cdr.parent / "cdr.index", cdr_dir=cdr).close()  # spent: see tests/datasets/test_zip_socioeconomic.py
    owner = make_user(wb, "gen@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))
    add_workspace(wb, "genomes", register_data_version(wb, cdr, tier="controlled"), {"gen@citylab.org": "OWNER"},
                  tier="controlled")
    with phone_page(DESKTOP) as pg:
        sign_in(pg, base, owner, Codes(), "/workspaces/genomes/datasets/new")
        form = pg.locator("#genome-selection")
        expect(form).to_be_hidden()
        pg.get_by_label("All participants").check()
        pg.get_by_role("checkbox", name="Whole genome variants").check()
        expect(form).to_be_visible()
        expect(pg.locator("#values legend")).to_have_text(["Whole genome variants"])
        expect(pg.locator("#problems-genome-selection")).to_contain_text("choose the variants: rsIDs, genes, regions")
        check_page(pg, base)

        pg.get_by_label("Regions").fill("chr10:9-1")
        pg.get_by_label("Regions").press("Tab")
        expect(pg.locator("#problems-genome-selection")).to_have_text(
            "'chr10:9-1': the region must start at 1 or later and end at or after its start")
        pg.get_by_label("Regions").fill("")
        pg.get_by_label("Genes").fill("tcf7l2")
        pg.get_by_label("Genes").press("Tab")
        code_shown(pg, 'whole_genome_variant_df = dataset.to_pandas("WHOLE_GENOME_VARIANT")')
        expect(pg.locator("#problems-genome-selection")).to_be_empty()

        pg.locator("#preview-tabs").get_by_role("tab", name="Whole genome variants").click()
        rows = pg.locator("#preview-rows tbody tr")
        expect(rows).to_have_count(5)
        expect(pg.locator("#preview-rows thead th")).to_have_text(
            ["person_id", "variant_id", "chrom", "pos", "ref", "alt", "rsid", "gene", "genotype"])
        assert [rows.nth(i).locator("td").first.inner_text() for i in range(5)] == ["1", "2", "3", "4", "6"]
        assert [rows.nth(i).locator("td").last.inner_text() for i in range(5)] == ["1", "2", "1", "1", ""]
        check_page(pg, base)
        shot(pg, "1-preview")

        pg.get_by_role("button", name="Save dataset").click()
        dialog = pg.locator("#save-dialog")
        dialog.get_by_label("Name").fill("TCF7L2 calls")
        dialog.get_by_label("Description").fill("Genotype calls at TCF7L2.")
        dialog.get_by_role("button", name="Save", exact=True).click()
        pg.wait_for_url("**/workspaces/genomes/datasets/*/build")
        dataset = int(pg.url.rsplit("/", 2)[1])
        pg.reload()
        expect(form).to_be_visible()
        expect(pg.get_by_label("Genes")).to_have_value("TCF7L2")  # as the server normalised it
        expect(pg.locator("#save-status")).to_have_text("Saved: version 1.")
        check_page(pg, base)

        pg.get_by_role("checkbox", name="Whole genome variants").uncheck()
        expect(form).to_be_hidden()
        expect(pg.locator("#save-status")).to_contain_text("Unsaved changes")
        assert pg.evaluate("document.getElementById('genome-genes').value") == ""
        assert pg.errors == []
    with wb.db.session() as session:
        content = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == dataset))
    assert content["genome_selection"] == {"genes": ["TCF7L2"]} and content["prepackaged"] == ["whole_genome"]
