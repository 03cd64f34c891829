"""One JupyterLab server per (user, workspace), started on demand, stopped when idle or when the Workbench stops.

A server listens on 127.0.0.1 only, on a free port, under the prefix ``/notebooks/<user id>/<namespace>/`` (the
path the proxy serves it at on the notebook host), with the workspace's notebook folder as its root. Its token is
random, written to a config file only the server reads (not its command line), and never leaves the Workbench:
the proxy adds it to each request. Terminals are off. Each server has its own runtime, config, data, IPython and
home folders (a temporary folder removed when it stops), so servers share no cookie secret, connection file,
command history or JupyterLab layout.

Idle servers and kernels are culled by JupyterLab itself: a kernel idle for ``idle_minutes`` is shut down
(``MappingKernelManager.cull_idle_timeout``, even with a browser tab connected), and a server with no kernel and
no request for that long exits (``ServerApp.shutdown_no_activity_timeout``). A monitor thread notices a server
that exited, and every ``TICK`` seconds tells the owner (``on_tick``: the edit locks are renewed) which still run.

Kernels get a clean environment (the Workbench's own — its master secret, database URL — is never passed on) with
``RW_WORKBENCH_URL``, ``RW_WORKSPACE`` and ``RW_WORKBENCH_TOKEN`` (a personal API token minted for this server,
``workspaces:read``, revoked when it stops: ``on_start``/``on_stop``), so the SDK reads the workspace's data
version through the API; and ``RETICULATE_PYTHON``, this Python, so R's reticulate finds the SDK.

What this does not do: separate kernels from one another at the operating-system level. Every server runs as the
Workbench's own user; a kernel can read what that user can read. Production needs a container or an account per
server (see the README).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TICK = 60.0  # seconds between the monitor's rounds
START_TIMEOUT = 60.0
STOP_GRACE = 5.0
KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "R_HOME",
            "R_LIBS", "R_LIBS_SITE", "R_LIBS_USER", "SSL_CERT_FILE", "SSL_CERT_DIR")
R_KERNEL = {"argv": ["R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"],
            "display_name": "R", "language": "R"}


class NotebookServerError(RuntimeError):
    """A server did not start (the message says why, with the end of its log)."""


def prefix_of(user_id: int, namespace: str) -> str:
    return f"/notebooks/{int(user_id)}/{namespace}/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernel_names() -> set[str]:
    """The kernels JupyterLab and nbclient will find (without starting one)."""
    from jupyter_client.kernelspec import KernelSpecManager

    return set(KernelSpecManager().find_kernel_specs())


def r_available() -> bool:
    """R and IRkernel are installed: the ``ir`` kernelspec is written into this environment when missing."""
    if shutil.which("R") is None:
        return False
    if "ir" in kernel_names():
        return True
    found = subprocess.run(["R", "--slave", "-e", "cat(requireNamespace('IRkernel', quietly=TRUE))"],
                           capture_output=True, text=True, timeout=60)
    if found.stdout.strip() != "TRUE":
        return False
    target = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "ir"
    target.mkdir(parents=True, exist_ok=True)
    (target / "kernel.json").write_text(json.dumps(R_KERNEL, indent=1), encoding="utf-8")
    return "ir" in kernel_names()


@dataclass
class NotebookServer:
    user_id: int
    namespace: str
    port: int
    token: str
    prefix: str
    home: Path
    process: subprocess.Popen
    api_token_id: int | None = None
    started_at: float = field(default_factory=time.monotonic)
    start_seconds: float = 0.0

    @property
    def key(self) -> tuple[int, str]:
        return self.user_id, self.namespace

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.home / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Spawner:
    """The running servers, by (user id, namespace). Thread-safe; blocking calls (``start``) belong in a worker
    thread, never on the event loop."""

    def __init__(self, root: Path, *, idle_minutes: int, workbench_url: str,
                 on_start: Callable[[int, str], tuple[str | None, int | None]] | None = None,
                 on_stop: Callable[[NotebookServer], None] | None = None,
                 on_tick: Callable[[NotebookServer], None] | None = None,
                 python: str = sys.executable, start_timeout: float = START_TIMEOUT, tick: float = TICK):
        self.root = Path(root)
        self.idle_seconds = idle_minutes * 60
        self.workbench_url = workbench_url.rstrip("/")
        self.on_start, self.on_stop, self.on_tick = on_start, on_stop, on_tick
        self.python = python
        self.start_timeout = start_timeout
        self.tick = tick
        self._servers: dict[tuple[int, str], NotebookServer] = {}
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._closing = threading.Event()
        self._atexit = False

    # -- asking -------------------------------------------------------------------------------------------------
    def running(self, user_id: int, namespace: str) -> NotebookServer | None:
        with self._guard:
            server = self._servers.get((user_id, namespace))
        if server is not None and not server.alive():
            self._reap(server)
            return None
        return server

    def servers(self) -> list[NotebookServer]:
        with self._guard:
            return list(self._servers.values())

    # -- starting -----------------------------------------------------------------------------------------------
    def start(self, user_id: int, namespace: str) -> tuple[NotebookServer, bool]:
        """The user's server for the workspace, started (and waited for) when not running; and whether it was
        started now. ``NotebookServerError`` when it does not answer within ``start_timeout``."""
        key = (user_id, namespace)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            server = self.running(user_id, namespace)
            if server is not None:
                return server, False
            server = self._spawn(user_id, namespace)
            with self._guard:
                self._servers[key] = server
            self._ensure_monitor()
            return server, True

    def _environment(self, home: Path, namespace: str, api_token: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in KEPT_ENV or k.startswith("LC_")}
        bindir = str(Path(self.python).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update({
            "HOME": str(home / "home"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
            "IPYTHONDIR": str(home / "ipython"),
            "RW_WORKBENCH_URL": self.workbench_url, "RW_WORKSPACE": namespace, "RETICULATE_PYTHON": self.python,
            "PYTHONNOUSERSITE": "1",
        })
        if sys.prefix != sys.base_prefix:
            env["VIRTUAL_ENV"] = sys.prefix
        if api_token:
            env["RW_WORKBENCH_TOKEN"] = api_token
        return env

    def _spawn(self, user_id: int, namespace: str) -> NotebookServer:
        import secrets

        folder = self.root / namespace
        folder.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix=f"rw-notebook-{user_id}-{namespace}-"))
        for sub in ("home", "runtime", "config", "data", "ipython"):
            (home / sub).mkdir(mode=0o700)
        token = secrets.token_urlsafe(32)
        # The token in a config file, not on the command line (which every local user can read in ps).
        config = {"IdentityProvider": {"token": token}}
        config_file = home / "config" / "jupyter_server_config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        config_file.chmod(0o600)
        api_token, api_token_id = self.on_start(user_id, namespace) if self.on_start else (None, None)
        port = free_port()
        prefix = prefix_of(user_id, namespace)
        idle = str(self.idle_seconds)
        argv = [self.python, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}", f"--ServerApp.base_url={prefix}",
                "--ServerApp.terminals_enabled=False", f"--ServerApp.shutdown_no_activity_timeout={idle}",
                f"--MappingKernelManager.cull_idle_timeout={idle}", "--MappingKernelManager.cull_interval=60",
                "--MappingKernelManager.cull_connected=True", "--FileContentsManager.delete_to_trash=False",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly", "--LabApp.news_url=", "--ServerApp.log_level=WARN"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv.append("--allow-root")
        began = time.monotonic()
        with open(home / "server.log", "ab") as out:
            process = subprocess.Popen(argv, cwd=folder, env=self._environment(home, namespace, api_token),
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        server = NotebookServer(user_id, namespace, port, token, prefix, home, process, api_token_id)
        try:
            self._wait_ready(server)
        except BaseException:
            self._terminate(server)
            try:
                if self.on_stop is not None:
                    self.on_stop(server)  # the API token minted for it is revoked
            finally:
                self._cleanup(server)
            raise
        server.start_seconds = time.monotonic() - began
        log.info("notebook server for user %s in %s started on port %s in %.1f s", user_id, namespace, port,
                 server.start_seconds)
        return server

    def _wait_ready(self, server: NotebookServer) -> None:
        import httpx2

        deadline = time.monotonic() + self.start_timeout
        url = f"{server.upstream}{server.prefix}api/status"
        with httpx2.Client(headers={"authorization": f"token {server.token}"}, timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if not server.alive():
                    raise NotebookServerError(f"JupyterLab stopped while starting:\n{server.log_tail()}")
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx2.HTTPError:
                    pass
                time.sleep(0.1)
        raise NotebookServerError(f"JupyterLab did not answer within {self.start_timeout:.0f} s:\n{server.log_tail()}")

    # -- stopping -----------------------------------------------------------------------------------------------
    def stop(self, user_id: int, namespace: str) -> bool:
        with self._guard:
            server = self._servers.get((user_id, namespace))
        if server is None:
            return False
        self._terminate(server)
        self._reap(server)
        return True

    def stop_all(self) -> int:
        self._closing.set()
        servers = self.servers()
        for server in servers:
            try:
                server.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        for server in servers:
            self._terminate(server)
            self._reap(server)
        return len(servers)

    def _terminate(self, server: NotebookServer) -> None:
        """SIGTERM (JupyterLab shuts its kernels down), then SIGKILL to the whole process group."""
        if server.alive():
            try:
                server.process.terminate()
                server.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(server.process.pid, signal.SIGKILL)  # kernels left behind, if any
        except (ProcessLookupError, PermissionError):
            pass
        try:
            server.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            log.warning("notebook server %s did not stop", server.process.pid)

    def _reap(self, server: NotebookServer) -> None:
        """Forget a server that stopped (culled, killed, or stopped here): its owner's ``on_stop``, its folder."""
        with self._guard:
            if self._servers.get(server.key) is not server:
                return
            del self._servers[server.key]
        if server.alive():
            self._terminate(server)
        try:
            if self.on_stop is not None:
                self.on_stop(server)
        except Exception:  # the server is gone either way; what failed is logged
            log.exception("after notebook server %s stopped", server.key)
        self._cleanup(server)

    def _cleanup(self, server: NotebookServer) -> None:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(server.home, ignore_errors=True)

    # -- the monitor --------------------------------------------------------------------------------------------
    def _ensure_monitor(self) -> None:
        with self._guard:
            if not self._atexit:
                atexit.register(self.stop_all)  # a process that exits without the app's shutdown leaves no server
                self._atexit = True
            if self._monitor is not None and self._monitor.is_alive():
                return
            self._closing.clear()
            self._monitor = threading.Thread(target=self._watch, name="notebook-servers", daemon=True)
            self._monitor.start()

    def _watch(self) -> None:
        while not self._closing.wait(self.tick):
            self.check()
            if not self.servers():
                return

    def check(self) -> None:
        """One round of the monitor: forget servers that exited, tell ``on_tick`` about the others."""
        for server in self.servers():
            if not server.alive():
                self._reap(server)
            elif self.on_tick is not None:
                try:
                    self.on_tick(server)
                except Exception:
                    log.exception("notebook server %s: on_tick", server.key)
