"""The Research Hub's pages and API: publications (reported by researchers, approved by administrators, listed and
exported as BibTeX), the support hub's articles (shipped with the app, extended by administrators) and the events
calendar (with an iCalendar feed). The Hub's home links these, the Research Projects Directory and the
institutions directory.

The Hub shows no participant statistics of its own: counts of participants are the Data Browser's, from the
public aggregates, where the small-count rule is applied once for everything public.

Guards: the pages and the ``/api/hub/*`` API are public; reporting a publication needs a signed-in account (the
workspace it names is checked by the workspace role check); the administration pages need ``Access.ADMIN``. Every
change is audited in the transaction that makes it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.exceptions import HTTPException

from ...accounts.audit import AuditAction
from ...accounts.modules import Tier
from ...cdr.problems import Problem
from ...hub import events as hub_events
from ...hub import publications as pubs
from ...hub import support
from ...state.models import HubEvent, Publication, User, Workspace, WorkspaceMember
from ...web import ERROR_RESPONSES, QueryInt, SecureRouter
from ..forms import FieldErrors, read_form
from ..guards import Access, requires
from ..rendering import page, see_other

router = SecureRouter(include_in_schema=False)
api_router = SecureRouter(prefix="/api/hub", tags=["research hub"], responses=ERROR_RESPONSES)
PUBLIC = [requires(Access.PUBLIC)]
SIGNED_IN = [requires(Access.SIGNED_IN)]
ADMIN = [requires(Access.ADMIN)]

ItemId = Annotated[QueryInt, Path(alias="id", ge=1, le=2**31 - 1)]  # "/{id}": the matrix test's sample
Slug = Annotated[str, Path(min_length=1, max_length=80)]
SearchText = Annotated[str, Query(max_length=200)]
_YEAR = re.compile(r"\d{4}")
PUBLICATION_FIELDS = ("title", "authors", "venue", "published_on", "doi", "workspace")
ARTICLE_FIELDS = ("slug", "title", "category", "body")
EVENT_FIELDS = ("title", "description", "starts_at", "ends_at", "location", "url")
PAST_EVENTS_SHOWN = 50


def _services(request: Request):
    return request.app.state.services


def _viewer(request: Request):
    return request.state.viewer


def _admin(session, request: Request) -> User:
    """The administrator, loaded in this session (the viewer's user is detached)."""
    return session.get(User, _viewer(request).user.id)


def _audit(session, request: Request, action: AuditAction, details: dict[str, Any]) -> None:
    viewer = _viewer(request)
    _services(request).audit.append(session, action, actor_id=viewer.user.id, ip=viewer.ip, details=details)


# -- the Hub's home ---------------------------------------------------------------------------------------------

@router.get("/hub", response_class=HTMLResponse, dependencies=PUBLIC)
def hub_home(request: Request):
    services = _services(request)
    with services.db.reading() as session:
        latest = pubs.list_public(session)[:3]
        soon = hub_events.upcoming(session, services.now())[:3]
        return page(request, "hub_home.html", latest=[_publication_view(p) for p in latest],
                    upcoming=[_event_view(e) for e in soon])


# -- publications -----------------------------------------------------------------------------------------------

def _publication_view(p: Publication, workspaces: dict[int, str] | None = None) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "authors": pubs.split_authors(p.authors), "venue": p.venue,
            "published_on": p.published_on, "doi": p.doi, "status": p.status, "note": p.decision_note,
            "workspace": (workspaces or {}).get(p.workspace_id) if p.workspace_id else None}


