"""Workspaces and the Research Hub in a real browser (Debian's Chromium through Playwright), at a phone's width: an
owner creates a workspace with its research purpose and shares it with a collaborator as a writer; an anonymous
visitor finds it in the public Research Projects Directory by words of its purpose, with its researchers and their
institutions; the collaborator sees it among their workspaces as a Writer; the owner reports a publication against
it, which is not listed until an administrator approves it, and then is, on the page and in the BibTeX export.

The Workbench runs with uvicorn in a thread on the real clock; the three users are made in its database. Every
Workbench page visited passes ``check_page``: no CSP violation or JavaScript error, every field labelled, nothing
wider than the phone, text contrast at WCAG AA."""

from __future__ import annotations

import time
from datetime import timedelta

import pyotp
import pytest

from research_workbench.accounts.clock import utcnow
from research_workbench.state.models import DataVersion

from ..chromium import ARTIFACTS, CHROMIUM, check_page, free_port, phone_page
from ..chromium import served as served_app
from ..conftest import need
from .conftest import ALL_RT, PASSWORD, Clock, Workbench, add_institutions, make_user

NAME = "Glucose trajectories by neighbourhood"
INTENDED = "How do blood glucose trajectories differ between neighbourhoods, and where would prevention help most?"
APPROACH = "Cohorts of adults with repeated HbA1c measurements; mixed-effects growth models in Python."
FINDINGS = "Maps of risk that guide where community clinics place diabetes prevention outreach."
TITLE = "Neighbourhood differences in glucose trajectories among program participants"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The Workbench on a free loopback port over a fresh SQLite database, as a ``Workbench`` for ``make_user``,
    with a default Registered Tier data version."""
    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database
    from research_workbench.workbench.app import create_app

    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    monkeypatch.setenv("RW_WORKBENCH_SECRET", "workspaces-secret-" + "z" * 40)
    port = free_port()
    config = load_workbench_config(None, database_url=f"sqlite:///{tmp_path}/wb.sqlite",
                                   base_url=f"http://127.0.0.1:{port}",
                                   passwords={"time_cost": 1, "memory_kib": 1024, "parallelism": 1})
    db = Database(config.resolved_database_url)
    db.upgrade()
    clock = Clock(utcnow())  # make_user's timestamps; the app itself runs on the real clock
    add_institutions(db, clock.now)
    with db.session() as session:
        session.add(DataVersion(name="2026Q1R1", tier="registered", release_number=1, cdr_path="/releases/2026Q1R1",
                                index_path=None, aggregates_path=None, manifest_sha256="0" * 64,
                                participant_count=1000, data_types=["ehr", "survey"], is_default=True,
                                created_at=clock.now))
    app = create_app(config, db=db)
    try:
        with served_app(app, port, "workbench") as base:
            yield Workbench(app, db, clock, config), base
    finally:
        db.dispose()


@pytest.fixture
def page():
    with phone_page() as pg:
        yield pg


class Codes:
    """TOTP codes that are never replayed: the server refuses a time step at or before the last one it accepted,
    and takes the next one (clock drift), so a second sign-in within 30 seconds uses the next step's code."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def next(self, email: str, secret: str) -> str:
        while True:
            current = int(time.time()) // 30
            step = max(current, self.last.get(email, -1) + 1)
            if step <= current + 1:
                break
            time.sleep(1)
        self.last[email] = step
        return pyotp.TOTP(secret).at(step * 30)


def sign_in(pg, base: str, persona, codes: Codes, next_path: str) -> None:
    pg.goto(f"{base}/signin?next={next_path}")
    check_page(pg, base)
    pg.fill("#email", persona.email)
    pg.fill("#password", PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/signin/second-step")
    check_page(pg, base)
    pg.fill("#code", codes.next(persona.email, persona.totp_secret))
    pg.get_by_role("button", name="Verify").click()
    pg.wait_for_url(base + next_path)
    check_page(pg, base)


def sign_out(pg, base: str) -> None:
    pg.get_by_role("button", name="Sign out").click()
    pg.wait_for_url(base + "/")
    assert pg.get_by_role("link", name="Sign in").count() >= 1


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"workbench-{name}-phone.png"), full_page=True)


