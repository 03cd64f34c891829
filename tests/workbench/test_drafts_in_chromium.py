"""A long form keeps its draft in the browser: reload the workspace form, and what was typed and ticked is back."""

from __future__ import annotations

from .conftest import ALL_RT, make_user
from ..chromium import check_page
from .test_workspaces_in_chromium import Codes, page, served, sign_in  # noqa: F401  (fixtures)


def test_the_workspace_form_keeps_its_draft_across_a_reload(served, page):
    wb, base = served
    owner = make_user(wb, "ada@state.edu", modules=ALL_RT)
    sign_in(page, base, owner, Codes(), "/workspaces/new")
    page.goto(base + "/workspaces/new")
    page.fill("input[name=name]", "Draft that survives")
    page.check("input[name=educational]")
    page.fill("textarea[name=intended_study]", "Typed before the reload.")
    page.reload()
    assert page.input_value("input[name=name]") == "Draft that survives"
    assert page.is_checked("input[name=educational]")
    assert page.input_value("textarea[name=intended_study]") == "Typed before the reload."
    check_page(page, base)
