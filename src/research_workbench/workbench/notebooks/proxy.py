"""The notebook host: an ASGI app in front of the users' JupyterLab servers.

Its routes, all under ``/notebooks/``:

- ``GET /notebooks/enter?ticket=…``: a ticket minted by the Workbench's "Open in JupyterLab" becomes this host's
  own session (cookie ``rw_notebooks``: HttpOnly, SameSite=Strict, path ``/notebooks/``), and a page that moves on
  to the notebook in JupyterLab. A page, not a redirect: a SameSite=Strict cookie is not sent on a redirect that
  continues a navigation started on another site, and the Workbench is another site.
- ``/notebooks/<user id>/<namespace>/…`` (HTTP and WebSocket): that user's server for that workspace. Every
  request needs the session cookie of that user, for a workspace a ticket was minted for; and, checked again at
  most ``RECHECK`` seconds apart (and every ``RECHECK`` seconds on an open WebSocket), their Workbench session still
  live, their account enabled, the workspace's tier held and the Writer role in it (a member removed or a tier lost
  is cut off). Browser cookies and ``Authorization`` are dropped and the server's token is added; unsafe methods
  and WebSockets must come from the notebook origin. The token is scrubbed from every response body, header and
  WebSocket message, so not even JupyterLab's page (which embeds it) hands it to the browser.
- A notebook saved, renamed or deleted from JupyterLab takes (or must not break) the edit lock: the first editor
  holds it; another user's save is refused with 423 and the holder's name, which JupyterLab shows.

Everything else on this host is refused (403 without a session, 404 for other paths); the Workbench's own routes
and its session cookie are never served or accepted here.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import weakref
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote

from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from ...accounts.config import WorkbenchConfig
from ...state.models import User
from ...web.hosts import host_name
from ...workspaces import notebooks as files
from ...workspaces import roles
from ...workspaces.roles import Role
from . import Notebooks
from .spawner import NotebookServer
from .tickets import NotebookSession

log = logging.getLogger(__name__)

COOKIE = "rw_notebooks"
ENTER = "/notebooks/enter"
RECHECK = 5.0  # seconds a positive access check is trusted for
WS_RECHECK = 30.0
DROPPED_REQUEST = {b"host", b"cookie", b"authorization", b"connection", b"keep-alive", b"proxy-authorization",
                   b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"accept-encoding",
                   b"content-length", b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto"}
DROPPED_RESPONSE = {"connection", "keep-alive", "proxy-authenticate", "trailer", "transfer-encoding", "upgrade",
                    "content-length", "content-encoding", "set-cookie", "server"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PAGE_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class Scrubber:
    """Removes ``secret`` from a stream of chunks, including where it straddles two chunks."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.keep = len(self.secret) - 1
        self.tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = (self.tail + chunk).replace(self.secret, b"")
        if len(data) <= self.keep:
            self.tail = data
            return b""
        out, self.tail = data[: len(data) - self.keep], data[len(data) - self.keep:]
        return out

    def end(self) -> bytes:
        out, self.tail = self.tail.replace(self.secret, b""), b""
        return out


def _header(scope: Scope, name: bytes) -> str | None:
    found = [v for k, v in scope.get("headers", ()) if k.lower() == name]
    if len(found) != 1:
        return None
    return found[0].decode("latin-1")


def _cookie(scope: Scope) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"cookie"]
    jar = SimpleCookie()
    for value in values:
        try:
            jar.load(value)
        except Exception:  # an unparseable cookie header: no session
            return None
    return jar[COOKIE].value if COOKIE in jar else None


def _target(path: str) -> tuple[int, str, str] | None:
    """(user id, namespace, the rest) of a server path ``/notebooks/<id>/<namespace>/<rest>``."""
    parts = path.split("/", 4)
    if len(parts) < 4 or parts[0] != "" or parts[1] != "notebooks" or not parts[2].isdigit() or len(parts[2]) > 12:
        return None
    namespace = parts[3]
    if not files.is_namespace(namespace):
        return None
    rest = parts[4] if len(parts) == 5 else ""
    if len(parts) == 4 or any(seg in (".", "..") for seg in unquote(rest).split("/")):
        return None
    return int(parts[2]), namespace, rest