def _workspace_names(session, ids: set[int | None]) -> dict[int, str]:
    """Names of the (not deleted) workspaces publications were reported against."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Workspace.id, Workspace.name)
                           .where(Workspace.id.in_(wanted), Workspace.deleted_at.is_(None)))
    return dict(rows.all())


def _year_of(text: str) -> tuple[int | None, list[Problem]]:
    text = text.strip()
    if not text:
        return None, []
    if not _YEAR.fullmatch(text):
        return None, [Problem("a year is four digits, e.g. 2026", "year")]
    return int(text), []


@router.get("/hub/publications", response_class=HTMLResponse, dependencies=PUBLIC)
def publications_page(request: Request, q: SearchText = "", year: Annotated[str, Query(max_length=10)] = ""):
    year_, problems = _year_of(year)
    with _services(request).db.reading() as session:
        found = pubs.list_public(session, q, year_) if not problems else []
        names = _workspace_names(session, {p.workspace_id for p in found})
        years = pubs.public_years(session)
        return page(request, "hub_publications.html", status=422 if problems else 200,
                    publications=[_publication_view(p, names) for p in found], q=q, year=year,
                    years=[(str(y), str(y)) for y in years], errors=FieldErrors.of_problems(problems),
                    filtered=bool(q.strip() or year_))


@router.get("/hub/publications.bib", dependencies=PUBLIC)
def publications_bibtex(request: Request, q: SearchText = "", year: Annotated[str, Query(max_length=10)] = ""):
    """The approved publications (filtered like the list) as BibTeX."""
    year_, problems = _year_of(year)
    if problems:
        raise HTTPException(422, problems[0].message)
    with _services(request).db.reading() as session:
        text = pubs.bibtex(pubs.list_public(session, q, year_))
    return Response(text.encode("utf-8"), media_type="application/x-bibtex; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="publications.bib"'})


def _my_workspaces(session, request: Request) -> list[tuple[str, str]]:
    """(namespace, name) of the viewer's workspaces they may use: not deleted, and of a tier they hold."""
    viewer = _viewer(request)
    granted = {t.value for t in Tier if viewer.access is not None and t in viewer.access.granted}
    rows = session.execute(select(Workspace.namespace, Workspace.name, Workspace.tier)
                           .join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
                           .where(WorkspaceMember.user_id == viewer.user.id, Workspace.deleted_at.is_(None))
                           .order_by(Workspace.name, Workspace.namespace))
    return [(ns, name) for ns, name, tier in rows if tier in granted]


def _report_page(request: Request, session, *, values: dict[str, str], errors: FieldErrors, status: int = 200):
    user = session.get(User, _viewer(request).user.id)
    mine = [_publication_view(p) for p in pubs.reported_by(session, user)]
    return page(request, "hub_publication_report.html", status=status, values=values, errors=errors,
                workspaces=_my_workspaces(session, request), mine=mine, today=_services(request).now().date())


@router.get("/hub/publications/report", response_class=HTMLResponse, dependencies=SIGNED_IN)
def report_form(request: Request, workspace: Annotated[str, Query(max_length=80)] = ""):
    with _services(request).db.reading() as session:
        return _report_page(request, session, values={"workspace": workspace}, errors=FieldErrors())


@router.post("/hub/publications/report", response_class=HTMLResponse, dependencies=SIGNED_IN)
async def report_post(request: Request):
    services, viewer = _services(request), _viewer(request)
    services.limits.hit("forms", viewer.ip)
    form = await read_form(request)
    values = {k: form.get(k) for k in PUBLICATION_FIELDS}
    try:
        with services.db.session() as session:
            user = session.get(User, viewer.user.id)
            publication = pubs.report(session, user, viewer.access, title=values["title"],
                                      authors=values["authors"], venue=values["venue"],
                                      published_on=values["published_on"], doi=values["doi"],
                                      workspace=values["workspace"] or None, now=services.now())
            _audit(session, request, AuditAction.PUBLICATION_REPORTED,
                   {"publication_id": publication.id, "doi": publication.doi, "title": publication.title[:200],
                    "workspace_id": publication.workspace_id})
    except pubs.PublicationError as err:
        with services.db.reading() as session:
            return _report_page(request, session, values=values, errors=FieldErrors.of_problems(err.problems),
                                status=422)
    viewer.flash("Thank you: your publication was sent for review. It is listed on the Research Hub once an "
                 "administrator approves it.")
    return see_other("/hub/publications/report")


def _admin_publications_page(request: Request, *, failed: int | None = None, errors: FieldErrors | None = None,
                             values: dict[str, str] | None = None, status: int = 200):
    with _services(request).db.reading() as session:
        groups = {status_: pubs.for_review(session, status_) for status_ in pubs.STATUSES}
        everyone = [p for ps in groups.values() for p in ps]
        names = _workspace_names(session, {p.workspace_id for p in everyone})
        wanted = {p.reported_by for p in everyone}
        people = dict(session.execute(select(User.id, User.email).where(User.id.in_(wanted))).all()) if wanted else {}
        views = {status_: [{**_publication_view(p, names), "reported_by": people.get(p.reported_by),
                            "reporter_id": p.reported_by, "reported_at": p.reported_at, "decided_at": p.decided_at}
                           for p in ps]
                 for status_, ps in groups.items()}
    return page(request, "hub_admin_publications.html", status=status, groups=views, failed=failed,
                errors=errors or FieldErrors(), values=values or {})


