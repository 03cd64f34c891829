"""Who is asking: the ``Viewer`` every handler gets (``request.state.viewer``), loaded once per request by
``ServerSessions`` from the session cookie or an API token, with their access evaluated once.

Handlers change the session only through the viewer (``sign_in``, ``complete_mfa``, ``sign_out``, ``data``);
the middleware writes the change and sets or clears the cookie when the response starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..accounts.access import AccessState
from ..accounts.modules import Tier
from ..state.models import ApiToken, User

AUTH_KEY = "rw.auth"  # session data: how this session authenticated ({"mfa": "totp" | "recovery" | "provider" | None})
FLASH_KEY = "rw.flash"


@dataclass
class Viewer:
    ip: str
    user: User | None = None
    access: AccessState | None = None
    session_id: str | None = None
    mfa_pending: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    token: ApiToken | None = None
    ended: str | None = None  # why the session just ended ("idle", "absolute", "access changed"), shown once
    # What the handler asked for; carried out by the middleware.
    new_session: dict[str, Any] | None = None
    end_session: str | None = None

    @property
    def signed_in(self) -> bool:
        """A fully signed-in user (second step done if it was asked for)."""
        return self.user is not None and not self.mfa_pending

    @property
    def mfa(self) -> str | None:
        return (self.data.get(AUTH_KEY) or {}).get("mfa")

    @property
    def strong(self) -> bool:
        """Signed in with a second factor (or through a token, whose creation needed one)."""
        return self.token is not None or (self.signed_in and self.mfa is not None)

    def has_tier(self, tier: Tier) -> bool:
        return self.signed_in and self.access is not None and tier in self.access.granted and self.strong

    @property
    def is_admin(self) -> bool:
        return (self.signed_in and self.user is not None and self.user.is_admin and self.user.disabled_at is None
                and self.strong and self.token is None)

    def sign_in(self, user: User, *, mfa_pending: bool, mfa: str | None) -> None:
        """Start a new session for ``user`` (a new token: the old one, if any, is revoked: no session fixation)."""
        self.new_session = {"user_id": user.id, "mfa_pending": mfa_pending, "mfa": mfa}

    def complete_mfa(self, method: str) -> None:
        self.new_session = {"user_id": self.user.id if self.user else None, "mfa_pending": False, "mfa": method,
                            "keep_data": True}

    def sign_out(self, reason: str = "signed out") -> None:
        self.end_session = reason

    def flash(self, message: str) -> None:
        self.data.setdefault(FLASH_KEY, []).append(message)

    def take_flashes(self) -> list[str]:
        return self.data.pop(FLASH_KEY, [])
