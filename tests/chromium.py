"""Shared parts of the browser tests: Debian's Chromium driven by Playwright (never a browser download), an app
served by uvicorn in a thread on a free loopback port, and the checks every Workbench page must pass."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import REPO, need
from .helpers import free_port  # noqa: F401  (the chromium tests' servers)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts"
PHONE = {"width": 390, "height": 844}

# Runs before any page script (injected by the browser, so not subject to the CSP): records violation reports.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@contextmanager
def served(app, port: int, name: str = "app") -> Iterator[str]:
    """``app`` served by uvicorn in a thread on 127.0.0.1:``port``; its base URL while the block runs."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"the {name} did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


DESKTOP = {"width": 1280, "height": 900}


@contextmanager
def phone_page(viewport: dict | None = None) -> Iterator:
    """A Chromium page at a phone's size (or ``viewport``), recording JavaScript errors (``page.errors``) and CSP
    violations."""
    need(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport=viewport or PHONE)
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.add_init_script(WATCH_CSP)
        pg.errors = errors
        yield pg
        context.close()
        browser.close()


def check_page(pg, base: str) -> None:
    """On a Workbench page: no CSP violation, no JavaScript error, every field labelled, nothing wider than the
    phone's screen."""
    if not pg.url.startswith(base):
        return
    assert pg.evaluate("window.__cspViolations || []") == [], pg.url
    assert pg.errors == [], pg.url
    unlabelled = pg.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)""")
    assert unlabelled == [], (pg.url, unlabelled)
    unnamed = pg.evaluate("""() => [...document.querySelectorAll('button')].filter(b => !b.textContent.trim()).length""")
    assert unnamed == 0, pg.url
    overflow = pg.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, (pg.url, overflow)
    low = pg.evaluate(LOW_CONTRAST)
    assert low == [], (pg.url, low)


# Text whose colour against its background is below WCAG AA: 4.5:1, or 3:1 for large text (24px, or 18.66px bold).
LOW_CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                                if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.getClientRects().length === 0) continue;
    const fg = rgb(style.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) out.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return out;
}"""