@router.get("/admin/publications", response_class=HTMLResponse, dependencies=ADMIN)
def admin_publications(request: Request):
    return _admin_publications_page(request)


@router.post("/admin/publications/{id}/decision", response_class=HTMLResponse, dependencies=ADMIN)
async def admin_publication_decision(request: Request, publication_id: ItemId):
    services = _services(request)
    form = await read_form(request)
    decision, note = form.get("decision"), form.get("note")
    try:
        with services.db.session() as session:
            publication = pubs.decide(session, _admin(session, request), publication_id, decision, note,
                                      now=services.now())
            _audit(session, request, AuditAction.PUBLICATION_DECIDED,
                   {"publication_id": publication.id, "decision": decision, "note": publication.decision_note,
                    "doi": publication.doi})
            title = publication.title
    except pubs.PublicationNotFound:
        raise HTTPException(404) from None
    except pubs.PublicationError as err:
        return _admin_publications_page(request, failed=publication_id, errors=FieldErrors.of_problems(err.problems),
                                        values={"decision": decision, "note": note}, status=422)
    _viewer(request).flash(f"“{title[:80]}” is now {decision}.")
    return see_other("/admin/publications")


# -- support ----------------------------------------------------------------------------------------------------

@router.get("/hub/support", response_class=HTMLResponse, dependencies=PUBLIC)
def support_page(request: Request, q: SearchText = ""):
    with _services(request).db.reading() as session:
        found = support.search(session, q)
    return page(request, "hub_support.html", q=q, results=found if q.strip() else None,
                groups=support.by_category(found) if not q.strip() else [])


@router.get("/hub/support/{slug}", response_class=HTMLResponse, dependencies=PUBLIC)
def article_page(request: Request, slug: Slug):
    with _services(request).db.reading() as session:
        article = support.get(session, slug)
        if article is None:
            raise HTTPException(404)
        related = [a for a in support.all_articles(session) if a.category == article.category and a.slug != slug]
    return page(request, "hub_article.html", article=article, related=related)


def _article_form(request: Request, *, values: dict[str, str], existing: str | None, errors: FieldErrors,
                  status: int = 200):
    return page(request, "hub_admin_article_form.html", status=status, values=values, existing=existing,
                errors=errors, categories=sorted({a.category for a in support.shipped()}))


@router.get("/admin/support", response_class=HTMLResponse, dependencies=ADMIN)
def admin_support(request: Request):
    with _services(request).db.reading() as session:
        articles = support.all_articles(session)
    return page(request, "hub_admin_support.html", articles=articles)


@router.get("/admin/support/new", response_class=HTMLResponse, dependencies=ADMIN)
def article_new(request: Request):
    return _article_form(request, values={}, existing=None, errors=FieldErrors())


@router.post("/admin/support/new", response_class=HTMLResponse, dependencies=ADMIN)
async def article_create(request: Request):
    services = _services(request)
    form = await read_form(request)
    values = {k: form.get(k) for k in ARTICLE_FIELDS}
    try:
        with services.db.session() as session:
            row = support.create(session, _admin(session, request), slug=values["slug"], title=values["title"],
                                 category=values["category"], body=values["body"], now=services.now())
            _audit(session, request, AuditAction.ARTICLE_SAVED,
                   {"slug": row.slug, "title": row.title, "created": True})
    except support.ArticleError as err:
        return _article_form(request, values=values, existing=None, errors=FieldErrors.of_problems(err.problems),
                             status=422)
    _viewer(request).flash(f"The article “{row.title}” was added.")
    return see_other(f"/hub/support/{row.slug}")


def _added_or_404(session, slug: str):
    row = support.added_article(session, slug)
    if row is None:
        raise HTTPException(404)  # unknown, or shipped with the app (those change with the code)
    return row


@router.get("/admin/support/{slug}/edit", response_class=HTMLResponse, dependencies=ADMIN)
def article_edit(request: Request, slug: Slug):
    with _services(request).db.reading() as session:
        row = _added_or_404(session, slug)
        values = {"slug": row.slug, "title": row.title, "category": row.category, "body": row.body}
    return _article_form(request, values=values, existing=slug, errors=FieldErrors())


