"""``ServerSessions``: the session cookie ↔ the ``sessions`` table, and API tokens, for every request.

On the way in it loads the viewer (one short database transaction, in a worker thread); on the way out, when the
response starts, it saves what the handler changed (session data, a new or ended session) and sets or clears the
cookie. The cookie is opaque, HttpOnly and SameSite=Lax (Lax, not Strict: the identity provider's redirect back
to the callback is a top-level GET from another site and must carry it). A request with ``Authorization: Bearer``
is authenticated by the token alone: cookies are ignored, so the CSRF exemption for bearer requests cannot be
used to ride on a browser's session.
"""

from __future__ import annotations

import copy
from http.cookies import SimpleCookie

from anyio import to_thread
from sqlalchemy.orm import joinedload
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts import api_tokens, tier_changes
from ..accounts.audit import AuditAction
from ..accounts.modules import Tier
from ..state.models import Institution, User
from .services import Services
from .viewer import AUTH_KEY, Viewer

COOKIE = "rw_session"


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _load_user(session, user_id: int) -> User | None:
    # One statement (joins, not a statement per relationship): this runs on every signed-in request.
    return session.get(User, user_id, options=[joinedload(User.modules),
                                              joinedload(User.institution).joinedload(Institution.rules)])


class _NeedsWrite(Exception):
    """A read-only load found something to write: load again in a write transaction."""


class ServerSessions:
    def __init__(self, app: ASGIApp, services: Services):
        self.app = app
        self.services = services

    # -- loading ---------------------------------------------------------------------------------------------
    def _load(self, token: str | None, bearer: str | None, ip: str) -> Viewer:
        """Most requests only read: they load in a read-only transaction, which on SQLite does not take the write
        lock. When the session needs a write (its once-a-minute touch, a timeout, a tier change, a token's last
        use), the load is done again in a write transaction."""
        try:
            with self.services.db.reading() as session:
                return self._load_in(session, token, bearer, ip, write=False)
        except _NeedsWrite:
            with self.services.db.session() as session:
                return self._load_in(session, token, bearer, ip, write=True)

    def _load_in(self, session, token: str | None, bearer: str | None, ip: str, *, write: bool) -> Viewer:
        s = self.services
        now = s.now()
        viewer = Viewer(ip=ip)

        def writes() -> None:
            if not write and (session.dirty or session.new):
                raise _NeedsWrite

        if bearer is not None:
            row = api_tokens.authenticate(session, bearer, now=now, pepper=s.keys.tokens)
            writes()
            if row is not None:
                user = _load_user(session, row.user_id)
                if user is not None and user.disabled_at is None:
                    viewer.user, viewer.token = user, row
                    viewer.access = s.evaluator.state(user, now)
            return viewer
        loaded = s.sessions.load(session, token, now=now)
        writes()
        viewer.ended = loaded.expired_reason
        row = loaded.row
        if row is None:
            return viewer
        viewer.session_id = row.id
        viewer.data = copy.deepcopy(row.data)
        viewer.mfa_pending = row.mfa_pending
        if row.user_id is None:
            return viewer
        user = _load_user(session, row.user_id)
        if user is None or user.disabled_at is not None:
            if not write:
                raise _NeedsWrite
            s.sessions.revoke(row, now=now, reason="account disabled")
            return Viewer(ip=ip, ended="disabled")
        state = s.evaluator.state(user, now)
        if tier_changes.changed(user, state):
            if not write:
                raise _NeedsWrite
            tier_changes.reconcile(session, s.audit, user, state, ip=ip)
        had = {Tier(t) for t in row.tiers}
        if not had <= state.granted:
            if not write:
                raise _NeedsWrite
            s.sessions.revoke(row, now=now, reason="access changed")
            s.audit.append(session, AuditAction.SESSION_REVOKED, actor_id=None, target_user_id=user.id, ip=ip,
                           details={"reason": "access changed", "lost": sorted(t.value for t in had - state.granted)})
            return Viewer(ip=ip, ended="access changed")
        if state.granted != had:
            if not write:
                raise _NeedsWrite
            row.tiers = sorted(t.value for t in state.granted)
        viewer.user, viewer.access = user, state
        return viewer

    # -- saving ----------------------------------------------------------------------------------------------
    def _save(self, viewer: Viewer, original: dict) -> str | None:
        """Carry out what the handler asked; the cookie value to set ("" clears it, None leaves it)."""
        if viewer.end_session is None and viewer.new_session is None and viewer.data == original:
            return None  # nothing changed: no transaction at all
        s = self.services
        now = s.now()
        from ..state.models import Session as SessionRow

        with s.db.session() as session:
            if viewer.end_session is not None:
                if viewer.session_id:
                    row = session.get(SessionRow, viewer.session_id)
                    if row is not None and row.revoked_at is None:
                        s.sessions.revoke(row, now=now, reason=viewer.end_session)
                return ""
            if viewer.new_session is not None:
                wanted = viewer.new_session
                data = dict(viewer.data) if wanted.get("keep_data") else {
                    k: v for k, v in viewer.data.items() if k.startswith("rw.") and k != AUTH_KEY}
                data[AUTH_KEY] = {"mfa": wanted.get("mfa")}
                if viewer.session_id:
                    old = session.get(SessionRow, viewer.session_id)
                    if old is not None and old.revoked_at is None:
                        s.sessions.revoke(old, now=now, reason="replaced at sign-in")
                tiers = frozenset()
                if wanted["user_id"] is not None and not wanted["mfa_pending"]:
                    user = _load_user(session, wanted["user_id"])
                    if user is not None:
                        tiers = s.evaluator.state(user, now).granted
                token, _ = s.sessions.create(session, now=now, user_id=wanted["user_id"], tiers=tiers,
                                             mfa_pending=wanted["mfa_pending"], data=data, ip=viewer.ip)
                return token
            if viewer.data != original:
                if viewer.session_id:
                    row = session.get(SessionRow, viewer.session_id)
                    if row is not None and row.revoked_at is None:
                        row.data = viewer.data
                        return None
                if viewer.data:  # an anonymous visitor's first draft or OIDC state: a session to hold it
                    token, _ = s.sessions.create(session, now=now, data=viewer.data, ip=viewer.ip)
                    return token
        return None

    def _cookie_header(self, value: str) -> tuple[bytes, bytes]:
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if value == "":
            parts.append("Max-Age=0")
        if self.services.config.sessions.cookie_secure:
            parts.append("Secure")
        return b"set-cookie", "; ".join(parts).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        bearer = auth[7:].strip() if auth.startswith("Bearer ") else None
        token = None
        if bearer is None and b"cookie" in headers:
            cookie = SimpleCookie()
            try:
                cookie.load(headers[b"cookie"].decode("latin-1"))
            except Exception:  # an unparseable cookie header: treat as no session
                cookie = SimpleCookie()
            if COOKIE in cookie:
                token = cookie[COOKIE].value
        ip = client_ip(scope)
        if token is None and bearer is None:
            viewer = Viewer(ip=ip)
        else:
            viewer = await to_thread.run_sync(self._load, token, bearer, ip)
        original = copy.deepcopy(viewer.data)
        scope.setdefault("state", {})["viewer"] = viewer
        scope["session"] = viewer.data  # Authlib's Starlette client keeps its OIDC state here
        cleared = token is not None and viewer.session_id is None and bearer is None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = None
                if bearer is None and (viewer.end_session is not None or viewer.new_session is not None
                                       or viewer.data != original):
                    value = await to_thread.run_sync(self._save, viewer, original)
                if value is None and cleared:
                    value = ""
                if value is not None:
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + [self._cookie_header(value)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
