"""The outbox and renewal reminders, against a real SMTP server (aiosmtpd, on 127.0.0.1) and a real database."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import re
import ssl
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select

from research_workbench.accounts.access import AccessFacts, ModuleFacts, evaluate
from research_workbench.accounts.config import AccessSettings, MailSettings
from research_workbench.accounts.mail import (
    MailError, SendReport, _queue_savepoint, password_from_env, queue, send_pending, verification_message,
)
from research_workbench.accounts.modules import Module
from research_workbench.accounts.reminders import Reminder, due_reminders, queue_reminders
from research_workbench.state.db import Database
from research_workbench.state.models import OutboxMessage, User

from ..helpers import free_port

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
SENDER = "Research Workbench <no-reply@workbench.invalid>"


# -- fixtures ------------------------------------------------------------------------------------------------

class Inbox:
    """An aiosmtpd handler keeping what it receives; it refuses the recipients in ``refuse``."""

    def __init__(self):
        self.received: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.refuse: set[str] = set()
        self.close_on_subject: str | None = None  # reply 421 (closing) to the message with this subject
        self.on_data = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        if message["Subject"] == self.close_on_subject:
            return "421 4.3.2 shutting down"
        if self.on_data is not None:
            self.on_data(message)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, MailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, sender=SENDER)
    finally:
        controller.stop()


@pytest.fixture
def tls_smtp_server(tmp_path):
    """A server that requires STARTTLS and a login, with a self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.now(dt.timezone.utc) - timedelta(days=1))
            .not_valid_after(dt.datetime.now(dt.timezone.utc) + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"workbench", b"s3cret pass")
        return AuthResult(success=ok, handled=False)  # not handled: the server replies 535 itself

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context,
                            require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        settings = MailSettings(smtp_host="127.0.0.1", smtp_port=controller.port, sender=SENDER, starttls=True,
                                username="workbench", password_env="RW_TEST_SMTP_PASSWORD")
        yield inbox, settings, ssl.create_default_context(cafile=str(cert_file)), logins
    finally:
        controller.stop()


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/wb.sqlite")
    database.upgrade()
    yield database
    database.dispose()


def rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def text(message: email.message.EmailMessage) -> str:
    """The body as sent, with the wire's CRLF line ends back to LF."""
    return message.get_content().replace("\r\n", "\n")


def put(db: Database, to: str, subject: str = "Hello", body: str = "Body.\n", key: str | None = None):
    with db.session() as s:
        message = queue(s, to=to, subject=subject, body=body, dedupe_key=key, now=NOW)
        return None if message is None else message.id


# -- sending -------------------------------------------------------------------------------------------------

