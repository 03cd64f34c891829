"""``workbench cdr``: look into, check and export a CDR directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cdr.model import DIALECTS
from .output import command_group, JSON_OPTION, emit_json, err_console, out_console, progress_bar, user_errors

app = command_group("Inspect, verify and export CDR directories.")


@app.command("info")
def info(directory: Path = typer.Argument(..., help="CDR directory."), json_output: bool = JSON_OPTION) -> None:
    """Tables, row counts, persons, event date range and vocabulary version of a CDR."""
    from rich.table import Table as RichTable

    from ..cdr.info import cdr_info

    with user_errors(json_output):
        summary = cdr_info(directory)
    if json_output:
        emit_json(summary)
        return
    out_console.print(f"[bold]{directory}[/]  CDM {summary['cdm_version']}  vocabulary {summary['vocabulary_version']}", highlight=False)
    out_console.print(
        f"persons: {summary['persons']:,}   events: {summary['event_date_range']['min']} … {summary['event_date_range']['max']}   "
        f"rows: {summary['rows']:,}   source: {summary['source'].get('kind', '?')}",
        highlight=False,
    )
    grid = RichTable("table", "category", "rows", show_edge=False)
    for name, entry in summary["tables"].items():
        if entry["rows"]:
            grid.add_row(name, entry["category"], f"{entry['rows']:,}")
    out_console.print(grid)
    empty = [n for n, e in summary["tables"].items() if not e["rows"]]
    if empty:
        out_console.print(f"[dim]{len(empty)} empty tables: {', '.join(empty)}[/]", highlight=False)


@app.command("verify")
def verify(
    directory: Path = typer.Argument(..., help="CDR directory."),
    content: bool = typer.Option(True, "--content/--no-content", help="Also recompute every table's content hash from its rows (reads every row)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check every file against the manifest (presence, size, SHA-256, row count, content hash); exit 1 on any difference."""
    from ..cdr.store import Cdr, summarize

    with user_errors(json_output):
        problems = Cdr(directory).check(content=content)
    if json_output:
        # "problems": one line per damaged table or file; "details": every difference, with expected and found.
        emit_json({"path": str(directory), "intact": not problems, "content_checked": content, "problems": summarize(problems),
                   "details": [p.as_dict() for p in problems]})
    else:
        for problem in problems:
            err_console.print(str(problem), style="red", highlight=False, markup=False)
        if not problems:
            err_console.print(f"{directory}: intact", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command("ddl")
def show_ddl(
    dialect: str = typer.Option("duckdb", "--dialect", help=f"One of {', '.join(DIALECTS)}."),
    schema: Optional[str] = typer.Option(None, "--schema", help="Schema to qualify table names with."),
    table: Optional[list[str]] = typer.Option(None, "--table", help="Only these tables (repeatable)."),
) -> None:
    """Print CREATE TABLE statements of the CDR model for DuckDB, PostgreSQL or Spark SQL."""
    if dialect not in DIALECTS:
        raise typer.BadParameter(f"must be one of {', '.join(DIALECTS)}", param_hint="--dialect")
    from ..cdr.ddl import ddl

    try:
        statements = ddl(dialect, schema=schema, tables=table or None)  # type: ignore[arg-type]
    except KeyError as err:
        raise typer.BadParameter(str(err), param_hint="--table") from None
    for statement in statements:
        print(statement + ";")


@app.command("to-postgres")
def to_postgres(
    directory: Path = typer.Argument(..., help="CDR directory."),
    url: str = typer.Argument(..., help="postgresql:// URL."),
    schema: str = typer.Option(..., "--schema", help="Schema to create."),
    replace: bool = typer.Option(False, "--replace", help="Drop and recreate an existing schema."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Copy a CDR into a new PostgreSQL schema in one transaction (all tables or none)."""
    from ..ingest.postgres import redact, write_cdr

    with user_errors(json_output), progress_bar("Copying", enabled=not json_output) as progress:
        counts = write_cdr(directory, url, schema, replace=replace, progress=progress)
    if json_output:
        emit_json({"url": redact(url), "schema": schema, "tables": counts, "rows": sum(counts.values())})
    else:
        err_console.print(f"Copied {sum(counts.values()):,} rows in {len(counts)} tables to {redact(url)} schema {schema}.", highlight=False)
