"""The outbox: mail is queued in the application database, in the transaction of whatever caused it, and a job
sends it over SMTP later (``send_pending``). A crash or a down mail server loses nothing; a message is never
queued twice for the same ``dedupe_key``.

Queueing (``queue``) is race-safe: on SQLite and PostgreSQL the row is written with ``INSERT … ON CONFLICT
(dedupe_key) DO NOTHING``, elsewhere inside a savepoint whose ``IntegrityError`` is caught; either way a duplicate
key returns ``None`` and leaves the caller's transaction usable.

Sending (``send_pending``) opens one SMTP connection per batch (STARTTLS and login when configured). Per message:

1. it *claims* the attempt — ``attempts = attempts + 1`` where the row is still unsent and its attempt count is
   the one read (a compare-and-set, committed before anything goes out), so two senders running at once never
   send the same message on the same attempt, and a crash mid-send still counts the attempt;
2. it sends, then at once commits ``sent_at`` (or ``last_error``). A crash between the two re-sends at most that
   one message, with the same ``Message-ID``, so mail clients can tell the copies apart.

A message the server refuses keeps its error in ``last_error`` and is tried again on the next run, up to
``max_attempts`` attempts; then it stays in the outbox, unsent, for an admin to see. A connection that cannot be
made (refused, TLS, login) is not the messages' fault: it records the error on the batch and counts no attempt,
so an outage of any length abandons nothing. A connection lost mid-batch counts the attempt of the message being
sent, records the error on the rest, and stops.
"""

from __future__ import annotations

import math
import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..state.models import OutboxMessage
from .clock import utcnow
from .config import MailSettings

if TYPE_CHECKING:
    from ..state.db import Database

SUBJECT_MAX = 200  # the outbox column's length
ERROR_MAX = 2000


class MailError(RuntimeError):
    """Mail cannot be sent as configured (e.g. the SMTP password's environment variable is not set)."""


class MailText(NamedTuple):
    subject: str
    body: str


@dataclass(frozen=True)
class SendReport:
    sent: int  # messages the server accepted in this run
    failed: int  # messages of this run's batch that did not go out (refused, or the connection failed)
    remaining: int  # unsent messages still to be tried (fewer than max_attempts attempts) after this run
    error: str | None = None  # why the connection failed, when it did


# -- queueing ------------------------------------------------------------------------------------------------

def queue(session: Session, *, to: str, subject: str, body: str, dedupe_key: str | None = None,
          now: datetime | None = None) -> OutboxMessage | None:
    """Put a message in the outbox (in ``session``'s transaction). ``None`` when ``dedupe_key`` is already queued
    (by this or any other transaction): the caller's transaction goes on unharmed."""
    if "\r" in to or "\n" in to or "@" not in to:
        raise ValueError(f"not an email address: {to!r}")
    if "\r" in subject or "\n" in subject:
        raise ValueError("a subject is one line")
    values = dict(to_address=to, subject=fit_subject(subject), body=body, dedupe_key=dedupe_key,
                  created_at=now or utcnow(), attempts=0)
    if dedupe_key is None:
        message = OutboxMessage(**values)
        session.add(message)
        session.flush()
        return message
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        return _queue_on_conflict(session, dialect, values)
    return _queue_savepoint(session, values)


def fit_subject(subject: str) -> str:
    """``subject``, shortened with an ellipsis to the outbox column's length when longer."""
    return subject if len(subject) <= SUBJECT_MAX else subject[:SUBJECT_MAX - 1] + "…"


def _queue_on_conflict(session: Session, dialect: str, values: dict) -> OutboxMessage | None:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = (insert(OutboxMessage).values(**values)
            .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
            .returning(OutboxMessage))
    return session.scalars(stmt).first()


def _queue_savepoint(session: Session, values: dict) -> OutboxMessage | None:
    """Any other database: insert inside a savepoint; a duplicate key rolls back the savepoint only."""
    message = OutboxMessage(**values)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None
    return message


# -- sending -------------------------------------------------------------------------------------------------

