"""The Research Hub's events calendar: webinars, office hours, workshops, which administrators add, change and
remove; listed as upcoming and past on the Hub, and published as an iCalendar feed (RFC 5545) that calendar
apps subscribe to.

Times are aware UTC datetimes and the feed writes them in UTC (``DTSTART:20260310T150000Z``). Each event has a
UID made once, when it is created, and kept through every edit, so a subscribed calendar updates the event
instead of adding a second one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cdr.problems import Problem, ProblemsError
from ..state.models import HubEvent, User

TITLE_MAX, DESCRIPTION_MAX, LOCATION_MAX, URL_MAX = 200, 5000, 300, 500
MAX_LENGTH = timedelta(days=31)  # an event lasts at most a month
PRODID = "-//Research Workbench//Research Hub events//EN"
UID_DOMAIN = "research-workbench"
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")


class EventError(ProblemsError):
    heading = "invalid event"


class EventNotFound(LookupError):
    pass


class EventForbidden(PermissionError):
    pass


def parse_utc(value: datetime | str, where: str, problems: list[Problem]) -> datetime | None:
    """An aware datetime as UTC, or ``YYYY-MM-DDTHH:MM`` (what a ``datetime-local`` field posts) read as UTC.
    A naive datetime is refused: it would be ambiguous."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            problems.append(Problem("a time needs its time zone (UTC)", where))
            return None
        return value.astimezone(timezone.utc)
    text = value.strip()
    if not text:
        problems.append(Problem("give a date and time (UTC)", where))
        return None
    try:
        if not _LOCAL.fullmatch(text):
            raise ValueError
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        problems.append(Problem(f"{text[:40]!r} is not a date and time: write it as YYYY-MM-DDTHH:MM (UTC)", where))
        return None


def _values(title: str, description: str, starts_at: datetime | str, ends_at: datetime | str, location: str,
            url: str) -> dict:
    problems: list[Problem] = []
    title_ = " ".join(title.split())
    if not title_:
        problems.append(Problem("give the event's title", "title"))
    elif len(title_) > TITLE_MAX:
        problems.append(Problem(f"too long: at most {TITLE_MAX} characters ({len(title_)} given)", "title"))
    description_ = description.replace("\r\n", "\n").strip()
    if len(description_) > DESCRIPTION_MAX:
        problems.append(Problem(f"too long: at most {DESCRIPTION_MAX} characters ({len(description_)} given)",
                                "description"))
    starts = parse_utc(starts_at, "starts_at", problems)
    ends = parse_utc(ends_at, "ends_at", problems)
    if starts is not None and ends is not None:
        if ends <= starts:
            problems.append(Problem("the event must end after it starts", "ends_at"))
        elif ends - starts > MAX_LENGTH:
            problems.append(Problem("an event lasts at most 31 days", "ends_at"))
    location_ = " ".join(location.split()) or None
    if location_ and len(location_) > LOCATION_MAX:
        problems.append(Problem(f"too long: at most {LOCATION_MAX} characters ({len(location_)} given)", "location"))
    url_ = url.strip() or None
    if url_ is not None:
        if len(url_) > URL_MAX:
            problems.append(Problem(f"too long: at most {URL_MAX} characters ({len(url_)} given)", "url"))
        elif not _URL.fullmatch(url_):
            problems.append(Problem("give a web address starting with https:// (or http://)", "url"))
    if problems:
        raise EventError(problems)
    return {"title": title_, "description": description_, "starts_at": starts, "ends_at": ends,
            "location": location_, "url": url_}


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise EventForbidden("only administrators change events")


def create(session: Session, admin: User, *, title: str, starts_at: datetime | str, ends_at: datetime | str,
           description: str = "", location: str = "", url: str = "", now: datetime) -> HubEvent:
    """Add an event. ``EventError`` names each refused field (``title``, ``description``, ``starts_at``,
    ``ends_at``, ``location``, ``url``)."""
    _require_admin(admin)
    values = _values(title, description, starts_at, ends_at, location, url)
    event = HubEvent(**values, created_by=admin.id, created_at=now, uid=f"{uuid.uuid4()}@{UID_DOMAIN}")
    session.add(event)
    session.flush()
    return event


def get(session: Session, event_id: int) -> HubEvent:
    event = session.get(HubEvent, event_id)
    if event is None:
        raise EventNotFound(event_id)
    return event


def update(session: Session, admin: User, event_id: int, *, title: str, starts_at: datetime | str,
           ends_at: datetime | str, description: str = "", location: str = "", url: str = "") -> HubEvent:
    """Change an event; its UID stays."""
    _require_admin(admin)
    event = get(session, event_id)
    for key, value in _values(title, description, starts_at, ends_at, location, url).items():
        setattr(event, key, value)
    session.flush()
    return event


def delete(session: Session, admin: User, event_id: int) -> HubEvent:
    _require_admin(admin)
    event = get(session, event_id)
    session.delete(event)
    session.flush()
    return event


def upcoming(session: Session, now: datetime) -> list[HubEvent]:
    """Events not over yet (under way ones included), soonest first."""
    return list(session.scalars(select(HubEvent).where(HubEvent.ends_at > now)
                                .order_by(HubEvent.starts_at, HubEvent.id)))


def past(session: Session, now: datetime, limit: int = 100) -> list[HubEvent]:
    """Events that have ended, most recent first."""
    return list(session.scalars(select(HubEvent).where(HubEvent.ends_at <= now)
                                .order_by(HubEvent.starts_at.desc(), HubEvent.id.desc()).limit(limit)))


def all_events(session: Session) -> list[HubEvent]:
    return list(session.scalars(select(HubEvent).order_by(HubEvent.starts_at, HubEvent.id)))


def ical_feed(events: Iterable[HubEvent], *, stamp: datetime, name: str = "Research Hub events",
              base_url: str | None = None) -> bytes:
    """The events as one iCalendar document (``text/calendar``). ``stamp``: the feed's DTSTAMP (when it was made);
    ``base_url``: the events page's address, used as an event's URL when it has none of its own."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp.astimezone(timezone.utc))
        event.add("dtstart", item.starts_at.astimezone(timezone.utc))
        event.add("dtend", item.ends_at.astimezone(timezone.utc))
        event.add("summary", item.title)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.url or base_url:
            event.add("url", item.url or base_url)
        calendar.add_component(event)
    return calendar.to_ical()
