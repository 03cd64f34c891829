"""Tier changes in the audit log: a user's ``tiers`` column holds the tiers last seen granted; ``reconcile``
compares it with the evaluator's answer and writes one TIER_GRANTED or TIER_LOST row per tier that changed.

It runs on every signed-in request (a change the user or an admin made shows up on the user's next request) and
over every account in the hourly job (a tier that lapses while nobody is signed in is logged within the hour).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..state.models import User
from .access import AccessState
from .audit import AuditAction, AuditLog
from .modules import Tier


def changed(user: User, state: AccessState) -> bool:
    return set(user.tiers or []) != {t.value for t in state.granted}


def reconcile(session: Session, audit: AuditLog, user: User, state: AccessState, *,
              ip: str | None = None) -> tuple[list[Tier], list[Tier]]:
    """Audit and record the tiers ``user`` gained and lost since last seen; (gained, lost)."""
    had = {Tier(t) for t in user.tiers or []}
    gained = [t for t in Tier if t in state.granted and t not in had]
    lost = [t for t in Tier if t in had and t not in state.granted]
    for tier in gained:
        ends = state.tiers[tier].expires_at
        audit.append(session, AuditAction.TIER_GRANTED, target_user_id=user.id, ip=ip,
                     details={"tier": tier.value, "until": ends.isoformat() if ends else None})
    for tier in lost:
        audit.append(session, AuditAction.TIER_LOST, target_user_id=user.id, ip=ip,
                     details={"tier": tier.value, "missing": [m.value for m in state.tiers[tier].missing],
                              "disabled": state.disabled})
    if gained or lost:
        user.tiers = sorted(t.value for t in state.granted)
    return gained, lost
