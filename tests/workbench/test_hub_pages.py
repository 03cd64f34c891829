"""The Research Hub's pages and API: publications reported, reviewed and listed; support articles; events and
their calendar feed."""

from __future__ import annotations

from sqlalchemy import select

from research_workbench.state.models import (AuditEvent, DataVersion, HubEvent, Publication, User, Workspace,
                                              WorkspaceMember)

from .conftest import ALL_RT, make_user, post


def add_workspace(wb, namespace: str, name: str, email: str, role: str = "OWNER") -> int:
    with wb.db.session() as session:
        version = DataVersion(name="2026Q1", tier="registered", release_number=1, cdr_path="/r",
                              manifest_sha256="0" * 64, participant_count=1000, data_types=["ehr"],
                              created_at=wb.clock.now)
        session.add(version)
        session.flush()
        user = session.scalar(select(User).where(User.email == email))
        ws = Workspace(namespace=namespace, name=name, tier="registered", data_version_id=version.id, purpose={},
                       created_by=user.id, created_at=wb.clock.now, updated_at=wb.clock.now)
        session.add(ws)
        session.flush()
        session.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role=role, added_at=wb.clock.now))
        return ws.id


def actions(wb) -> list[tuple[str, dict]]:
    with wb.db.session() as session:
        return [(e.action, e.details) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
                if e.action.startswith(("publication_", "article_", "event_"))]


def test_the_hub_home_links_every_part_and_shows_no_participant_counts(wb):
    page = wb.client().get("/hub")
    assert page.status_code == 200
    for href in ("/hub/projects", "/hub/publications", "/institutions", "/hub/support", "/hub/events"):
        assert f'href="{href}"' in page.text
    assert "this hub shows no participant counts of its own" in page.text


def test_report_then_admin_approves_then_it_is_listed_publicly(wb):
    ada = make_user(wb, "ada@state.edu", modules=ALL_RT)
    ws_id = add_workspace(wb, "diabetes-study", "Diabetes study", "ada@state.edu", "READER")
    researcher = ada.sign_in()
    form = researcher.get("/hub/publications/report")
    assert form.status_code == 200
    assert '<option value="diabetes-study">Diabetes study</option>' in form.text

    r = post(researcher, "/hub/publications/report", {
        "title": "Social factors & diabetes control", "authors": "Ada Lovelace\nCharles Babbage",
        "venue": "Journal of Examples", "published_on": "2026-01-15", "doi": "https://doi.org/10.1234/ABC",
        "workspace": "diabetes-study"})
    assert (r.status_code, r.headers["location"]) == (303, "/hub/publications/report")
    mine = researcher.get("/hub/publications/report")
    assert "Thank you: your publication was sent for review." in mine.text
    assert "Awaiting review" in mine.text

    anonymous = wb.client()
    assert "No publication is listed yet." in anonymous.get("/hub/publications").text
    assert anonymous.get("/api/hub/publications").json() == []

    admin = make_user(wb, "admin@state.edu", admin=True).sign_in()
    review = admin.get("/admin/publications")
    assert review.status_code == 200 and "Social factors &amp; diabetes control" in review.text
    with wb.db.session() as session:
        pub_id = session.scalar(select(Publication.id))
    r = post(admin, f"/admin/publications/{pub_id}/decision", {"decision": "approved", "note": ""},
             form_page="/admin/publications")
    assert (r.status_code, r.headers["location"]) == (303, "/admin/publications")

    listed = anonymous.get("/hub/publications?q=diabetes&year=2026")
    assert 'id="found">1 publication found.' in listed.text
    assert "Ada Lovelace; Charles Babbage" in listed.text
    assert 'href="https://doi.org/10.1234/abc"' in listed.text and "from the workspace Diabetes study" in listed.text
    assert 'id="found">0 publications found.' in anonymous.get("/hub/publications?year=2025").text
    assert anonymous.get("/api/hub/publications").json() == [
        {"id": pub_id, "title": "Social factors & diabetes control", "authors": ["Ada Lovelace", "Charles Babbage"],
         "venue": "Journal of Examples", "published_on": "2026-01-15", "doi": "10.1234/abc",
         "workspace": "Diabetes study"}]
    bib = anonymous.get("/hub/publications.bib")
    assert bib.status_code == 200 and bib.headers["content-type"] == "application/x-bibtex; charset=utf-8"
    assert bib.text == ("@article{lovelace2026social,\n  author = {Ada Lovelace and Charles Babbage},\n"
                        "  title = {Social factors \\& diabetes control},\n  journal = {Journal of Examples},\n"
                        "  year = {2026},\n  month = jan,\n  doi = {10.1234/abc},\n}\n")
    reported, decided = actions(wb)
    assert reported == ("publication_reported", {"publication_id": pub_id, "doi": "10.1234/abc",
                                                 "title": "Social factors & diabetes control", "workspace_id": ws_id})
    assert decided == ("publication_decided", {"publication_id": pub_id, "decision": "approved", "note": None,
                                               "doi": "10.1234/abc"})


