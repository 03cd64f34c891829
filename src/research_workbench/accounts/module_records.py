"""Writing module completions and bypasses (each one audited by the caller's ``AuditLog``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..state.models import ModuleStatus, User
from .modules import MODULES, Module


def status_row(session: Session, user: User, module: Module) -> ModuleStatus:
    for row in user.modules:
        if row.module == module.value:
            return row
    row = ModuleStatus(module=module.value, details={})
    user.modules.append(row)
    session.flush()
    return row


def complete(session: Session, user: User, module: Module, *, now: datetime, version: str | None = None,
             details: dict[str, Any] | None = None) -> ModuleStatus:
    row = status_row(session, user, module)
    row.completed_at, row.version, row.details = now, version, dict(details or {})
    return row


def reset(session: Session, user: User, module: Module) -> ModuleStatus:
    """Mark ``module`` as never done (a forced re-verification); the audit log keeps the history."""
    row = status_row(session, user, module)
    row.completed_at, row.version, row.details = None, None, {}
    return row


def bypass(session: Session, user: User, module: Module, *, until: datetime | None, reason: str | None,
           by: User) -> ModuleStatus:
    if not MODULES[module].bypassable:
        raise ValueError(f"{module.value} cannot be bypassed")
    row = status_row(session, user, module)
    row.bypass_until, row.bypass_reason, row.bypassed_by = until, reason, by.id if until else None
    return row
