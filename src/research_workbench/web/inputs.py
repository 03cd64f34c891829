"""Input that cannot be read is refused with a 4xx naming the parameter, never answered silently.

- ``StrictInputMiddleware``: the path and every query parameter (name and value) must be valid UTF-8 once
  percent-decoded, without control characters (U+0000–U+001F, U+007F). Starlette would otherwise replace bad
  bytes with U+FFFD and answer a different question than the one asked.
- ``StrictRoute``: the route class of every ``SecureApp`` route; a declared query parameter given more than
  once (``?q=a&q=b``) is a 422, since only one of the values would be used.
- ``QueryInt``: a whole number written in decimal digits with an optional minus sign, nothing else. Pydantic
  would read ``1.0``, ``+1`` and ``1_0`` as 1, 1 and 10; ``nan``, ``inf``, ``1e3`` are refused either way.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote_to_bytes

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response
from pydantic import BeforeValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from .hosts import ErrorResponder

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"-?[0-9]+")
MAX_DIGITS = 40  # far past any bound a route declares; the declared bound then gives its own message


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it cannot be read)."""
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None, "is not valid UTF-8 (percent-encoded bytes must spell UTF-8 text)"
    bad = _CONTROL.search(text)
    if bad:
        return None, f"contains a control character (U+{ord(bad.group()):04X})"
    return text, None


def input_problems(scope: Scope) -> list[dict]:
    """Problems with the request's path and query string, each naming where it is."""
    problems = []
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    _, why = _decode(raw_path)
    if why:
        problems.append({"where": "path", "message": f"the path {why}"})
    query: bytes = scope.get("query_string", b"")
    if query:
        for part in query.split(b"&"):
            if not part:
                continue
            raw_name, _, raw_value = part.partition(b"=")
            name, name_why = _decode(raw_name.replace(b"+", b" "))
            shown = name if name is not None else unquote_to_bytes(raw_name).decode("utf-8", "backslashreplace")
            shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", shown)[:60]
            if name_why:
                problems.append({"where": f"query.{shown}", "message": f"the parameter name {name_why}"})
                continue
            _, value_why = _decode(raw_value.replace(b"+", b" "))
            if value_why:
                problems.append({"where": f"query.{shown}", "message": f"the value {value_why}"})
    return problems


class StrictInputMiddleware:
    def __init__(self, app: ASGIApp, error_response: ErrorResponder):
        self.app = app
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = input_problems(scope)
        if not problems:
            await self.app(scope, receive, send)
            return
        text = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        await self.error_response(scope, 400, f"invalid request: {text}", problems)(scope, receive, send)


def _query_names(dependant: object) -> set[str]:
    """Names (aliases) of the query parameters a route declares, its sub-dependencies' included."""
    names = {getattr(f, "alias", None) or getattr(f, "name", "") for f in getattr(dependant, "query_params", ())}
    for sub in getattr(dependant, "dependencies", ()):
        names |= _query_names(sub)
    return names


def repeated_parameters(request: Request, declared: frozenset[str]) -> list[dict]:
    """Problems (pydantic-style) for declared query parameters given more than once."""
    seen: dict[str, int] = {}
    for key, _ in request.query_params.multi_items():
        if key in declared:
            seen[key] = seen.get(key, 0) + 1
    return [{"type": "repeated", "loc": ("query", k), "msg": f"given {n} times; give it once", "input": None}
            for k, n in sorted(seen.items()) if n > 1]


class StrictRoute(APIRoute):
    """A route whose declared query parameters may each be given once (``?q=a&q=b`` is a 422: only one of the
    values would be used). Checked in the route's own handler: no extra dependency to solve per request."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        declared = frozenset(_query_names(self.dependant))
        if not declared:
            return handler

        async def checked(request: Request) -> Response:
            problems = repeated_parameters(request, declared)
            if problems:
                raise RequestValidationError(problems)
            return await handler(request)

        return checked


def _whole_number(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, written in digits (like 25)")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value
        if not _DIGITS.fullmatch(text):
            shown = text if len(text) <= 20 else text[:20] + "…"
            raise ValueError(f"Input should be a valid integer, written in digits (like 25), not {shown!r}")
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise ValueError(f"Input is out of range (more than {MAX_DIGITS} digits)")
        return int(text)
    raise ValueError("Input should be a valid integer, written in digits (like 25)")


QueryInt = Annotated[int, BeforeValidator(_whole_number)]
