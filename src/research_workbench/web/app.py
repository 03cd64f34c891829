"""``SecureApp``: FastAPI with the web foundation installed around everything the app does.

From the outside in, every request meets:

1. ``SecurityHeadersMiddleware``: headers on every response, 500s from Starlette's error middleware included;
2. ``TrustedHostMiddleware``: 400 for a ``Host`` that is not allowed (the forged name goes no further);
3. ``StrictInputMiddleware``: 400 for a path or query string that is not clean UTF-8;
4. ``TrailingSlashMiddleware``: ``/x/`` → ``/x`` with a relative location (Starlette's own redirect is off);
5. the app, whose routes (``StrictRoute``) refuse a declared query parameter given twice.

An app's routes live on ``SecureRouter``s (FastAPI routers whose routes are ``StrictRoute`` too), added to the
``SecureApp`` with ``add_routes``.

The app renders these layers' errors itself by setting ``error_response`` (an HTML page for its pages, say);
by default they are ``{"error", "problems"}`` JSON. If the app's renderer fails, the JSON is sent instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Scope

from .headers import DEFAULT_CSP, SecurityHeadersMiddleware, security_headers
from .hosts import DEFAULT_ALLOWED_HOSTS, ErrorResponder, TrustedHostMiddleware, parse_allowed_hosts
from .inputs import StrictInputMiddleware, StrictRoute
from .openapi import openapi_settings
from .redirects import TrailingSlashMiddleware


@dataclass(frozen=True)
class WebSettings:
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    csp: str = DEFAULT_CSP
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", parse_allowed_hosts(self.allowed_hosts))


def json_error(scope: Scope, status: int, message: str, problems: list[dict]) -> Response:
    return JSONResponse({"error": message, "problems": problems}, status_code=status)


class SecureRouter(APIRouter):
    """A router whose routes refuse a declared query parameter given twice, like ``SecureApp``'s own."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("route_class", StrictRoute)
        super().__init__(**kwargs)


class SecureApp(FastAPI):
    def __init__(self, *, web: WebSettings | None = None, **kwargs: Any):
        kwargs.setdefault("redirect_slashes", False)  # its redirect echoes the Host header; TrailingSlashMiddleware instead
        kwargs = {**openapi_settings(), **kwargs}  # the document under /api, no Swagger UI or ReDoc (CDN assets)
        super().__init__(**kwargs)
        self.router.redirect_slashes = False
        self.router.route_class = StrictRoute  # declared query parameters once each
        self.web = web or WebSettings()
        self.error_response: ErrorResponder = json_error

    def add_routes(self, router: APIRouter) -> None:
        """The router's routes as the app's own, matched like routes declared on the app.

        FastAPI's ``include_router`` (0.137 and later) keeps an included router as one node of the app's routes,
        which every request is matched through twice: measured on the Data Browser, 23 µs more per cached answer
        (a third of the app's own time). A router's prefix, tags, dependencies and ``include_in_schema`` are
        applied when its routes are declared, so its routes are complete as they are. ``app.dependency_overrides``
        does not reach them (a route keeps its router's, none); include a router with ``include_router`` where a
        test overrides a dependency.
        """
        self.router.routes.extend(router.routes)

    def _error(self, scope: Scope, status: int, message: str, problems: list[dict]) -> Response:
        try:
            return self.error_response(scope, status, message, problems)
        except Exception:  # the app's own renderer failed: the plain form still answers
            return json_error(scope, status, message, problems)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = TrailingSlashMiddleware(super().build_middleware_stack(), self.router)
        app = StrictInputMiddleware(app, self._error)
        app = TrustedHostMiddleware(app, self.web.allowed_hosts, self._error)
        return SecurityHeadersMiddleware(app, security_headers(self.web.csp, self.web.extra_headers))