@router.post("/admin/support/{slug}/edit", response_class=HTMLResponse, dependencies=ADMIN)
async def article_update(request: Request, slug: Slug):
    services = _services(request)
    form = await read_form(request)
    values = {k: form.get(k) for k in ARTICLE_FIELDS}
    values["slug"] = slug
    try:
        with services.db.session() as session:
            _added_or_404(session, slug)
            row = support.update(session, _admin(session, request), slug, title=values["title"],
                                 category=values["category"], body=values["body"], now=services.now())
            _audit(session, request, AuditAction.ARTICLE_SAVED, {"slug": slug, "title": row.title, "created": False})
    except support.ArticleError as err:
        return _article_form(request, values=values, existing=slug, errors=FieldErrors.of_problems(err.problems),
                             status=422)
    _viewer(request).flash(f"The article “{row.title}” was saved.")
    return see_other(f"/hub/support/{slug}")


@router.post("/admin/support/{slug}/delete", response_class=HTMLResponse, dependencies=ADMIN)
async def article_delete(request: Request, slug: Slug):
    services = _services(request)
    form = await read_form(request)
    with services.db.session() as session:
        row = _added_or_404(session, slug)
        if not form.checked("confirm"):
            values = {"slug": row.slug, "title": row.title, "category": row.category, "body": row.body}
            problems = [Problem("tick the box to confirm the deletion", "confirm")]
            return _article_form(request, values=values, existing=slug, status=422,
                                 errors=FieldErrors.of_problems(problems))
        title = row.title
        support.delete(session, _admin(session, request), slug)
        _audit(session, request, AuditAction.ARTICLE_DELETED, {"slug": slug, "title": title})
    _viewer(request).flash(f"The article “{title}” was deleted.")
    return see_other("/admin/support")


# -- events -----------------------------------------------------------------------------------------------------

def _event_view(e: HubEvent) -> dict[str, Any]:
    return {"id": e.id, "title": e.title, "description": e.description, "starts_at": e.starts_at,
            "ends_at": e.ends_at, "location": e.location, "url": e.url, "uid": e.uid}


@router.get("/hub/events", response_class=HTMLResponse, dependencies=PUBLIC)
def events_page(request: Request):
    services = _services(request)
    now = services.now()
    with services.db.reading() as session:
        upcoming = [_event_view(e) for e in hub_events.upcoming(session, now)]
        past = [_event_view(e) for e in hub_events.past(session, now, PAST_EVENTS_SHOWN)]
    return page(request, "hub_events.html", upcoming=upcoming, past=past, now=now)


@router.get("/hub/events.ics", dependencies=PUBLIC)
def events_feed(request: Request):
    """Every event as an iCalendar feed, for calendar apps to subscribe to."""
    services = _services(request)
    with services.db.reading() as session:
        body = hub_events.ical_feed(hub_events.all_events(session), stamp=services.now(),
                                    name=f"{services.config.program_name}: Research Hub events",
                                    base_url=services.config.base_url.rstrip("/") + "/hub/events")
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"content-disposition": 'inline; filename="events.ics"'})


def _local(value: datetime | None) -> str:
    """A UTC datetime as a ``datetime-local`` field's value."""
    return "" if value is None else value.strftime("%Y-%m-%dT%H:%M")


def _event_form(request: Request, *, values: dict[str, str], existing: int | None, errors: FieldErrors,
                status: int = 200):
    return page(request, "hub_admin_event_form.html", status=status, values=values, existing=existing,
                errors=errors)


@router.get("/admin/events", response_class=HTMLResponse, dependencies=ADMIN)
def admin_events(request: Request):
    services = _services(request)
    with services.db.reading() as session:
        events = [_event_view(e) for e in hub_events.all_events(session)]
    return page(request, "hub_admin_events.html", events=events, now=services.now())


@router.get("/admin/events/new", response_class=HTMLResponse, dependencies=ADMIN)
def event_new(request: Request):
    return _event_form(request, values={}, existing=None, errors=FieldErrors())


