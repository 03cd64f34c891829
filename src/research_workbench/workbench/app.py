"""``create_app(config)``: the Researcher Workbench as a ``SecureApp``.

From the outside in, a request meets the foundation's layers (security headers, trusted hosts, strict input,
relative redirects), then CSRF protection (``asgi-csrf``: a signed double-submit token, accepted from a plain
form's ``csrftoken`` field or htmx's ``x-csrftoken`` header; every unsafe method on every path, bearer-token API
calls excepted), then ``ServerSessions`` (who is asking), then the routes, each with exactly one guard.
"""

from __future__ import annotations

import anyio.to_thread

from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from asgi_csrf import asgi_csrf
from fastapi import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..accounts.clock import utcnow
from ..accounts.config import WorkbenchConfig
from ..cdr.problems import ProblemsError
from ..state import Database
from ..web import ErrorPages, SecureApp, WebSettings, static_files
from . import oidc
from .forms import FormTooLarge
from .mailing import MailJobs
from .guards import ACCESS_HEADER, Forbidden, NotSignedIn
from .routes.signin import ENDED_REASONS
from .export_jobs import ExportJobs
from .genomics_jobs import GenomicsJobs
from .middleware import ServerSessions
from .notebooks import Notebooks, with_form_action
from .ratelimit import RateLimited
from .rendering import workbench_templates
from .routes import ROUTERS
from .services import Services

STATIC = Path(__file__).parent / "static"
CSRF_FAILED = ("This form could not be accepted: it has expired or was not sent from this site. "
               "Go back, reload the page and try again.")


class _Everywhere:
    """asgi-csrf skips a request without cookies unless its path is listed: every path is."""

    def __contains__(self, path: object) -> bool:
        return True


class CsrfProtection:
    def __init__(self, app: ASGIApp, secret: str, secure: bool, errors: ErrorPages):
        self.errors = errors

        async def failed(scope: Scope, send: Send, message_id) -> None:
            response = errors.response(scope.get("path", ""), 403, CSRF_FAILED)
            await response({"type": "http"}, _no_body, send)

        self.app = asgi_csrf(app, signing_secret=secret, always_protect=_Everywhere(), cookie_secure=secure,
                             cookie_samesite="Lax", send_csrf_failed=failed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


class WorkbenchApp(SecureApp):
    """A ``SecureApp`` whose requests for the notebook host go to the notebook proxy before any of its layers."""

    notebook_proxy = None  # a NotebookProxy when a notebook host is set

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.notebook_proxy is None else self.notebook_proxy.in_front_of(stack)


WORKER_THREADS = 8  # per server process (``workbench serve --workers`` runs one per core)


def create_app(config: WorkbenchConfig, *, db: Database | None = None,
               clock: Callable[[], datetime] = utcnow, check_schema: bool = True, mail_jobs: bool = False) -> SecureApp:
    """The app over ``config``'s database (or ``db``). ``mail_jobs``: send the outbox and queue reminders from a
    background thread while the app runs (``workbench serve`` turns it on)."""
    services = Services.build(config, db=db, clock=clock)
    if check_schema:
        services.db.check_current()
    jobs = MailJobs(services) if mail_jobs else None
    notebooks = Notebooks(services)
    services.exports = ExportJobs(services, config.resolve(config.exports_dir))
    services.genomics = GenomicsJobs(services, config.resolved_genomics_dir)

    @asynccontextmanager
    async def lifespan(app):
        # Handlers that read data run in worker threads, each with its own cohort engine (engines.py): a bounded
        # number of long-lived threads keeps those engines few and warm (a new DuckDB connection's first participant
        # page costs twice a warm one), and a two-core server gains nothing from forty.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        if jobs is not None:
            jobs.start()
            services.exports.fail_orphans()  # a server (not a test client) starting: nothing of ours is running
            services.genomics.fail_orphans()
        try:
            yield
        finally:
            if jobs is not None:
                jobs.stop()
            if services.extracts is not None:
                services.extracts.close()
            await anyio.to_thread.run_sync(notebooks.close)  # every JupyterLab server stops with the Workbench
            services.exports.close()
            services.genomics.close()
            services.engines.close()  # the server's Spark session, if it has one, stops with it

    # The identity providers' origins join form-action: a form that starts a sign-in or identity flow is answered
    # with a redirect to the provider, which Chromium and Safari check against the form's page's policy.
    csp = with_form_action(oidc.content_security_policy(config), notebooks.origin)
    app = WorkbenchApp(web=WebSettings(allowed_hosts=tuple(config.allowed_hosts), csp=csp), title="Research Workbench",
                    version=__version__, lifespan=lifespan,
                    description="The Researcher Workbench: accounts, registration steps, access tiers and audit.")
    app.state.mail_jobs = jobs
    templates = workbench_templates()
    app.state.services = services
    app.state.notebooks = notebooks
    if notebooks.enabled:
        from .notebooks.proxy import NotebookProxy

        app.notebook_proxy = NotebookProxy(notebooks)
    app.state.templates = templates
    if config.signin_providers or config.identity is not None:
        app.state.oidc = oidc.build_clients(config)  # a missing client secret or key file stops the start here
    app.mount("/static", static_files(STATIC), name="static")

    def render_error(status: int, message: str, problems: list[dict]) -> str:
        return templates.get_template("error.html").render(status=status, message=message, problems=problems,
                                                           program=config.program_name)

    errors = ErrorPages(render_error, api_prefix="/api")
    errors.install(app)
    errors.handle(app, ProblemsError, 422, lambda exc: [
        {"where": getattr(p, "where", ""), "message": getattr(p, "message", str(p))} for p in exc.problems])
    errors.handle(app, FormTooLarge, 413)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if errors.is_api(request.url.path):
            return JSONResponse({"error": "sign in first: send a session cookie or an API token", "problems": []},
                                status_code=401, headers={"www-authenticate": "Bearer", ACCESS_HEADER: exc.level})
        target = "/signin/second-step" if exc.second_step else "/signin"
        query = []
        if request.method == "GET":
            query.append(f"next={exc.next_path}")
        ended = request.state.viewer.ended
        if ended in ENDED_REASONS and not exc.second_step:
            query.append(f"ended={ended.replace(' ', '+')}")
        if query:
            target += "?" + "&".join(query)
        return Response(status_code=303, headers={"location": target, ACCESS_HEADER: exc.level})

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if errors.is_api(request.url.path):
            return JSONResponse({"error": str(exc), "problems": []}, status_code=403, headers={ACCESS_HEADER: exc.level})
        from .rendering import page

        response = page(request, "forbidden.html", status=403, message=str(exc), tier=exc.tier)
        response.headers[ACCESS_HEADER] = exc.level
        return response

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> Response:
        response = errors.response(request.url.path, 429, str(exc))
        response.headers["retry-after"] = str(exc.retry_after)
        return response

    for router in ROUTERS:
        app.add_routes(router)
    app.add_middleware(ServerSessions, services=services)
    app.add_middleware(CsrfProtection, secret=services.keys.csrf, secure=config.sessions.cookie_secure, errors=errors)
    return app
