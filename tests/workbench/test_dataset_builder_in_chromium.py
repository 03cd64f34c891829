"""The Dataset Builder in a real browser (Debian's Chromium through Playwright), on the Cohort Builder fixture CDR.

A researcher opens the builder from the Data tab's "Create dataset", chooses the cohort "Diabetes or hypertension"
(persons 1, 2, 3, 4, 6, 7), the concept set "Diabetes" and Demographics; reads a column's data dictionary entry by
focusing it; takes every Conditions column with "Select all" and two Demographics columns; sees the preview's rows
(7 diabetes rows, 6 persons); switches the code to R and SQL (by mouse and by arrow key); is asked for a
description before saving; saves; reloads and finds every selection restored, and the code now the saved
version's. Every state passes ``check_page`` (no CSP violation or script error, labelled fields, nothing wider than
the screen, WCAG AA contrast), at desktop and phone widths; screenshots go to the test-artifacts folder."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from research_workbench.datasets.columns import CATALOGUE
from research_workbench.cdr.facts import Domain
from research_workbench.state.models import Resource, ResourceVersion, User, Workspace
from research_workbench.workspaces import resources as res

from ..chromium import ARTIFACTS, DESKTOP, PHONE, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_dataset_api import DIABETES
from .test_reviews import DM_OR_HTN
from .test_workspaces_in_chromium import Codes, sign_in

CONDITION_COLUMNS = [c.name for c in CATALOGUE[Domain.CONDITION]]


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"dataset-builder-{name}.png"), full_page=True)


def add_resource(wb, kind: str, name: str, content: dict) -> int:
    """A resource at version 1, straight into the database (the resource pages are another area's)."""
    now = wb.clock.now
    with wb.db.session() as session:
        owner = session.scalar(select(User.id).where(User.email == "owner@state.edu"))
        ws = session.scalar(select(Workspace.id).where(Workspace.namespace == "study"))
        row = Resource(workspace_id=ws, kind=kind, name=name, description="", version=1, created_by=owner,
                       created_at=now, updated_by=owner, updated_at=now)
        session.add(row)
        session.flush()
        session.add(ResourceVersion(resource_id=row.id, version=1, name=name, description="",
                                    content=res.validate_content(kind, content, name=name), created_by=owner,
                                    created_at=now, note="created"))
        return row.id


def code_shown(pg, text: str) -> None:
    pg.wait_for_function("""t => !document.getElementById('dataset-builder').hasAttribute('aria-busy')
                              && document.getElementById('code-text').textContent.includes(t)""", arg=text)


def checked(pg, selector: str) -> list[str]:
    return pg.eval_on_selector_all(selector, "boxes => boxes.filter(b => b.checked).map(b => b.value || b.id)")


def test_a_dataset_built_chosen_previewed_coded_saved_and_restored(served, fixture_cdr):
    wb, base = served
    owner = make_user(wb, "owner@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr), {"owner@state.edu": "OWNER"})
    cohort = add_resource(wb, "cohort", "Diabetes or hypertension", DM_OR_HTN)
    concept_set = add_resource(wb, "concept_set", "Diabetes", DIABETES)
    with phone_page(DESKTOP) as pg:
        sign_in(pg, base, owner, Codes(), "/workspaces/study/data")
        pg.get_by_role("link", name="Create dataset").click()
        pg.wait_for_url("**/workspaces/study/datasets/new")
        expect(pg.locator("#code-status")).to_contain_text("No code yet")
        expect(pg.locator("#problems-cohorts")).to_have_text("choose at least one cohort, or All participants")
        check_page(pg, base)

        # (1) the cohort, (2) the concept set and Demographics: their domains appear with their default columns
        pg.get_by_label("Diabetes or hypertension").check()
        pg.get_by_label("Diabetes", exact=True).check()
        pg.get_by_role("checkbox", name="Demographics").check()
        expect(pg.locator("#values legend")).to_have_text(["Demographics (person)", "Conditions"])
        assert checked(pg, "#values-condition input") == ["person_id", "standard_concept_name",
                                                          "standard_concept_code", "start_date"]
        expect(pg.locator("#problems-cohorts")).to_be_empty()
        # a column's data dictionary entry shows while it has the focus
        about = pg.locator("#values-condition-age_at_event-about")
        expect(about).to_be_hidden()
        pg.locator("#values-condition-age_at_event").focus()
        expect(about).to_be_visible()
        expect(about).to_have_text("The participant's age in whole years on the event's date.")
        shot(pg, "1-chosen")

        # (3) every Conditions column; of Demographics only the id and gender
        pg.get_by_role("button", name="Select all columns of Conditions", exact=True).click()
        assert checked(pg, "#values-condition input") == CONDITION_COLUMNS
        pg.get_by_role("button", name="Deselect all columns of Demographics (person)", exact=True).click()
        assert checked(pg, "#values-person input") == []
        pg.locator("#values-person-person_id").check()
        pg.locator("#values-person-gender").check()
        expect(pg.locator("[data-chosen-count=CONDITION]")).to_have_text(
            f"{len(CONDITION_COLUMNS)} of {len(CONDITION_COLUMNS)} columns")

        # (4) the code follows the selections: not saved yet, so it says so
        code_shown(pg, 'condition_df = dataset.to_pandas("CONDITION")')
        assert pg.locator("#code-text").inner_text().startswith("# Save the dataset to create this version (version 1)")
        pg.get_by_role("tab", name="R", exact=True).click()
        code_shown(pg, "dataset <- wb$dataset(0L, version = 1L)")
        pg.get_by_role("tab", name="SQL (DuckDB)").click()
        code_shown(pg, "-- CONDITION")
        assert '"e"."condition_start_date" AS "start_date"' in pg.locator("#code-text").inner_text()
        pg.keyboard.press("ArrowLeft")  # the tabs answer the arrow keys
        code_shown(pg, "library(reticulate)")
        expect(pg.get_by_role("tab", name="R", exact=True)).to_have_attribute("aria-selected", "true")
        pg.get_by_role("button", name="Copy code").click()
        expect(pg.locator("#code-status")).to_contain_text("Cop")

        # (5) the preview, a tab per table, loaded when chosen
        expect(pg.locator("#preview-tabs [role=tab]")).to_have_text(["Demographics (person)", "Conditions"])
        pg.locator("#preview-tabs").get_by_role("tab", name="Conditions").click()
        expect(pg.locator("#preview-rows tbody tr")).to_have_count(7)
        assert pg.locator("#preview-rows thead th").count() == len(CONDITION_COLUMNS)
        first = pg.locator("#preview-rows tbody tr").first.locator("td")
        assert first.nth(0).inner_text() == "1" and first.nth(CONDITION_COLUMNS.index("standard_concept_name")).inner_text() == (
            "Type 2 diabetes mellitus with renal complication")
        assert [pg.locator("#preview-rows tbody tr").nth(i).locator("td").first.inner_text() for i in range(7)] == [
            "1", "1", "2", "2", "2", "4", "6"]
        check_page(pg, base)
        shot(pg, "2-preview-and-code")
        pg.locator("#preview-tabs").get_by_role("tab", name="Demographics (person)").click()
        expect(pg.locator("#preview-rows tbody tr")).to_have_count(6)
        expect(pg.locator("#preview-rows thead th")).to_have_text(["person_id", "gender"])

        # Save: a name and a description are required
        pg.get_by_role("button", name="Save dataset").click()
        dialog = pg.locator("#save-dialog")
        dialog.get_by_label("Name").fill("DM rows")
        dialog.get_by_role("button", name="Save", exact=True).click()
        expect(pg.locator("#dataset-description-error")).to_have_text("Say what the dataset holds and what it is for.")
        check_page(pg, base)
        dialog.get_by_label("Description").fill("Diabetes rows and gender of the diabetes or hypertension cohort.")
        dialog.get_by_role("button", name="Save", exact=True).click()
        pg.wait_for_url("**/workspaces/study/datasets/*/build")
        expect(pg.locator("#save-status")).to_have_text("Saved as version 1.")
        expect(pg.locator("#dataset-title")).to_have_text("Dataset: DM rows")
        dataset = int(pg.url.rsplit("/", 2)[1])
        code_shown(pg, f"dataset <- wb$dataset({dataset}L, version = 1L)")
        assert not pg.locator("#code-text").inner_text().startswith("# Save")

        # Reload: everything is restored from the saved version
        pg.reload()
        expect(pg.locator("#dataset-title")).to_have_text("Dataset: DM rows")
        assert pg.get_by_label("Diabetes or hypertension").is_checked()
        assert pg.get_by_label("Diabetes", exact=True).is_checked()
        assert pg.get_by_role("checkbox", name="Demographics").is_checked()
        assert checked(pg, "#values-condition input") == CONDITION_COLUMNS
        assert checked(pg, "#values-person input") == ["person_id", "gender"]
        expect(pg.locator("#save-status")).to_have_text("Saved: version 1.")
        code_shown(pg, f"dataset = wb.dataset({dataset}, version=1)")
        assert pg.locator("#code-text").inner_text().startswith("# Dataset \"DM rows\"")
        check_page(pg, base)
        shot(pg, "3-saved-and-reloaded")

        # At a phone's width the columns stack and nothing is wider than the screen
        pg.set_viewport_size(PHONE)
        pg.locator("#preview-tabs").get_by_role("tab", name="Conditions").click()
        expect(pg.locator("#preview-rows tbody tr")).to_have_count(7)
        check_page(pg, base)
        shot(pg, "4-phone")
        assert pg.errors == []
    with wb.db.session() as session:
        resource = session.get(Resource, dataset)
        content = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == dataset))
    assert (resource.kind, resource.name, resource.version) == ("dataset", "DM rows", 1)
    assert content == {"cohorts": [cohort], "concept_sets": [concept_set], "prepackaged": ["demographics"],
                       "values": {"CONDITION": CONDITION_COLUMNS, "PERSON": ["person_id", "gender"]}}
