"""The support hub: the shipped Markdown articles, administrators' articles, safe rendering and search."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from research_workbench.hub import support
from research_workbench.state.models import User

from ..workbench.conftest import make_user

SHIPPED = ["getting-started", "registration", "access-tiers", "cohort-builder", "dataset-builder", "notebooks",
           "data-curation-and-privacy"]


@pytest.fixture
def admin(wb):
    make_user(wb, "admin@state.edu", admin=True)
    make_user(wb, "ada@state.edu")
    return wb


def _user(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def add(wb, slug: str, title: str, body: str, category: str = "Tips"):
    with wb.db.session() as session:
        return support.create(session, _user(session, "admin@state.edu"), slug=slug, title=title, category=category,
                              body=body, now=wb.clock.now)


def test_the_shipped_articles_are_whole_and_in_order():
    articles = support.shipped()
    assert [a.slug for a in articles] == SHIPPED
    assert [a.category for a in articles] == ["Getting started", "Registration and access", "Registration and access",
                                              "Tools", "Tools", "Tools", "Data and privacy"]
    for article in articles:
        words = len(article.body.split())
        assert 200 <= words <= 500, (article.slug, words)
        assert article.shipped and article.title and not article.body.startswith("title:")
    privacy = {a.slug: a for a in articles}["data-curation-and-privacy"].body
    for fact in ("1 to 19", "1 to 364 days", "research ids", "multiple of 20"):
        assert fact in privacy


def test_every_link_in_a_shipped_article_goes_somewhere_the_app_serves():
    import re

    known = {"/access", "/institutions", "/account/tokens", "/hub/projects", "/hub/publications", "/hub/events",
             "/hub/support", "/hub/publications/report", "/workspaces"} | {f"/hub/support/{s}" for s in SHIPPED}
    for article in support.shipped():
        for target in re.findall(r"\]\(([^)]+)\)", article.body):
            assert target in known, (article.slug, target)


def test_markdown_refuses_raw_html_and_unsafe_links():
    html = support.render("# Hi\n\n<script>alert(1)</script>\n\n<b onclick=\"x()\">bold</b> "
                          "[ok](https://example.org) [mail](mailto:help@example.org) [here](/hub/support) "
                          "[bad](javascript:alert(1)) [tab](java%09script:alert(1)) [other](//evil.example/x) "
                          "![img](data:image/png;base64,AAAA)")
    assert html == (
        "<h1>Hi</h1>\n"
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        "<p>&lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt; <a href=\"https://example.org\">ok</a> "
        "<a href=\"mailto:help@example.org\">mail</a> <a href=\"/hub/support\">here</a> "
        "[bad](javascript:alert(1)) [tab](java%09script:alert(1)) [other](//evil.example/x) "
        "![img](data:image/png;base64,AAAA)</p>\n")


def test_an_admins_article_is_added_read_changed_and_deleted(admin):
    wb = admin
    add(wb, "exporting-results", "Exporting results", "Check counts <script>x</script> before export.\n")
    with wb.db.session() as session:
        article = support.get(session, "exporting-results")
        assert (article.title, article.category, article.shipped, article.order) == (
            "Exporting results", "Tips", False, support.ADDED_ORDER)
        assert article.html == "<p>Check counts &lt;script&gt;x&lt;/script&gt; before export.</p>\n"
        assert [a.slug for a in support.all_articles(session)] == SHIPPED + ["exporting-results"]
        support.update(session, _user(session, "admin@state.edu"), "exporting-results", title="Exporting",
                       category="Tools", body="New body.", now=wb.clock.now)
    with wb.db.session() as session:
        assert (support.get(session, "exporting-results").title, support.get(session, "exporting-results").body) == (
            "Exporting", "New body.\n")
        support.delete(session, _user(session, "admin@state.edu"), "exporting-results")
    with wb.db.session() as session:
        assert support.get(session, "exporting-results") is None
        with pytest.raises(support.ArticleNotFound):
            support.delete(session, _user(session, "admin@state.edu"), "registration")  # shipped: not deletable


def test_an_article_is_refused_naming_each_field(admin):
    wb = admin
    add(wb, "taken", "Taken", "Body")
    for slug, expected in (("registration", "an article shipped with the app has this address: choose another"),
                           ("taken", "another article has this address"),
                           ("Bad Slug", "1 to 80 lower-case letters, digits and hyphens, not starting or ending "
                                        "with a hyphen"),
                           ("-x", "1 to 80 lower-case letters, digits and hyphens, not starting or ending with a "
                                  "hyphen")):
        with pytest.raises(support.ArticleError) as excinfo:
            add(wb, slug, "t" * 201, "", category="")
        assert {p.where: p.message for p in excinfo.value.problems} == {
            "slug": expected, "title": "too long: at most 200 characters (201 given)",
            "category": "give the category", "body": "give the body"}


def test_only_admins_change_articles(admin):
    wb = admin
    with wb.db.session() as session, pytest.raises(support.ArticleForbidden):
        support.create(session, _user(session, "ada@state.edu"), slug="x", title="x", category="x", body="x",
                       now=wb.clock.now)


def test_search_is_case_insensitive_all_words_and_ranks_title_hits_first(admin):
    wb = admin
    add(wb, "sleep-in-body", "Wearables", "Sleep sleep sleep sleep sleep sleep: sleep data from wearables.")
    add(wb, "sleep-in-title", "Sleep data", "What the devices record.")
    with wb.db.session() as session:
        slugs = lambda q: [a.slug for a in support.search(session, q)]  # noqa: E731
        assert slugs("SLEEP")[:2] == ["sleep-in-title", "sleep-in-body"]  # the title hit first, despite fewer hits
        assert slugs("sleep devices") == ["sleep-in-title"]  # every word must appear
        assert slugs("date shifting")[0] == "data-curation-and-privacy"
        assert slugs("cohort builder")[0] == "cohort-builder"
        assert slugs("") == SHIPPED + ["sleep-in-title", "sleep-in-body"]  # then administrators' by title
        assert slugs("zzzz-no-such-word") == []


def test_a_shipped_article_file_needs_its_header():
    with pytest.raises(ValueError, match="needs order"):
        support.parse_article("x", "title: X\ncategory: Y\n\nBody")
    article = support.parse_article("x", "title: X\ncategory: Y\norder: 5\n\nBody *here*.\n")
    assert (article.title, article.category, article.order, article.body, article.summary) == (
        "X", "Y", 5, "Body *here*.\n", "Body here.")
