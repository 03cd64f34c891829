"""Notebooks in JupyterLab: one server per (user, workspace) (``spawner.py``), served on a separate host name
through the Workbench's authenticated proxy (``proxy.py``), entered with a one-time ticket (``tickets.py``).

Why a separate host name: a notebook's outputs run arbitrary JavaScript. On the Workbench's own origin a shared
notebook could read the CSRF cookie and act as whoever opened it. Cookies ignore ports, so another port of the same
host is not enough; ``localhost`` against ``127.0.0.1`` on one machine, a sub-domain in production. The notebook
host answers only the proxy's routes (``app.py`` hands every request for it to the proxy before any Workbench
layer), accepts only its own session cookie, and adds the server's token to what it forwards: the token never
reaches a browser.

``Notebooks`` ties them to the Workbench's services: the API token each server's kernels get (minted at start,
revoked at stop), the edit locks its user holds (renewed while it runs, released when it stops), the notebook
origin and the CSP that lets a form be redirected to it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from ...accounts import api_tokens
from ...accounts.config import WorkbenchConfig, WorkbenchConfigError
from ...cdr.problems import Problem
from ...state.models import ApiToken, User
from ...workspaces import notebooks as files
from .spawner import NotebookServer, Spawner, r_available
from .tickets import TicketBook

log = logging.getLogger(__name__)

API_TOKEN_SCOPES = ["workspaces:read", "data:read"]
API_TOKEN_DAYS = 1


def notebook_origin(config: WorkbenchConfig) -> str | None:
    """``base_url``'s scheme and port on ``notebook_host`` (None when no notebook host is set); refused when it is
    the Workbench's own host name."""
    if config.notebook_host is None:
        return None
    parts = urlsplit(config.base_url)
    if (parts.hostname or "").lower() == config.notebook_host:
        raise WorkbenchConfigError([Problem("the notebook host must be another host name than the Workbench's "
                                            "(cookies ignore ports): e.g. localhost for 127.0.0.1, a sub-domain in "
                                            "production", "notebook_host")])
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{config.notebook_host}{port}"


def with_form_action(csp: str, origin: str | None) -> str:
    """``csp`` with ``origin`` added to ``form-action``: "Open in JupyterLab" is a form answered by a redirect to
    the notebook host, which Chromium checks against the form's page's policy."""
    if origin is None:
        return csp
    parts = [p.strip() for p in csp.split(";")]
    return "; ".join(f"{p} {origin}" if p.split(" ", 1)[0] == "form-action" else p for p in parts)


def who(user: User) -> str:
    """How locks and lists name a person."""
    return user.email


class Notebooks:
    def __init__(self, services):
        config = services.config
        self.services = services
        self.root: Path = config.resolve(config.notebooks_dir)
        self.host: str | None = config.notebook_host
        self.origin = notebook_origin(config)
        self.tickets = TicketBook()
        self.spawner = Spawner(self.root, idle_minutes=config.notebook_idle_minutes, workbench_url=config.base_url,
                               on_start=self._mint, on_stop=self._stopped, on_tick=self._renew)
        self._r: bool | None = None

    @property
    def enabled(self) -> bool:
        """JupyterLab can be opened (a notebook host is set); lists and previews work either way."""
        return self.host is not None

    def now(self) -> datetime:
        return self.services.now()

    def languages(self) -> dict[str, str]:
        """The languages a new notebook may have: Python, and R when R and IRkernel are installed."""
        if self._r is None:
            try:
                self._r = r_available()
            except Exception:  # R missing or broken: no R notebooks, said once in the log
                log.exception("R notebooks are not offered")
                self._r = False
        return {k: v for k, v in files.LANGUAGES.items() if k == "python" or self._r}

    def lab_path(self, server: NotebookServer, notebook: str) -> str:
        from urllib.parse import quote

        return f"{server.prefix}lab/tree/{quote(notebook)}"

    # -- the spawner's callbacks ----------------------------------------------------------------------------------
    def _mint(self, user_id: int, namespace: str) -> tuple[str, int]:
        """A personal API token for the server's kernels (``workspaces:read`` and ``data:read``, one day), bound to
        the workspace: its kernels read this workspace's data version and no other."""
        from sqlalchemy import select

        from ...state.models import Workspace

        s = self.services
        with s.db.session() as session:
            user = session.get(User, user_id)
            workspace_id = session.scalar(select(Workspace.id).where(Workspace.namespace == namespace))
            plain, row = api_tokens.create_token(session, user,
                                                 name=f"{api_tokens.KERNEL_TOKEN_PREFIX} in {namespace}"[:80],
                                                 scopes=API_TOKEN_SCOPES, days=API_TOKEN_DAYS, now=s.now(),
                                                 pepper=s.keys.tokens, for_kernels=True, workspace_id=workspace_id)
            return plain, row.id

    def _stopped(self, server: NotebookServer) -> None:
        s = self.services
        files.release(self.root, server.namespace, server.user_id, now=s.now())
        if server.api_token_id is not None:
            with s.db.session() as session:
                row = session.get(ApiToken, server.api_token_id)
                if row is not None and row.revoked_at is None:
                    row.revoked_at = s.now()

    def _renew(self, server: NotebookServer) -> None:
        files.renew(self.root, server.namespace, server.user_id, now=self.now())

    def close(self) -> None:
        self.spawner.stop_all()