def test_bad_report_names_each_field_and_keeps_the_values(wb):
    researcher = make_user(wb, "ada@state.edu", modules=ALL_RT).sign_in()
    r = post(researcher, "/hub/publications/report", {"title": "", "authors": "Ada", "venue": "",
                                                      "published_on": "2027-01-01", "doi": "not-a-doi",
                                                      "workspace": "someone-elses"})
    assert r.status_code == 422
    for field, message in (("title", "give the title"),
                           ("published_on", "this day is in the future: report a publication once it is published"),
                           ("doi", "not a DOI: write it as 10.NNNN/suffix (e.g. 10.1000/xyz123), without spaces"),
                           ("workspace", "choose one of your workspaces (or none)")):
        assert f'<a href="#{field}">{field}</a>: {message}' in r.text
    assert 'value="not-a-doi"' in r.text and ">Ada</textarea>" in r.text
    with wb.db.session() as session:
        assert session.scalar(select(Publication.id)) is None


def test_reporting_needs_a_sign_in_and_deciding_needs_an_admin(wb):
    r = wb.client().get("/hub/publications/report")
    assert (r.status_code, r.headers["location"]) == (303, "/signin?next=/hub/publications/report")
    researcher = make_user(wb, "ada@state.edu", modules=ALL_RT).sign_in()
    assert researcher.get("/admin/publications").status_code == 403


def test_a_rejection_without_a_note_is_refused_beside_its_form(wb):
    researcher = make_user(wb, "ada@state.edu", modules=ALL_RT).sign_in()
    post(researcher, "/hub/publications/report", {"title": "T", "authors": "A", "published_on": "2026-01-01"})
    admin = make_user(wb, "admin@state.edu", admin=True).sign_in()
    with wb.db.session() as session:
        pub_id = session.scalar(select(Publication.id))
    r = post(admin, f"/admin/publications/{pub_id}/decision", {"decision": "rejected", "note": ""},
             form_page="/admin/publications")
    assert r.status_code == 422
    assert (f'<a href="#publication-{pub_id}-note">note</a>: say why it is rejected (at least 5 characters): '
            "the researcher sees it") in r.text
    assert admin.post("/admin/publications/999/decision").status_code in (403, 404)  # no CSRF token: refused first


def test_support_pages_search_and_render_safely(wb):
    client = wb.client()
    index = client.get("/hub/support")
    assert index.status_code == 200
    assert '<a href="/hub/support/registration">Registration: the four steps</a>' in index.text
    found = client.get("/hub/support?q=DATE+shifting")
    assert 'id="found">1 article found for “DATE shifting”.</p>' in found.text
    assert '<h2><a href="/hub/support/data-curation-and-privacy">Data curation and privacy</a></h2>' in found.text
    article = client.get("/hub/support/access-tiers")
    assert article.status_code == 200 and "<h1>Access tiers: public, Registered and Controlled</h1>" in article.text
    assert client.get("/hub/support/no-such-article").status_code == 404
    api = client.get("/api/hub/support?q=notebook").json()
    assert api[0]["slug"] == "notebooks" and api[0]["url"] == "/hub/support/notebooks" and api[0]["shipped"] is True


