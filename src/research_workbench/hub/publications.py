"""Publications researchers report against their work: reported by a signed-in researcher (against one of their
workspaces, or none), approved or rejected by an administrator, and public on the Research Hub once approved, with
a search, a year filter and a BibTeX export.

A reported publication names its title (at most 500 characters), its authors (at most 2,000 characters, one per
line or separated by semicolons; stored as ``"A; B; C"``), its venue (optional), the day it was published (not in
the future) and its DOI (optional). A DOI is normalised (a ``https://doi.org/`` or ``doi:`` prefix dropped, lower
case: DOIs are case-insensitive) and must look like ``10.NNNN/suffix``; one DOI is reported once among the
publications not rejected, so a duplicate report is refused naming the one it duplicates.

Reporting against a workspace needs membership of it (any role) and its tier, checked by the one role check
(``workspaces.roles.require``). Reporting is allowed while the workspace is locked: it reads no data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ..accounts.access import AccessState
from ..cdr.problems import Problem, ProblemsError, iso_date
from ..state.models import Publication, User
from ..workspaces import roles

TITLE_MAX, AUTHORS_MAX, VENUE_MAX, DOI_MAX, NOTE_MAX = 500, 2000, 300, 200, 1000
QUERY_MAX = 200
STATUSES = ("pending", "approved", "rejected")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# ``10.`` + a registrant code of 4 to 9 digits (sub-codes after a dot allowed) + ``/`` + a suffix without spaces.
# Braces, backslashes and quotes never occur in real DOIs and would break the BibTeX ``doi`` field: refused.
_DOI = re.compile(r"10\.\d{4,9}(?:\.\d+)*/[^\s{}\\\"]+")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")
_AUTHOR_SPLIT = re.compile(r"[;\n\r]+")


class PublicationError(ProblemsError):
    heading = "invalid publication"


class PublicationNotFound(LookupError):
    pass


class PublicationForbidden(PermissionError):
    pass


# -- checking input ---------------------------------------------------------------------------------------------

def normalise_doi(value: str) -> str:
    """``value`` without a resolver prefix, trimmed and in lower case (not checked: see ``check_doi``)."""
    doi = value.strip()
    lowered = doi.lower()
    for prefix in _DOI_PREFIXES:
        if lowered.startswith(prefix):
            doi = doi[len(prefix):].strip()
            break
    return doi.lower()


def check_doi(value: str, problems: list[Problem], where: str = "doi") -> str | None:
    """The normalised DOI, ``None`` when empty; a problem unless it looks like ``10.NNNN/suffix``."""
    if not value.strip():
        return None
    doi = normalise_doi(value)
    if len(doi) > DOI_MAX:
        problems.append(Problem(f"too long: at most {DOI_MAX} characters ({len(doi)} given)", where))
    elif not _DOI.fullmatch(doi):
        problems.append(Problem("not a DOI: write it as 10.NNNN/suffix (e.g. 10.1000/xyz123), without spaces",
                                where))
    return doi


def split_authors(text: str) -> list[str]:
    """The authors of ``"A; B"`` or one per line, each trimmed with inner spaces collapsed, empty ones dropped."""
    return [" ".join(a.split()) for a in _AUTHOR_SPLIT.split(text) if a.strip()]


def _text(value: str, where: str, maximum: int, problems: list[Problem], *, required: bool,
          what: str) -> str | None:
    text = " ".join(value.split())
    if not text:
        if required:
            problems.append(Problem(f"give the {what}", where))
        return None
    if len(text) > maximum:
        problems.append(Problem(f"too long: at most {maximum} characters ({len(text)} given)", where))
    return text


def parse_date(value: date | str, problems: list[Problem], where: str = "published_on") -> date | None:
    if isinstance(value, date):
        return value
    return iso_date(value, where, problems, required=True, missing="give the day it was published (YYYY-MM-DD)")


def _doi_taken(session: Session, doi: str, except_id: int | None = None) -> Publication | None:
    query = select(Publication).where(Publication.doi == doi, Publication.status != "rejected")
    if except_id is not None:
        query = query.where(Publication.id != except_id)
    return session.scalars(query.order_by(Publication.id).limit(1)).first()


# -- reporting and deciding -------------------------------------------------------------------------------------

def report(session: Session, user: User, access: AccessState, *, title: str, authors: str,
           published_on: date | str, doi: str = "", venue: str = "", workspace: str | None = None,
           now: datetime) -> Publication:
    """Record a publication ``user`` reports, pending an administrator's decision.

    ``workspace`` is a workspace's namespace (or ``None``/empty): the user must be a member with its tier.
    ``PublicationError`` names every refused field at once (``title``, ``authors``, ``published_on``, ``doi``,
    ``venue``, ``workspace``); nothing is written then.
    """
    problems: list[Problem] = []
    title_ = _text(title, "title", TITLE_MAX, problems, required=True, what="title")
    names = split_authors(authors)
    joined = "; ".join(names)
    if not names:
        problems.append(Problem("give the authors, one per line or separated by semicolons", "authors"))
    elif len(joined) > AUTHORS_MAX:
        problems.append(Problem(f"too long: at most {AUTHORS_MAX} characters ({len(joined)} given)", "authors"))
    venue_ = _text(venue, "venue", VENUE_MAX, problems, required=False, what="venue")
    day = parse_date(published_on, problems)
    if day is not None and day > now.date():
        problems.append(Problem("this day is in the future: report a publication once it is published",
                                "published_on"))
    doi_ = check_doi(doi, problems)
    if doi_ is not None and not any(p.where == "doi" for p in problems):
        taken = _doi_taken(session, doi_)
        if taken is not None:
            state = "is already listed" if taken.status == "approved" else "was already reported and awaits review"
            problems.append(Problem(f"a publication with this DOI {state} ({taken.title[:80]})", "doi"))
    workspace_id = None
    if workspace:
        try:
            membership = roles.require(session, workspace, user, access, roles.Role.READER, about_page=True)
            workspace_id = membership.workspace.id
        except (roles.WorkspaceNotFound, roles.WorkspaceForbidden):
            problems.append(Problem("choose one of your workspaces (or none)", "workspace"))
    if problems:
        raise PublicationError(problems)
    publication = Publication(workspace_id=workspace_id, title=title_, doi=doi_, authors=joined, venue=venue_,
                              published_on=day, reported_by=user.id, reported_at=now, status="pending")
    session.add(publication)
    session.flush()
    return publication


def decide(session: Session, admin: User, publication_id: int, decision: str, note: str = "", *,
           now: datetime) -> Publication:
    """Approve (listed publicly) or reject a publication; an administrator's call, with an optional note (a
    rejection needs one: it tells the researcher why). An approved publication may later be rejected (taken off
    the list); approving a rejected one checks its DOI is not listed meanwhile."""
    if not admin.is_admin:
        raise PublicationForbidden("only administrators decide on publications")
    publication = session.get(Publication, publication_id)
    if publication is None:
        raise PublicationNotFound(publication_id)
    problems: list[Problem] = []
    if decision not in ("approved", "rejected"):
        problems.append(Problem("choose approve or reject", "decision"))
    note_ = note.strip()
    if len(note_) > NOTE_MAX:
        problems.append(Problem(f"too long: at most {NOTE_MAX} characters ({len(note_)} given)", "note"))
    if decision == "rejected" and len(note_) < 5:
        problems.append(Problem("say why it is rejected (at least 5 characters): the researcher sees it", "note"))
    if decision == publication.status:
        problems.append(Problem(f"this publication is already {decision}", "decision"))
    if decision == "approved" and publication.doi and _doi_taken(session, publication.doi, publication.id):
        problems.append(Problem("another publication with this DOI is listed or awaits review", "decision"))
    if problems:
        raise PublicationError(problems)
    publication.status = decision
    publication.decided_by, publication.decided_at = admin.id, now
    publication.decision_note = note_ or None
    session.flush()
    return publication


# -- reading ----------------------------------------------------------------------------------------------------

def _like(words: str) -> str:
    return "%" + words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered(query: Select, q: str, year: int | None) -> Select:
    for word in q.split()[:12]:
        pattern = _like(word)
        query = query.where(or_(*(func.lower(column).like(pattern, escape="\\") for column in
                                  (Publication.title, Publication.authors, Publication.venue, Publication.doi))))
    if year is not None:
        query = query.where(Publication.published_on >= date(year, 1, 1),
                            Publication.published_on <= date(year, 12, 31))
    return query


def list_public(session: Session, q: str = "", year: int | None = None) -> list[Publication]:
    """Approved publications, newest first; ``q``: every word in the title, authors, venue or DOI (any case);
    ``year``: published that year."""
    query = select(Publication).where(Publication.status == "approved")
    query = _filtered(query, q[:QUERY_MAX], year)
    return list(session.scalars(query.order_by(Publication.published_on.desc(), Publication.id.desc())))


def public_years(session: Session) -> list[int]:
    """The years of approved publications, newest first (the year filter's choices)."""
    days = session.scalars(select(Publication.published_on).where(Publication.status == "approved"))
    return sorted({d.year for d in days}, reverse=True)


def for_review(session: Session, status: str = "pending") -> list[Publication]:
    """Publications with ``status``: pending ones oldest first (first come, first reviewed), others newest first."""
    query = select(Publication).where(Publication.status == status)
    if status == "pending":
        return list(session.scalars(query.order_by(Publication.reported_at, Publication.id)))
    return list(session.scalars(query.order_by(Publication.decided_at.desc(), Publication.id.desc()).limit(200)))


def reported_by(session: Session, user: User) -> list[Publication]:
    return list(session.scalars(select(Publication).where(Publication.reported_by == user.id)
                                .order_by(Publication.reported_at.desc(), Publication.id.desc())))


# -- BibTeX -----------------------------------------------------------------------------------------------------

_LATEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SKIPPED_WORDS = {"a", "an", "the"}


def latex_escape(text: str) -> str:
    """``text`` safe inside a braced BibTeX field: LaTeX's special characters written as commands (braces stay
    balanced whatever the input); other characters, accented letters included, are kept as UTF-8."""
    return "".join(_LATEX.get(ch, ch) for ch in " ".join(text.split()))


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def family_name(author: str) -> str:
    """``Lovelace`` of ``Ada Lovelace`` or of ``Lovelace, Ada``."""
    author = author.strip()
    if "," in author:
        return author.split(",", 1)[0].strip()
    parts = author.split()
    return parts[-1] if parts else ""


def citation_key(publication: Publication) -> str:
    """First author's family name + year + first word of the title (skipping a, an, the), in ASCII lower case:
    ``lovelace1843sketch``. ``anonymous`` or ``untitled`` stand in for a part with no letters or digits."""
    authors = split_authors(publication.authors)
    name = _ascii_word(family_name(authors[0])) if authors else ""
    words = [w for w in (_ascii_word(w) for w in publication.title.split()) if w]
    significant = [w for w in words if w not in _SKIPPED_WORDS] or words
    return f"{name or 'anonymous'}{publication.published_on.year}{significant[0] if significant else 'untitled'}"


def bibtex(publications: Iterable[Publication]) -> str:
    """One ``@article`` per publication, in the given order, separated by blank lines. Keys repeated within the
    export get ``b``, ``c``… appended (the first keeps the plain key)."""
    entries, used = [], {}
    for publication in publications:
        key = citation_key(publication)
        seen = used.get(key, 0)
        used[key] = seen + 1
        if seen:
            key += _suffix(seen)
        fields = [("author", latex_escape(" and ".join(split_authors(publication.authors)))),
                  ("title", latex_escape(publication.title))]
        if publication.venue:
            fields.append(("journal", latex_escape(publication.venue)))
        fields.append(("year", str(publication.published_on.year)))
        lines = [f"@article{{{key},"] + [f"  {name} = {{{value}}}," for name, value in fields]
        lines.append(f"  month = {MONTHS[publication.published_on.month - 1]},")
        if publication.doi:
            lines.append(f"  doi = {{{publication.doi}}},")
        lines.append("}")
        entries.append("\n".join(lines) + "\n")
    return "\n".join(entries)


def _suffix(n: int) -> str:
    """The suffix of the ``n``-th repeat of a key: 1 → b, 2 → c, … 25 → z, then 27, 28…"""
    return "abcdefghijklmnopqrstuvwxyz"[n] if n < 26 else str(n + 1)
