"""Server-side sessions. The browser holds an opaque random token; the database holds its keyed hash, the user,
the tiers granted at sign-in, and the session's data (sign-up drafts, OIDC state). A session ends when it is idle
too long or too old for the highest tier its user holds, when it is revoked (sign-out, account disabled, a tier
lost) — and then it is gone for good: nothing in the cookie can bring it back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..state.models import Session as SessionRow
from .config import SessionSettings
from .modules import Tier
from .opaque import new_token, token_hash

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute, not on every request


@dataclass
class Loaded:
    row: SessionRow | None
    expired_reason: str | None = None


class SessionStore:
    def __init__(self, pepper: bytes, settings: SessionSettings):
        self.pepper = pepper
        self.settings = settings

    def key(self, token: str) -> str:
        return token_hash(self.pepper, "session:" + token)

    def create(self, session: Session, *, now: datetime, user_id: int | None = None, tiers: frozenset[Tier] = frozenset(),
               mfa_pending: bool = False, data: dict | None = None, ip: str | None = None) -> tuple[str, SessionRow]:
        token = new_token()
        row = SessionRow(id=self.key(token), user_id=user_id, tiers=sorted(t.value for t in tiers),
                         mfa_pending=mfa_pending, data=dict(data or {}), created_at=now, last_seen_at=now, ip=ip)
        session.add(row)
        session.flush()
        return token, row

    def load(self, session: Session, token: str | None, *, now: datetime) -> Loaded:
        if not token or len(token) > 100:
            return Loaded(None)
        row = session.get(SessionRow, self.key(token))
        if row is None or row.revoked_at is not None:
            return Loaded(None)
        ended = self.timed_out(row, now)
        if ended is not None:
            self.revoke(row, now=now, reason=f"{ended} timeout")
            return Loaded(None, ended)
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
        return Loaded(row)

    def timed_out(self, row: SessionRow, now: datetime) -> str | None:
        """"idle" or "absolute" when the session has run out of time for its tiers' limits; None while it has not."""
        limits = self.settings.for_tiers({Tier(t) for t in row.tiers})
        if now - row.last_seen_at > timedelta(minutes=limits.idle_minutes):
            return "idle"
        if now - row.created_at > timedelta(hours=limits.absolute_hours):
            return "absolute"
        return None

    def ended_reason(self, session: Session, session_id: str, now: datetime) -> str | None:
        """Why the session ``session_id`` (its stored id) no longer holds (None: it still does): revoked (with the
        reason recorded), timed out, or gone. For work that outlives a request (an export) and must stop with it."""
        row = session.get(SessionRow, session_id)
        if row is None:
            return "the session no longer exists"
        if row.revoked_at is not None:
            return f"the session ended ({row.revoked_reason or 'signed out'})"
        timed_out = self.timed_out(row, now)
        return f"the session timed out ({timed_out})" if timed_out else None

    def revoke(self, row: SessionRow, *, now: datetime, reason: str) -> None:
        row.revoked_at, row.revoked_reason = now, reason[:200]

    def revoke_all(self, session: Session, user_id: int, *, now: datetime, reason: str, keep: str | None = None) -> int:
        """Revoke every live session of ``user_id`` (but ``keep``, a session id); the number revoked."""
        query = (update(SessionRow).where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
                 .values(revoked_at=now, revoked_reason=reason[:200]))
        if keep is not None:
            query = query.where(SessionRow.id != keep)
        return session.execute(query).rowcount or 0

    def live_sessions(self, session: Session, user_id: int) -> list[SessionRow]:
        return list(session.scalars(select(SessionRow).where(SessionRow.user_id == user_id,
                                                             SessionRow.revoked_at.is_(None))
                                    .order_by(SessionRow.created_at.desc())))
