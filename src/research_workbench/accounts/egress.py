"""The daily limit on downloads of participant-level data, and the allowances an administrator grants beyond it.

A download is a ``participant_access`` event of a download purpose (``DOWNLOAD_PURPOSES``: a dataset table read
through the API or the SDK from outside the Workbench, a review set's export, a cohort's participant ids, a genomics
job's participant-level file) in the audit log, so the count is the log's own and cannot drift from it. Reads by a workspace's notebook kernels stay inside the Workbench and are
not downloads (their tokens are named ``KERNEL_TOKEN_PREFIX…``, see ``is_kernel_token``). The day is the UTC day.
An administrator may allow a user more downloads until a time, with a reason (``EgressAllowance``, audited as
``egress_allowed``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..state.models import ApiToken, AuditEvent, EgressAllowance
from .api_tokens import KERNEL_TOKEN_PREFIX

DOWNLOAD_PURPOSES = frozenset({"dataset_read", "cohort_review_export", "cohort_participants", "genomics_download"})
MAX_ALLOWANCE_DAYS = 31


def is_kernel_token(token: ApiToken | None) -> bool:
    return token is not None and token.name.startswith(KERNEL_TOKEN_PREFIX)


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(timezone.utc).date(), time(0, tzinfo=timezone.utc))


def downloads_today(session: Session, user_id: int, now: datetime) -> int:
    """The user's downloads of participant-level data since 00:00 UTC."""
    events = session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == "participant_access", AuditEvent.actor_id == user_id,
        AuditEvent.at >= _day_start(now)))
    return sum(1 for details in events if (details or {}).get("purpose") in DOWNLOAD_PURPOSES)


def allowed_extra(session: Session, user_id: int, now: datetime) -> int:
    """Downloads allowed beyond the limit by live allowances."""
    return int(session.scalar(select(func.coalesce(func.sum(EgressAllowance.downloads), 0)).where(
        EgressAllowance.user_id == user_id, EgressAllowance.valid_until > now)) or 0)


def refusal(session: Session, user_id: int, now: datetime, per_day: int) -> str | None:
    """Why one more download is refused now (None: it is allowed)."""
    done = downloads_today(session, user_id, now)
    limit = per_day + allowed_extra(session, user_id, now)
    if done < limit:
        return None
    resets = (_day_start(now) + timedelta(days=1)).strftime("%H:%M UTC")
    return (f"You have downloaded participant-level data {done:,} times today, the daily limit of {limit:,}; it "
            f"resets at {resets}. Work on the data in the workspace's notebooks (not counted), or ask an "
            f"administrator to allow more, with your reason.")


def allow(session: Session, *, user_id: int, downloads: int, until: datetime, reason: str, by: int,
          now: datetime) -> EgressAllowance:
    row = EgressAllowance(user_id=user_id, downloads=downloads, reason=reason, granted_by=by, created_at=now,
                          valid_until=until)
    session.add(row)
    session.flush()
    return row


def allowances(session: Session, user_id: int, now: datetime) -> list[EgressAllowance]:
    """The user's live allowances, latest first."""
    return list(session.scalars(select(EgressAllowance).where(EgressAllowance.user_id == user_id,
                                                              EgressAllowance.valid_until > now)
                                .order_by(EgressAllowance.id.desc())))
