"""One-time tickets (Workbench host → notebook host) and the notebook host's own sessions.

The Workbench host never shares a cookie with the notebook host: its "Open in JupyterLab" mints a ticket — random,
kept here only as its SHA-256, bound to the user, the workspace, the notebook and the Workbench session it was
minted in, good for one use within ``TICKET_TTL`` — and redirects the browser to the notebook host with it. The
notebook host turns the ticket into a session of its own (another random value, its own HttpOnly, SameSite=Strict
cookie); the Workbench's session cookie means nothing there. A notebook session names its user, the Workbench
session it came from (when that one ends, so does this) and the workspaces its tickets were for.

Both live in this process's memory: a restart signs everyone out of the notebook host (their servers stop with
it anyway), and ``workbench serve --workers N`` needs sticky routing by host for notebooks.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TICKET_TTL = timedelta(seconds=60)
SESSION_TTL = timedelta(hours=12)  # at most; it ends earlier with the Workbench session it came from
MAX_TICKETS = 10_000
MAX_SESSIONS = 10_000


def _key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Ticket:
    user_id: int
    who: str  # how locks name the user
    namespace: str
    notebook: str
    session_id: str  # the Workbench session it was minted in
    expires: datetime


@dataclass
class NotebookSession:
    user_id: int
    who: str
    session_id: str
    expires: datetime
    namespaces: set[str] = field(default_factory=set)


class TicketBook:
    def __init__(self) -> None:
        self._tickets: dict[str, Ticket] = {}
        self._sessions: dict[str, NotebookSession] = {}
        self._lock = threading.Lock()

    # -- tickets ------------------------------------------------------------------------------------------------
    def mint(self, *, user_id: int, who: str, namespace: str, notebook: str, session_id: str, now: datetime) -> str:
        plain = secrets.token_urlsafe(32)
        with self._lock:
            self._prune(now)
            if len(self._tickets) >= MAX_TICKETS:
                raise RuntimeError("too many notebook tickets waiting: try again in a minute")
            self._tickets[_key(plain)] = Ticket(user_id, who, namespace, notebook, session_id, now + TICKET_TTL)
        return plain

    def redeem(self, plain: str | None, *, now: datetime) -> Ticket | None:
        """The ticket ``plain`` names, used up (a second use finds nothing); None when unknown or expired."""
        if not plain or len(plain) > 200:
            return None
        with self._lock:
            ticket = self._tickets.pop(_key(plain), None)
        return ticket if ticket is not None and ticket.expires > now else None

    # -- sessions -----------------------------------------------------------------------------------------------
    def start_session(self, ticket: Ticket, *, now: datetime, current: str | None = None) -> tuple[str, NotebookSession]:
        """The notebook session for a redeemed ticket: the browser's ``current`` one when it is the same user's and
        the same Workbench session's (it gains the workspace), else a new one (its cookie value is returned)."""
        with self._lock:
            self._prune(now)
            if current:
                held = self._sessions.get(_key(current))
                if (held is not None and held.expires > now and held.user_id == ticket.user_id
                        and held.session_id == ticket.session_id):
                    held.namespaces.add(ticket.namespace)
                    return current, held
                self._sessions.pop(_key(current), None)
            if len(self._sessions) >= MAX_SESSIONS:
                raise RuntimeError("too many notebook sessions: try again later")
            plain = secrets.token_urlsafe(32)
            session = NotebookSession(ticket.user_id, ticket.who, ticket.session_id, now + SESSION_TTL,
                                      {ticket.namespace})
            self._sessions[_key(plain)] = session
            return plain, session

    def session(self, plain: str | None, *, now: datetime) -> NotebookSession | None:
        if not plain or len(plain) > 200:
            return None
        with self._lock:
            held = self._sessions.get(_key(plain))
            if held is not None and held.expires <= now:
                self._sessions.pop(_key(plain), None)
                return None
            return held

    def end_session(self, plain: str) -> None:
        with self._lock:
            self._sessions.pop(_key(plain), None)

    def drop_namespace(self, plain: str, namespace: str) -> None:
        with self._lock:
            held = self._sessions.get(_key(plain))
            if held is not None:
                held.namespaces.discard(namespace)

    def _prune(self, now: datetime) -> None:
        for key in [k for k, t in self._tickets.items() if t.expires <= now]:
            del self._tickets[key]
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]
