"""``workbench cohort``: count, list, break down and show the SQL of cohort definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..cdr.ddl import DIALECTS
from ..cohorts.builder.engine import CohortEngine
from ..cohorts.builder.model import DefinitionError, parse_definition
from ..index.build import INDEX_MANIFEST, default_index_path
from .output import JSON_OPTION, emit_json, err_console, out_console

cohort_app = typer.Typer(help="Cohort definitions: counts, participants, breakdowns, SQL.", no_args_is_help=True)

CDR_OPTION = typer.Option(..., "--cdr", help="CDR directory (its index, built by `workbench index`, sits beside it).")
INDEX_OPTION = typer.Option(None, "--index", help="Index directory, if not the default CDR_DIR.index.")


def _fail(message: str, json_output: bool, problems: list[str] | None = None) -> None:
    if json_output:
        emit_json({"error": message, "problems": problems or []})
    else:
        err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
        for problem in problems or []:
            err_console.print(f"  {problem}", highlight=False, markup=False)
    raise typer.Exit(1)


def _load(definition_file: Path, cdr: Path, index: Path | None, json_output: bool):
    try:
        text = definition_file.read_text(encoding="utf-8")
    except OSError as err:
        _fail(f"{definition_file}: {err.strerror}", json_output)
    try:
        definition = parse_definition(text)
    except DefinitionError as err:
        _fail(f"{definition_file}: invalid cohort definition", json_output, err.problems)
    index_dir = index or default_index_path(cdr)
    if not (index_dir / INDEX_MANIFEST).is_file():
        _fail(f"{index_dir}: no index; build it with `workbench index {cdr}`", json_output)
    return definition, CohortEngine(index_dir)


@cohort_app.command("count")
def count(
    definition_file: Path = typer.Argument(..., help="Cohort definition (JSON)."),
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Count the participants who meet a definition."""
    definition, engine = _load(definition_file, cdr, index, json_output)
    n, elapsed = engine.count(definition)
    if json_output:
        emit_json({"count": n, "elapsed_ms": round(elapsed, 2)})
    else:
        out_console.print(f"{n:,} participants ({elapsed:.0f} ms)", highlight=False)


@cohort_app.command("ids")
def ids(
    definition_file: Path = typer.Argument(..., help="Cohort definition (JSON)."),
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    page: int = typer.Option(0, "--page", min=0, help="Page number, from 0."),
    page_size: int = typer.Option(25, "--page-size", min=1, max=10_000, help="Ids per page."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Participant ids of a cohort, in ascending order, one page at a time."""
    definition, engine = _load(definition_file, cdr, index, json_output)
    found = engine.participant_ids(definition, page, page_size)
    if json_output:
        emit_json({"page": page, "page_size": page_size, "person_ids": found})
    else:
        for person_id in found:
            print(person_id)


@cohort_app.command("breakdown")
def breakdown(
    definition_file: Path = typer.Argument(..., help="Cohort definition (JSON)."),
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Counts by gender × age band, race, ethnicity and sex at birth."""
    definition, engine = _load(definition_file, cdr, index, json_output)
    result = engine.breakdown(definition)
    if json_output:
        emit_json(result)
        return
    for name, rows in result.items():
        grid = RichTable(*rows[0].keys(), title=name, show_edge=False) if rows else RichTable(title=name)
        for row in rows:
            grid.add_row(*[str(v) for v in row.values()])
        out_console.print(grid)


@cohort_app.command("sql")
def sql(
    definition_file: Path = typer.Argument(..., help="Cohort definition (JSON)."),
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    dialect: str = typer.Option("duckdb", "--dialect", help=f"One of {', '.join(DIALECTS)}."),
    json_output: bool = JSON_OPTION,
) -> None:
    """The count query of a definition, as SQL with named parameters (values listed separately)."""
    if dialect not in DIALECTS:
        raise typer.BadParameter(f"must be one of {', '.join(DIALECTS)}", param_hint="--dialect")
    definition, engine = _load(definition_file, cdr, index, json_output)
    query = engine.compile(definition)
    text = query.sql(dialect=dialect, pretty=True)
    if json_output:
        emit_json({"dialect": dialect, "sql": text, "params": query.params})
    else:
        print(text + ";")
        print("-- parameters: " + json.dumps(query.params, default=str))
