"""Publications: reported against a workspace the reporter belongs to, decided by an administrator, listed publicly
once approved, exported as BibTeX."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from research_workbench.hub import publications as pubs
from research_workbench.state.models import DataVersion, Publication, User, Workspace, WorkspaceMember

from ..workbench.conftest import ALL_RT, make_user


def add_workspace(wb, namespace: str, email: str, role: str = "OWNER", *, tier: str = "registered") -> int:
    with wb.db.session() as session:
        version = session.scalar(select(DataVersion).where(DataVersion.tier == tier))
        if version is None:
            version = DataVersion(name="2026Q1", tier=tier, release_number=1, cdr_path="/r", manifest_sha256="0" * 64,
                                  participant_count=1000, data_types=["ehr"], created_at=wb.clock.now)
            session.add(version)
            session.flush()
        user = session.scalar(select(User).where(User.email == email))
        ws = Workspace(namespace=namespace, name=namespace.replace("-", " ").title(), tier=tier,
                       data_version_id=version.id, purpose={}, created_by=user.id, created_at=wb.clock.now,
                       updated_at=wb.clock.now)
        session.add(ws)
        session.flush()
        session.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role=role, added_at=wb.clock.now))
        return ws.id


def _user(session, email: str) -> User:
    return session.scalar(select(User).options(selectinload(User.modules), selectinload(User.institution))
                          .where(User.email == email))


def report(wb, email: str = "ada@state.edu", **fields) -> Publication:
    values = {"title": "Social factors and diabetes control", "authors": "Ada Lovelace; Charles Babbage",
              "published_on": "2026-01-15", "doi": "10.1234/ABC.def", "venue": "Journal of Examples"}
    values.update(fields)
    services = wb.app.state.services
    with wb.db.session() as session:
        user = _user(session, email)
        access = services.evaluator.state(user, wb.clock.now)
        publication = pubs.report(session, user, access, now=wb.clock.now, **values)
        session.expunge(publication)
        return publication


def problems_of(excinfo) -> dict[str, str]:
    return {p.where: p.message for p in excinfo.value.problems}


@pytest.fixture
def people(wb):
    make_user(wb, "ada@state.edu", modules=ALL_RT)
    make_user(wb, "admin@state.edu", admin=True)
    return wb


def test_a_report_is_pending_with_a_normalised_doi_and_authors(people):
    wb = people
    publication = report(wb, doi=" https://doi.org/10.1234/ABC.def ", authors="Ada  Lovelace\n\nCharles Babbage;  ")
    assert (publication.status, publication.doi, publication.authors, publication.workspace_id) == (
        "pending", "10.1234/abc.def", "Ada Lovelace; Charles Babbage", None)
    assert publication.published_on == date(2026, 1, 15) and publication.reported_at == wb.clock.now
    with wb.db.session() as session:
        assert pubs.list_public(session) == []  # not listed until approved


def test_bad_input_is_refused_naming_every_field(people):
    with pytest.raises(pubs.PublicationError) as excinfo:
        report(people, title="  ", authors=" ; \n", published_on="2026-13-01", doi="doi:11.1/x y", venue="v" * 301)
    assert problems_of(excinfo) == {
        "title": "give the title",
        "authors": "give the authors, one per line or separated by semicolons",
        "venue": "too long: at most 300 characters (301 given)",
        "published_on": "'2026-13-01' is not a date like 2026-01-31 (YYYY-MM-DD)",
        "doi": "not a DOI: write it as 10.NNNN/suffix (e.g. 10.1000/xyz123), without spaces",
    }


def test_limits_and_a_future_date_are_refused(people):
    tomorrow = (people.clock.now + timedelta(days=1)).date().isoformat()
    with pytest.raises(pubs.PublicationError) as excinfo:
        report(people, title="t" * 501, authors="a" * 2001, published_on=tomorrow)
    assert problems_of(excinfo) == {
        "title": "too long: at most 500 characters (501 given)",
        "authors": "too long: at most 2000 characters (2001 given)",
        "published_on": "this day is in the future: report a publication once it is published",
    }
    assert report(people, published_on=people.clock.now.date().isoformat(), doi="").doi is None  # today; no DOI


def test_one_doi_is_reported_once_unless_rejected(people):
    wb = people
    first = report(wb, doi="10.1234/abc.def")
    with pytest.raises(pubs.PublicationError) as excinfo:
        report(wb, doi="doi:10.1234/ABC.DEF")
    assert problems_of(excinfo) == {
        "doi": "a publication with this DOI was already reported and awaits review (Social factors and diabetes control)"}
    with wb.db.session() as session:
        pubs.decide(session, _user(session, "admin@state.edu"), first.id, "rejected", "Not from program data.",
                    now=wb.clock.now)
    again = report(wb, doi="10.1234/abc.def")
    assert again.status == "pending"


def test_reporting_against_a_workspace_needs_membership_and_its_tier(people):
    wb = people
    make_user(wb, "bob@state.edu", modules=ALL_RT)
    ws_id = add_workspace(wb, "diabetes-study", "ada@state.edu", "READER")
    add_workspace(wb, "bobs-study", "bob@state.edu")
    assert report(wb, workspace="diabetes-study").workspace_id == ws_id
    for namespace in ("bobs-study", "no-such-workspace"):
        with pytest.raises(pubs.PublicationError) as excinfo:
            report(wb, workspace=namespace, doi="")
        assert problems_of(excinfo) == {"workspace": "choose one of your workspaces (or none)"}
    # a member who lacks the workspace's tier cannot name it
    add_workspace(wb, "genomes", "ada@state.edu", tier="controlled")
    with pytest.raises(pubs.PublicationError) as excinfo:
        report(wb, workspace="genomes", doi="")
    assert list(problems_of(excinfo)) == ["workspace"]


def test_only_admins_decide_and_a_rejection_needs_a_note(people):
    wb = people
    publication = report(wb)
    with wb.db.session() as session:
        with pytest.raises(pubs.PublicationForbidden):
            pubs.decide(session, _user(session, "ada@state.edu"), publication.id, "approved", now=wb.clock.now)
        admin = _user(session, "admin@state.edu")
        with pytest.raises(pubs.PublicationError) as excinfo:
            pubs.decide(session, admin, publication.id, "rejected", "no", now=wb.clock.now)
        assert problems_of(excinfo) == {
            "note": "say why it is rejected (at least 5 characters): the researcher sees it"}
        with pytest.raises(pubs.PublicationError) as excinfo:
            pubs.decide(session, admin, publication.id, "maybe", now=wb.clock.now)
        assert problems_of(excinfo) == {"decision": "choose approve or reject"}
        with pytest.raises(pubs.PublicationNotFound):
            pubs.decide(session, admin, 999, "approved", now=wb.clock.now)
        decided = pubs.decide(session, admin, publication.id, "approved", now=wb.clock.now)
        assert (decided.status, decided.decided_by, decided.decided_at, decided.decision_note) == (
            "approved", admin.id, wb.clock.now, None)


def test_the_public_list_is_approved_only_newest_first_with_search_and_year(people):
    wb = people
    ids = {}
    for key, title, day, authors in (("old", "Sleep and steps", "2024-05-01", "Grace Hopper"),
                                     ("new", "Statins in older adults", "2026-02-01", "Ada Lovelace"),
                                     ("mid", "Wearables and sleep", "2025-07-09", "Katherine Johnson"),
                                     ("pending", "Sleep, pending", "2026-02-02", "Ada Lovelace")):
        ids[key] = report(wb, title=title, published_on=day, authors=authors, doi="").id
    with wb.db.session() as session:
        admin = _user(session, "admin@state.edu")
        for key in ("old", "new", "mid"):
            pubs.decide(session, admin, ids[key], "approved", now=wb.clock.now)
    with wb.db.session() as session:
        titles = lambda found: [p.title for p in found]  # noqa: E731
        assert titles(pubs.list_public(session)) == ["Statins in older adults", "Wearables and sleep", "Sleep and steps"]
        assert titles(pubs.list_public(session, "SLEEP")) == ["Wearables and sleep", "Sleep and steps"]
        assert titles(pubs.list_public(session, "sleep johnson")) == ["Wearables and sleep"]
        assert titles(pubs.list_public(session, "", 2024)) == ["Sleep and steps"]
        assert titles(pubs.list_public(session, "100%_")) == []  # LIKE wildcards are literal
        assert pubs.public_years(session) == [2026, 2025, 2024]


def _publication(title: str, authors: str, day: date, venue: str | None, doi: str | None) -> Publication:
    return Publication(title=title, authors=authors, published_on=day, venue=venue, doi=doi, status="approved")


def test_bibtex_escapes_special_characters_one_article_per_entry():
    entries = [
        _publication("The Analytical Engine & 100% of {Notes}: a_b #1 $x$ ~ ^ \\path",
                     "Ada Lovelace; Babbage, Charles", date(2025, 3, 7), "Proc. R&D", "10.1234/abc-(1)_x"),
        _publication("Ölçüm: ağ analizi", "Gülşen Çelik", date(2024, 11, 30), None, None),
    ]
    assert pubs.bibtex(entries) == (
        "@article{lovelace2025analytical,\n"
        "  author = {Ada Lovelace and Babbage, Charles},\n"
        "  title = {The Analytical Engine \\& 100\\% of \\{Notes\\}: a\\_b \\#1 \\$x\\$ \\textasciitilde{} "
        "\\textasciicircum{} \\textbackslash{}path},\n"
        "  journal = {Proc. R\\&D},\n"
        "  year = {2025},\n"
        "  month = mar,\n"
        "  doi = {10.1234/abc-(1)_x},\n"
        "}\n"
        "\n"
        "@article{celik2024olcum,\n"
        "  author = {Gülşen Çelik},\n"
        "  title = {Ölçüm: ağ analizi},\n"
        "  year = {2024},\n"
        "  month = nov,\n"
        "}\n"
    )


def test_bibtex_keys_stay_unique_within_an_export():
    same = [_publication("A study of sleep", "Ada Lovelace", date(2025, 1, 1), None, None) for _ in range(3)]
    keys = [line for line in pubs.bibtex(same).splitlines() if line.startswith("@")]
    assert keys == ["@article{lovelace2025study,", "@article{lovelace2025studyb,", "@article{lovelace2025studyc,"]
    assert pubs.bibtex([]) == ""


def test_doi_normalising_and_checking():
    problems: list = []
    assert pubs.check_doi("https://dx.doi.org/10.1000/XYZ123", problems) == "10.1000/xyz123"
    assert pubs.check_doi("10.1000.5/a{b}", problems) == "10.1000.5/a{b}"
    assert [p.where for p in problems] == ["doi"]  # braces never occur in DOIs and would break BibTeX