def test_a_workspace_shared_listed_in_the_directory_and_its_publication_approved(served, page):
    wb, base = served
    pg, codes = page, Codes()
    owner = make_user(wb, "ada@state.edu", modules=ALL_RT)
    writer = make_user(wb, "bo@citylab.org", institution="city-lab", modules=ALL_RT)
    admin = make_user(wb, "root@state.edu", admin=True)

    # The owner creates a workspace, filling in its research purpose
    sign_in(pg, base, owner, codes, "/workspaces")
    assert pg.locator("#no-workspaces").is_visible()
    pg.get_by_role("link", name="Create a workspace").click()
    pg.wait_for_url("**/workspaces/new")
    check_page(pg, base)
    pg.fill("#name", NAME)
    assert pg.locator("#tier-registered").is_checked()  # the only tier held
    assert pg.locator("#data_version option:checked").inner_text().startswith("2026Q1R1 (Registered Tier")
    pg.check("#disease_focused_research")
    pg.fill("#disease_of_focus", "Type 2 diabetes")
    pg.check("#population_health")
    pg.fill("#intended_study", INTENDED)
    pg.fill("#scientific_approach", APPROACH)
    pg.fill("#anticipated_findings", FINDINGS)
    pg.check("#dissemination-PUBLICATION_PEER_REVIEWED_JOURNALS")
    pg.check("#research_outcomes-DECREASE_ILLNESS_BURDEN")
    pg.check("#population_focus-yes")
    pg.check("#population_details-GEOGRAPHY")
    pg.check("#population_details-INCOME_LEVEL")
    pg.check("#aian_research_type-NO_AI_AN_ANALYSIS")
    pg.check("#review_requested-no")
    check_page(pg, base)
    shot(pg, "workspace-new")
    pg.get_by_role("button", name="Create workspace").click()
    pg.wait_for_url(lambda url: "/workspaces/" in url and not url.endswith("/new"))
    check_page(pg, base)
    namespace = pg.url.rsplit("/", 1)[1]
    assert pg.locator("h1").inner_text() == NAME
    assert "Workspace created." in pg.locator(".flash").inner_text()
    facts = pg.locator("#workspace-facts").inner_text()
    assert "Registered Tier" in facts and "2026Q1R1 (release 1)" in facts and "Owner" in facts
    assert pg.locator("#answer-intended_study").inner_text() == INTENDED
    purpose = pg.locator("dl.purpose").inner_text()
    assert "Disease-focused research, Population health / public health (disease: Type 2 diabetes)" in purpose
    assert "Yes: Geography (e.g. rural), Income level" in pg.locator("main").inner_text()
    shot(pg, "workspace-about")

    # ... shares it with the collaborator as a writer, found by the search
    pg.get_by_role("link", name="Share").click()
    pg.wait_for_url(f"**/workspaces/{namespace}/share")
    check_page(pg, base)
    pg.fill("#q", "bo@city")
    pg.get_by_role("button", name="Search").click()
    found = pg.locator("#search-results li")
    found.first.wait_for()
    assert found.count() == 1 and "bo@citylab.org" in found.inner_text()
    check_page(pg, base)
    found.locator("select").select_option("WRITER")
    found.get_by_role("button", name="Add").click()
    pg.wait_for_url(f"**/workspaces/{namespace}/share")
    check_page(pg, base)
    assert "Collaborators saved." in pg.locator(".flash").inner_text()
    rows = pg.locator("#collaborators tbody tr")
    assert rows.count() == 2
    writer_row = rows.filter(has_text="bo@citylab.org")
    assert writer_row.locator("select option:checked").inner_text() == "Writer"
    shot(pg, "workspace-share")
    sign_out(pg, base)
    check_page(pg, base)

    # An anonymous visitor finds it in the Research Projects Directory by words of its purpose
    pg.goto(base + "/hub/projects")
    check_page(pg, base)
    pg.fill("#q", "glucose trajectories")
    pg.get_by_role("button", name="Search").click()
    pg.wait_for_url("**/hub/projects?*")
    check_page(pg, base)
    assert pg.get_by_role("status").inner_text() == "1 project found."
    project = pg.locator(f"#project-{namespace}")
    text = project.inner_text()
    assert NAME in text and INTENDED in text and APPROACH in text and FINDINGS in text
    assert "(Type 2 diabetes)" in text
    assert "Test Ada (State University)" in text and "Test Bo (City Health Lab)" in text
    shot(pg, "hub-projects")
    pg.fill("#q", "no such words anywhere")
    pg.get_by_role("button", name="Search").click()
    pg.wait_for_url("**/hub/projects?q=no+such*")
    assert pg.get_by_role("status").inner_text() == "0 projects found."

    # The collaborator sees it among their workspaces, as a Writer
    sign_in(pg, base, writer, codes, "/workspaces")
    card = pg.locator(f"#ws-{namespace}")
    assert card.locator("h2").inner_text() == NAME
    assert card.locator(".role").inner_text() == "Writer"
    assert card.get_by_role("link", name=f"Edit {NAME}").count() == 1
    assert card.get_by_role("link", name=f"Share {NAME}").count() == 0
    shot(pg, "workspace-list")
    sign_out(pg, base)

    # The owner reports a publication against the workspace; it awaits review, unlisted
    sign_in(pg, base, owner, codes, "/hub/publications/report")
    published = (utcnow() - timedelta(days=30)).date()
    pg.fill("#title", TITLE)
    pg.fill("#authors", "Ada Test\nBo Test")
    pg.fill("#venue", "Journal of Community Health")
    pg.fill("#published_on", published.isoformat())
    pg.fill("#doi", "10.1000/glucose.2026")
    pg.select_option("#workspace", namespace)
    check_page(pg, base)
    pg.get_by_role("button", name="Send for review").click()
    pg.wait_for_url("**/hub/publications/report")
    check_page(pg, base)
    assert "sent for review" in pg.locator(".flash").inner_text()
    mine = pg.get_by_role("row", name=TITLE)
    assert "Awaiting review" in mine.inner_text()
    shot(pg, "publication-report")
    pg.goto(base + "/hub/publications")
    check_page(pg, base)
    assert TITLE not in pg.locator("main").inner_text()
    assert TITLE not in pg.request.get(base + "/hub/publications.bib").text()
    sign_out(pg, base)

    # An administrator approves it; then it is listed, and exported as BibTeX
    sign_in(pg, base, admin, codes, "/admin/publications")
    pending = pg.locator("article").filter(has_text=TITLE)
    assert pending.count() == 1 and NAME in pending.inner_text()
    pending.get_by_label("Approve: list it on the Research Hub").check()
    check_page(pg, base)
    shot(pg, "admin-publications")
    pending.get_by_role("button", name="Record the decision").click()
    pg.wait_for_url("**/admin/publications")
    check_page(pg, base)
    assert "is now approved" in pg.locator(".flash").inner_text()
    assert TITLE in pg.locator("#approved-heading + article").inner_text()
    sign_out(pg, base)
    pg.goto(base + "/hub/publications")
    check_page(pg, base)
    assert pg.locator("#found").inner_text() == "1 publication."
    listed = pg.locator("article.publication").inner_text()
    assert TITLE in listed and "Journal of Community Health" in listed and "10.1000/glucose.2026" in listed
    shot(pg, "hub-publications")
    bib = pg.request.get(base + "/hub/publications.bib")
    assert bib.status == 200 and bib.headers["content-type"].startswith("application/x-bibtex")
    text = bib.text()
    assert f"  title = {{{TITLE}}}," in text and "  author = {Ada Test and Bo Test}," in text
    assert "  journal = {Journal of Community Health}," in text and f"  year = {{{published.year}}}," in text
    assert "  doi = {10.1000/glucose.2026}," in text
    assert f"from the workspace {NAME}" in listed