def test_queued_messages_arrive_with_exact_headers_and_body(db, smtp_server):
    inbox, settings = smtp_server
    first = put(db, "ada@uni.example.edu", "Confirm your email address", "Line one.\nLine two.\n")
    second = put(db, "bo@lab.example.org", "Grüße aus dem Workbench", "Grüße — ünïcödé body.\n")
    sent_at = NOW + timedelta(minutes=5)

    assert send_pending(db, settings, now=sent_at) == SendReport(sent=2, failed=0, remaining=0)

    assert [(frm, to) for frm, to, _ in inbox.received] == [
        ("no-reply@workbench.invalid", ["ada@uni.example.edu"]), ("no-reply@workbench.invalid", ["bo@lab.example.org"])]
    (_, _, one), (_, _, two) = inbox.received
    assert one["From"] == SENDER and one["To"] == "ada@uni.example.edu"
    assert one["Subject"] == "Confirm your email address"
    assert one["Date"] == format_datetime(sent_at)
    assert one["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(rf"<outbox\.{first}\.\d+@workbench\.invalid>", one["Message-ID"])
    assert re.fullmatch(rf"<outbox\.{second}\.\d+@workbench\.invalid>", two["Message-ID"])
    assert text(one) == "Line one.\nLine two.\n"
    assert two["Subject"] == "Grüße aus dem Workbench" and text(two) == "Grüße — ünïcödé body.\n"
    assert [(r.sent_at, r.attempts, r.last_error) for r in rows(db)] == [(sent_at, 1, None), (sent_at, 1, None)]

    # Nothing is sent twice.
    assert send_pending(db, settings) == SendReport(0, 0, 0)
    assert len(inbox.received) == 2


def test_each_row_is_marked_sent_before_the_next_message_goes_out(db, smtp_server):
    inbox, settings = smtp_server
    ids = [put(db, f"user{i}@uni.example.edu") for i in range(3)]
    seen: list[list[bool]] = []

    def on_data(_message):  # runs in the server's thread, while the sender waits for the reply
        seen.append([r.sent_at is not None for r in rows(db)])

    inbox.on_data = on_data
    assert send_pending(db, settings, now=NOW).sent == 3
    assert seen == [[False, False, False], [True, False, False], [True, True, False]]
    assert len(ids) == 3


def test_batch_limit_leaves_the_rest_queued(db, smtp_server):
    inbox, settings = smtp_server
    for i in range(3):
        put(db, f"user{i}@uni.example.edu")
    assert send_pending(db, settings, limit=2, now=NOW) == SendReport(2, 0, 1)
    assert send_pending(db, settings, limit=2, now=NOW) == SendReport(1, 0, 0)
    assert [to for _, (to,), _ in inbox.received] == ["user0@uni.example.edu", "user1@uni.example.edu",
                                                       "user2@uni.example.edu"]


def test_a_down_server_leaves_everything_queued_with_the_error_and_counts_no_attempt(db, smtp_server):
    inbox, settings = smtp_server
    put(db, "ada@uni.example.edu")
    put(db, "bo@lab.example.org")
    closed = free_port()  # nothing listens there
    down = MailSettings(smtp_host="127.0.0.1", smtp_port=closed, sender=SENDER)

    for _ in range(7):  # more runs than max_attempts: an outage abandons nothing
        report = send_pending(db, down, now=NOW, max_attempts=5, timeout=5)
        assert (report.sent, report.failed, report.remaining) == (0, 2, 2)
    assert report.error.startswith(f"cannot connect to 127.0.0.1:{closed}: ConnectionRefusedError")
    assert [(r.sent_at, r.attempts, r.last_error) for r in rows(db)] == [(None, 0, report.error)] * 2

    # The server is back: everything goes, and the error is cleared.
    assert send_pending(db, settings, now=NOW) == SendReport(2, 0, 0)
    assert [(r.sent_at, r.attempts, r.last_error) for r in rows(db)] == [(NOW, 1, None)] * 2
    assert len(inbox.received) == 2


def test_a_refused_message_is_retried_up_to_max_attempts_then_left_unsent(db, smtp_server):
    inbox, settings = smtp_server
    inbox.refuse.add("gone@uni.example.edu")
    put(db, "gone@uni.example.edu", "For nobody")
    put(db, "ada@uni.example.edu", "For Ada")

    assert send_pending(db, settings, now=NOW, max_attempts=3) == SendReport(sent=1, failed=1, remaining=1)
    assert send_pending(db, settings, now=NOW, max_attempts=3) == SendReport(sent=0, failed=1, remaining=1)
    assert send_pending(db, settings, now=NOW, max_attempts=3) == SendReport(sent=0, failed=1, remaining=0)
    assert send_pending(db, settings, now=NOW, max_attempts=3) == SendReport(0, 0, 0)  # given up

    gone, ada = rows(db)
    assert (gone.sent_at, gone.attempts) == (None, 3)
    assert gone.last_error == ("refused: SMTPRecipientsRefused: gone@uni.example.edu: 550 5.1.1 no such mailbox")
    assert (ada.sent_at, ada.attempts, ada.last_error) == (NOW, 1, None)
    assert [m["Subject"] for _, _, m in inbox.received] == ["For Ada"]


def test_a_connection_closed_mid_batch_keeps_the_rest_queued_without_counting_their_attempts(db, smtp_server):
    inbox, settings = smtp_server
    inbox.close_on_subject = "Second"
    for subject in ("First", "Second", "Third", "Fourth"):
        put(db, "ada@uni.example.edu", subject)

    report = send_pending(db, settings, now=NOW)
    assert report == SendReport(sent=1, failed=3, remaining=3,
                                error="connection lost: the server closed the connection")
    assert [(r.subject, r.sent_at, r.attempts, r.last_error) for r in rows(db)] == [
        ("First", NOW, 1, None),
        ("Second", None, 1, "refused: SMTPDataError: 421 4.3.2 shutting down"),
        ("Third", None, 0, report.error),
        ("Fourth", None, 0, report.error),
    ]
    inbox.close_on_subject = None
    assert send_pending(db, settings, now=NOW) == SendReport(3, 0, 0)
    assert [m["Subject"] for _, _, m in inbox.received] == ["First", "Second", "Third", "Fourth"]


def test_starttls_and_login_with_the_password_from_the_environment(db, tls_smtp_server, monkeypatch):
    inbox, settings, client_context, logins = tls_smtp_server
    put(db, "ada@uni.example.edu", "Over TLS")

    monkeypatch.delenv("RW_TEST_SMTP_PASSWORD", raising=False)
    with pytest.raises(MailError, match="RW_TEST_SMTP_PASSWORD is not set"):
        password_from_env(settings)
    report = send_pending(db, settings, now=NOW, ssl_context=client_context)
    assert (report.sent, report.failed, report.remaining) == (0, 1, 1)
    assert "RW_TEST_SMTP_PASSWORD is not set" in report.error

    # A wrong password is a connection failure: recorded, no attempt counted.
    report = send_pending(db, settings, password="wrong", now=NOW, ssl_context=client_context)
    assert (report.sent, report.remaining) == (0, 1)
    assert report.error.startswith("cannot connect to 127.0.0.1:") and "SMTPAuthenticationError: 535" in report.error
    assert rows(db)[0].attempts == 0

    # Without a trusted certificate, STARTTLS fails (the default context checks it).
    report = send_pending(db, settings, password="s3cret pass", now=NOW)
    assert report.sent == 0 and "SSLCertVerificationError" in report.error

    monkeypatch.setenv("RW_TEST_SMTP_PASSWORD", "s3cret pass")
    assert password_from_env(settings) == "s3cret pass"
    assert send_pending(db, settings, now=NOW, ssl_context=client_context) == SendReport(1, 0, 0)
    assert logins[-1] == (b"workbench", b"s3cret pass")
    assert [(to, m["Subject"]) for _, to, m in inbox.received] == [(["ada@uni.example.edu"], "Over TLS")]


def test_password_from_env_is_none_without_a_variable():
    assert password_from_env(MailSettings()) is None


# -- queueing ------------------------------------------------------------------------------------------------

def test_a_dedupe_key_is_queued_once_and_the_transaction_goes_on(db):
    with db.session() as s:
        first = queue(s, to="ada@uni.example.edu", subject="One", body="1\n", dedupe_key="k1", now=NOW)
        assert first is not None and first.id is not None
        assert queue(s, to="ada@uni.example.edu", subject="Two", body="2\n", dedupe_key="k1", now=NOW) is None
        # The transaction is unharmed: more work in it commits.
        assert queue(s, to="ada@uni.example.edu", subject="Three", body="3\n", dedupe_key="k2", now=NOW) is not None
        first.body = "1, edited\n"
    with db.session() as s:  # a later transaction
        assert queue(s, to="bo@lab.example.org", subject="Again", body="x\n", dedupe_key="k1", now=NOW) is None
    # Without a key, nothing is deduplicated.
    put(db, "ada@uni.example.edu")
    put(db, "ada@uni.example.edu")
    assert [(r.subject, r.body, r.dedupe_key) for r in rows(db)] == [
        ("One", "1, edited\n", "k1"), ("Three", "3\n", "k2"), ("Hello", "Body.\n", None), ("Hello", "Body.\n", None)]


def test_the_savepoint_fallback_dedupes_too(db):
    values = dict(to_address="ada@uni.example.edu", subject="S", body="B\n", dedupe_key="k", created_at=NOW, attempts=0)
    with db.session() as s:
        assert _queue_savepoint(s, dict(values)) is not None
        assert _queue_savepoint(s, dict(values)) is None
        assert _queue_savepoint(s, dict(values, dedupe_key="other")) is not None
    assert [r.dedupe_key for r in rows(db)] == ["k", "other"]


def test_queue_refuses_header_injection_and_shortens_long_subjects(db):
    with db.session() as s:
        with pytest.raises(ValueError):
            queue(s, to="ada@uni.example.edu\nBcc: eve@evil.example", subject="x", body="", now=NOW)
        with pytest.raises(ValueError):
            queue(s, to="ada@uni.example.edu", subject="x\r\nBcc: eve@evil.example", body="", now=NOW)
        message = queue(s, to="ada@uni.example.edu", subject="s" * 300, body="", now=NOW)
        assert message.subject == "s" * 199 + "…"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/wb.sqlite")
    else:
        import psycopg

        pg_url = request.getfixturevalue("pg_url")
        schema = request.getfixturevalue("pg_schema")("outbox")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        database = Database(f"{pg_url}?options=-csearch_path%3D{schema}")
    database.upgrade()
    yield database
    database.dispose()


def test_queue_is_race_safe_across_concurrent_transactions(any_db):
    barrier = threading.Barrier(4)
    results: list[int | None] = []
    lock = threading.Lock()

    def worker(n: int):
        barrier.wait()
        with any_db.session() as s:
            message = queue(s, to=f"user{n}@uni.example.edu", subject="Race", body="", dedupe_key="race", now=NOW)
            got = None if message is None else message.id
        with lock:
            results.append(got)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and results.count(None) == 3  # one transaction queued it; three got None
    with any_db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


# -- templates -----------------------------------------------------------------------------------------------

def test_verification_message():
    text = verification_message("Research Workbench", "Ada", "http://wb.example/verify?t=abc", 24)
    assert text.subject == "Confirm your email address for Research Workbench"
    assert text.body == (
        "Hello Ada,\n"
        "\n"
        "To finish creating your Research Workbench account, confirm that this is your email address by\n"
        "opening this link:\n"
        "\n"
        "http://wb.example/verify?t=abc\n"
        "\n"
        "The link works once, within 24 hours. If it has expired, sign in and ask for a new one.\n"
        "\n"
        "If you did not create this account, ignore this email: nothing more will happen.\n"
        "\n"
        "Research Workbench\n"
    )


# -- reminders -----------------------------------------------------------------------------------------------

def completed(days_left: float) -> ModuleFacts:
    """Completed so that, with the default 365-day validity, it expires ``days_left`` days after NOW."""
    return ModuleFacts(completed_at=NOW - timedelta(days=365) + timedelta(days=days_left))


@pytest.mark.parametrize(("days_left", "threshold"), [
    (40, None), (30, 30), (29, 30), (15, 15), (8, 15), (7, 7), (1, 1), (0.5, 1), (0, None), (-3, None)])
def test_due_reminders_picks_the_smallest_threshold_reached(days_left, threshold):
    state = evaluate(AccessFacts(modules={Module.RT_TRAINING: completed(days_left)}), NOW)
    expected = [] if threshold is None else [
        Reminder(Module.RT_TRAINING, NOW + timedelta(days=days_left), threshold)]
    assert due_reminders(state, [30, 15, 7, 1], NOW) == expected
    assert due_reminders(state, [1, 30, 7, 15], NOW) == expected  # any order


def test_due_reminders_covers_bypasses_and_skips_what_the_user_does_not_renew():
    facts = AccessFacts(
        institution_allows=frozenset({"registered"}),
        institution_agreement_ends=(NOW + timedelta(days=5)).date(),  # the institution's: no reminder
        modules={
            Module.IDENTITY: ModuleFacts(bypass_until=NOW + timedelta(days=10), bypass_reason="ID.me down"),
            Module.DUCC: completed(3),
            Module.PUBLICATIONS: completed(200),
            Module.TWO_FACTOR: ModuleFacts(completed_at=NOW - timedelta(days=400)),  # never expires
            Module.CT_TRAINING: completed(-1),  # expired already
        })
    state = evaluate(facts, NOW)
    assert due_reminders(state, [30, 15, 7, 1], NOW) == [
        Reminder(Module.DUCC, NOW + timedelta(days=3), 7),
        Reminder(Module.IDENTITY, NOW + timedelta(days=10), 15),
    ]
    assert due_reminders(evaluate(AccessFacts(disabled=True, modules=facts.modules), NOW), [30], NOW) == []


def add_user(db: Database, email_address: str, *, verified: bool = True, disabled: bool = False) -> int:
    with db.session() as s:
        user = User(email=email_address, given_name=email_address.split("@")[0].title(), family_name="Tester",
                    created_at=NOW - timedelta(days=400),
                    email_verified_at=NOW - timedelta(days=400) if verified else None,
                    disabled_at=NOW - timedelta(days=1) if disabled else None)
        s.add(user)
        s.flush()
        return user.id


def run_reminders(db: Database, now: datetime, facts: dict[int, AccessFacts]) -> int:
    with db.session() as s:
        states = [(s.get(User, uid), evaluate(f, now)) for uid, f in facts.items()]
        return queue_reminders(s, now=now, settings=AccessSettings(), program_name="Research Workbench",
                               base_url="https://wb.example.org/", states=states, support_email="help@wb.example.org")


def test_reminders_are_queued_once_per_module_and_threshold_grouped_per_user(db, smtp_server):
    inbox, settings = smtp_server
    ada = add_user(db, "ada@uni.example.edu")
    rt_expires, ducc_expires = NOW + timedelta(days=29), NOW + timedelta(days=20)
    facts = {ada: AccessFacts(modules={
        Module.RT_TRAINING: ModuleFacts(completed_at=rt_expires - timedelta(days=365)),
        Module.DUCC: ModuleFacts(completed_at=ducc_expires - timedelta(days=365)),
        Module.PUBLICATIONS: completed(100),
    })}

    # Both cross 30 days: one email listing both.
    assert run_reminders(db, NOW, facts) == 1
    assert run_reminders(db, NOW, facts) == 0  # a second run queues nothing
    assert run_reminders(db, NOW + timedelta(days=1), facts) == 0  # nor does the next day's
    carrier, marker = rows(db)
    assert carrier.dedupe_key == f"reminder:{ada}:ducc:{ducc_expires.date().isoformat()}:30"
    assert marker.dedupe_key == f"reminder:{ada}:rt_training:{rt_expires.date().isoformat()}:30"
    assert (carrier.sent_at, marker.sent_at, marker.attempts) == (None, NOW, 0)
    assert marker.body == f"(Listed in the reminder of outbox message {carrier.id}: not sent on its own.)"
    assert carrier.to_address == "ada@uni.example.edu"
    assert carrier.subject == "Research Workbench: renew your access by March 21, 2027"
    assert carrier.body == (
        "Hello Ada,\n"
        "\n"
        "Some of the access requirements you completed for Research Workbench run out soon:\n"
        "\n"
        "- Sign the Data User Code of Conduct: expires on March 21, 2027 at 09:00 UTC (in 20 days).\n"
        "- Registered Tier training: expires on March 30, 2027 at 09:00 UTC (in 29 days).\n"
        "\n"
        "Renew them before then to keep your data access: when a requirement runs out, you\n"
        "lose access to the data that needs it until you renew it. Sign in and open the renewal page:\n"
        "\n"
        "https://wb.example.org/renewal\n"
        "\n"
        "Questions? Write to help@wb.example.org.\n"
        "\n"
        "Research Workbench\n"
    )

    # Five days on, the Code of Conduct crosses 15 days: an email for it alone.
    later = NOW + timedelta(days=5)
    assert run_reminders(db, later, facts) == 1
    assert run_reminders(db, later, facts) == 0
    newest = rows(db)[-1]
    assert newest.dedupe_key == f"reminder:{ada}:ducc:{ducc_expires.date().isoformat()}:15"
    assert newest.subject == "Research Workbench: renew your access by March 21, 2027"
    assert "One of the access requirements you completed for Research Workbench runs out soon:\n" in newest.body
    assert "- Sign the Data User Code of Conduct: expires on March 21, 2027 at 09:00 UTC (in 15 days).\n" in newest.body
    assert "Registered Tier training" not in newest.body

    # Two missed weeks later: one reminder each, at the smallest threshold reached (7 and 15), in one email.
    much_later = NOW + timedelta(days=14, hours=1)
    assert run_reminders(db, much_later, facts) == 1
    assert run_reminders(db, much_later, facts) == 0
    assert sorted(r.dedupe_key for r in rows(db)[-2:]) == [
        f"reminder:{ada}:ducc:{ducc_expires.date().isoformat()}:7",
        f"reminder:{ada}:rt_training:{rt_expires.date().isoformat()}:15"]

    # The sender sends the three emails, never the markers.
    assert send_pending(db, settings, now=much_later) == SendReport(3, 0, 0)
    assert [m["Subject"] for _, _, m in inbox.received] == [
        "Research Workbench: renew your access by March 21, 2027"] * 3
    assert text(inbox.received[0][2]) == carrier.body
    assert "(in 6 days)" in text(inbox.received[2][2])

    # Renewed: the new expiry is a new key, reminded again a year on.
    renewed = {ada: AccessFacts(modules={Module.DUCC: ModuleFacts(completed_at=NOW + timedelta(days=15))})}
    assert run_reminders(db, NOW + timedelta(days=15 + 365 - 30), renewed) == 1


def test_a_bypass_ending_is_worded_as_an_exemption(db):
    ada = add_user(db, "ada@uni.example.edu")
    facts = {ada: AccessFacts(modules={Module.IDENTITY: ModuleFacts(bypass_until=NOW + timedelta(hours=20))})}
    assert run_reminders(db, NOW, facts) == 1
    (message,) = rows(db)
    assert message.dedupe_key == f"reminder:{ada}:identity:2027-03-02:1"
    assert "- Verify your identity: your exemption ends on March 2, 2027 at 05:00 UTC (within a day).\n" in message.body
    assert "Renew it before then" in message.body


def test_disabled_and_unverified_users_get_no_reminders(db):
    disabled = add_user(db, "off@uni.example.edu", disabled=True)
    unverified = add_user(db, "new@uni.example.edu", verified=False)
    ok = add_user(db, "ok@uni.example.edu")
    due = AccessFacts(modules={Module.RT_TRAINING: completed(10)})
    assert run_reminders(db, NOW, {disabled: due, unverified: due, ok: due}) == 1
    assert [r.to_address for r in rows(db)] == ["ok@uni.example.edu"]
