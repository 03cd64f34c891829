"""Redirects with relative locations only.

Starlette's own trailing-slash redirect builds an absolute URL from the request's ``Host`` header, so a forged
header came back in ``Location``. ``SecureApp`` turns it off and uses ``TrailingSlashMiddleware`` instead:
``/about/`` → ``/about`` (query kept), only when the path without the slash is a route, with a path-absolute
location. ``relative_location`` makes sure such a location can never be read as another host's URL: leading
slashes collapse to one (``//evil.example/`` would be protocol-relative) and backslashes are percent-encoded
(browsers read ``/\\evil.example`` as ``//evil.example``).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def _ascii(part: str | bytes) -> str:
    raw = part.encode("utf-8") if isinstance(part, str) else part
    return "".join(chr(b) if 0x21 <= b < 0x7F else f"%{b:02X}" for b in raw)


def relative_location(path: str | bytes, query: str | bytes = "") -> str:
    """A path-absolute location on this server (never ``//host`` or a scheme); other bytes percent-encoded."""
    location = "/" + _ascii(path).replace("\\", "%5C").lstrip("/")
    query = _ascii(query)
    return location + "?" + query if query else location


def redirect(path: str | bytes, query: str | bytes = "", status_code: int = 307) -> Response:
    return Response(status_code=status_code, headers={"location": relative_location(path, query)})


class TrailingSlashMiddleware:
    def __init__(self, app: ASGIApp, router: Router):
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/") and scope.get("method") in ("GET", "HEAD"):
            stripped = "/" + path.strip("/")
            probe = {**scope, "path": stripped}
            if any(route.matches(probe)[0] != Match.NONE for route in self.router.routes):
                # from the decoded path, re-encoded: the target cannot end with a slash (an encoded %2F included),
                # so the redirect cannot loop
                target = quote(stripped, safe="/:@!$&'()*+,;=-._~")
                await redirect(target, scope.get("query_string", b""))(scope, receive, send)
                return
        await self.app(scope, receive, send)
