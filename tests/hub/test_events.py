"""The events calendar: administrators' events, upcoming and past, and the iCalendar feed with stable UIDs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import select

from research_workbench.hub import events
from research_workbench.state.models import HubEvent, User

from ..workbench.conftest import make_user

UTC = timezone.utc


@pytest.fixture
def admin(wb):
    make_user(wb, "admin@state.edu", admin=True)
    make_user(wb, "ada@state.edu")
    return wb


def _user(session, email: str) -> User:
    return session.scalar(select(User).where(User.email == email))


def add(wb, **fields) -> HubEvent:
    values = {"title": "Office hours", "starts_at": "2026-03-10T15:00", "ends_at": "2026-03-10T16:00"}
    values.update(fields)
    with wb.db.session() as session:
        event = events.create(session, _user(session, "admin@state.edu"), now=wb.clock.now, **values)
        session.expunge(event)
        return event


def test_an_event_is_created_in_utc_with_a_uid_kept_through_edits(admin):
    wb = admin
    event = add(wb, starts_at=datetime(2026, 3, 10, 10, 0, tzinfo=timezone(timedelta(hours=-5))),
                ends_at="2026-03-10T16:30", location=" Room  101 ", url="https://example.org/hours",
                description="Bring\r\nquestions.")
    assert (event.starts_at, event.ends_at, event.location, event.url, event.description) == (
        datetime(2026, 3, 10, 15, 0, tzinfo=UTC), datetime(2026, 3, 10, 16, 30, tzinfo=UTC), "Room 101",
        "https://example.org/hours", "Bring\nquestions.")
    assert re.fullmatch(r"[0-9a-f-]{36}@research-workbench", event.uid)
    with wb.db.session() as session:
        changed = events.update(session, _user(session, "admin@state.edu"), event.id, title="Office hours (moved)",
                                starts_at="2026-03-11T15:00", ends_at="2026-03-11T16:00")
        assert (changed.uid, changed.title, changed.location, changed.url) == (
            event.uid, "Office hours (moved)", None, None)


def test_bad_input_is_refused_naming_every_field(admin):
    with pytest.raises(events.EventError) as excinfo:
        add(admin, title=" ", starts_at="10/03/2026", ends_at="", location="x" * 301, url="javascript:alert(1)",
            description="d" * 5001)
    assert {p.where: p.message for p in excinfo.value.problems} == {
        "title": "give the event's title",
        "description": "too long: at most 5000 characters (5001 given)",
        "starts_at": "'10/03/2026' is not a date and time: write it as YYYY-MM-DDTHH:MM (UTC)",
        "ends_at": "give a date and time (UTC)",
        "location": "too long: at most 300 characters (301 given)",
        "url": "give a web address starting with https:// (or http://)",
    }
    for ends, message in (("2026-03-10T15:00", "the event must end after it starts"),
                          ("2026-04-11T15:00", "an event lasts at most 31 days")):
        with pytest.raises(events.EventError) as excinfo:
            add(admin, ends_at=ends)
        assert [(p.where, p.message) for p in excinfo.value.problems] == [("ends_at", message)]
    with pytest.raises(events.EventError) as excinfo:
        add(admin, starts_at=datetime(2026, 3, 10, 15, 0))  # naive
    assert [(p.where, p.message) for p in excinfo.value.problems] == [("starts_at", "a time needs its time zone (UTC)")]


def test_only_admins_change_events(admin):
    wb = admin
    event = add(wb)
    with wb.db.session() as session:
        ada = _user(session, "ada@state.edu")
        with pytest.raises(events.EventForbidden):
            events.create(session, ada, title="x", starts_at="2026-03-10T15:00", ends_at="2026-03-10T16:00",
                          now=wb.clock.now)
        with pytest.raises(events.EventForbidden):
            events.delete(session, ada, event.id)
        with pytest.raises(events.EventNotFound):
            events.delete(session, _user(session, "admin@state.edu"), 999)
        events.delete(session, _user(session, "admin@state.edu"), event.id)
    with wb.db.session() as session:
        assert events.all_events(session) == []


def test_upcoming_and_past(admin):
    wb = admin  # the clock: 2026-03-02 09:00 UTC
    add(wb, title="Next week", starts_at="2026-03-09T15:00", ends_at="2026-03-09T16:00")
    add(wb, title="Under way", starts_at="2026-03-02T08:00", ends_at="2026-03-02T10:00")
    add(wb, title="Last week", starts_at="2026-02-23T15:00", ends_at="2026-02-23T16:00")
    add(wb, title="Just ended", starts_at="2026-03-02T08:00", ends_at="2026-03-02T09:00")
    with wb.db.session() as session:
        assert [e.title for e in events.upcoming(session, wb.clock.now)] == ["Under way", "Next week"]
        assert [e.title for e in events.past(session, wb.clock.now)] == ["Just ended", "Last week"]


def test_the_ical_feed_has_exact_fields(admin):
    wb = admin
    first = add(wb, title="Cohort Builder webinar, part 1", starts_at="2026-03-10T15:00", ends_at="2026-03-10T16:30",
                location="Online", url="https://example.org/webinar", description="Live demo; questions welcome.")
    second = add(wb, title="Office hours", starts_at="2026-04-01T09:00", ends_at="2026-04-01T10:00")
    stamp = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with wb.db.session() as session:
        feed = events.ical_feed(events.all_events(session), stamp=stamp, name="Demo: Research Hub events",
                                base_url="https://workbench.example.org/hub/events")
    assert feed.decode("utf-8") == (
        "BEGIN:VCALENDAR\r\n"
        "VERSION:2.0\r\n"
        "PRODID:-//Research Workbench//Research Hub events//EN\r\n"
        "CALSCALE:GREGORIAN\r\n"
        "METHOD:PUBLISH\r\n"
        "X-WR-CALNAME:Demo: Research Hub events\r\n"
        "BEGIN:VEVENT\r\n"
        "SUMMARY:Cohort Builder webinar\\, part 1\r\n"
        "DTSTART:20260310T150000Z\r\n"
        "DTEND:20260310T163000Z\r\n"
        "DTSTAMP:20260302T090000Z\r\n"
        f"UID:{first.uid}\r\n"
        "DESCRIPTION:Live demo\\; questions welcome.\r\n"
        "LOCATION:Online\r\n"
        "URL:https://example.org/webinar\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\n"
        "SUMMARY:Office hours\r\n"
        "DTSTART:20260401T090000Z\r\n"
        "DTEND:20260401T100000Z\r\n"
        "DTSTAMP:20260302T090000Z\r\n"
        f"UID:{second.uid}\r\n"
        "URL:https://workbench.example.org/hub/events\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n")
    parsed = Calendar.from_ical(feed)
    starts = [(str(e["uid"]), e.decoded("dtstart")) for e in parsed.walk("VEVENT")]
    assert starts == [(first.uid, datetime(2026, 3, 10, 15, 0, tzinfo=UTC)),
                      (second.uid, datetime(2026, 4, 1, 9, 0, tzinfo=UTC))]