@router.post("/admin/events/new", response_class=HTMLResponse, dependencies=ADMIN)
async def event_create(request: Request):
    services = _services(request)
    form = await read_form(request)
    values = {k: form.get(k) for k in EVENT_FIELDS}
    try:
        with services.db.session() as session:
            event = hub_events.create(session, _admin(session, request), **values, now=services.now())
            _audit(session, request, AuditAction.EVENT_SAVED, _event_audit(event, created=True))
    except hub_events.EventError as err:
        return _event_form(request, values=values, existing=None, errors=FieldErrors.of_problems(err.problems),
                           status=422)
    _viewer(request).flash(f"The event “{event.title}” was added.")
    return see_other("/admin/events")


def _event_audit(event: HubEvent, *, created: bool) -> dict[str, Any]:
    return {"event_id": event.id, "uid": event.uid, "title": event.title, "starts_at": event.starts_at.isoformat(),
            "ends_at": event.ends_at.isoformat(), "created": created}


def _event_or_404(session, event_id: int) -> HubEvent:
    try:
        return hub_events.get(session, event_id)
    except hub_events.EventNotFound:
        raise HTTPException(404) from None


@router.get("/admin/events/{id}/edit", response_class=HTMLResponse, dependencies=ADMIN)
def event_edit(request: Request, event_id: ItemId):
    with _services(request).db.reading() as session:
        e = _event_or_404(session, event_id)
        values = {"title": e.title, "description": e.description, "starts_at": _local(e.starts_at),
                  "ends_at": _local(e.ends_at), "location": e.location or "", "url": e.url or ""}
    return _event_form(request, values=values, existing=event_id, errors=FieldErrors())


@router.post("/admin/events/{id}/edit", response_class=HTMLResponse, dependencies=ADMIN)
async def event_update(request: Request, event_id: ItemId):
    services = _services(request)
    form = await read_form(request)
    values = {k: form.get(k) for k in EVENT_FIELDS}
    try:
        with services.db.session() as session:
            _event_or_404(session, event_id)
            event = hub_events.update(session, _admin(session, request), event_id, **values)
            _audit(session, request, AuditAction.EVENT_SAVED, _event_audit(event, created=False))
    except hub_events.EventError as err:
        return _event_form(request, values=values, existing=event_id, errors=FieldErrors.of_problems(err.problems),
                           status=422)
    _viewer(request).flash(f"The event “{event.title}” was saved.")
    return see_other("/admin/events")


@router.post("/admin/events/{id}/delete", response_class=HTMLResponse, dependencies=ADMIN)
async def event_delete(request: Request, event_id: ItemId):
    services = _services(request)
    form = await read_form(request)
    with services.db.session() as session:
        event = _event_or_404(session, event_id)
        if not form.checked("confirm"):
            values = {"title": event.title, "description": event.description, "starts_at": _local(event.starts_at),
                      "ends_at": _local(event.ends_at), "location": event.location or "", "url": event.url or ""}
            problems = [Problem("tick the box to confirm the deletion", "confirm")]
            return _event_form(request, values=values, existing=event_id, status=422,
                               errors=FieldErrors.of_problems(problems))
        details = _event_audit(event, created=False)
        details.pop("created")
        hub_events.delete(session, _admin(session, request), event_id)
        _audit(session, request, AuditAction.EVENT_DELETED, details)
    _viewer(request).flash(f"The event “{details['title']}” was deleted.")
    return see_other("/admin/events")


# -- the JSON API -----------------------------------------------------------------------------------------------

class PublicationOut(BaseModel):
    id: int
    title: str
    authors: list[str] = Field(description="in the order given")
    venue: str | None = Field(description="the journal, conference or server it appeared in")
    published_on: date
    doi: str | None = Field(description="lower case, without a resolver prefix")
    workspace: str | None = Field(description="the name of the workspace it came from, when one was named")


class ArticleOut(BaseModel):
    slug: str
    title: str
    category: str
    url: str = Field(description="the article's page")
    shipped: bool = Field(description="shipped with the app (true) or added by an administrator")
    body: str = Field(description="the article in Markdown (CommonMark; raw HTML is not rendered)")


class EventOut(BaseModel):
    id: int
    uid: str = Field(description="the event's iCalendar UID, stable across edits")
    title: str
    description: str
    starts_at: datetime = Field(description="UTC")
    ends_at: datetime = Field(description="UTC")
    location: str | None
    url: str | None


