"""The web foundation on a minimal app: security headers on every response, trusted hosts, strict input,
relative redirects, and the byte-bounded response cache."""

from __future__ import annotations

import pytest
from fastapi import Query
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from typing import Annotated

from research_workbench.web import (
    DEFAULT_CSP, QueryInt, ResponseCache, SecureApp, WebSettings, host_name, parse_allowed_hosts, relative_location,
)
from research_workbench.web.hosts import host_allowed

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def _app(**settings) -> SecureApp:
    app = SecureApp(web=WebSettings(**settings))

    @app.get("/ok")
    async def ok(n: Annotated[QueryInt, Query(ge=1, le=10)] = 1):
        return {"n": n}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug")

    @app.get("/plain")
    async def plain():
        return PlainTextResponse("x", headers={"x-frame-options": "SAMEORIGIN"})

    return app


@pytest.fixture
def client():
    return TestClient(_app(), base_url="http://127.0.0.1:8000", raise_server_exceptions=False)


def test_every_response_gets_the_security_headers_errors_included(client):
    for url, status in (("/ok", 200), ("/nothing", 404), ("/ok?n=nan", 422), ("/ok?n=%ff", 400), ("/ok/", 307),
                        ("/boom", 500)):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == status, url
        csp = r.headers["content-security-policy"]
        assert csp == DEFAULT_CSP and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                          "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"):
            assert directive in csp
        assert {k: r.headers[k] for k in HEADERS} == HEADERS, url
        assert "camera=()" in r.headers["permissions-policy"]
        assert "strict-transport-security" not in r.headers  # plain HTTP
    forged = client.get("/ok", headers={"host": "evil.example"})
    assert forged.status_code == 400 and forged.headers["x-frame-options"] == "DENY"
    assert client.get("/plain").headers["x-frame-options"] == "SAMEORIGIN"  # an app's own choice is kept
    https = TestClient(_app(), base_url="https://127.0.0.1")
    assert https.get("/ok").headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize("header,name", [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.1:8000", "127.0.0.1"), ("LocalHost", "localhost"), ("example.org.", "example.org"),
    ("[::1]:8000", "::1"), ("[::1]", "::1"), ("", None), ("evil.example:", None), ("evil.example:abc", None),
    ("a b", None), ("user@host", None), ("[::1", None), ("[::1]x", None), ("*.example.org", None), ("::1", None),
])
def test_host_names_are_read_from_host_headers_strictly(header, name):
    assert host_name(header) == name


def test_allowed_hosts_match_exactly_or_by_sub_domain_wildcard():
    allowed = parse_allowed_hosts(["Browser.Example.org", "*.data.example.org", "[::1]", "127.0.0.1", "127.0.0.1"])
    assert allowed == ("browser.example.org", "*.data.example.org", "::1", "127.0.0.1")
    assert host_allowed("browser.example.org", allowed) and host_allowed("eu.data.example.org", allowed)
    assert not host_allowed("data.example.org", allowed) and not host_allowed("evilbrowser.example.org", allowed)
    assert not host_allowed("browser.example.org.evil.example", allowed) and not host_allowed(None, allowed)
    for bad in ("", "http://x", "a/b", "x y", "*"):
        with pytest.raises(ValueError, match="not a host name"):
            parse_allowed_hosts([bad])


def test_a_request_for_another_host_gets_400_without_echoing_it(client):
    for headers in ({"host": "evil.example"}, {"host": "evil.example:8000"}, {"host": "127.0.0.1.evil.example"},
                    {"host": "127.0.0.1@evil.example"}):
        for url in ("/ok", "/ok/", "/nothing", "/boom"):
            r = client.get(url, headers=headers, follow_redirects=False)
            assert r.status_code == 400, (url, headers)
            assert "location" not in r.headers and "evil" not in r.text
            assert r.json()["problems"] == [{"where": "header.host", "message": "not one of the server's allowed host names"}]
    allowed = TestClient(_app(allowed_hosts=("browser.example.org",)), base_url="https://browser.example.org")
    assert allowed.get("/ok").status_code == 200
    assert allowed.get("/ok", headers={"host": "127.0.0.1"}).status_code == 400  # the defaults are replaced


def test_requests_without_exactly_one_host_header_are_refused():
    import asyncio

    app = _app()
    for headers in ([], [(b"host", b"127.0.0.1"), (b"host", b"evil.example")]):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": "/ok", "raw_path": b"/ok", "query_string": b"", "headers": headers, "server": ("127.0.0.1", 80),
                 "client": ("127.0.0.1", 1234), "root_path": ""}
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 400


@pytest.mark.parametrize("path,query,location", [
    ("/about", "", "/about"), ("/search", "q=a b", "/search?q=a%20b"), ("//evil.example", "", "/evil.example"),
    ("/\\evil.example", "", "/%5Cevil.example"), ("\\\\evil.example", "", "/%5C%5Cevil.example"),
    ("/caf\u00e9", "", "/caf%C3%A9"), (b"/a\r\nSet-Cookie: x", b"", "/a%0D%0ASet-Cookie:%20x"),
])
def test_redirect_locations_are_relative_paths_on_this_server(path, query, location):
    assert relative_location(path, query) == location


def test_trailing_slash_redirects_are_relative_and_only_for_routes(client):
    r = client.get("/ok/?n=2", headers={"host": "localhost:8000", "x-forwarded-host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ok?n=2"
    assert client.get("/nothing/", follow_redirects=False).status_code == 404
    encoded = client.get("/ok%2F", follow_redirects=False)  # a slash spelled %2F: redirected once, no loop
    assert encoded.status_code == 307 and encoded.headers["location"] == "/ok"
    assert client.get("/ok%2F%2F?n=3").json() == {"n": 3}
    assert client.get("//ok/", follow_redirects=False).headers.get("location") in (None, "/ok")


def test_a_declared_parameter_given_twice_is_a_422_and_undeclared_ones_are_ignored(client):
    r = client.get("/ok?n=1&n=2")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "n"]
    assert client.get("/ok?n=2&junk=1&junk=2").json() == {"n": 2}


def test_the_cache_stays_within_its_byte_budget_and_entry_limit():
    cache = ResponseCache(max_bytes=10_000, max_entries=1_000)
    for i in range(500):
        assert cache.get(("k", i), lambda: b"x" * 300) == b"x" * 300
        assert cache.bytes <= 10_000
    assert 0 < len(cache) < 20 and cache.bytes == sum(cost for _, cost in cache.items.values())
    assert ("k", 499) in cache.items and ("k", 0) not in cache.items  # least recently used out first
    assert cache.get(("big",), lambda: b"y" * 20_000) == b"y" * 20_000 and ("big",) not in cache.items
    small = ResponseCache(max_bytes=10**9, max_entries=3)
    for i in range(10):
        small.get(i, lambda: b"z")
    assert list(small.items) == [7, 8, 9]

    def broken():
        raise ValueError("bad")

    with pytest.raises(ValueError):
        cache.get(("bad",), broken)
    assert ("bad",) not in cache.items
    off = ResponseCache(max_bytes=0)
    calls = []
    off.get("a", lambda: calls.append(1) or b"a")
    off.get("a", lambda: calls.append(1) or b"a")
    assert len(calls) == 2 and len(off) == 0
    with pytest.raises(ValueError):
        ResponseCache(max_bytes=-1)
