"""What anyone may see: the institutions directory and its "what tier does my institution allow?" answer (page
and API), the request-an-institution form, and the Terms of Service and privacy policy."""

from __future__ import annotations

import re

from sqlalchemy import select

from research_workbench.accounts.documents import current_version, load_document
from research_workbench.state.models import AuditEvent, InstitutionRequest

from .conftest import post


def test_the_directory_lists_each_institution_with_its_rule_per_tier(wb):
    page = wb.client().get("/institutions")
    assert page.status_code == 200
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>', page.text)
    assert rows == [("City Health Lab", "Non-profit organisation", "addresses at citylab.org", "addresses at citylab.org"),
                    ("State University", "Academic research institution", "addresses at state.edu",
                     "1 listed address")]
    assert "pi@state.edu" not in page.text  # listed addresses are not published


def test_the_page_answers_what_tier_an_institution_allows_an_email(wb):
    c = wb.client()
    r = c.get("/institutions?institution=state-u&email=pi@state.edu")
    assert "allows <strong>pi@state.edu</strong> to reach the Registered Tier and the Controlled Tier" in r.text
    r = c.get("/institutions?institution=state-u&email=ada@lab.state.edu")  # a subdomain counts
    assert "to reach the Registered Tier.</p>" in r.text
    r = c.get("/institutions?institution=state-u&email=ada@gmail.com")
    assert "agreement does not cover <strong>ada@gmail.com</strong>" in r.text


def test_the_api_answers_the_same_question(wb):
    c = wb.client()
    assert c.get("/api/institutions/state-u/tiers", params={"email": "PI@state.edu"}).json() == {
        "institution": "State University", "email": "pi@state.edu", "tiers": ["registered", "controlled"]}
    assert c.get("/api/institutions/city-lab/tiers", params={"email": "x@gmail.com"}).json()["tiers"] == []
    assert c.get("/api/institutions/nowhere/tiers", params={"email": "x@state.edu"}).status_code == 404
    bad = c.get("/api/institutions/state-u/tiers", params={"email": "nope"})
    assert bad.status_code == 422 and bad.json()["problems"] == [{"where": "query.email",
                                                                 "message": "not an email address"}]
    listing = c.get("/api/institutions").json()
    assert [i["short_name"] for i in listing] == ["city-lab", "state-u"]
    assert listing[1]["rules"] == [
        {"tier": "controlled", "rule": "addresses", "summary": "1 listed address"},
        {"tier": "registered", "rule": "domains", "summary": "addresses at state.edu"}]


def test_a_request_for_a_new_institution_is_stored_and_audited(wb):
    c = wb.client()
    r = post(c, "/institutions/request", {"name": " Lakeside College ", "website": "https://lakeside.edu",
                                          "contact_name": "Rosa Park", "contact_email": "Rosa@Lakeside.edu",
                                          "message": "We would like to join."})
    assert r.status_code == 303 and r.headers["location"] == "/institutions"
    assert "your request to add Lakeside College was sent" in c.get("/institutions").text
    with wb.db.session() as session:
        req = session.scalar(select(InstitutionRequest))
        assert (req.name, req.website, req.contact_email, req.message) == (
            "Lakeside College", "https://lakeside.edu", "rosa@lakeside.edu", "We would like to join.")
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "institution_requested"))
        assert event.details == {"request_id": req.id, "name": "Lakeside College"}


def test_the_request_form_names_each_bad_field_and_keeps_what_was_typed(wb):
    c = wb.client()
    r = post(c, "/institutions/request", {"name": "L", "website": "ftp://x", "contact_name": "",
                                          "contact_email": "not-an-email", "message": "m" * 2001})
    assert r.status_code == 422
    for field in ("name", "website", "contact_name", "contact_email", "message"):
        assert f'id="{field}-error"' in r.text, field
    assert 'value="ftp://x"' in r.text


def test_the_terms_and_privacy_policy_are_public_and_versioned(wb):
    c = wb.client()
    for kind in ("terms", "privacy"):
        page = c.get(f"/documents/{kind}")
        doc = load_document(kind)
        assert page.status_code == 200 and f"Version {current_version(kind)}" in page.text
        assert doc.sections[0].heading in page.text
    assert c.get("/documents/ducc").status_code == 404  # the Code of Conduct is shown to those who sign it


def test_sign_up_is_rate_limited(make_workbench):
    from .conftest import DETAILS, sign_up

    wb = make_workbench(limits={"signup": "2/hour"})
    sign_up(wb.client(), "a1@state.edu")
    sign_up(wb.client(), "a2@state.edu")
    c = wb.client()
    post(c, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"), "accept_privacy": "on",
                              "privacy_version": current_version("privacy")})
    post(c, "/signup/institution", {"institution": "state-u", "email": "a3@state.edu", "role": "faculty"})
    post(c, "/signup/details", DETAILS)
    third = post(c, "/signup/demographics", {"skip": "on"})
    assert third.status_code == 429 and int(third.headers["retry-after"]) > 0
    assert wb.user("a3@state.edu") is None