@api_router.get("/publications", response_model=list[PublicationOut], dependencies=PUBLIC)
def api_publications(request: Request, q: SearchText = "",
                     year: Annotated[QueryInt | None, Query(ge=1000, le=9999)] = None) -> list[PublicationOut]:
    """Approved publications, newest first. ``q``: words all found in the title, authors, venue or DOI;
    ``year``: published that year."""
    with _services(request).db.reading() as session:
        found = pubs.list_public(session, q, year)
        names = _workspace_names(session, {p.workspace_id for p in found})
        return [PublicationOut(id=p.id, title=p.title, authors=pubs.split_authors(p.authors), venue=p.venue,
                               published_on=p.published_on, doi=p.doi, workspace=names.get(p.workspace_id))
                for p in found]


@api_router.get("/support", response_model=list[ArticleOut], dependencies=PUBLIC)
def api_support(request: Request, q: SearchText = "") -> list[ArticleOut]:
    """Support articles, best match first when ``q`` is given (every word in the title or body)."""
    with _services(request).db.reading() as session:
        found = support.search(session, q)
    return [ArticleOut(slug=a.slug, title=a.title, category=a.category, url=f"/hub/support/{a.slug}",
                       shipped=a.shipped, body=a.body) for a in found]


@api_router.get("/events", response_model=list[EventOut], dependencies=PUBLIC)
def api_events(request: Request, when: Annotated[str, Query(pattern="^(upcoming|past|all)$")] = "upcoming"
               ) -> list[EventOut]:
    """Events: ``upcoming`` (not over yet, soonest first; the default), ``past`` (most recent first) or ``all``
    (by start)."""
    services = _services(request)
    now = services.now()
    with services.db.reading() as session:
        if when == "upcoming":
            found = hub_events.upcoming(session, now)
        elif when == "past":
            found = hub_events.past(session, now, limit=1000)
        else:
            found = hub_events.all_events(session)
        return [EventOut(**{k: v for k, v in _event_view(e).items()}) for e in found]


class ReportIn(BaseModel):
    title: str = Field(description="up to 500 characters")
    authors: str = Field(description="one per line or separated by semicolons")
    published_on: str = Field(description="YYYY-MM-DD, not in the future")
    doi: str = Field("", description="10.NNNN/…; a https://doi.org/ or doi: prefix is removed")
    venue: str = Field("", description="the journal, conference or server")
    workspace: str = Field("", description="the namespace of a workspace you are a member of, if the work came "
                                           "from one")


class MyPublicationOut(PublicationOut):
    status: str = Field(description="pending, approved (listed on the Hub) or rejected")
    decision_note: str | None = Field(description="the administrator's note, with a rejection")


def _mine(publication, names: dict) -> MyPublicationOut:
    return MyPublicationOut(id=publication.id, title=publication.title, authors=pubs.split_authors(publication.authors),
                            venue=publication.venue, published_on=publication.published_on, doi=publication.doi,
                            workspace=names.get(publication.workspace_id), status=publication.status,
                            decision_note=publication.decision_note)


@api_router.post("/publications", response_model=MyPublicationOut, status_code=201,
                 dependencies=[requires(Access.SIGNED_IN, scope="workspaces:write")])
def api_report(request: Request, body: ReportIn) -> MyPublicationOut:
    """Report a publication for review (the same checks as the form); it is listed once an admin approves it."""
    services, viewer = _services(request), _viewer(request)
    services.limits.hit("forms", viewer.ip)
    with services.db.session() as session:
        user = session.get(User, viewer.user.id)
        publication = pubs.report(session, user, viewer.access, title=body.title, authors=body.authors,
                                  venue=body.venue, published_on=body.published_on, doi=body.doi,
                                  workspace=body.workspace or None, now=services.now())
        _audit(session, request, AuditAction.PUBLICATION_REPORTED,
               {"publication_id": publication.id, "doi": publication.doi, "title": publication.title[:200],
                "workspace_id": publication.workspace_id, "via": "api"})
        return _mine(publication, _workspace_names(session, {publication.workspace_id}))


@api_router.get("/publications/mine", response_model=list[MyPublicationOut],
                dependencies=[requires(Access.SIGNED_IN, scope="workspaces:read")])
def api_my_publications(request: Request) -> list[MyPublicationOut]:
    """The publications you reported, with their review status."""
    viewer = _viewer(request)
    with _services(request).db.reading() as session:
        found = pubs.reported_by(session, viewer.user)
        names = _workspace_names(session, {p.workspace_id for p in found})
        return [_mine(p, names) for p in found]
