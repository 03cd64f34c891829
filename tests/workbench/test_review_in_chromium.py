"""Cohort Review in a real browser (Debian's Chromium through Playwright) at a phone's width, on the fixture data version
(tests/cohort_builder/fixture.py): a writer draws a review set stratified by gender from a saved cohort, adds an
annotation field, marks three participants with the keyboard alone (1, J, 2, J, 3), annotates the third, and
downloads the export, whose rows hold exactly what was recorded. Every page passes ``check_page`` (no CSP violation or
JavaScript error, every field labelled, nothing wider than the phone, WCAG AA contrast); screenshots go to
test-artifacts/."""

from __future__ import annotations

from ..chromium import ARTIFACTS, check_page
from .cohort_data import add_workspace, fixture_cdr, register_data_version, served  # noqa: F401  (fixtures)
from .conftest import ALL_RT, make_user
from .test_cohort_compare_in_chromium import page, save_cohort  # noqa: F401  (fixtures)
from .test_reviews import DM_OR_HTN
from .test_workspaces_in_chromium import Codes, sign_in


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"workbench-review-{name}-phone.png"), full_page=True)


def test_a_writer_draws_a_stratified_review_marks_three_participants_by_keyboard_annotates_and_exports(
        served, page, fixture_cdr):
    wb, base = served
    make_user(wb, "owner@state.edu", modules=ALL_RT)
    writer = make_user(wb, "writer@state.edu", modules=ALL_RT)
    add_workspace(wb, "study", register_data_version(wb, fixture_cdr),
                  {"owner@state.edu": "OWNER", "writer@state.edu": "WRITER"})
    cohort = save_cohort(wb, "Diabetes or hypertension", DM_OR_HTN)
    pg = page

    # Draw a review set stratified by gender (the Cohort Builder links here with the cohort chosen)
    sign_in(pg, base, writer, Codes(), f"/workspaces/study/reviews/new?cohort={cohort}")
    assert pg.locator("#cohort option:checked").inner_text() == "Diabetes or hypertension"
    pg.fill("#name", "Chart review")
    pg.fill("#size", "4")
    pg.check("#method-stratified")
    pg.select_option("#stratify_by", "gender")
    pg.fill("#seed", "7")
    check_page(pg, base)
    shot(pg, "new")
    pg.get_by_role("button", name="Draw review set").click()
    pg.wait_for_url("**/workspaces/study/reviews/*")
    check_page(pg, base)
    assert "Review set “Chart review” drawn: 4 participants (seed 7)." in pg.locator(".flash").inner_text()
    assert pg.locator("#strata tbody tr").count() == 2
    assert pg.locator("#participant-table tbody tr").count() == 4

    # An annotation field for the whole review set
    pg.fill("#field_name", "Smoker")
    pg.select_option("#field_kind", "list")
    pg.fill("#field_options", "Yes\nNo\nUnknown")
    pg.get_by_role("button", name="Add field").click()
    pg.wait_for_url("**/workspaces/study/reviews/*#annotation-fields")
    check_page(pg, base)
    assert "Smoker" in pg.locator("#fields-table").inner_text()
    shot(pg, "set")

    # Three participants marked with the keyboard: 1 (Included), J, 2 (Excluded), J, 3 (Needs further review)
    pg.locator("#participant-table a", has_text="1").first.click()
    pg.wait_for_url("**/participants/1")
    check_page(pg, base)
    assert pg.locator("#position").inner_text() == "1 of 4"
    for key, person, label in (("1", 1, "Included"), ("2", 3, "Excluded"), ("3", 6, "Needs further review")):
        if person != 1:
            pg.keyboard.press("j")
            pg.wait_for_url(f"**/participants/{person}?tab=summary")
        pg.keyboard.press(key)
        pg.wait_for_url(f"**/participants/{person}?tab=summary")
        pg.locator("#current-status", has_text=label).wait_for()
        check_page(pg, base)
    assert "Participant 6: Needs further review." in pg.locator(".flash").inner_text()
    pg.keyboard.press("k")  # back to the previous participant, still Excluded
    pg.wait_for_url("**/participants/3?tab=summary")
    assert pg.locator("#current-status").inner_text() == "Excluded"
    pg.keyboard.press("j")
    pg.wait_for_url("**/participants/6?tab=summary")

    # The conditions tab marks the events that made the participant qualify; then the annotation
    pg.locator("#tab-conditions").click()
    pg.wait_for_url("**/participants/6?tab=conditions*")
    check_page(pg, base)
    assert pg.locator("#events tbody tr.qualifying").count() == 1
    assert "Type 2 diabetes mellitus" in pg.locator("#events tbody tr.qualifying").inner_text()
    pg.locator("#annotation-form select").select_option("No")
    pg.get_by_role("button", name="Save annotations").click()
    pg.wait_for_url("**/participants/6?tab=conditions")
    check_page(pg, base)
    assert "Annotations of participant 6 saved." in pg.locator(".flash").inner_text()
    shot(pg, "participant")

    # Export: what was recorded, a row per participant
    pg.locator("#back-to-set").click()
    pg.wait_for_url("**/workspaces/study/reviews/*")
    assert pg.locator("#progress").inner_text().split("\n") == [
        "Included: 1", "Excluded: 1", "Needs further review: 1", "Not reviewed: 1"]
    with pg.expect_download() as download:
        pg.locator("#export-csv").click()
    path = download.value.path()
    assert download.value.suggested_filename.startswith("Chart-review-")
    with open(path, encoding="utf-8") as exported:
        text = exported.read()
    assert text == ("person_id,status,Smoker\n1,included,\n3,excluded,\n6,needs_review,No\n7,unreviewed,\n")
    check_page(pg, base)