def password_from_env(settings: MailSettings) -> str | None:
    """The SMTP password from the environment variable ``settings.password_env`` names (``None`` when it names
    none); a named variable that is unset or empty is an error."""
    if settings.password_env is None:
        return None
    value = os.environ.get(settings.password_env)
    if not value:
        raise MailError(f"the SMTP password's environment variable {settings.password_env} is not set")
    return value


class _Pending(NamedTuple):
    id: int
    to_address: str
    subject: str
    body: str
    created_at: datetime
    attempts: int


def send_pending(db: Database, settings: MailSettings, *, password: str | None = None, limit: int = 100,
                 now: datetime | None = None, max_attempts: int = 5, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> SendReport:
    """Send up to ``limit`` unsent messages (oldest first) that have had fewer than ``max_attempts`` attempts.

    ``password`` defaults to ``password_from_env(settings)`` when ``settings.username`` is set; ``now`` (the
    ``Date`` header and ``sent_at``) defaults to the clock at each message; ``ssl_context`` (STARTTLS) defaults to
    the system's trusted CAs with host-name checking."""
    with db.session() as s:
        rows = s.execute(
            select(OutboxMessage.id, OutboxMessage.to_address, OutboxMessage.subject, OutboxMessage.body,
                   OutboxMessage.created_at, OutboxMessage.attempts)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < max_attempts)
            .order_by(OutboxMessage.id).limit(limit)).all()
    batch = [_Pending(*row) for row in rows]
    if not batch:
        return SendReport(0, 0, 0)

    try:
        smtp = _connect(settings, password, timeout, ssl_context)
    except (OSError, smtplib.SMTPException, MailError) as err:
        error = _describe(err, f"cannot connect to {settings.smtp_host}:{settings.smtp_port}")
        _record_error(db, [m.id for m in batch], error)
        return SendReport(0, len(batch), _remaining(db, max_attempts), error)

    sent = failed = 0
    lost: str | None = None
    envelope_from = parseaddr(settings.sender)[1] or settings.sender
    try:
        for index, message in enumerate(batch):
            if smtp.sock is None:  # the server closed the connection (e.g. a 421 reply): no attempt counted
                lost = "connection lost: the server closed the connection"
                _record_error(db, [m.id for m in batch[index:]], lost)
                failed += len(batch) - index
                break
            if not _claim(db, message):
                continue  # sent or tried meanwhile by another sender
            when = now or utcnow()
            try:
                smtp.send_message(_build(message, settings, when), from_addr=envelope_from,
                                  to_addrs=[message.to_address])
            except smtplib.SMTPServerDisconnected as err:
                lost = _describe(err, "connection lost")
            except (smtplib.SMTPException, ValueError, UnicodeError) as err:  # this message refused (or unsendable)
                _record_error(db, [message.id], _describe(err, "refused"))
                failed += 1
                continue
            except OSError as err:  # after SMTPException, which is one: the socket failed
                lost = _describe(err, "connection lost")
            if lost is not None:
                _record_error(db, [m.id for m in batch[index:]], lost)
                failed += len(batch) - index
                break
            with db.session() as s:
                s.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                          .values(sent_at=when, last_error=None).execution_options(synchronize_session=False))
            sent += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return SendReport(sent, failed, _remaining(db, max_attempts), lost)


def _connect(settings: MailSettings, password: str | None, timeout: float,
             ssl_context: ssl.SSLContext | None) -> smtplib.SMTP:
    if settings.username and password is None:
        password = password_from_env(settings)
        if password is None:
            raise MailError("mail.username is set but no password: set mail.password_env")
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl_context or ssl.create_default_context())
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _claim(db: Database, message: _Pending) -> bool:
    with db.session() as s:
        result = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.sent_at.is_(None),
                   OutboxMessage.attempts == message.attempts)
            .values(attempts=OutboxMessage.attempts + 1).execution_options(synchronize_session=False))
        return result.rowcount == 1


