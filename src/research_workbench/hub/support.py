"""The support hub: articles written in Markdown, searchable, shipped with the app and extended by administrators.

Shipped articles are the files ``hub/articles/<slug>.md``. Each starts with a few ``key: value`` lines (``title``,
``category``, ``order``), a blank line, then the Markdown body. Administrators add articles of their own
(``SupportArticle`` rows): their slugs may not reuse a shipped one, and the shipped articles are not edited from
the app (they change with the code, reviewed like it).

Markdown is rendered by markdown-it-py's CommonMark preset with raw HTML off: an ``<script>`` in a body comes out
as text. Links and images must be ``http``, ``https``, ``mailto`` or relative; anything else (``javascript:``,
``data:``, ``file:``…) is left as plain text.

Search is plain Python over the small article set, so it works the same on SQLite and PostgreSQL: every word of
the query must appear (any case) in the title or body; articles with more query words in their title come first,
then those where the words occur more often, then the hub's usual order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cdr.problems import Problem, ProblemsError
from ..state.models import SupportArticle, User

ARTICLES = Path(__file__).parent / "articles"
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?")
TITLE_MAX, CATEGORY_MAX, BODY_MAX, QUERY_MAX = 200, 60, 50_000, 200
ADDED_ORDER = 1000  # administrators' articles come after the shipped ones within a category
_SAFE_SCHEMES = {"http", "https", "mailto"}


class ArticleError(ProblemsError):
    heading = "invalid support article"


class ArticleNotFound(LookupError):
    pass


class ArticleForbidden(PermissionError):
    pass


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    category: str
    order: int
    body: str  # Markdown
    shipped: bool
    updated_at: datetime | None = None

    @property
    def html(self) -> str:
        return render(self.body)

    @property
    def summary(self) -> str:
        """The first paragraph as plain text, at most 240 characters (the search results' excerpt)."""
        for block in self.body.split("\n\n"):
            text = block.strip()
            if text and not text.startswith("#"):
                return _plain(text, 240)
        return ""


def _plain(markdown: str, limit: int) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # [text](url) → text
    text = re.sub(r"[*_`>#]+", "", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


# -- rendering --------------------------------------------------------------------------------------------------

def safe_link(url: str) -> bool:
    """A link or image target the hub allows: http(s), mailto, or relative. Anything with a colon before its
    first ``/``, ``?`` or ``#`` has a scheme, which must be one of those three (so ``java%09script:`` is refused
    too); ``//host/…`` (another host, no scheme) is refused."""
    url = url.strip()
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    if ":" in head:
        return head.split(":", 1)[0].lower() in _SAFE_SCHEMES
    return not url.startswith("//") and not url.startswith("\\")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = safe_link
    return md


def render(markdown: str) -> str:
    """``markdown`` as HTML: raw HTML escaped, unsafe links left as text."""
    return _markdown().render(markdown)


# -- the shipped articles ---------------------------------------------------------------------------------------

def parse_article(slug: str, text: str) -> Article:
    """A shipped article file: ``title:``, ``category:`` and ``order:`` lines, a blank line, the body."""
    head, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    fields = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"{slug}.md: the first lines are 'key: value' (title, category, order): {line!r}")
        fields[key.strip().lower()] = value.strip()
    missing = [k for k in ("title", "category", "order") if not fields.get(k)]
    if missing or not sep or not body.strip():
        raise ValueError(f"{slug}.md: needs {', '.join(missing) or 'a body'}")
    return Article(slug=slug, title=fields["title"], category=fields["category"], order=int(fields["order"]),
                   body=body.strip() + "\n", shipped=True)


@lru_cache(maxsize=1)
def shipped() -> tuple[Article, ...]:
    """The articles shipped with the app, in their order."""
    found = [parse_article(path.stem, path.read_text(encoding="utf-8")) for path in ARTICLES.glob("*.md")]
    return tuple(sorted(found, key=lambda a: (a.order, a.slug)))


def shipped_slugs() -> set[str]:
    return {a.slug for a in shipped()}


def _from_row(row: SupportArticle) -> Article:
    return Article(slug=row.slug, title=row.title, category=row.category, order=ADDED_ORDER, body=row.body,
                   shipped=False, updated_at=row.updated_at)


# -- reading ----------------------------------------------------------------------------------------------------

def all_articles(session: Session) -> list[Article]:
    """Every article, shipped ones first in their order, then administrators' by title."""
    added = session.scalars(select(SupportArticle).order_by(SupportArticle.title, SupportArticle.id))
    return list(shipped()) + [_from_row(row) for row in added]


def get(session: Session, slug: str) -> Article | None:
    for article in shipped():
        if article.slug == slug:
            return article
    row = session.scalar(select(SupportArticle).where(SupportArticle.slug == slug))
    return None if row is None else _from_row(row)


def by_category(articles: list[Article]) -> list[tuple[str, list[Article]]]:
    """Articles grouped by category, the categories in the order of their first article."""
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(article.category, []).append(article)
    return list(groups.items())


def search(session: Session, q: str) -> list[Article]:
    """Articles with every word of ``q`` in their title or body (any case), best first: more query words in the
    title first, then more occurrences in all, then the usual order. An empty query gives every article."""
    words = [w for w in q[:QUERY_MAX].casefold().split()][:12]
    articles = all_articles(session)
    if not words:
        return articles
    ranked = []
    for position, article in enumerate(articles):
        title, body = article.title.casefold(), article.body.casefold()
        if all(w in title or w in body for w in words):
            title_hits = sum(w in title for w in words)
            occurrences = sum(title.count(w) + body.count(w) for w in words)
            ranked.append((-title_hits, -occurrences, position, article))
    return [entry[-1] for entry in sorted(ranked, key=lambda e: e[:3])]


# -- administrators' articles -----------------------------------------------------------------------------------

def _check(title: str, category: str, body: str, problems: list[Problem]) -> tuple[str, str, str]:
    title_ = " ".join(title.split())
    category_ = " ".join(category.split())
    body_ = body.replace("\r\n", "\n").strip()
    for value, name, maximum in ((title_, "title", TITLE_MAX), (category_, "category", CATEGORY_MAX),
                                 (body_, "body", BODY_MAX)):
        if not value:
            problems.append(Problem(f"give the {name}", name))
        elif len(value) > maximum:
            problems.append(Problem(f"too long: at most {maximum:,} characters ({len(value):,} given)", name))
    return title_, category_, body_ + "\n"


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise ArticleForbidden("only administrators change support articles")


def create(session: Session, admin: User, *, slug: str, title: str, category: str, body: str,
           now: datetime) -> SupportArticle:
    """Add an article. ``slug``: 1 to 80 lower-case letters, digits and hyphens (not at either end), not one of
    the shipped articles' and not taken."""
    _require_admin(admin)
    problems: list[Problem] = []
    slug = slug.strip()
    if not SLUG.fullmatch(slug):
        problems.append(Problem("1 to 80 lower-case letters, digits and hyphens, not starting or ending with a "
                                "hyphen", "slug"))
    elif slug in shipped_slugs():
        problems.append(Problem("an article shipped with the app has this address: choose another", "slug"))
    elif session.scalar(select(SupportArticle.id).where(SupportArticle.slug == slug)) is not None:
        problems.append(Problem("another article has this address", "slug"))
    values = _check(title, category, body, problems)
    if problems:
        raise ArticleError(problems)
    row = SupportArticle(slug=slug, title=values[0], category=values[1], body=values[2], created_by=admin.id,
                         created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def _added(session: Session, slug: str) -> SupportArticle:
    row = session.scalar(select(SupportArticle).where(SupportArticle.slug == slug))
    if row is None:
        raise ArticleNotFound(slug)
    return row


def update(session: Session, admin: User, slug: str, *, title: str, category: str, body: str,
           now: datetime) -> SupportArticle:
    """Change an administrator's article (its slug stays: it is the article's address)."""
    _require_admin(admin)
    row = _added(session, slug)
    problems: list[Problem] = []
    values = _check(title, category, body, problems)
    if problems:
        raise ArticleError(problems)
    row.title, row.category, row.body = values
    row.updated_at = now
    session.flush()
    return row


def delete(session: Session, admin: User, slug: str) -> SupportArticle:
    _require_admin(admin)
    row = _added(session, slug)
    session.delete(row)
    session.flush()
    return row


def added_article(session: Session, slug: str) -> SupportArticle | None:
    """An administrator's article (``None`` for a shipped or unknown slug)."""
    return session.scalar(select(SupportArticle).where(SupportArticle.slug == slug))
