"""The public Data Browser: a FastAPI app over one results store.

``create_app(store_path)`` serves HTML pages (``pages.py``) and, behind every page, a JSON API under ``/api``
(``api.py``) described by ``/api/openapi.json``. It is built on the web foundation (``research_workbench.web``):
a ``SecureApp`` (security headers on every response, a trusted-host allow-list, strict UTF-8 input, relative
redirects only), the foundation's page layout and error page, and its static files beside the browser's own.

Responses are cached until a rebuild replaces the store (``site.py``), bounded in bytes
(``RW_BROWSER_CACHE_BYTES``, default 64 MiB) and entries (``RW_BROWSER_CACHE_SIZE``, default 4096; 0 turns the
cache off). Bad parameters get a 4xx with a message, for pages and API alike.

With ``directory_url`` (the Researcher Workbench's database) the Research Projects Directory page and endpoint
read the Research Hub's directory on every request, uncached (``directory.py``); a directory that cannot be read
is a 503 for those two only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ... import __version__
from ...web import ErrorPages, ResponseCache, SecureApp, WebSettings, allowed_hosts_from_env, static_files
from . import api, pages
from .directory import DirectoryUnavailable, ProjectsDirectory
from .service import BadQuery, NotFound
from .site import Site
from .store import Store
from .templating import browser_templates

STATIC = Path(__file__).parent / "static"
DEFAULT_CACHE_ENTRIES = 4096
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
ALLOWED_HOSTS_ENV = "RW_BROWSER_ALLOWED_HOSTS"  # a JSON list, set by `workbench browser serve` for its workers
DESCRIPTION = ("Public, small-count-protected aggregates of a research program's data. Every count is rounded up "
               "to a multiple of the bin size (default 20); counts from 1 to the bin are published as the bin.")


def cache_from_env() -> ResponseCache:
    """The response cache sized by RW_BROWSER_CACHE_BYTES and RW_BROWSER_CACHE_SIZE (either 0: no cache)."""
    return ResponseCache.from_env("RW_BROWSER_CACHE_BYTES", "RW_BROWSER_CACHE_SIZE",
                                  max_bytes=DEFAULT_CACHE_BYTES, max_entries=DEFAULT_CACHE_ENTRIES)


def create_app(store_path: Path | str, *, allowed_hosts: Iterable[str] | None = None,
               cache: ResponseCache | None = None, directory_url: str | None = None) -> SecureApp:
    """The Data Browser over the results store at ``store_path``.

    A stale store is refused (``staleness.StaleStoreError``). ``allowed_hosts``: host names the app answers for
    (default: RW_BROWSER_ALLOWED_HOSTS, else 127.0.0.1 and localhost). ``cache``: default from the environment.
    ``directory_url``: the Researcher Workbench's database URL, whose Research Hub directory the Research Projects
    Directory shows (None: the page says the directory is on the Research Hub). It is opened lazily: a database
    that cannot be read makes that page a 503, never the rest of the app (``workbench browser serve`` checks it
    before starting).
    """
    store = Store(Path(store_path))
    directory = ProjectsDirectory(directory_url) if directory_url else None
    cache = cache if cache is not None else cache_from_env()
    hosts = tuple(allowed_hosts) if allowed_hosts is not None else allowed_hosts_from_env(ALLOWED_HOSTS_ENV)
    app = SecureApp(web=WebSettings(allowed_hosts=hosts), title="Research Workbench Data Browser", version=__version__,
                    description=DESCRIPTION)
    site = Site(store, cache, browser_templates(), directory)
    app.state.store = store
    app.state.browser = site.browser
    app.state.cache = cache
    app.state.site = site
    app.state.directory = directory
    app.mount("/static", static_files(STATIC), name="static")
    errors = ErrorPages(site.error_page, api_prefix="/api")
    errors.install(app)
    errors.handle(app, BadQuery, 400, lambda exc: [{"where": exc.where, "message": str(exc)}] if exc.where else [])
    errors.handle(app, NotFound, 404)
    errors.handle(app, DirectoryUnavailable, 503)
    app.add_routes(api.router)
    app.add_routes(pages.router)
    return app