def test_an_admin_adds_edits_and_deletes_an_article_whose_html_is_escaped(wb):
    admin = make_user(wb, "admin@state.edu", admin=True).sign_in()
    r = post(admin, "/admin/support/new", {"slug": "registration", "title": "", "category": "Tips", "body": "x"})
    assert r.status_code == 422
    assert ('<a href="#slug">slug</a>: an article shipped with the app has this address: choose another' in r.text
            and '<a href="#title">title</a>: give the title' in r.text)
    r = post(admin, "/admin/support/new", {"slug": "exporting", "title": "Exporting results", "category": "Tips",
                                           "body": "Check counts.\n\n<script>alert(1)</script>"})
    assert (r.status_code, r.headers["location"]) == (303, "/hub/support/exporting")
    page = wb.client().get("/hub/support/exporting")
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in page.text and "<script>alert" not in page.text
    r = post(admin, "/admin/support/exporting/edit", {"title": "Exporting", "category": "Tips", "body": "New."})
    assert r.status_code == 303 and "<p>New.</p>" in wb.client().get("/hub/support/exporting").text
    assert admin.get("/admin/support/registration/edit").status_code == 404  # shipped articles change with the code
    r = post(admin, "/admin/support/exporting/delete", {}, form_page="/admin/support/exporting/edit")
    assert r.status_code == 422 and "tick the box to confirm the deletion" in r.text
    r = post(admin, "/admin/support/exporting/delete", {"confirm": "yes"}, form_page="/admin/support/exporting/edit")
    assert (r.status_code, r.headers["location"]) == (303, "/admin/support")
    assert wb.client().get("/hub/support/exporting").status_code == 404
    assert [a for a, _ in actions(wb)] == ["article_saved", "article_saved", "article_deleted"]


def test_an_admin_adds_an_event_listed_on_the_page_the_feed_and_the_api(wb):
    admin = make_user(wb, "admin@state.edu", admin=True).sign_in()
    r = post(admin, "/admin/events/new", {"title": "", "starts_at": "2026-03-10T15:00", "ends_at": "2026-03-10T14:00",
                                          "url": "ftp://x"})
    assert r.status_code == 422
    for field, message in (("title", "give the event&#39;s title"), ("ends_at", "the event must end after it starts"),
                           ("url", "give a web address starting with https:// (or http://)")):
        assert f'<a href="#{field}">{field}</a>: {message}' in r.text
    r = post(admin, "/admin/events/new", {"title": "Office hours", "starts_at": "2026-03-10T15:00",
                                          "ends_at": "2026-03-10T16:00", "location": "Online",
                                          "url": "https://example.org/hours", "description": "Ask anything."})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/events")
    page = wb.client().get("/hub/events")
    assert "Office hours" in page.text and "10 Mar 2026 15:00 UTC – 16:00 UTC" in page.text
    feed = wb.client().get("/hub/events.ics")
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    with wb.db.session() as session:
        event = session.scalar(select(HubEvent))
    assert f"UID:{event.uid}\r\n" in feed.text and "DTSTART:20260310T150000Z\r\n" in feed.text
    assert "SUMMARY:Office hours\r\n" in feed.text
    api = wb.client().get("/api/hub/events").json()
    assert api == [{"id": event.id, "uid": event.uid, "title": "Office hours", "description": "Ask anything.",
                    "starts_at": "2026-03-10T15:00:00Z", "ends_at": "2026-03-10T16:00:00Z", "location": "Online",
                    "url": "https://example.org/hours"}]
    assert wb.client().get("/api/hub/events?when=past").json() == []
    r = post(admin, f"/admin/events/{event.id}/edit", {"title": "Office hours (moved)", "starts_at": "2026-03-11T15:00",
                                                      "ends_at": "2026-03-11T16:00"})
    assert r.status_code == 303
    assert f"UID:{event.uid}\r\n" in wb.client().get("/hub/events.ics").text  # the same UID after the edit
    r = post(admin, f"/admin/events/{event.id}/delete", {"confirm": "yes"}, form_page=f"/admin/events/{event.id}/edit")
    assert r.status_code == 303 and "No event is planned yet." in wb.client().get("/hub/events").text
    assert [a for a, _ in actions(wb)] == ["event_saved", "event_saved", "event_deleted"]
