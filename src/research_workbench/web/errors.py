"""Error responses: the app's HTML error page for its pages, ``{"error", "problems"}`` JSON under its API.

``ErrorPages.install`` makes every error of an app take that form: a request that fails validation (422, naming
each parameter), an HTTP error (404 "no such page", 405…), and the foundation's own refusals (a bad Host header,
unreadable input: ``SecureApp.error_response``). ``ErrorPages.handle`` adds an exception of the app's own with its
status. ``problems`` is a list of ``{"where", "message"}``; ``where`` names the parameter (``query.q``, ``path``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from .app import SecureApp

# status, message, problems → the HTML of the error page
PageRenderer = Callable[[int, str, list[dict]], bytes | str]


def validation_problems(exc: RequestValidationError) -> list[dict]:
    """One problem per validation error, naming where it is (``query.limit``)."""
    problems = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()))
        message = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append({"where": where, "message": message})
    return problems


class ErrorPages:
    def __init__(self, render_page: PageRenderer | None = None, api_prefix: str = "/api"):
        """``render_page``: the app's error page (None: JSON everywhere); JSON under ``api_prefix``."""
        self.render_page = render_page
        self.api_prefix = api_prefix.rstrip("/")

    def is_api(self, path: str) -> bool:
        return path == self.api_prefix or path.startswith(self.api_prefix + "/")

    def response(self, path: str, status: int, message: str, problems: list[dict] | None = None) -> Response:
        problems = problems or []
        if self.render_page is None or self.is_api(path):
            return JSONResponse({"error": message, "problems": problems}, status_code=status)
        return HTMLResponse(self.render_page(status, message, problems), status_code=status)

    def install(self, app: SecureApp) -> None:
        app.error_response = self._middleware_error
        app.add_exception_handler(RequestValidationError, self._invalid)
        app.add_exception_handler(StarletteHTTPException, self._http_error)

    def handle(self, app: SecureApp, exc_type: type[Exception], status: int,
               problems: Callable[[Exception], list[dict]] = lambda exc: []) -> None:
        """Answer ``exc_type`` with ``status``, its message and ``problems(exc)``."""
        async def handler(request: Request, exc: Exception) -> Response:
            return self.response(request.url.path, status, str(exc), problems(exc))

        app.add_exception_handler(exc_type, handler)

    def _middleware_error(self, scope: Scope, status: int, message: str, problems: list[dict]) -> Response:
        return self.response(scope.get("path", ""), status, message, problems)

    async def _invalid(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = validation_problems(exc)
        text = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        return self.response(request.url.path, 422, f"invalid request: {text}", problems)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return self.response(request.url.path, exc.status_code, message)
