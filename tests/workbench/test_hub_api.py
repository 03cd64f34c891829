"""Reporting a publication through the API with a personal token, and seeing its review status."""

from __future__ import annotations

import re

from .conftest import ALL_RT, make_user, post


def token_for(wb, persona, scopes):
    c = persona.sign_in()
    created = post(c, "/account/tokens", {"action": "create", "name": "sdk", "days": "30", "scopes": scopes})
    return re.search(r'id="new-token">(rwpat_[^<]+)<', created.text).group(1)


def test_a_publication_reported_with_a_token_waits_for_review(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    token = token_for(wb, persona, ["workspaces:read", "workspaces:write"])
    api = wb.client()
    api.headers["authorization"] = f"Bearer {token}"
    r = api.post("/api/hub/publications", json={"title": "Sleep and blood pressure", "authors": "Ada Lovelace; Bo Li",
                                                "published_on": "2026-01-15", "doi": "https://doi.org/10.1234/ABC.5"})
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("title", "authors", "doi", "status", "workspace")} == {
        "title": "Sleep and blood pressure", "authors": ["Ada Lovelace", "Bo Li"], "doi": "10.1234/abc.5",
        "status": "pending", "workspace": None}
    assert [p["status"] for p in api.get("/api/hub/publications/mine").json()] == ["pending"]
    assert wb.client().get("/api/hub/publications").json() == []  # not listed before approval


def test_bad_reports_name_the_field_and_a_read_token_cannot_report(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    api = wb.client()
    api.headers["authorization"] = f"Bearer {token_for(wb, persona, ['workspaces:read'])}"
    assert api.post("/api/hub/publications", json={"title": "T", "authors": "A", "published_on": "2026-01-01"}
                    ).status_code == 403
    api.headers["authorization"] = f"Bearer {token_for(wb, persona, ['workspaces:write'])}"
    r = api.post("/api/hub/publications", json={"title": "", "authors": "A", "published_on": "2026-13-01",
                                                "doi": "nope"})
    assert r.status_code == 422
    assert {p["where"] for p in r.json()["problems"]} == {"title", "published_on", "doi"}
