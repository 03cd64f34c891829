"""The Data Browser in a real browser: Debian's Chromium driven by Playwright (never a browser download).

The app runs with uvicorn in a background thread on a free loopback port. Screenshots go to test-artifacts/.
Without /usr/bin/chromium the tests skip (fail under RW_REQUIRE_ALL=1).

Every page runs under the app's Content-Security-Policy (no 'unsafe-inline'): each test fails on a JavaScript
error, a console error or a CSP violation report.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..chromium import ARGS, ARTIFACTS, CHROMIUM, WATCH_CSP, free_port, served
from ..conftest import need


@pytest.fixture(scope="module")
def base_url(store_path: Path):
    from research_workbench.browser.serving.app import create_app

    with served(create_app(store_path), free_port(), "browser-app") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is not installed (pip install playwright)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _watch(pg) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    console: list[str] = []

    def on_console(msg) -> None:
        url = msg.location.get("url") or ""
        path = urlsplit(url).path
        if msg.type != "error":
            return
        # a page the test asked for on purpose may be a 4xx (Chromium logs that); a 4xx of a stylesheet, a script,
        # an icon or an API call made by the page is an error
        if msg.text.startswith("Failed to load resource: the server responded with a status of 4") and \
                not path.startswith(("/static/", "/api/")):
            return
        console.append(f"{msg.text} ({url})")

    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", on_console)
    pg.add_init_script(WATCH_CSP)
    return errors, console


def _violations(pg) -> list[str]:
    return pg.evaluate("window.__cspViolations || []")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors, console = _watch(pg)
    pg.set_default_timeout(10_000)
    yield pg
    violations = _violations(pg)
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not console, f"console errors: {console}"
    assert not violations, f"Content-Security-Policy violations: {violations}"


def _bars_drawn(page, selector: str) -> int:
    """How many bars in the chart have a positive drawn width or height."""
    return page.eval_on_selector_all(
        selector, "els => els.filter(e => { const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length")


def test_search_then_concept_page_draws_its_charts(page, base_url):
    page.goto(base_url + "/")
    assert page.locator(".card").count() == 9
    box = page.locator(".searchbox input[name=q]")
    box.fill("type 2 diab")
    # app.js asked /api/search (a locator wait: wait_for_function evaluates a string, which the CSP forbids)
    page.locator("#suggestions option").first.wait_for(state="attached")
    box.press("Enter")
    page.wait_for_url("**/search?q=type+2+diab")
    link = page.locator("#search-results").get_by_role("link", name="Type 2 diabetes mellitus", exact=True).first
    link.click()
    page.wait_for_url("**/concepts/201826**")
    assert page.locator("#concept-name").inner_text() == "Type 2 diabetes mellitus"
    for chart in ("sex_at_birth", "gender", "age", "year"):
        assert _bars_drawn(page, f"#chart-{chart} svg.chart rect") > 0, chart
    page.screenshot(path=str(ARTIFACTS / "browser-concept.png"), full_page=True)


def test_survey_explorer(page, base_url):
    page.goto(base_url + "/surveys")
    page.locator("#survey-modules .card", has_text="Overall Health").click()
    page.wait_for_url("**/surveys/1585710")
    question = page.locator("details.question").first
    question.locator("summary").click()
    assert question.locator("table.answers tbody tr").count() >= 2
    assert _bars_drawn(page, "details.question[open] svg.stacked rect.segment") >= 4
    page.screenshot(path=str(ARTIFACTS / "browser-survey.png"), full_page=True)


def test_variant_search(page, base_url):
    page.goto(base_url + "/genomes")
    page.locator("#variant-q").fill("rs429358")
    page.locator("#variant-search button").click()
    page.wait_for_url("**/genomes?q=rs429358")
    table = page.locator("#variant-results details.variant[open] table.ancestry")
    rows = table.locator("tbody tr")
    assert rows.count() == 8
    assert rows.nth(7).locator("td").first.inner_text() == "Total"
    page.screenshot(path=str(ARTIFACTS / "browser-variant.png"), full_page=True)
    page.locator("#variant-q").fill("chr19:9-1")
    page.locator("#variant-search button").click()
    assert "start" in page.locator("p.error").inner_text()


def test_measurement_histograms_and_phone_width(browser, base_url):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    pg = context.new_page()
    errors, console = _watch(pg)
    try:
        for path, shot in (("/", "phone-home"), ("/concepts/201826", "phone-concept"), ("/measurements/physical/903133", "phone-measurement"),
                           ("/genomes?q=APOE", None), ("/surveys/1586134", None)):
            pg.goto(base_url + path)
            overflow = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
            if path.startswith("/measurements/"):
                assert _bars_drawn(pg, "#histograms svg.columns rect") > 5
            if shot:
                pg.screenshot(path=str(ARTIFACTS / f"browser-{shot}.png"), full_page=True)
            assert not _violations(pg), path
    finally:
        context.close()
    assert not errors and not console, (errors, console)


PAGES = ["/", "/search?q=diabetes", "/concepts/201826", "/surveys", "/surveys/1586134", "/measurements",
         "/measurements/physical/903133", "/wearables", "/genomes?q=APOE", "/variants/19-44908684-T-C",
         "/research-projects", "/about", "/api", "/domains/drug", "/nothing"]


def test_every_page_runs_under_the_csp_with_its_styles_and_script(page, base_url):
    """No page needs anything the CSP blocks, and the served stylesheet and script still apply: the fixture fails
    the test on any violation report or console error."""
    for path in PAGES:
        response = page.goto(base_url + path)
        assert response.headers["content-security-policy"].startswith("default-src 'self'"), path
        # style.css applies: the header's background and the cards' grid come from it
        assert page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor") == "rgb(247, 250, 252)", path
        assert page.eval_on_selector("main", "e => getComputedStyle(e).maxWidth") != "none", path
        assert _violations(page) == [], path
    page.goto(base_url + "/")
    assert page.eval_on_selector(".cards", "e => getComputedStyle(e).display") == "grid"
    assert page.eval_on_selector("svg.chart rect", "e => e.getAttribute('fill')").startswith("#")  # SVG attributes


def test_the_csp_blocks_injected_inline_script_and_style(browser, base_url):
    """Proof the policy is enforced: script and style injected into a page (as an XSS would) do not run."""
    context = browser.new_context()
    pg = context.new_page()
    errors, console = _watch(pg)
    try:
        pg.goto(base_url + "/about")
        pg.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.__injected = 1";
            document.body.appendChild(s);
            document.querySelector("h1").setAttribute("style", "color: rgb(255, 0, 0)");
            const st = document.createElement("style");
            st.textContent = "h2 { color: rgb(0, 255, 0) }";
            document.head.appendChild(st);
        }""")
        pg.wait_for_timeout(200)
        assert pg.evaluate("window.__injected") is None
        assert pg.eval_on_selector("h1", "e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
        assert pg.eval_on_selector("h2", "e => getComputedStyle(e).color") != "rgb(0, 255, 0)"
        violations = _violations(pg)
        assert len(violations) == 3 and all(v.startswith(("script-src", "style-src")) for v in violations), violations
        assert any("Content Security Policy" in c for c in console)
    finally:
        context.close()
