"""Shared CLI plumbing: progress bars on stderr, one JSON document on stdout with --json, clean errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..ingest.errors import LoadError

err_console = Console(stderr=True, soft_wrap=True)
out_console = Console()

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout instead of tables.")


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr, driven by callbacks of the form ``(item, done, total)``."""
    if not enabled or not err_console.is_terminal and not err_console.is_interactive:
        # Not a terminal (CI, pipes): one line per item instead of redrawing a bar.
        def plain(item: str, done: int, total: int) -> None:
            if enabled and item:
                err_console.print(f"{description}: {item} ({done + 1}/{total})", highlight=False)

        yield plain
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None, item="")

        def update(item: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, item=item)

        yield update


@contextmanager
def user_errors(json_output: bool) -> Iterator[None]:
    """Turn refused input into a message (or a JSON error document) and exit status 1, never a traceback."""
    try:
        yield
    except LoadError as err:
        if json_output:
            emit_json({"error": "load refused", "problems": [p.as_dict() for p in err.problems]})
        else:
            err_console.print("[bold red]Refused:[/] nothing was written.", highlight=False)
            for problem in err.problems:
                err_console.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        if json_output:
            emit_json({"error": str(err)})
        else:
            err_console.print(f"[bold red]Error:[/] {err}", highlight=False)
        raise typer.Exit(1) from None
