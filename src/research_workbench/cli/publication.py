"""``workbench publication check``: the dissemination check a researcher runs before results leave the Workbench.

Its exit status is the answer a script needs: 0 clean, 1 something must not leave, 2 a file it could not read
(which it cannot vouch for, so that outranks findings elsewhere).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from .output import JSON_OPTION, command_group, emit_json, err_console, fail_message, out_console

publication_app = command_group(
    "Check results before they leave the Workbench: no participant count from 1 to 19, shown or recoverable.")


class CountsMode(str, Enum):
    named = "named"
    all = "all"


@publication_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Results to check: .csv, .tsv, .parquet or Jupyter notebooks (.ipynb)."),
    threshold: int = typer.Option(20, "--threshold", min=1, help="The smallest count that may be shown (besides 0)."),
    counts: CountsMode = typer.Option(CountsMode.named, "--counts",
                                      help="Which integer columns are counts: those named like counts, or all of them."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Find counts from 1 to threshold − 1 in tables and notebook outputs, shown, recoverable by subtraction or
    implied by a percentage. Exit 0 when clean, 1 when something must not leave, 2 when a file cannot be read."""
    from ..publication import check_file

    results: list[dict] = []
    reports = []
    errors = 0
    for path in files:
        try:
            report = check_file(path, threshold=threshold, counts=counts.value)
        except (OSError, ValueError) as err:
            errors += 1
            message = fail_message(err)
            results.append({"source": str(path), "error": message})
            if not json_output:
                err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)
            continue
        reports.append(report)
        results.append(report.as_dict())
        if not json_output:
            _print(report)
    clean = not errors and all(report.ok for report in reports)
    if json_output:
        emit_json({"ok": clean, "threshold": threshold, "files": results})
    raise typer.Exit(2 if errors else 0 if clean else 1)


def _print(report) -> None:
    """One line per finding (where: kind: what to do), so a long message never wraps into a table cell and the
    lines can be searched; then what was not checked, then the verdict."""
    for found in report.findings:
        out_console.print(f"{found.where}: {found.kind}: {found.message}", highlight=False, markup=False, soft_wrap=True)
    for note in report.unchecked:
        out_console.print(f"not checked: {note}", highlight=False, markup=False, soft_wrap=True)
    style = "green" if report.ok else "bold red"
    out_console.print(f"[{style}]{escape(report.summary())}[/]", highlight=False, soft_wrap=True)