def _build(message: _Pending, settings: MailSettings, when: datetime) -> EmailMessage:
    domain = (parseaddr(settings.sender)[1].rpartition("@")[2] or "workbench.invalid").strip("<>")
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(when)
    # Stable per outbox row: a copy re-sent after a crash carries the same Message-ID.
    mail["Message-ID"] = f"<outbox.{message.id}.{int(message.created_at.timestamp() * 1_000_000)}@{domain}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to this
    mail.set_content(message.body)
    return mail


def _describe(err: BaseException, what: str) -> str:
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in err.recipients.items())
    elif isinstance(err, smtplib.SMTPResponseException):
        detail = f"{err.smtp_code} {_text(err.smtp_error)}"
    else:
        detail = str(err) or type(err).__name__
    return f"{what}: {type(err).__name__}: {detail}"[:ERROR_MAX]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _record_error(db: Database, ids: Sequence[int], error: str) -> None:
    if not ids:
        return
    with db.session() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None))
                  .values(last_error=error).execution_options(synchronize_session=False))


def _remaining(db: Database, max_attempts: int) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < max_attempts)) or 0


# -- templates (plain text) ----------------------------------------------------------------------------------

def verification_message(program_name: str, name: str, link: str, hours: int) -> MailText:
    """The email that confirms a new account's address: the single-use ``link``, working for ``hours`` hours."""
    greeting = f"Hello {name}," if name.strip() else "Hello,"
    unit = "hour" if hours == 1 else "hours"
    body = (
        f"{greeting}\n"
        "\n"
        f"To finish creating your {program_name} account, confirm that this is your email address by\n"
        "opening this link:\n"
        "\n"
        f"{link}\n"
        "\n"
        f"The link works once, within {hours} {unit}. If it has expired, sign in and ask for a new one.\n"
        "\n"
        "If you did not create this account, ignore this email: nothing more will happen.\n"
        "\n"
        f"{program_name}\n"
    )
    return MailText(f"Confirm your email address for {program_name}", body)


@dataclass(frozen=True)
class ExpiringItem:
    """One line of a renewal reminder: a module's title, when it stops counting, and whether what ends is an
    admin's exemption (a bypass) rather than a completion."""

    title: str
    expires_at: datetime
    bypass: bool = False


def reminder_message(program_name: str, name: str, items: Sequence[ExpiringItem], renewal_link: str,
                     now: datetime, support_email: str | None = None) -> MailText:
    """The renewal reminder: every module in ``items`` (soonest first), its exact end, and where to renew."""
    if not items:
        raise ValueError("a reminder lists at least one module")
    items = sorted(items, key=lambda i: (i.expires_at, i.title))
    greeting = f"Hello {name}," if name.strip() else "Hello,"
    lines = []
    for item in items:
        what = "your exemption ends" if item.bypass else "expires"
        lines.append(f"- {item.title}: {what} on {_when(item.expires_at)} ({_left(item.expires_at - now)}).")
    one = len(items) == 1
    body = (
        f"{greeting}\n"
        "\n"
        f"{'One of the access requirements' if one else 'Some of the access requirements'} you completed for "
        f"{program_name} {'runs' if one else 'run'} out soon:\n"
        "\n"
        + "\n".join(lines) + "\n"
        "\n"
        f"Renew {'it' if one else 'them'} before then to keep your data access: when a requirement runs out, you\n"
        "lose access to the data that needs it until you renew it. Sign in and open the renewal page:\n"
        "\n"
        f"{renewal_link}\n"
        "\n"
        + (f"Questions? Write to {support_email}.\n\n" if support_email else "")
        + f"{program_name}\n"
    )
    return MailText(f"{program_name}: renew your access by {_date(items[0].expires_at)}", body)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _date(at: datetime) -> str:
    at = at.astimezone(timezone.utc)  # month names fixed here: %B follows the process's locale
    return f"{_MONTHS[at.month - 1]} {at.day}, {at.year}"


def _when(at: datetime) -> str:
    return f"{_date(at)} at {at.astimezone(timezone.utc):%H:%M} UTC"


def _left(delta: timedelta) -> str:
    days = math.ceil(delta / timedelta(days=1))
    return "within a day" if days <= 1 else f"in {days} days"
