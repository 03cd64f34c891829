"""The Researcher Workbench under test: an app over a fresh SQLite (or PostgreSQL) database with a demo
institution, a clock the test moves, cheap argon2 parameters, and helpers that walk the registration steps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from research_workbench.accounts.config import load_workbench_config
from research_workbench.accounts.institutions import RuleSpec, save_institution
from research_workbench.accounts.module_records import complete
from research_workbench.accounts.modules import Module, Tier
from research_workbench.state import Database
from research_workbench.state.models import OutboxMessage, User

BASE = "http://127.0.0.1:8001"
SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


def test_config(tmp_path: Path, **overrides):
    overrides.setdefault("database_url", f"sqlite:///{tmp_path}/wb.sqlite")
    overrides.setdefault("passwords", {"time_cost": 1, "memory_kib": 64, "parallelism": 1})
    overrides.setdefault("base_url", BASE)
    overrides.setdefault("review_extracts_dir", str(tmp_path / "review-extracts"))
    overrides.setdefault("exports_dir", str(tmp_path / "exports"))
    overrides.setdefault("notebooks_dir", str(tmp_path / "notebooks"))
    return load_workbench_config(None, **overrides)


def add_institutions(db: Database, now: datetime) -> None:
    with db.session() as session:
        save_institution(session, short_name="state-u", display_name="State University", kind="academic",
                         signed_on=date(2025, 1, 1), expires_on=date(2030, 12, 31),
                         rules={Tier.REGISTERED: RuleSpec("domains", ("state.edu",)),
                                Tier.CONTROLLED: RuleSpec("addresses", ("pi@state.edu",))}, now=now)
        save_institution(session, short_name="city-lab", display_name="City Health Lab", kind="nonprofit",
                         signed_on=date(2025, 1, 1), expires_on=None,
                         rules={Tier.REGISTERED: RuleSpec("domains", ("citylab.org",)),
                                Tier.CONTROLLED: RuleSpec("domains", ("citylab.org",))}, now=now)


@dataclass
class Workbench:
    app: object
    db: Database
    clock: Clock
    config: object

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE, follow_redirects=False)

    def user(self, email: str) -> User:
        with self.db.session() as session:
            return session.scalar(select(User).where(User.email == email))

    def outbox(self) -> list[OutboxMessage]:
        with self.db.session() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def complete(self, email: str, *modules: Module) -> None:
        with self.db.session() as session:
            user = session.scalar(select(User).where(User.email == email))
            for module in modules:
                complete(session, user, module, now=self.clock.now)


@pytest.fixture
def make_workbench(tmp_path, monkeypatch):
    monkeypatch.setenv("RW_WORKBENCH_SECRET", SECRET)
    made = []

    def make(database_url: str | None = None, **overrides) -> Workbench:
        from research_workbench.workbench.app import create_app

        if database_url:
            overrides["database_url"] = database_url
        config = test_config(tmp_path, **overrides)
        db = Database(config.resolved_database_url)
        db.upgrade()
        clock = Clock()
        add_institutions(db, clock.now)
        app = create_app(config, db=db, clock=clock)
        made.append(db)
        return Workbench(app, db, clock, config)

    yield make
    for db in made:
        db.dispose()


@pytest.fixture
def wb(make_workbench) -> Workbench:
    return make_workbench()


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code, page.text[:500])
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def post(client: TestClient, path: str, data: dict | list, *, form_page: str | None = None):
    token = csrf(client, form_page or path)
    items = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(path, content=_encode([("csrftoken", token)] + items),
                       headers={"content-type": "application/x-www-form-urlencoded"})


def _encode(items) -> bytes:
    from urllib.parse import urlencode

    flat = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            flat += [(key, v) for v in value]
        else:
            flat.append((key, value))
    return urlencode(flat).encode()


DETAILS = {"given_name": "Ada", "family_name": "Lovelace", "degrees": ["phd"], "address.street1": "1 Main St",
           "address.city": "Springfield", "address.state": "IL", "address.postal_code": "62701",
           "address.country": "United States",
           "research_background": "I study cardiometabolic disease in large cohorts, with a focus on how social "
                                  "factors shape outcomes across the life course.",
           "professional_url": "https://state.edu/~ada", "password": PASSWORD, "password_confirm": PASSWORD}


def sign_up(client: TestClient, email: str = "ada@state.edu", institution: str = "state-u", **details) -> None:
    from research_workbench.accounts.documents import current_version

    r = post(client, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"),
                                      "accept_privacy": "on", "privacy_version": current_version("privacy")})
    assert r.status_code == 303 and r.headers["location"] == "/signup/institution", r.text[:2000]
    r = post(client, "/signup/institution", {"institution": institution, "email": email, "role": "faculty"})
    assert r.status_code == 303 and r.headers["location"] == "/signup/details", r.text[:2000]
    r = post(client, "/signup/details", {**DETAILS, **details})
    assert r.status_code == 303 and r.headers["location"] == "/signup/demographics", r.text[:3000]
    r = post(client, "/signup/demographics", {"demographics.race": ["asian"], "demographics.ethnicity": "no"})
    assert r.status_code == 303 and r.headers["location"] == "/signup/sent", r.text[:3000]


def verification_link(wb: Workbench, email: str) -> str:
    message = [m for m in wb.outbox() if m.to_address == email][-1]
    match = re.search(re.escape(BASE) + r"(/verify-email\?token=[A-Za-z0-9_-]+)", message.body)
    assert match, message.body
    return match.group(1)


def verify_email(wb: Workbench, client: TestClient, email: str = "ada@state.edu") -> None:
    link = verification_link(wb, email)
    token = link.split("token=")[1]
    r = post(client, "/verify-email", {"token": token}, form_page=link)
    assert r.status_code == 303, r.text[:1000]


def sign_in(client: TestClient, email: str = "ada@state.edu", password: str = PASSWORD):
    return post(client, "/signin", {"email": email, "password": password, "next": "/access"})


# -- users made directly in the database, and signing them in ---------------------------------------------------------

ALL_RT = (Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC)


@dataclass
class Persona:
    wb: Workbench
    email: str
    totp_secret: str | None
    client: TestClient | None = None

    def sign_in(self) -> TestClient:
        """A new client signed in as this user, through the second step when TOTP is on."""
        import pyotp

        client = self.wb.client()
        r = sign_in(client, self.email)
        assert r.status_code == 303, r.text[:500]
        if self.totp_secret:
            assert r.headers["location"] == "/signin/second-step"
            self.wb.clock.advance(seconds=31)  # a new time step: the last code may not be used again
            code = pyotp.TOTP(self.totp_secret).at(self.wb.clock.now)
            r = post(client, "/signin/second-step", {"code": code})
            assert r.status_code == 303, r.text[:500]
        self.client = client
        return client


def make_user(wb: Workbench, email: str, *, institution: str = "state-u", modules=(), totp: bool = True,
              admin: bool = False, completed_days_ago: int = 0, password: str = PASSWORD) -> Persona:
    """A user with a complete account (verified email, current Terms, profile) and ``modules`` completed."""
    import pyotp
    from research_workbench.accounts.documents import current_version
    from research_workbench.accounts.institutions import by_short_name
    from research_workbench.accounts.passwords import Passwords

    services = wb.app.state.services
    now = wb.clock.now
    secret = pyotp.random_base32() if totp else None
    with wb.db.session() as session:
        inst = by_short_name(session, institution)
        user = User(email=email, email_verified_at=now, institution_id=inst.id, role="faculty", given_name="Test",
                    family_name=email.split("@")[0].title(), degrees=[], research_background="Studies things.",
                    address={"street1": "1 Main St", "street2": "", "city": "Springfield", "state": "",
                             "postal_code": "", "country": "US"},
                    terms_version=current_version("terms"), privacy_version=current_version("privacy"),
                    terms_accepted_at=now, created_at=now, is_admin=admin,
                    password_hash=Passwords(wb.config.passwords).hash(password))
        if secret:
            user.totp_secret, user.totp_enabled_at = services.totp.seal(secret), now
        session.add(user)
        session.flush()
        done_at = now - timedelta(days=completed_days_ago)
        for module in set(modules) | {Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS} | (
                {Module.TWO_FACTOR} if secret else set()):
            complete(session, user, module, now=done_at)
    return Persona(wb, email, secret)
