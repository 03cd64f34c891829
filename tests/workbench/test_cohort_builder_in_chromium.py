"""The Cohort Builder in a real browser (Debian's Chromium through Playwright), on the Cohort Builder fixture CDR.

A researcher builds a three-group cohort — a condition found by searching, with an age-at-event modifier; a temporal
group of a drug found by browsing and a source code pasted (ICD10CM E11.9, kept as the source concept); and an
exclusion found by browsing — with a modifier (age at event), and the page's count equals `workbench cohort count` on the saved definition. Deleting
the temporal group changes the count; Undo brings the group and the count back. Each step's screenshot goes to
the test-artifacts folder; every page passes ``check_page`` (no CSP violation or script error, labelled fields,
WCAG AA contrast)."""

from __future__ import annotations

import json

from playwright.sync_api import expect
from sqlalchemy import select
from typer.testing import CliRunner

from research_workbench.state.models import Resource, ResourceVersion

from ..chromium import ARTIFACTS, DESKTOP, check_page, phone_page
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_workspaces_in_chromium import Codes, sign_in


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"cohort-builder-{name}.png"), full_page=True)


def count_shown(pg) -> str:
    pg.wait_for_function("() => !document.getElementById('builder').hasAttribute('aria-busy')")
    return pg.locator("#total-count").inner_text()


def wait_count(pg, expected: str) -> None:
    pg.wait_for_function(f"() => document.getElementById('total-count').textContent === {json.dumps(expected)}")


def open_domain(pg, label: str) -> None:
    pg.locator("#criteria-menu").get_by_role("button", name=label, exact=True).click()


def test_a_three_group_cohort_built_by_search_browse_and_pasted_codes_counts_as_the_cli(served, fixture_cdr):
    wb, base = served
    owner = make_user(wb, "ada@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr), {"ada@state.edu": "OWNER"})
    with phone_page(DESKTOP) as pg:
        sign_in(pg, base, owner, Codes(), "/workspaces/study/data")
        pg.get_by_role("link", name="Build a new cohort").click()
        pg.wait_for_url("**/workspaces/study/cohorts/new")
        check_page(pg, base)
        expect(pg.locator("#results-state")).to_have_text("Add an include group to see a count.")

        # Group 1, by searching: type 2 diabetes (and its descendants) at 40 or older → persons 1 and 2 (6 was 18)
        pg.get_by_role("button", name="Add an include group").click()
        open_domain(pg, "Conditions")
        pg.get_by_label("Search conditions").fill("type 2 diab")
        pg.get_by_role("button", name="Select Type 2 diabetes mellitus", exact=True).first.click()
        expect(pg.locator("#tray-list")).to_contain_text("Type 2 diabetes mellitus")
        shot(pg, "1-search")
        pg.get_by_role("button", name="Add selected criteria to the group").click()
        wait_count(pg, "3")
        pg.locator("[data-group]").first.get_by_role("button", name="Modifiers and values").click()
        age = pg.locator("fieldset[data-modifier=AGE_AT_EVENT]")
        age.locator("select").select_option("GREATER_THAN_OR_EQUAL_TO")
        age.locator("input").first.fill("40")
        pg.get_by_role("button", name="Apply").click()
        wait_count(pg, "2")

        # Group 2, temporal: metformin by browsing, within 30 days of the pasted source code E11.9 → person 1
        pg.get_by_role("button", name="Add an include group").click()
        open_domain(pg, "Drug exposures")
        pg.locator(".browse").get_by_role("button", name="Select metformin", exact=True).click()
        shot(pg, "2-browse")
        pg.get_by_role("button", name="Add selected criteria to the group").click()
        wait_count(pg, "2")  # metformin: persons 1 and 2
        second = pg.locator("#includes [data-group]").nth(1)
        second.get_by_role("button", name="Add criteria").click()
        open_domain(pg, "Conditions")
        pg.get_by_label("ICD9CM, ICD10CM, SNOMED, RxNorm, LOINC or CPT4 codes").fill("E11.9, Z99.99")
        pg.get_by_label("Use the standard concept each code maps to").uncheck()
        pg.get_by_role("button", name="Match codes").click()
        expect(pg.locator(".codes-result")).to_contain_text("Not matched: Z99.99")
        pg.get_by_role("button", name="Select all matched").click()
        assert "E11.9" in pg.locator("#tray-list").inner_text()
        shot(pg, "3-pasted-codes")
        pg.get_by_role("button", name="Add selected criteria to the group").click()
        second.get_by_role("button", name="Make temporal").click()
        second.get_by_label("Relation").select_option("WITHIN_X_DAYS_OF")
        second.get_by_label("X (days)").fill("30")
        second.get_by_label("X (days)").press("Tab")
        wait_count(pg, "1")

        # The exclusion, by browsing: lisinopril (person 3, not in the cohort: the count stays)
        pg.get_by_role("button", name="Add an exclude group").click()
        open_domain(pg, "Drug exposures")
        pg.locator(".browse").get_by_role("button", name="Select lisinopril", exact=True).click()
        pg.get_by_role("button", name="Add selected criteria to the group").click()
        pg.wait_for_function("() => document.querySelectorAll('#funnel tbody tr').length === 4")
        assert count_shown(pg) == "1"
        funnel = pg.locator("#funnel tbody").inner_text()
        assert "not lisinopril" in funnel
        assert pg.locator("#sentence").inner_text().startswith(
            "Participants who have [Type 2 diabetes mellitus (or a descendant), at an age at least 40]")
        check_page(pg, base)
        shot(pg, "4-three-groups")

        # Delete the temporal group: 2; Undo: the group and the count come back
        second.get_by_role("button", name="Delete group").click()
        wait_count(pg, "2")
        pg.locator(".toast").get_by_role("button", name="Undo").click()
        wait_count(pg, "1")
        assert pg.locator("#includes [data-group]").count() == 2

        # Save, and the CLI counts the saved definition the same
        pg.once("dialog", lambda dialog: dialog.accept("Diabetes on metformin"))
        pg.get_by_role("button", name="Save", exact=True).click()
        pg.wait_for_url("**/workspaces/study/cohorts/*/build")
        assert pg.locator("#after-save").is_visible()
        assert pg.get_by_role("link", name="Create review set").is_visible()
        shot(pg, "5-saved")
        check_page(pg, base)
    with wb.db.session() as session:
        resource = session.scalar(select(Resource).where(Resource.name == "Diabetes on metformin"))
        content = session.scalar(select(ResourceVersion.content).where(ResourceVersion.resource_id == resource.id))
    definition_file = fixture_cdr.parent / "journey-definition.json"
    definition_file.write_text(json.dumps(content))
    from research_workbench.cli.commands import app as cli

    result = CliRunner().invoke(cli, ["cohort", "count", str(definition_file), "--cdr", str(fixture_cdr), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["count"] == 1
