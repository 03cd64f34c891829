"""Shared CLI plumbing: progress bars on stderr, one JSON document on stdout with --json, clean errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..cdr.problems import ProblemsError

err_console = Console(stderr=True, soft_wrap=True)
out_console = Console()

def command_group(help: str) -> typer.Typer:
    """A sub-command group. Help is click's plain text (``rich_markup_mode=None``): rich's help renderer costs more
    start-up time than the whole CLI layer, and every command pays it, not only ``--help``."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


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
def user_errors(json_output: bool, source: object = None, heading: str | None = None) -> Iterator[None]:
    """The one way the CLI reports refused input: a message (or one JSON error document) and exit status 1, never
    a traceback. A ``ProblemsError`` shows its heading and one located line per problem; any other refusal (a
    missing file, a stale index: ``ValueError``, ``OSError``) its message. ``heading`` replaces the error's own
    (``invalid concept set``) and ``source`` (the file being read, say) prefixes it."""
    try:
        yield
    except ProblemsError as err:
        document = err.as_json()
        if heading is not None:
            document["error"] = heading
        if source is not None:
            document["error"] = f"{source}: {document['error']}"
        if json_output:
            emit_json(document)
        else:
            err_console.print(f"[bold red]Refused[/] ({escape(document['error'])}): {err.outcome}", highlight=False)
            for problem in err.problems:
                err_console.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (OSError, ValueError) as err:
        message = fail_message(err)
        if json_output:
            emit_json({"error": message})
        else:
            err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)
        raise typer.Exit(1) from None


def fail(message: str, json_output: bool) -> None:
    """Refuse with a message of the command's own (``no cohort named …``): the same output as ``user_errors``."""
    with user_errors(json_output):
        raise ValueError(message)


def fail_message(err: Exception) -> str:
    return (f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.strerror and err.filename
            else str(err))

