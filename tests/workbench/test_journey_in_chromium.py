"""The whole registration journey in a real browser (Debian's Chromium through Playwright): sign up → verify the
email (read from a local SMTP server) → identity through a local OpenID Connect provider → training → Code of
Conduct → TOTP → the access page says Registered Tier granted, and the Controlled Tier needs the institution's
rule and its training. The Workbench runs with uvicorn in a thread, its mail thread on. Every page of the app runs
under its CSP: the test fails on a JavaScript error or a CSP violation on the Workbench's pages."""

from __future__ import annotations

import re
import time
from datetime import date

import pyotp
import pytest

from research_workbench.accounts.institutions import RuleSpec, save_institution
from research_workbench.accounts.modules import Tier
from research_workbench.accounts.training import current_course

from ..accounts.test_mail import Inbox
from ..chromium import ARTIFACTS, CHROMIUM, check_page, free_port, phone_page, served
from ..conftest import need

IAL2 = "http://idmanagement.gov/ns/assurance/ial/2"
PASSWORD = "a long passphrase for the journey"


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """An SMTP server, an identity provider and the Workbench on free loopback ports."""
    import httpx
    from aiosmtpd.controller import Controller
    from oidc_provider_mock import run_server_in_thread

    from research_workbench.accounts.config import load_workbench_config
    from research_workbench.state import Database
    from research_workbench.workbench.app import create_app

    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    monkeypatch.setenv("RW_WORKBENCH_SECRET", "journey-secret-" + "y" * 40)
    monkeypatch.setenv("RW_JOURNEY_CLIENT_SECRET", "client-secret")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with run_server_in_thread() as idp_server:
        idp = f"http://localhost:{idp_server.server_port}"
        port = free_port()
        config = load_workbench_config(
            None, database_url=f"sqlite:///{tmp_path}/wb.sqlite", base_url=f"http://127.0.0.1:{port}",
            passwords={"time_cost": 1, "memory_kib": 1024, "parallelism": 1},
            mail={"smtp_host": "127.0.0.1", "smtp_port": smtp.port},
            identity={"preset": "custom", "label": "Test ID", "metadata_url": idp + "/.well-known/openid-configuration",
                      "client_id": "workbench", "client_secret_env": "RW_JOURNEY_CLIENT_SECRET"})
        db = Database(config.resolved_database_url)
        db.upgrade()
        from research_workbench.accounts.clock import utcnow

        with db.session() as session:
            save_institution(session, short_name="state-u", display_name="State University", kind="academic",
                             signed_on=date(2025, 1, 1), expires_on=None,
                             rules={Tier.REGISTERED: RuleSpec("domains", ("state.edu",)),
                                    Tier.CONTROLLED: RuleSpec("addresses", ("pi@state.edu",))}, now=utcnow())
        app = create_app(config, db=db, mail_jobs=True)
        app.state.mail_jobs.interval = 0.5
        try:
            with served(app, port, "workbench") as base:
                yield {"base": base, "idp": idp, "inbox": inbox, "db": db, "httpx": httpx}
        finally:
            smtp.stop()
            db.dispose()


@pytest.fixture
def page():
    with phone_page() as pg:
        yield pg


def scroll_to_end(pg, selector: str) -> None:
    pg.eval_on_selector(selector, "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")


