"""The Workbench's mail thread: verification links reach a real SMTP server, reminders go out before expiry,
and the demo's "log" delivery prints messages instead."""

from __future__ import annotations

import re

from research_workbench.workbench.mailing import MailJobs

from ..accounts.test_mail import Inbox
from ..helpers import free_port
from .conftest import ALL_RT, BASE, make_user, sign_up


def test_the_verification_link_is_sent_over_smtp(make_workbench):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        wb = make_workbench(mail={"smtp_host": "127.0.0.1", "smtp_port": controller.port})
        sign_up(wb.client())
        report = MailJobs(wb.app.state.services).run_once()
    finally:
        controller.stop()
    assert (report.sent, report.failed) == (1, 0)
    [(sender, recipients, message)] = inbox.received
    assert recipients == ["ada@state.edu"]
    assert re.search(re.escape(BASE) + r"/verify-email\?token=[A-Za-z0-9_-]{40,}", message.get_content())


def test_reminders_are_queued_and_sent_before_modules_expire(make_workbench):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        wb = make_workbench(mail={"smtp_host": "127.0.0.1", "smtp_port": controller.port})
        make_user(wb, "ada@state.edu", modules=ALL_RT)
        jobs = MailJobs(wb.app.state.services)
        assert jobs.run_once().sent == 0
        for days, expected in ((335, 1), (1, 0), (15, 1), (7, 1), (6, 1)):  # 30, then 15, 7 and 1 day(s) before
            wb.clock.advance(days=days)
            assert jobs.run_once().sent == expected, days
    finally:
        controller.stop()
    subjects = [m["Subject"] for _, _, m in inbox.received]
    assert len(subjects) == 4 and all("expire" in s.lower() or "renew" in s.lower() for s in subjects), subjects
    assert "/renewal" in inbox.received[0][2].get_content()


def test_log_delivery_prints_the_message_and_marks_it_sent(make_workbench, capsys):
    wb = make_workbench(mail={"deliver": "log"})
    sign_up(wb.client())
    report = MailJobs(wb.app.state.services).run_once(reminders_too=False)
    assert report.sent == 1
    out = capsys.readouterr().out
    assert out.startswith("--- mail to ada@state.edu: ") and "/verify-email?token=" in out
    assert [m.sent_at is not None for m in wb.outbox()] == [True]
