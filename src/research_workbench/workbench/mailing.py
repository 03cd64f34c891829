"""Mail from the Workbench: messages are queued in the outbox inside the transaction that causes them, and
``MailJobs`` (a thread started with the server) sends the outbox over SMTP and queues the renewal reminders.

``kick()`` wakes the sender at once after something was queued, so a verification link does not wait for the
next round; a round also runs every ``interval`` seconds. Every ``reminder_every`` it also audits the tier changes
of every account (a tier that lapsed while nobody was signed in) and queues the renewal reminders.
"""

from __future__ import annotations

import logging
import threading

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..accounts import mail, reminders, tier_changes
from ..state.models import Institution, User
from .services import Services

log = logging.getLogger("research_workbench.workbench.mail")


def send_verification(request: Request, session: Session, user: User, token: str) -> None:
    services: Services = request.app.state.services
    config = services.config
    link = f"{config.base_url.rstrip('/')}/verify-email?token={token}"
    text = mail.verification_message(config.program_name, user.given_name, link, config.access.email_link_hours)
    mail.queue(session, to=user.email, subject=text.subject, body=text.body, now=services.now())
    jobs = getattr(request.app.state, "mail_jobs", None)
    if jobs is not None:
        jobs.kick()


def account_round(services: Services, *, remind: bool) -> tuple[int, int]:
    """One pass over every account, each evaluated once: audit its tier changes (a tier that lapsed while its user
    was away) and, with ``remind``, queue the renewal reminders (disabled and unverified accounts get none).
    (accounts whose tiers changed, reminder emails queued)."""
    config = services.config
    now = services.now()
    with services.db.session() as session:
        users = session.scalars(select(User).options(selectinload(User.modules),
                                                     selectinload(User.institution).selectinload(Institution.rules)))
        states = [(user, services.evaluator.state(user, now)) for user in users]
        changed = sum(bool(any(tier_changes.reconcile(session, services.audit, user, state)))
                      for user, state in states)
        queued = reminders.queue_reminders(session, now=now, settings=config.access, program_name=config.program_name,
                                           base_url=config.base_url, states=states,
                                           support_email=config.support_email) if remind else 0
    return changed, queued


def reconcile_all_tiers(services: Services) -> int:
    """Audit every account's tier changes; how many accounts changed."""
    return account_round(services, remind=False)[0]


def log_pending(services: Services) -> mail.SendReport:
    """Print unsent messages to the log and mark them sent (``mail.deliver = "log"``: no mail server, a demo)."""
    from ..state.models import OutboxMessage

    sent = 0
    with services.db.session() as session:
        for message in session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                                       .order_by(OutboxMessage.id).limit(100)):
            print(f"--- mail to {message.to_address}: {message.subject}\n{message.body}\n---", flush=True)
            message.sent_at, message.attempts = services.now(), message.attempts + 1
            sent += 1
    return mail.SendReport(sent=sent, failed=0, remaining=0)


class MailJobs:
    def __init__(self, services: Services, *, interval: float = 30.0, reminder_every: float = 3600.0):
        self.services = services
        self.interval = interval
        self.reminder_every = reminder_every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        self._wake.set()

    def run_once(self, *, reminders_too: bool = True) -> mail.SendReport:
        if reminders_too:
            _, queued = account_round(self.services, remind=True)
            if queued:
                log.info("queued %d reminder email(s)", queued)
        config = self.services.config
        if config.mail.deliver == "log":
            return log_pending(self.services)
        return mail.send_pending(self.services.db, config.mail, password=mail.password_from_env(config.mail),
                                 now=self.services.now())

    def _loop(self) -> None:
        since_reminders = self.reminder_every
        while not self._stop.is_set():
            try:
                due = since_reminders >= self.reminder_every
                report = self.run_once(reminders_too=due)
                if due:
                    since_reminders = 0.0
                if report.error:
                    log.warning("mail not sent: %s", report.error)
            except Exception:  # the loop must outlive one bad round; the next round retries
                log.exception("mail round failed")
            self._wake.wait(self.interval)
            self._wake.clear()
            since_reminders += self.interval

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="workbench-mail", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