class NotebookProxy:
    def __init__(self, notebooks: Notebooks):
        self.notebooks = notebooks
        self.services = notebooks.services
        self.config: WorkbenchConfig = notebooks.services.config
        self.host = notebooks.host
        self.origin = notebooks.origin
        self._checked: dict[tuple[str, str], float] = {}
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def in_front_of(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every request for the notebook host handed to this proxy instead (before any of its
        layers: the Workbench's CSP, CSRF and sessions are not the notebook host's)."""

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket") and host_name(_header(scope, b"host")) == self.host:
                await self(scope, receive, send)
            else:
                await app(scope, receive, send)

        return dispatch

    # -- answers of its own --------------------------------------------------------------------------------------
    async def _page(self, send: Send, status: int, title: str, text: str, *, link: tuple[str, str] | None = None,
                    headers: list[tuple[bytes, bytes]] | None = None, refresh: str | None = None) -> None:
        more = f'<meta http-equiv="refresh" content="0;url={html.escape(refresh)}">' if refresh else ""
        anchor = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f'{more}</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{anchor}</body></html>'
                ).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"content-security-policy", PAGE_CSP.encode()),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    async def _json(self, send: Send, status: int, message: str) -> None:
        import json

        body = json.dumps({"message": message, "reason": message}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})

    def _workbench(self, path: str = "/workspaces") -> str:
        return self.config.base_url.rstrip("/") + path

    async def _refused(self, send: Send, status: int = 403) -> None:
        await self._page(send, status, "Open notebooks from the Workbench" if status == 403 else "Not found",
                         "This address serves notebooks only to a person who opened them from the Workbench: sign "
                         "in there and choose Open in JupyterLab on the workspace's Notebooks page.",
                         link=(self._workbench(), "Go to your workspaces"))

    def _set_cookie(self, value: str, *, clear: bool = False) -> tuple[bytes, bytes]:
        parts = [f"{COOKIE}={value}", "Path=/notebooks/", "HttpOnly", "SameSite=Strict"]
        if clear:
            parts.append("Max-Age=0")
        if self.config.sessions.cookie_secure:
            parts.append("Secure")
        return b"set-cookie", "; ".join(parts).encode("latin-1")

    # -- who may -------------------------------------------------------------------------------------------------
    def _still_allowed(self, held: NotebookSession, namespace: str) -> str | None:
        """Why ``held``'s user may no longer use their server in ``namespace`` (None: they may)."""
        s = self.services
        now = s.now()
        with s.db.reading() as session:
            ended = s.sessions.ended_reason(session, held.session_id, now)
            if ended is not None:
                return ended
            user = session.get(User, held.user_id)
            if user is None or user.disabled_at is not None:
                return "the account is disabled"
            try:
                roles.require(session, namespace, user, s.evaluator.state(user, now), Role.WRITER)
            except roles.WorkspaceNotFound:
                return "not a member of the workspace (or its tier is not held)"
            except (roles.WorkspaceLocked, roles.WorkspaceForbidden) as exc:
                return str(exc)
        return None

    async def _authorize(self, cookie: str | None, user_id: int, namespace: str, *,
                         fresh: bool = False) -> tuple[NotebookSession, NotebookServer] | int:
        """The session and the running server, or the status to refuse with (403; 404 when not running)."""
        now = self.services.now()
        held = self.notebooks.tickets.session(cookie, now=now)
        if held is None or held.user_id != user_id or namespace not in held.namespaces:
            return 403
        key = (cookie, namespace)
        checked = self._checked.get(key)
        if fresh or checked is None or time.monotonic() - checked > RECHECK:
            reason = await to_thread.run_sync(self._still_allowed, held, namespace)
            if reason is not None:
                log.info("notebook access of user %s to %s ended: %s", user_id, namespace, reason)
                self._checked.pop(key, None)
                self.notebooks.tickets.drop_namespace(cookie, namespace)
                return 403
            if len(self._checked) > 10_000:
                self._checked.clear()
            self._checked[key] = time.monotonic()
        server = self.notebooks.spawner.running(user_id, namespace)
        return 404 if server is None else (held, server)

    # -- the ASGI app ------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == ENTER:
            await self._enter(scope, send)
            return
        target = _target(path)
        if target is None:
            await self._refused(send, 403 if path.startswith("/notebooks/") or path == "/" else 404)
            return
        user_id, namespace, rest = target
        method = scope["method"]
        if method in UNSAFE:
            origin = _header(scope, b"origin")
            if origin is not None and origin != self.origin:
                await self._refused(send)
                return
        decision = await self._authorize(_cookie(scope), user_id, namespace)
        if isinstance(decision, int):
            if decision == 404:
                await self._page(send, 404, "This notebook server is not running",
                                 "It stopped after a while without use, or the Workbench restarted. Open the notebook "
                                 "again from the workspace's Notebooks page.",
                                 link=(self._workbench(f"/workspaces/{namespace}/notebooks"), "Back to the notebooks"))
            else:
                await self._refused(send)
            return
        held, server = decision
        if method in ("PUT", "PATCH", "DELETE") and rest.startswith("api/contents/"):
            refusal = await to_thread.run_sync(self._lock_for_write, held, namespace, unquote(rest[13:]), method)
            if refusal is not None:
                await self._json(send, 423, refusal)
                return
        await self._forward(scope, receive, send, server)

    async def _enter(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        plain = (query.get("ticket") or [None])[0]
        now = self.services.now()
        ticket = self.notebooks.tickets.redeem(plain, now=now)
        if ticket is None or scope["method"] != "GET":
            await self._page(send, 403, "This link has expired",
                             "A link into JupyterLab works once, for a minute. Open the notebook again from the "
                             "Workbench.", link=(self._workbench(), "Go to your workspaces"))
            return
        server = self.notebooks.spawner.running(ticket.user_id, ticket.namespace)
        if server is None:
            await self._refused(send, 404)
            return
        value, _ = self.notebooks.tickets.start_session(ticket, now=now, current=_cookie(scope))
        lab = self.notebooks.lab_path(server, ticket.notebook)
        await self._page(send, 200, "Opening JupyterLab…", f"Opening {ticket.notebook} in JupyterLab.",
                         link=(lab, "Continue to JupyterLab"), refresh=lab, headers=[self._set_cookie(value)])

    def _lock_for_write(self, held: NotebookSession, namespace: str, name: str, method: str) -> str | None:
        """Take the edit lock of a notebook saved from JupyterLab (the first editor holds it); the refusal when
        another person holds it."""
        if "/" in name or not name.endswith(files.SUFFIX):
            return None  # locks are for the workspace's notebooks, the folder's top level
        now = self.services.now()
        try:
            if method == "PUT":
                files.acquire(self.notebooks.root, namespace, name, user_id=held.user_id, who=held.who, now=now)
            else:
                lock = files.lock_of(self.notebooks.root, namespace, name, now=now)
                if lock is not None and lock.user_id != held.user_id:
                    raise files.NotebookLocked(name, lock)
        except files.NotebookLocked as locked:
            return str(locked)
        return None

    # -- forwarding --------------------------------------------------------------------------------------------
    def _client(self):
        import httpx2

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx2.AsyncClient(timeout=httpx2.Timeout(60, connect=5), trust_env=False,
                                        follow_redirects=False)
            self._clients[loop] = client
        return client

    @staticmethod
    def _upstream_path(scope: Scope) -> str:
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else quote(scope["path"])
        query = scope.get("query_string", b"")
        return path + ("?" + query.decode("latin-1") if query else "")

    async def _forward(self, scope: Scope, receive: Receive, send: Send, server: NotebookServer) -> None:
        import httpx2

        headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() not in DROPPED_REQUEST]
        headers += [(b"authorization", f"token {server.token}".encode()), (b"accept-encoding", b"identity")]

        async def body():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return

        client = self._client()
        request = client.build_request(scope["method"], server.upstream + self._upstream_path(scope),
                                       headers=headers, content=body())
        try:
            response = await client.send(request, stream=True)
        except httpx2.HTTPError as err:
            log.warning("notebook server %s: %s", server.key, err)
            await self._page(send, 502, "The notebook server did not answer",
                             "It may be stopping or restarting: open the notebook again from the Workbench.")
            return
        token = server.token
        try:
            secret = token.encode()
            out = [(k, v.replace(secret, b"")) for k, v in response.headers.raw
                   if k.decode("latin-1").lower() not in DROPPED_RESPONSE]
            out += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            scrub = Scrubber(token)
            async for chunk in response.aiter_bytes():
                clean = scrub.feed(chunk)
                if clean:
                    await send({"type": "http.response.body", "body": clean, "more_body": True})
            await send({"type": "http.response.body", "body": scrub.end(), "more_body": False})
        finally:
            await response.aclose()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        first = await receive()
        if first["type"] != "websocket.connect":
            return
        target = _target(scope["path"])
        if target is None or _header(scope, b"origin") != self.origin:
            await send({"type": "websocket.close", "code": 1008})
            return
        user_id, namespace, _ = target
        cookie = _cookie(scope)
        decision = await self._authorize(cookie, user_id, namespace)
        if isinstance(decision, int):
            await send({"type": "websocket.close", "code": 1008})
            return
        _, server = decision
        url = "ws://127.0.0.1:%d%s" % (server.port, self._upstream_path(scope))
        wanted = scope.get("subprotocols") or None
        try:
            upstream = await connect(url, additional_headers={"Authorization": f"token {server.token}"},
                                     subprotocols=wanted, max_size=None, compression=None, open_timeout=10,
                                     ping_interval=None)
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as err:
            log.warning("notebook server %s: WebSocket refused: %s", server.key, err)
            await send({"type": "websocket.close", "code": 1011})
            return
        token = server.token
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

        async def from_browser() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await upstream.send(message["text"])
                elif message.get("bytes") is not None:
                    await upstream.send(message["bytes"])

        async def to_browser() -> None:
            try:
                async for message in upstream:
                    if isinstance(message, str):
                        await send({"type": "websocket.send", "text": message.replace(token, "")})
                    else:
                        await send({"type": "websocket.send", "bytes": message.replace(token.encode(), b"")})
            except ConnectionClosed:
                pass

        async def recheck() -> None:
            while True:
                await asyncio.sleep(WS_RECHECK)
                if isinstance(await self._authorize(cookie, user_id, namespace, fresh=True), int):
                    return

        tasks = [asyncio.ensure_future(c()) for c in (from_browser, to_browser, recheck)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream.close()
            try:
                await send({"type": "websocket.close", "code": 1000})
            except Exception:  # the browser has gone already
                pass
