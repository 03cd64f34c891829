"""Links sent by email (verify an address): single use, expiring, stored as a keyed hash."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..state.models import EmailToken, User
from .opaque import new_token, token_hash


class LinkProblem(StrEnum):
    UNKNOWN = "This link is not valid. Check that you copied all of it, or ask for a new one."
    USED = "This link has already been used."
    EXPIRED = "This link has expired. Ask for a new one."


class LinkError(ValueError):
    def __init__(self, problem: LinkProblem):
        self.problem = problem
        super().__init__(problem.value)


def issue_link(session: Session, user: User, *, purpose: str, now: datetime, hours: int, pepper: bytes) -> str:
    token = new_token()
    session.add(EmailToken(user_id=user.id, purpose=purpose, token_hash=token_hash(pepper, f"{purpose}:{token}"),
                           created_at=now, expires_at=now + timedelta(hours=hours)))
    session.flush()
    return token


def use_link(session: Session, token: str, *, purpose: str, now: datetime, pepper: bytes) -> User:
    """The user the link is for, marking it used; ``LinkError`` when it is unknown, used or expired."""
    if not token or len(token) > 100:
        raise LinkError(LinkProblem.UNKNOWN)
    row = session.scalar(select(EmailToken).where(EmailToken.token_hash == token_hash(pepper, f"{purpose}:{token}"),
                                                  EmailToken.purpose == purpose))
    if row is None:
        raise LinkError(LinkProblem.UNKNOWN)
    if row.used_at is not None:
        raise LinkError(LinkProblem.USED)
    if row.expires_at <= now:
        raise LinkError(LinkProblem.EXPIRED)
    row.used_at = now
    user = session.get(User, row.user_id)
    assert user is not None
    return user