def test_the_whole_registration_journey(stack, page):
    base, inbox = stack["base"], stack["inbox"]
    pg = page
    pg.goto(base + "/")
    check_page(pg, base)
    pg.get_by_role("link", name="Create an account").first.click()
    # Step 1: Terms (read to the end), institution, details, demographics
    pg.wait_for_url("**/signup/terms")
    assert pg.locator("#accept_terms").is_disabled()  # until the document is read to its end
    scroll_to_end(pg, "[data-read-to-end=accept_terms]")
    scroll_to_end(pg, "[data-read-to-end=accept_privacy]")
    pg.check("#accept_terms")
    pg.check("#accept_privacy")
    check_page(pg, base)
    pg.get_by_role("button", name="Next").click()
    pg.wait_for_url("**/signup/institution")
    pg.select_option("#institution", "state-u")
    pg.fill("#email", "ada@state.edu")
    pg.select_option("#role", "faculty")
    check_page(pg, base)
    pg.get_by_role("button", name="Next").click()
    pg.wait_for_url("**/signup/details")
    for field, value in (("#given_name", "Ada"), ("#family_name", "Lovelace"), ("#address-street1", "1 Main St"),
                         ("#address-city", "Springfield"), ("#address-country", "United States"),
                         ("#research_background", "Cardiometabolic epidemiology in large cohorts."),
                         ("#password", PASSWORD), ("#password_confirm", PASSWORD)):
        pg.fill(field, value)
    check_page(pg, base)
    pg.get_by_role("button", name="Next").click()
    pg.wait_for_url("**/signup/demographics")
    pg.check("#skip")
    check_page(pg, base)
    pg.get_by_role("button", name="Create my account").click()
    pg.wait_for_url("**/signup/sent")
    # The verification email, from the local SMTP server
    deadline = time.monotonic() + 20
    while not inbox.received:
        assert time.monotonic() < deadline, "no verification email arrived"
        time.sleep(0.1)
    _, recipients, message = inbox.received[-1]
    assert recipients == ["ada@state.edu"]
    link = re.search(r"http://127\.0\.0\.1:\d+/verify-email\?token=[A-Za-z0-9_-]+", message.get_content()).group(0)
    pg.goto(link)
    pg.get_by_role("button", name="Verify my email address").click()
    pg.wait_for_url("**/signin")
    pg.fill("#email", "ada@state.edu")
    pg.fill("#password", PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url("**/access")
    check_page(pg, base)
    assert pg.locator("#registered-status").inner_text() == "Not granted"
    # Step 2: identity through the local OpenID Connect provider, with an IAL2 claim
    sub = "ada-ial2"
    r = stack["httpx"].put(f"{stack['idp']}/users/{sub}", json={"acr": IAL2, "email": "ada@state.edu",
                                                                "preferred_username": "ada@login.gov"})
    assert r.status_code == 204
    pg.goto(base + "/access/identity")
    check_page(pg, base)
    pg.get_by_role("button", name="Continue to Test ID").click()
    pg.wait_for_url(stack["idp"] + "/**")
    pg.fill("input[name=sub]", sub)
    pg.get_by_role("button", name="Authorize").click()
    pg.wait_for_url(base + "/**")
    check_page(pg, base)
    assert "verified" in pg.locator("main").inner_text().lower()
    # Step 3: the Registered Tier training and its quiz
    course = current_course(Tier.REGISTERED)
    pg.goto(base + "/training/registered")
    check_page(pg, base)
    for p_ in course.pages:
        pg.goto(f"{base}/training/registered/{p_.slug}")
        check_page(pg, base)
    pg.goto(base + "/training/registered/quiz")
    for q in course.quiz:
        pg.check(f"input[name=q_{q.id}][value='{q.answer}']")
    check_page(pg, base)
    pg.get_by_role("button", name="Send my answers").click()
    pg.wait_for_url("**/training/registered")
    check_page(pg, base)
    # Step 4: the Data User Code of Conduct
    pg.goto(base + "/access/ducc")
    check_page(pg, base)
    for box in pg.locator("input[name^=initials_]").all():
        box.fill("AL")
    pg.fill("input[name=full_name]", "Ada Lovelace")
    pg.get_by_role("button", name="Sign the Code of Conduct").click()
    pg.wait_for_url(lambda url: "/access/ducc" not in url or url.endswith("/signed"))
    check_page(pg, base)
    # Two-step verification: the key shown, a code from it
    pg.goto(base + "/account/two-factor")
    check_page(pg, base)
    secret = pg.locator("#totp-secret").inner_text()
    pg.fill("#code", pyotp.TOTP(secret).now())
    pg.get_by_role("button", name="Turn on two-step verification").click()
    assert pg.locator("#recovery-codes li").count() == 10
    pg.get_by_role("link", name="Continue").click()
    pg.wait_for_url("**/access")
    check_page(pg, base)
    assert pg.locator("#registered-status").inner_text() == "Granted"
    assert pg.locator("#controlled-status").inner_text() == "Not granted"
    controlled = pg.locator("#controlled-card").inner_text()
    assert "does not allow you the Controlled Tier" in controlled and "Controlled Tier training" in controlled
    pg.screenshot(path=str(ARTIFACTS / "workbench-access-phone.png"), full_page=True)
    pg.get_by_role("link", name="Go to Registered Tier data").click()
    pg.wait_for_url("**/data/registered")
    check_page(pg, base)
