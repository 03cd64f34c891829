"""The Research Projects Directory, read from the Research Hub while serving (never from the results store).

The directory belongs to the Researcher Workbench: every active workspace's public research purpose, researchers
and institutions (``hub.directory.entries``), in the Workbench's application database. ``workbench browser serve
STORE --directory DATABASE_URL`` (workers: ``RW_BROWSER_DIRECTORY``) gives the Data Browser that database's URL;
it only reads it, through read-only sessions (``state.Database.reading``).

- Not cached: the directory changes whenever a workspace does, while the store (and so the response cache, keyed by
  the store's generation) does not. Each request reads it afresh.
- Off the event loop: each read runs in a worker thread (anyio's default pool). Unlike the store, an immutable
  local file read inline in a few milliseconds (``site.Site._in_reader``), the directory may be a PostgreSQL server
  across the network, and a wait on it must not hold up every other request of the process. The thread hop costs
  tens of microseconds against a query of milliseconds.
- A directory that cannot be read (the database is down, or its schema is not this version's) is a 503 with a
  message, for the page and the API alike; the rest of the Data Browser is unaffected.
- Without ``--directory`` the list is empty, ``available`` is false, and the page says the directory is on the
  Research Hub.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ...hub import directory as hub_directory
from ...state import Database, DatabaseError
from . import models as M

log = logging.getLogger(__name__)
DIRECTORY_ENV = "RW_BROWSER_DIRECTORY"  # the database URL, set by `workbench browser serve --directory` for workers


class DirectoryUnavailable(RuntimeError):
    """The Research Hub's directory cannot be read just now (answered with 503)."""


@dataclass(frozen=True)
class DirectoryQuery:
    """A validated search of the directory: every word of ``q``; a tier; a primary-purpose key; an institution."""

    q: str = ""
    tier: str | None = None
    purpose: str | None = None
    institution: str | None = None


@dataclass(frozen=True)
class DirectoryPage:
    found: M.ResearchProjects
    total: int  # every active workspace, whatever the query
    institutions: list[str]  # every institution in the directory, for the filter


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: Database says so
        return "the database URL"


def open_database(url: str) -> Database:
    """The Workbench's database at ``url``, for reading. An SQLite file must exist already: opening a missing one
    would create an empty database (and its directory) instead of finding the Workbench's."""
    try:
        parsed = make_url(url)
    except Exception as err:
        raise DatabaseError(f"not a database URL ({err})") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseError("an SQLite directory is the Researcher Workbench's database file: "
                                "sqlite:////absolute/path")
        if not Path(parsed.database).is_file():
            raise DatabaseError(f"{parsed.database}: no such database file (the Researcher Workbench's database, "
                                "which `workbench admin migrate` creates)")
    return Database(url)


class ProjectsDirectory:
    """Read-only access to the Research Hub's directory in the Workbench database at ``url``."""

    def __init__(self, url: str):
        self.url = url
        self.db = open_database(url)

    def check(self) -> None:
        """Refuse a database that cannot be reached or whose schema is not this version's (``DatabaseError``)."""
        try:
            self.db.check_current()
        except SQLAlchemyError as err:
            raise DatabaseError(f"{shown_url(self.url)}: cannot read the Research Hub's directory: "
                                f"{type(err).__name__}: {str(err).splitlines()[0]}") from None

    def read(self, query: DirectoryQuery, *, with_all: bool = False) -> DirectoryPage:
        """The entries matching ``query`` (and, ``with_all``, the size of the whole directory and its institutions:
        the page's filter needs them), read in one read-only session. Blocking: see ``read_in_thread``."""
        try:
            with self.db.reading() as session:
                found = hub_directory.entries(session, q=query.q, tier=query.tier, purpose=query.purpose,
                                              institution=query.institution)
                everyone = hub_directory.entries(session) if with_all else found
        except SQLAlchemyError as err:
            log.error("the Research Projects Directory cannot be read from %s: %s", shown_url(self.url), err)
            raise DirectoryUnavailable("the Research Projects Directory cannot be read just now; try again later") \
                from None
        return DirectoryPage(found=M.ResearchProjects(available=True, count=len(found), projects=found),
                             total=len(everyone), institutions=sorted({i for e in everyone for i in e.institutions}))

    async def read_in_thread(self, query: DirectoryQuery, *, with_all: bool = False) -> DirectoryPage:
        return await anyio.to_thread.run_sync(lambda: self.read(query, with_all=with_all))

    def close(self) -> None:
        self.db.dispose()


NO_DIRECTORY = DirectoryPage(found=M.ResearchProjects(available=False, count=0, projects=[]), total=0,
                             institutions=[])
