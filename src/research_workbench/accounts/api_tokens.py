"""Personal API tokens for the SDK and notebooks: scoped, expiring, revocable, stored as a keyed hash only.

A token reads ``rwpat_<prefix>_<secret>``; the prefix is kept in clear so a list can show which token is which.
A token never gives more than its owner has: the API's guards evaluate the owner's access on every call.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cdr.problems import Problem, ProblemsError
from ..state.models import ApiToken, User
from .opaque import new_token, token_hash

SCOPES = {
    "profile:read": "read your profile and access status",
    "workspaces:read": "read your workspaces, cohorts and datasets",
    "workspaces:write": "create and change workspaces, cohorts and datasets",
    "data:read": "read participant-level data your tiers allow (every read is in the audit log)",
}
MAX_DAYS = 365
MAX_TOKENS = 20
# The name of the tokens a notebook server's kernels get: their reads stay inside the Workbench and are not counted
# as downloads (``egress``), so no token a person creates may take it.
KERNEL_TOKEN_PREFIX = "notebook kernels"
_FORMAT = re.compile(r"^rwpat_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{20,100})$")


class TokenError(ProblemsError):
    heading = "cannot create the token"


def _prefix() -> str:
    return "".join(c for c in new_token(16) if c.isalnum())[:8].ljust(8, "x")


def create_token(session: Session, user: User, *, name: str, scopes: list[str], days: int, now: datetime,
                 pepper: bytes, for_kernels: bool = False, workspace_id: int | None = None) -> tuple[str, ApiToken]:
    """A new token; ``for_kernels``: a notebook server's (named ``KERNEL_TOKEN_PREFIX …``, a name no one else may
    give a token); ``workspace_id``: the one workspace it reaches (None: every workspace of its owner)."""
    problems = []
    name = name.strip()
    if not 1 <= len(name) <= 80:
        problems.append(Problem("1 to 80 characters", "name"))
    elif name.lower().startswith(KERNEL_TOKEN_PREFIX) != for_kernels:
        problems.append(Problem(f"names starting with {KERNEL_TOKEN_PREFIX!r} are kept for notebook servers' kernels"
                                if not for_kernels else f"a kernels' token is named {KERNEL_TOKEN_PREFIX!r} …", "name"))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        problems.append(Problem(f"choose one or more of {', '.join(SCOPES)}" if not scopes
                                else f"unknown scope {unknown[0]!r}", "scopes"))
    if not 1 <= days <= MAX_DAYS:
        problems.append(Problem(f"1 to {MAX_DAYS} days", "days"))
    live = [t for t in user_tokens(session, user) if t.revoked_at is None and t.expires_at > now]
    if len(live) >= MAX_TOKENS:
        problems.append(Problem(f"you have {MAX_TOKENS} live tokens: revoke one first", "name"))
    if problems:
        raise TokenError(problems)
    prefix = _prefix()
    secret = new_token(32)
    plain = f"rwpat_{prefix}_{secret}"
    row = ApiToken(user_id=user.id, name=name, prefix=prefix, token_hash=token_hash(pepper, plain),
                   scopes=sorted(set(scopes)), created_at=now, expires_at=now + timedelta(days=days),
                   workspace_id=workspace_id)
    session.add(row)
    session.flush()
    return plain, row


def authenticate(session: Session, plain: str, *, now: datetime, pepper: bytes) -> ApiToken | None:
    """The live token ``plain`` is, or None (unknown, malformed, expired or revoked)."""
    if not _FORMAT.fullmatch(plain or ""):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(pepper, plain)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at >= timedelta(minutes=1):
        row.last_used_at = now
    return row


def user_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())))


def revoke_token(session: Session, user: User, token_id: int, *, now: datetime) -> ApiToken | None:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        return None
    if row.revoked_at is None:
        row.revoked_at = now
    return row
