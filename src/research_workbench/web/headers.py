"""Security headers on every response, as a plain ASGI middleware (cheap: a list append per response).

The Content-Security-Policy allows only the app's own scripts, styles, images and fetches: no inline ``<script>``,
``<style>``, ``style=""`` attribute or event-handler attribute runs, no plug-in loads, no page may frame the app, a
``<base>`` element cannot redirect relative URLs, and forms only submit to the app. Templates therefore keep all
CSS and JS in served static files; charts drawn as SVG use presentation attributes (``fill=""``), which CSP allows.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))
# Features no page of ours uses; only names Chromium and Firefox know (an unknown one is logged as a console error).
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb",
))
HSTS = "max-age=31536000"


def security_headers(csp: str = DEFAULT_CSP, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every response gets (lower-case names)."""
    headers = {
        "content-security-policy": csp,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": PERMISSIONS_POLICY,
    }
    headers.update({k.lower(): v for k, v in (extra or {}).items()})
    return headers


class SecurityHeadersMiddleware:
    """Adds ``headers`` to every HTTP response that does not already set them (HSTS only over HTTPS)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] | None = None):
        self.app = app
        chosen = security_headers() if headers is None else {k.lower(): v for k, v in headers.items()}
        self.raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in chosen.items()]
        self.names = {k for k, _ in self.raw}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.raw if h[0] not in present)
                if https and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
