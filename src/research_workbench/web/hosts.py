"""Trusted hosts: the app answers only for the host names it was configured with.

A request whose ``Host`` header names another host (or is missing or malformed) gets 400 before the app sees it,
so nothing the app builds (a redirect, a link, a cached page) can carry a forged host name. The forged value is
never echoed back, not even in the error message.

Allowed names are exact host names or IP addresses (``127.0.0.1``, ``browser.example.org``, ``::1``) or a
wildcard for sub-domains (``*.example.org``, which does not match ``example.org`` itself). Ports are ignored:
the port is the server's own business.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost")
_NAME = re.compile(r"(?:\*\.)?[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?")
_IPV6 = re.compile(r"[0-9a-f:.]{2,45}")
ErrorResponder = Callable[[Scope, int, str, list[dict]], Response]


def _normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


def parse_allowed_hosts(names: Iterable[str]) -> tuple[str, ...]:
    """Validated, normalised, de-duplicated allowed host names (a ``ValueError`` names a bad one)."""
    out: list[str] = []
    for raw in names:
        name = _normalise(str(raw))
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if not name or not (_NAME.fullmatch(name) or (":" in name and _IPV6.fullmatch(name))):
            raise ValueError(f"not a host name: {raw!r} (give a name like browser.example.org, an IP address, "
                             f"or *.example.org for its sub-domains)")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("at least one allowed host name is needed")
    return tuple(out)


def allowed_hosts_from_env(variable: str) -> tuple[str, ...]:
    """Allowed host names from an environment variable holding a JSON list (unset: ``DEFAULT_ALLOWED_HOSTS``).

    A server sets it for its worker processes, which build their app from the environment."""
    raw = os.environ.get(variable)
    if not raw:
        return DEFAULT_ALLOWED_HOSTS
    names = json.loads(raw)
    if not isinstance(names, list):
        raise ValueError(f"{variable} must be a JSON list of host names")
    return tuple(str(n) for n in names)


def host_name(header: str | None) -> str | None:
    """The host name of a ``Host`` header value without its port, or None when it is missing or malformed."""
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):  # [IPv6]:port
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return name if _IPV6.fullmatch(name) else None
    name, sep, port = value.rpartition(":")
    if not sep:
        name = value
    elif not port.isdigit() or not name:
        return None
    name = name.rstrip(".")
    return name if name and _NAME.fullmatch(name) and not name.startswith("*") else None


def host_allowed(name: str | None, allowed: Iterable[str]) -> bool:
    if name is None:
        return False
    for pattern in allowed:
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def _header(scope: Scope, key: bytes) -> str | None:
    found = [v for k, v in scope.get("headers", ()) if k.lower() == key]
    if len(found) != 1:  # none, or several Host headers: ambiguous, refused
        return None
    try:
        return found[0].decode("ascii")
    except UnicodeDecodeError:
        return None


class TrustedHostMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str], error_response: ErrorResponder):
        self.app = app
        self.allowed = parse_allowed_hosts(allowed_hosts)
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if host_allowed(host_name(_header(scope, b"host")), self.allowed):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = self.error_response(scope, 400, "invalid Host header: this server does not answer for that host name",
                                       [{"where": "header.host", "message": "not one of the server's allowed host names"}])
        await response(scope, receive, send)
