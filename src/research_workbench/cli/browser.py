"""``workbench browser build`` and ``workbench browser serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .engine_options import ENGINE_OPTION, SPARK_MASTER_OPTION, open_engine
from .output import command_group, JSON_OPTION, emit_json, err_console, fail, progress_bar, user_errors

browser_app = command_group("The public Data Browser: build a release's results store, serve it.")


@browser_app.command("build")
def build(
    release_dir: Path = typer.Argument(..., help="A release (with registered/ and controlled/) or a single CDR directory."),
    out: Path | None = typer.Option(None, "--out", help="The results store to write (default: RELEASE_DIR.browser.sqlite beside it)."),
    bin_size: Optional[int] = typer.Option(
        None, "--bin-size", min=1, help="Counts are rounded up to multiples of this (default: the disclosure rule's bin, 20)."),
    replace: bool = typer.Option(False, "--replace", help="Rebuild an existing store."),
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Compute the release's aggregates, round every count, and write the results store atomically.

    The aggregates' SQL runs on --engine (DuckDB, or Spark for a program that outgrows one machine); rounding and
    the store are the same whatever it is."""
    from ..browser.disclosure import DEFAULT_BIN
    from ..browser.building.writer import build_store

    bin_size = bin_size or DEFAULT_BIN
    with user_errors(json_output), open_engine(engine, spark_master) as eng, \
            progress_bar("aggregates", enabled=not json_output) as progress:
        # DuckDB: the build opens its own, spilling into its scratch directory (the engine here only checked the
        # options).
        result = build_store(release_dir, out, bin_size=bin_size, replace=replace, progress=progress,
                             engine=None if eng.name == "duckdb" else eng)
    document = {"store": str(result.path), "seconds": round(result.seconds, 2), **result.meta, "rows": result.rows}
    if json_output:
        emit_json(document)
    else:
        err_console.print(f"Results store written: {result.path} ({result.seconds:.1f} s, bin {bin_size})", highlight=False)


@browser_app.command("serve")
def serve(
    store: Path = typer.Argument(..., help="A results store built by `workbench browser build`."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes."),
    allowed_hosts: list[str] = typer.Option(
        [], "--allowed-host",
        help="A host name the server answers for (repeatable; *.example.org for sub-domains). Requests with any other "
             "Host header get 400. Always allowed: 127.0.0.1, localhost and the --host value."),
    directory: Optional[str] = typer.Option(
        None, "--directory", metavar="DATABASE_URL",
        help="The Researcher Workbench's database (sqlite:////path/workbench.sqlite or postgresql://…), read only: "
             "the Research Projects Directory page shows its Research Hub directory. Without it the page says the "
             "directory is on the Research Hub."),
) -> None:
    """Serve the Data Browser (pages and JSON API) over HTTP.

    A store whose source CDRs have changed since it was built is refused, with the command that rebuilds it. A
    --directory database that cannot be read, or whose schema is not this version's, is refused too.
    """
    import json
    import logging
    import os

    import uvicorn

    from ..web.hosts import DEFAULT_ALLOWED_HOSTS, parse_allowed_hosts
    from ..browser.serving.app import ALLOWED_HOSTS_ENV
    from ..browser.serving.directory import DIRECTORY_ENV, ProjectsDirectory
    from ..browser.serving.store import Store
    from ..state import DatabaseError

    logging.basicConfig(format="%(levelname)s: %(message)s")
    with user_errors(False):
        names = parse_allowed_hosts([*DEFAULT_ALLOWED_HOSTS, host, *allowed_hosts])
        Store(store)  # refuse a missing, foreign or stale store before starting (a warning if it cannot be checked)
    if directory:  # refuse a directory database that is missing, unreachable or not migrated
        try:
            checked = ProjectsDirectory(directory)
            try:
                checked.check()
            finally:
                checked.close()
        except DatabaseError as err:
            fail(f"--directory: {err}", False)
    os.environ["RW_BROWSER_STORE"] = str(store.absolute())
    if directory:
        os.environ[DIRECTORY_ENV] = directory
    else:  # only --directory names the directory: not a value left in the environment
        os.environ.pop(DIRECTORY_ENV, None)
    os.environ[ALLOWED_HOSTS_ENV] = json.dumps(list(names))
    uvicorn.run("research_workbench.cli.browser:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


def app_from_env():
    """The app for the store named by RW_BROWSER_STORE and the directory database named by RW_BROWSER_DIRECTORY
    (uvicorn workers import it by name)."""
    import os

    from ..browser.serving.app import create_app
    from ..browser.serving.directory import DIRECTORY_ENV

    return create_app(os.environ["RW_BROWSER_STORE"], directory_url=os.environ.get(DIRECTORY_ENV) or None)
