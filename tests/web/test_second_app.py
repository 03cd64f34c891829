"""A second app built on the web foundation (as the Researcher Workbench will be) gets what the Data Browser
gets: the layout and its stylesheet, the error page, JSON errors under /api, the security headers on every
response, strict routes and the OpenAPI document under /api."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Query
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from research_workbench.web import (
    DEFAULT_CSP, ERROR_RESPONSES, ErrorPages, QueryInt, SecureApp, SecureRouter, static_files, template_environment,
)
from research_workbench.web.static import FOUNDATION_STATIC


class Missing(LookupError):
    pass


def _app(root: Path) -> SecureApp:
    (root / "templates").mkdir()
    (root / "static").mkdir()
    (root / "templates" / "base.html").write_text(
        '{% extends "layout.html" %}{% block title %}Workbench{% endblock %}'
        '{% block head %}<link rel="stylesheet" href="/static/workbench.css">{% endblock %}'
        '{% block header %}<a class="brand" href="/">Workbench</a>{% endblock %}')
    (root / "templates" / "home.html").write_text(
        '{% extends "base.html" %}{% block main %}<h1 id="hello">Hello {{ name }}</h1>{% endblock %}')
    (root / "static" / "workbench.css").write_text("h1 { color: #123; }\n")
    templates = template_environment(root / "templates")
    app = SecureApp(title="Workbench")
    app.mount("/static", static_files(root / "static"), name="static")

    def render_error(status: int, message: str, problems: list[dict]) -> bytes:
        return templates.get_template("error.html").render(status=status, message=message, problems=problems).encode()

    errors = ErrorPages(render_error)
    errors.install(app)
    errors.handle(app, Missing, 404)
    pages, api = SecureRouter(include_in_schema=False), SecureRouter(prefix="/api")

    @pages.get("/", response_class=HTMLResponse)
    def home(name: Annotated[str, Query(max_length=20)] = "you"):
        return templates.get_template("home.html").render(name=name)

    @api.get("/workspaces/{n}", responses=ERROR_RESPONSES)
    def workspace(n: QueryInt, size: Annotated[QueryInt, Query(ge=1, le=10)] = 1):
        if n == 0:
            raise Missing("no workspace 0")
        return {"n": n, "size": size}

    app.include_router(api)
    app.include_router(pages)
    return app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(_app(tmp_path), base_url="http://127.0.0.1:8000", raise_server_exceptions=False)


def test_pages_use_the_foundation_layout_and_its_static_files(client):
    page = client.get("/?name=Ada")
    assert page.status_code == 200 and '<h1 id="hello">Hello Ada</h1>' in page.text
    assert '<link rel="stylesheet" href="/static/web.css">' in page.text  # the foundation's, then the app's own
    assert page.text.index("/static/web.css") < page.text.index("/static/workbench.css")
    assert "<title>Workbench</title>" in page.text and '<a class="brand" href="/">Workbench</a>' in page.text
    css = client.get("/static/web.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.content == (FOUNDATION_STATIC / "web.css").read_bytes()
    assert client.get("/static/workbench.css").text == "h1 { color: #123; }\n"
    assert "cdn" not in page.text.lower() and "https://" not in page.text


def test_every_response_has_the_security_headers(client):
    for url in ("/", "/static/web.css", "/api/workspaces/3", "/api/workspaces/0", "/nothing", "/?name=" + "x" * 30,
                "/api/openapi.json"):
        r = client.get(url)
        assert r.headers["content-security-policy"] == DEFAULT_CSP, url
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", url


def test_errors_are_the_error_page_for_pages_and_json_under_the_api(client):
    missing = client.get("/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in missing.text and "no such page" in missing.text
    assert "/static/web.css" in missing.text  # the app's own layout
    invalid = client.get("/?name=" + "x" * 30)
    assert invalid.status_code == 422 and "<code>query.name</code>" in invalid.text
    assert client.get("/api/nothing").json() == {"error": "no such page", "problems": []}
    assert client.get("/api/workspaces/0").json() == {"error": "no workspace 0", "problems": []}
    body = client.get("/api/workspaces/1?size=11").json()
    assert body["error"].startswith("invalid request: query.size") and body["problems"][0]["where"] == "query.size"
    twice = client.get("/api/workspaces/1?size=1&size=2")  # SecureRouter routes are strict
    assert twice.status_code == 422 and twice.json()["problems"][0]["where"] == "query.size"
    forged = client.get("/", headers={"host": "evil.example"})  # the foundation's own refusals: the same page
    assert forged.status_code == 400 and "invalid Host header" in forged.text and "evil" not in forged.text
    assert forged.headers["content-type"].startswith("text/html")


def test_the_openapi_document_is_under_api_and_documents_errors(client):
    doc = client.get("/api/openapi.json").json()
    assert set(doc["paths"]) == {"/api/workspaces/{n}"}
    assert set(doc["paths"]["/api/workspaces/{n}"]["get"]["responses"]) >= {"200", "400", "404", "422"}
    assert {"ErrorResponse", "Problem"} <= set(doc["components"]["schemas"])
    for ui in ("/docs", "/redoc", "/openapi.json"):  # Swagger UI and ReDoc would load a CDN's scripts
        assert client.get(ui).status_code == 404


def test_vendored_assets_are_the_recorded_files_and_every_app_serves_them(client):
    """Each vendored file is the one ``vendor/vendored.json`` records (exact version in its name, SHA-256) and is
    served by the app itself: no page depends on a CDN."""
    import hashlib
    import json

    vendor = FOUNDATION_STATIC / "vendor"
    record = json.loads((vendor / "vendored.json").read_text())
    assert set(record) == {"htmx"}
    assert sorted(p.name for p in vendor.iterdir()) == sorted(
        ["vendored.json"] + [e["file"] for e in record.values()] + [e["license_file"] for e in record.values()])
    for entry in record.values():
        data = (vendor / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["version"] in entry["file"] and f'version:"{entry["version"]}"'.encode() in data
        served = client.get(f"/static/vendor/{entry['file']}")
        assert served.status_code == 200 and served.content == data
        assert served.headers["content-type"].startswith(("text/javascript", "application/javascript"))
