"""Renewal reminders: which expiring modules are due a reminder (``due_reminders``, pure), and queueing them in
the outbox at most once each (``queue_reminders``).

A module is reminded of when the access evaluator says it is satisfied, it stops counting at a known time
(``expires_at``: a completion plus the validity period, or the end of an admin's bypass), and it is one the user
acts on (a stored module; not the account, not the institution's agreement). Of the thresholds in
``reminder_days``, the reminder due is the one for the *smallest* ``d`` with ``now < expires_at <= now + d
days``: a job that did not run for a while sends one reminder, not every threshold it missed. A threshold of 0
never fires (nothing is left before an expiry at ``now``).

Dedupe is per module: each (user, module, expiry date, threshold) is claimed once, by an outbox row whose
``dedupe_key`` is ``reminder:{user_id}:{module}:{expiry date}:{days}`` (``mail.queue``, race-safe). The reminders
a user is due in one run go out as *one* email listing them all (modules renewed together expire together, and
four emails the same morning are three too many). The email is the outbox row of the soonest-expiring module;
the other modules' rows are *markers*: ``sent_at`` set at once and ``attempts`` 0, their body naming the row
that carries them, so the sender skips them while their keys keep holding. A later run claims only the modules
whose key is new (a module crossing its next threshold), so one module is never reminded twice at a threshold
and a grouped email never repeats one already sent. Keep outbox rows at least until the expiry they name, or a
reminder may go out again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..state.models import User
from .access import AccessState, Status
from .config import AccessSettings
from .mail import ExpiringItem, fit_subject, queue, reminder_message
from .modules import MODULES, STORED_MODULES, Module


@dataclass(frozen=True)
class Reminder:
    module: Module
    expires_at: datetime
    days_before: int  # the threshold (one of reminder_days) this reminder is for


def due_reminders(state: AccessState, reminder_days: list[int], now: datetime) -> list[Reminder]:
    """The reminders due at ``now``, soonest expiry first (none for a disabled account)."""
    if state.disabled:
        return []
    thresholds = sorted(set(reminder_days))
    due = []
    for module in STORED_MODULES:
        ms = state.modules.get(module)
        if ms is None or not ms.satisfied or ms.expires_at is None or ms.expires_at <= now:
            continue
        left = ms.expires_at - now
        d = next((d for d in thresholds if left <= timedelta(days=d)), None)
        if d is not None:
            due.append(Reminder(module, ms.expires_at, d))
    return sorted(due, key=lambda r: (r.expires_at, r.module))


def dedupe_key(user_id: int, reminder: Reminder) -> str:
    return f"reminder:{user_id}:{reminder.module.value}:{reminder.expires_at.date().isoformat()}:{reminder.days_before}"


def queue_reminders(session: Session, *, now: datetime, settings: AccessSettings, program_name: str, base_url: str,
                    states: Iterable[tuple[User, AccessState]], support_email: str | None = None) -> int:
    """Queue the reminders due at ``now`` for each (user, access state); returns how many emails were queued
    (one per user at most). Disabled accounts and unverified addresses get none."""
    renewal_link = f"{base_url.rstrip('/')}/renewal"
    emails = 0
    for user, state in states:
        if user.disabled_at is not None or user.email_verified_at is None:
            continue
        claimed = []
        for reminder in due_reminders(state, settings.reminder_days, now):
            row = queue(session, to=user.email, subject="renewal reminder", body="", now=now,
                        dedupe_key=dedupe_key(user.id, reminder))
            if row is not None:
                claimed.append((reminder, row))
        if not claimed:
            continue
        items = [ExpiringItem(MODULES[r.module].title, r.expires_at, state.modules[r.module].status is Status.BYPASSED)
                 for r, _ in claimed]
        text = reminder_message(program_name, user.given_name, items, renewal_link, now, support_email)
        subject = fit_subject(text.subject)
        carrier = claimed[0][1]
        carrier.subject, carrier.body = subject, text.body
        for _, marker in claimed[1:]:
            marker.subject = subject
            marker.body = f"(Listed in the reminder of outbox message {carrier.id}: not sent on its own.)"
            marker.sent_at = now
        session.flush()
        emails += 1
    return emails
