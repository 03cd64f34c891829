"""One results store as a site: its queries, its templates and its response cache; what every handler gets.

The store never changes once built, so answers are cached until a rebuild replaces the file (the store's
generation is part of every key). A key is the route and its *validated* parameters, nothing else: junk
parameters and their order make no new entries, and a request that fails validation never gets here. The one
answer that does not come from the store, the Research Projects Directory (``directory.py``), is never cached.

Handlers are ``async`` and every store read goes through ``Site._in_reader``: a cached answer is sent from the
event loop, and a miss reads the immutable local store inline (or, with RW_BROWSER_READERS set, in reader threads).
Plain ``def`` handlers would run every request in FastAPI's threadpool, cache hits included: measured on a
100,000-participant store, a cached answer took 265 µs of CPU instead of 80, and uncached throughput fell to 624
requests/s from 2,153 (see ``_in_reader``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment
from pydantic import BaseModel

from ...web import ResponseCache
from . import charts
from .directory import ProjectsDirectory
from .service import Browser
from .store import Store


# Threads that read the store per server process (RW_BROWSER_READERS, default 0: reads run on the event loop; see
# Site._in_reader). SQLite reads hold the GIL for most of their time: more threads than cores only add cold caches.
READER_THREADS = max(0, int(os.environ.get("RW_BROWSER_READERS", "0")))


class Site:
    def __init__(self, store: Store, cache: ResponseCache, templates: Environment,
                 directory: ProjectsDirectory | None = None):
        self.store = store
        self.browser = Browser(store)
        self.cache = cache
        self.templates = templates
        self.directory = directory  # the Research Hub's directory, read per request (never cached); None: not served
        self._readers: anyio.CapacityLimiter | None = None

    async def json(self, key: tuple[Hashable, ...], make: Callable[[], BaseModel]) -> Response:
        """A JSON answer cached under ``key``."""
        body = await self._cached(("api", self.store.current_generation(), *key),
                                  lambda: make().model_dump_json().encode())
        return Response(body, media_type="application/json")

    async def page(self, key: tuple[Hashable, ...], template: str, make: Callable[[], dict[str, Any]],
                   status: int = 200) -> HTMLResponse:
        """A page cached under ``key``; it may depend on nothing else."""
        body = await self._cached(("page", self.store.current_generation(), template, *key),
                                  lambda: self.render(template, make()))
        return HTMLResponse(body, status_code=status)

    def uncached_json(self, answer: BaseModel) -> Response:
        """A JSON answer that is not kept (one that does not come from the store)."""
        return Response(answer.model_dump_json().encode(), media_type="application/json")

    async def uncached_page(self, template: str, make: Callable[[], dict[str, Any]], status: int) -> HTMLResponse:
        """A page that is not kept (an answer to a query that cannot be read, or one not from the store)."""
        return HTMLResponse(await self._in_reader(lambda: self.render(template, make())), status_code=status)

    def render(self, template: str, context: dict[str, Any]) -> bytes:
        """A page from its context (reads nothing from the store: the meta is in memory)."""
        store = self.store
        full = {"info": self.browser.info(), "fmt": lambda v: charts.fmt_count(v, store.bin_size), "bin": store.bin_size}
        full.update(context)
        return self.templates.get_template(template).render(**full).encode()

    def error_page(self, status: int, message: str, problems: list[dict]) -> bytes:
        return self.render("error.html", {"status": status, "message": message, "problems": problems})

    async def _cached(self, key: tuple[Hashable, ...], make: Callable[[], bytes]) -> bytes:
        hit = self.cache.lookup(key)
        if hit is not None:
            return hit
        return await self._in_reader(self.cache.get, key, make)

    async def _in_reader(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a store read: on the event loop by default, or in one of READER_THREADS threads.

        The store is an immutable local SQLite file, so a read is a few milliseconds of work that holds the GIL for
        most of it, never a wait on the network. Measured with ``bench/bench_browser.py --no-cache`` (1 worker, 50
        clients): inline 2,153 requests/s; one reader thread 1,252; FastAPI's default pool of 40 threads (what
        plain ``def`` handlers get) 624, every thread with its own cold SQLite page cache. So reads run inline and a
        server scales with worker processes (``--workers``). A deployment whose store sits on slow storage sets
        RW_BROWSER_READERS to move reads off the loop.
        """
        if READER_THREADS == 0:
            return func(*args)
        if self._readers is None:  # created on the event loop, where anyio needs it
            self._readers = anyio.CapacityLimiter(READER_THREADS)
        return await anyio.to_thread.run_sync(func, *args, limiter=self._readers)


async def get_site(request: Request) -> Site:
    # async: FastAPI runs a plain-def dependency in its threadpool, one more thread hop per request for an attribute
    return request.app.state.site


SiteDep = Annotated[Site, Depends(get_site)]
