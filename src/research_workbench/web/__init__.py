"""The web foundation shared by every app the project serves (the Data Browser now, the Researcher Workbench next).

- ``SecureApp``: a FastAPI app with the protections below installed in the right order, outside everything the
  app itself does, so they apply to every response: pages, JSON, static files, redirects, 4xx and 500 errors.
  Its routes live on ``SecureRouter``s.
- ``headers``: security headers on every response (a Content-Security-Policy without ``'unsafe-inline'``,
  ``X-Frame-Options: DENY``, ``nosniff``, referrer, cross-origin and permissions policies).
- ``hosts``: a trusted-host allow-list; any other ``Host`` header gets 400 before the app sees the request.
- ``inputs``: query strings and paths must be valid UTF-8 without control characters (else 400 naming the
  parameter), declared parameters may be given once, whole numbers are written in digits only.
- ``redirects``: redirects carry relative locations only, never one built from the request's ``Host``.
- ``cache``: a response cache bounded in bytes (and entries), keyed by the caller's validated parameters.
- ``errors``: every error as the app's HTML error page, or ``{"error", "problems"}`` JSON under its API.
- ``openapi``: the OpenAPI document under ``/api``, the error model every route documents.
- ``templates`` and ``static``: the page layout every app's templates extend, and the static files (the
  foundation's stylesheet, vendored assets with pinned versions) served by the app itself, never by a CDN.

Every error these layers produce has the shape ``{"error": message, "problems": [{"where", "message"}]}`` (or
the app's own error page, through ``SecureApp.error_response``).
"""

from __future__ import annotations

from .app import SecureApp, SecureRouter, WebSettings, json_error
from .cache import ResponseCache
from .errors import ErrorPages, validation_problems
from .headers import DEFAULT_CSP, SecurityHeadersMiddleware, security_headers
from .hosts import TrustedHostMiddleware, allowed_hosts_from_env, host_name, parse_allowed_hosts
from .inputs import QueryInt, StrictInputMiddleware, StrictRoute
from .openapi import ERROR_RESPONSES, OPENAPI_URL, ErrorResponse, Problem, openapi_settings
from .redirects import TrailingSlashMiddleware, relative_location
from .static import static_files
from .templates import template_environment

__all__ = [
    "DEFAULT_CSP", "ERROR_RESPONSES", "OPENAPI_URL", "ErrorPages", "ErrorResponse", "Problem", "QueryInt", "ResponseCache",
    "SecureApp", "SecureRouter", "SecurityHeadersMiddleware", "StrictInputMiddleware", "StrictRoute",
    "TrailingSlashMiddleware", "TrustedHostMiddleware", "WebSettings", "allowed_hosts_from_env", "host_name", "json_error",
    "openapi_settings", "parse_allowed_hosts", "relative_location", "security_headers", "static_files",
    "template_environment", "validation_problems",
]
