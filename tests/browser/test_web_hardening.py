"""The Data Browser on the web foundation: security headers on every response, nothing inline for the CSP to
block, trusted hosts on every route, redirects that never carry the request's Host, and a response cache keyed by
validated parameters and bounded in bytes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from research_workbench.browser.serving.app import create_app
from research_workbench.web import DEFAULT_CSP, ResponseCache

from .conftest import BASE_URL

EXAMPLES = {"{concept_id}": "201826", "{module_id}": "1586134", "{question_id}": "1585845", "{kind}": "physical",
            "{domain}": "drug", "{variant_id}": "19-44908684-T-C"}
QUERIES = {"/api/search": "?q=diab", "/api/variants": "?q=APOE", "/api/measurements/{kind}/{concept_id}": ""}
PAGES = ["/", "/search", "/search?q=diabetes", "/concepts/201826", "/surveys", "/surveys/1586134", "/measurements",
         "/measurements/physical/903133", "/wearables", "/genomes", "/genomes?q=APOE", "/variants/19-44908684-T-C",
         "/research-projects", "/about", "/api", "/domains/drug"]


def route_urls(app) -> list[str]:
    """One working URL per route of the app (the static mount through one of its files)."""
    urls = []
    for route in app.routes:
        if isinstance(route, Mount):
            urls.append(route.path + "/style.css")
            continue
        path = route.path
        for name, value in EXAMPLES.items():
            path = path.replace(name, value)
        path = path.replace("/measurements/physical/201826", "/measurements/physical/903133")  # a physical measurement
        urls.append(path + QUERIES.get(route.path, ""))
    return urls


@pytest.fixture(scope="module")
def app(store_path: Path):
    return create_app(store_path)


def test_every_route_works_and_has_the_security_headers(client, app):
    urls = route_urls(app)
    assert len(urls) == 1 + 16 + 16 + 1  # OpenAPI, API, pages, the icon and a redirect, static: every one checked
    errors = ["/api/nothing", "/nothing", "/api/concepts/1", "/concepts/1", "/api/search?q=a&limit=0", "/search?q=%ff",
              "/genomes?q=%25%25", "/static/nothing.css"]
    for url in urls + errors:
        r = client.get(url, follow_redirects=False)
        assert r.status_code < 500, url
        assert (r.status_code < 400) == (url in urls), (url, r.status_code)
        assert r.headers["content-security-policy"] == DEFAULT_CSP, url
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", url
        assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cross-origin-opener-policy"] == "same-origin"
        assert r.headers["cross-origin-resource-policy"] == "same-origin" and "permissions-policy" in r.headers


def test_pages_have_no_inline_script_style_or_event_handler(client):
    """What the CSP would block (and must therefore not be needed): inline <script> and <style>, style=""
    attributes, on…="" handlers and javascript: URLs, in templates and in the SVG charts drawn on the server."""
    for url in PAGES + ["/nothing", "/genomes?q=%25%25"]:
        html = client.get(url).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert "<style" not in html.lower(), url
        assert not re.search(r"\sstyle\s*=", html, re.IGNORECASE), url
        assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), url
        assert "javascript:" not in html.lower(), url
        assert re.findall(r"<script [^>]*>", html) == ['<script src="/static/app.js" defer>'], url


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io"])
def test_a_forged_host_gets_400_on_every_route_and_is_never_echoed(client, app, host):
    for url in route_urls(app) + [u + "/" for u in route_urls(app) if "?" not in u] + ["/nothing"]:
        r = client.get(url, headers={"host": host}, follow_redirects=False)
        assert r.status_code == 400, url
        assert "location" not in r.headers, url
        assert "evil" not in r.text and "nip.io" not in r.text, url
        assert "invalid Host header" in r.text


def test_redirects_carry_relative_locations_never_the_request_host(client, app):
    redirects = 0
    for url in route_urls(app):
        path, _, query = url.partition("?")
        if path == "/":
            continue
        slashed = path + "/" + (f"?{query}" if query else "")
        for headers in ({"host": "localhost:8000"}, {"host": "127.0.0.1", "x-forwarded-host": "evil.example"}):
            r = client.get(slashed, headers=headers, follow_redirects=False)
            assert r.status_code == 307, slashed
            location = r.headers["location"]
            assert location == url and not location.startswith("//"), (slashed, location)
            redirects += 1
    assert redirects == 2 * (len(route_urls(app)) - 1)
    r = client.get("/demographics", headers={"host": "localhost:8000"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/#demographics"
    for sneaky in ("//evil.example/", "/%2F%2Fevil.example/", "/\\evil.example/"):
        r = client.get(sneaky, follow_redirects=False)
        assert r.status_code in (400, 404) or not r.headers.get("location", "/").startswith("//"), sneaky


def test_the_allowed_hosts_are_configurable(store_path: Path, monkeypatch):
    app = create_app(store_path, allowed_hosts=["browser.example.org", "*.mirror.example.org"])
    public = TestClient(app, base_url="https://browser.example.org")
    assert public.get("/api/info").status_code == 200
    assert public.get("/api/info", headers={"host": "eu.mirror.example.org:443"}).status_code == 200
    assert public.get("/api/info", headers={"host": "localhost"}).status_code == 400
    monkeypatch.setenv("RW_BROWSER_ALLOWED_HOSTS", '["data.example.org"]')
    from_env = TestClient(create_app(store_path), base_url="http://data.example.org")
    assert from_env.get("/").status_code == 200 and from_env.get("/", headers={"host": "localhost"}).status_code == 400


def test_serve_allows_127_0_0_1_localhost_the_host_and_each_allowed_host(store_path: Path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from research_workbench.cli.commands import app as cli

    seen = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: seen.update(k, hosts=json.loads(__import__("os").environ["RW_BROWSER_ALLOWED_HOSTS"])))
    result = CliRunner().invoke(cli, ["browser", "serve", str(store_path), "--host", "0.0.0.0", "--allowed-host",
                                      "browser.example.org", "--allowed-host", "*.example.net"])
    assert result.exit_code == 0, result.output
    assert seen["hosts"] == ["127.0.0.1", "localhost", "0.0.0.0", "browser.example.org", "*.example.net"]
    assert seen["host"] == "0.0.0.0"
    bad = CliRunner().invoke(cli, ["browser", "serve", str(store_path), "--allowed-host", "http://evil/"])
    assert bad.exit_code == 1 and "not a host name" in bad.output


def _cached_client(store_path: Path, max_bytes: int = 64 * 2**20) -> tuple[TestClient, ResponseCache]:
    cache = ResponseCache(max_bytes=max_bytes, max_entries=100_000)
    return TestClient(create_app(store_path, cache=cache), base_url=BASE_URL), cache


def test_the_cache_is_keyed_by_validated_parameters(store_path: Path):
    client, cache = _cached_client(store_path)
    first = client.get("/api/search?q=diab&limit=5")
    for i in range(200):  # junk parameters, their order, spelling of numbers: one entry
        variant = [f"/api/search?q=diab&limit=5&junk{i}=x", f"/api/search?junk={i}&limit=5&q=diab",
                   "/api/search?limit=05&q=diab"][i % 3]
        assert client.get(variant).content == first.content
    assert len(cache) == 1
    client.get("/genomes?q=APOE&x=1")
    client.get("/genomes?x=2&q=APOE")
    assert len(cache) == 2
    for invalid in ("/api/search?q=diab&limit=0", "/api/search?q=diab&limit=nan", "/api/search?q=%ff",
                    "/api/search?q=a&q=b", "/genomes?q=%25%25", "/api/variants?q=%25%25", "/api/concepts/1",
                    "/concepts/1", "/api/search?q=" + "x" * 201):
        assert client.get(invalid).status_code >= 400, invalid
    assert len(cache) == 2  # nothing that failed validation (or found nothing) was kept


def test_many_distinct_urls_cannot_grow_the_cache_past_its_byte_budget(store_path: Path):
    budget = 20_000
    client, cache = _cached_client(store_path, max_bytes=budget)
    words = ["diab", "asth", "hyper", "metf", "heart", "blood", "smok", "sleep", "height", "weight"]
    for i in range(300):  # distinct valid queries, each with junk parameters of up to 2 kB
        r = client.get(f"/api/search?q={words[i % 10]}{'x' * (i // 10)}&limit={1 + i % 250}&pad={'p' * 2000}&n={i}")
        assert r.status_code == 200
        assert cache.bytes <= budget
    assert 0 < len(cache) < 300 and cache.bytes == sum(cost for _, cost in cache.items.values())
    for page in ("/", "/surveys/1586134", "/genomes?q=APOE"):  # large pages too
        client.get(page)
        assert cache.bytes <= budget


def test_the_cache_is_sized_by_environment_variables(store_path: Path, monkeypatch):
    monkeypatch.setenv("RW_BROWSER_CACHE_BYTES", "12345")
    monkeypatch.setenv("RW_BROWSER_CACHE_SIZE", "7")
    app = create_app(store_path)
    assert (app.state.cache.max_bytes, app.state.cache.max_entries) == (12345, 7)
    monkeypatch.setenv("RW_BROWSER_CACHE_BYTES", "64MB")
    with pytest.raises(ValueError, match="RW_BROWSER_CACHE_BYTES must be a whole number of bytes"):
        create_app(store_path)
    monkeypatch.delenv("RW_BROWSER_CACHE_BYTES")
    monkeypatch.setenv("RW_BROWSER_CACHE_SIZE", "0")
    off = create_app(store_path)
    TestClient(off, base_url=BASE_URL).get("/api/info")
    assert not off.state.cache.enabled and len(off.state.cache) == 0
