"""Rendering pages: the Workbench's templates on the foundation's layout, with what every page shows (the viewer,
the CSRF token for its forms, one-time messages) put in by ``page``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment

from ..accounts.access import Status
from ..accounts.modules import MODULES, Module, Tier
from ..web import template_environment

TEMPLATES = Path(__file__).parent / "templates"
STATUS_LABELS = {Status.COMPLETE: "Complete", Status.BYPASSED: "Bypassed", Status.EXPIRED: "Expired",
                 Status.NOT_STARTED: "Not started", Status.NOT_ALLOWED: "Not covered"}


def _date(value) -> str:
    return "" if value is None else value.strftime("%-d %b %Y")


def _datetime(value) -> str:
    return "" if value is None else value.strftime("%-d %b %Y %H:%M UTC")


def workbench_templates() -> Environment:
    env = template_environment(TEMPLATES)
    env.globals.update(MODULES=MODULES, Module=Module, Tier=Tier, Status=Status, STATUS_LABELS=STATUS_LABELS)
    env.filters.update(date=_date, datetime=_datetime)
    return env


def csrf_token(request: Request) -> str:
    get = request.scope.get("csrftoken")
    return get() if callable(get) else ""


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    templates: Environment = request.app.state.templates
    viewer = request.state.viewer
    html = templates.get_template(template).render(
        request=request, viewer=viewer, csrftoken=csrf_token(request), flashes=viewer.take_flashes(),
        program=request.app.state.services.config.program_name, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status)


def fragment_or_page(request: Request, template: str, fragment: str, **context: Any) -> HTMLResponse:
    """htmx asks for one part of a page (``HX-Request``); everyone else gets the whole page."""
    if request.headers.get("hx-request") == "true":
        return page(request, fragment, **context)
    return page(request, template, **context)


def see_other(path: str) -> RedirectResponse:
    """A redirect after a form post (303: the browser follows it with GET). Relative: never built from Host."""
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    return RedirectResponse(path, status_code=303)
