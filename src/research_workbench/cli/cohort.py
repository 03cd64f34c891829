"""``workbench cohort``: count, list, break down and show the SQL of cohort definitions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from typing import TYPE_CHECKING

import typer

from ..cdr.model import DIALECTS
from .circe import circe
from .engine_options import ENGINE_OPTION, SPARK_MASTER_OPTION
from .output import command_group, JSON_OPTION, emit_json, err_console, fail, out_console, user_errors

cohort_app = command_group("Cohort definitions: counts, participants, breakdowns, SQL; OHDSI Circe definitions.")
cohort_app.command("circe")(circe)

CDR_OPTION = typer.Option(..., "--cdr", help="CDR directory (its index, built by `workbench index`, sits beside it).")
INDEX_OPTION = typer.Option(None, "--index", help="Index directory, if not the default CDR_DIR.index.")
DEFINITION_ARGUMENT = typer.Argument(..., help="Cohort definition (JSON).")


if TYPE_CHECKING:
    from ..cohorts.builder.library import Library


def _library(path: Path) -> Library:
    from ..cohorts.builder.library import Library

    return Library(path)


def _load(definition_file: Path, cdr: Path, index: Path | None, json_output: bool, engine=None):
    """The definition and a cohort engine on its index (running participants' SQL on ``engine`` when given)."""
    from ..cohorts.builder.engine import CohortEngine
    from ..cohorts.builder.model import parse_definition, read_json_file
    from ..index.layout import INDEX_MANIFEST, default_index_path

    with user_errors(json_output, source=definition_file, heading="invalid cohort definition"):
        definition = parse_definition(read_json_file(definition_file))
    index_dir = index or default_index_path(cdr)
    if not (index_dir / INDEX_MANIFEST).is_file():
        fail(f"{index_dir}: no index; build it with `workbench index {cdr}`", json_output)
    with user_errors(json_output):
        return definition, CohortEngine(index_dir, cdr_dir=cdr, engine=engine)


@contextmanager
def _engine(engine: str, spark_master: Optional[str], json_output: bool) -> Iterator:
    """The command's engine (None: the embedded path), its refusals reported as every other."""
    from .stage_engine import stage_engine

    with user_errors(json_output), stage_engine(engine, spark_master) as on:
        yield on


@cohort_app.command("count")
def count(
    definition_file: Path = DEFINITION_ARGUMENT,
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    json_output: bool = JSON_OPTION,
    engine_name: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
) -> None:
    """Count the participants who meet a definition."""
    with _engine(engine_name, spark_master, json_output) as on:
        definition, engine = _load(definition_file, cdr, index, json_output, on)
        with user_errors(json_output):
            n, elapsed = engine.count(definition)
    if json_output:
        emit_json({"count": n, "elapsed_ms": round(elapsed, 2)})
    else:
        out_console.print(f"{n:,} participants ({elapsed:.0f} ms)", highlight=False)


@cohort_app.command("ids")
def ids(
    definition_file: Path = DEFINITION_ARGUMENT,
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    page: int = typer.Option(0, "--page", min=0, max=10**9, help="Page number, from 0."),
    page_size: int = typer.Option(25, "--page-size", min=1, max=10_000, help="Ids per page."),
    json_output: bool = JSON_OPTION,
    engine_name: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
) -> None:
    """Participant ids of a cohort, in ascending order, one page at a time."""
    with _engine(engine_name, spark_master, json_output) as on:
        definition, engine = _load(definition_file, cdr, index, json_output, on)
        with user_errors(json_output):
            found = engine.participant_ids(definition, page, page_size)
    if json_output:
        emit_json({"page": page, "page_size": page_size, "person_ids": found})
    else:
        for person_id in found:
            print(person_id)


@cohort_app.command("breakdown")
def breakdown(
    definition_file: Path = DEFINITION_ARGUMENT,
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    json_output: bool = JSON_OPTION,
    engine_name: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
) -> None:
    """Counts by gender × age band, race, ethnicity and sex at birth."""
    with _engine(engine_name, spark_master, json_output) as on:
        definition, engine = _load(definition_file, cdr, index, json_output, on)
        with user_errors(json_output):
            result = engine.breakdown(definition)
    if json_output:
        emit_json(result)
        return
    from rich.table import Table as RichTable

    for name, rows in result.items():
        grid = RichTable(*rows[0].keys(), title=name, show_edge=False) if rows else RichTable(title=name)
        for row in rows:
            grid.add_row(*[str(v) for v in row.values()])
        out_console.print(grid)


@cohort_app.command("sql")
def sql(
    definition_file: Path = DEFINITION_ARGUMENT,
    cdr: Path = CDR_OPTION,
    index: Optional[Path] = INDEX_OPTION,
    dialect: str = typer.Option("duckdb", "--dialect", help=f"One of {', '.join(DIALECTS)}."),
    json_output: bool = JSON_OPTION,
) -> None:
    """The count query of a definition, as SQL with named parameters (values listed separately)."""
    if dialect not in DIALECTS:
        raise typer.BadParameter(f"must be one of {', '.join(DIALECTS)}", param_hint="--dialect")
    definition, engine = _load(definition_file, cdr, index, json_output)
    with user_errors(json_output):
        query = engine.compile(definition)
    text = query.sql(dialect=dialect, pretty=True)
    # Variant items name small tables of their carriers, which the engine registers before running the statement.
    tables = {name: {"columns": table.schema.names, "rows": table.num_rows} for name, table in query.tables.items()}
    if json_output:
        emit_json({"dialect": dialect, "sql": text, "params": query.params, "tables": tables})
    else:
        print(text + ";")
        print("-- parameters: " + json.dumps(query.params, default=str))
        for name, about in tables.items():
            print(f"-- table {name}: registered by the engine ({', '.join(about['columns'])}; {about['rows']:,} rows: "
                  "a variant item's carriers)")


LIBRARY_OPTION = typer.Option(..., "--library", help="Library directory of saved cohorts and concept sets.")


def _read_json(path: Path, json_output: bool, root: str = "(definition)") -> dict:
    """A definition or concept-set file, read strictly (``cohorts.jsonfile``): located problems, exit 1."""
    from ..cohorts.builder.model import read_json_file

    with user_errors(json_output, source=path, heading="invalid JSON"):
        return read_json_file(path, root)
    raise AssertionError("unreachable: user_errors exits")


def _saved(version, json_output: bool) -> None:
    summary = {"kind": version.kind, "name": version.name, "version": version.version, "content_sha256": version.content_sha256}
    if json_output:
        emit_json(summary)
    else:
        err_console.print(f"Saved {version.kind.replace('_', ' ')} {version.name!r} as version {version.version}.", highlight=False)


@cohort_app.command("save")
def save(
    definition_file: Path = DEFINITION_ARGUMENT,
    name: str = typer.Option(..., "--name", help="Name of the saved cohort."),
    library: Path = LIBRARY_OPTION,
    description: str = typer.Option("", "--description"),
    json_output: bool = JSON_OPTION,
) -> None:
    """Save a definition as the next version of a named cohort (unchanged content keeps its version)."""
    document = {"name": name, "description": description, "definition": _read_json(definition_file, json_output)}
    with user_errors(json_output, source=definition_file, heading="invalid cohort definition"):
        version = _library(library).save_cohort(document)
    _saved(version, json_output)


@cohort_app.command("versions")
def versions(name: str = typer.Argument(...), library: Path = LIBRARY_OPTION, json_output: bool = JSON_OPTION) -> None:
    """The saved versions of a named cohort."""
    with user_errors(json_output):
        found = [{"version": v.version, "saved_at": v.saved_at.isoformat(), "content_sha256": v.content_sha256}
                 for v in _library(library).versions("cohort", name)]
    if not found:
        fail(f"no cohort named {name!r} in {library}", json_output)
    if json_output:
        emit_json({"name": name, "versions": found})
    else:
        for v in found:
            print(f"v{v['version']}  {v['saved_at']}  {v['content_sha256'][:12]}")


conceptset_app = command_group("Named concept sets (one domain, at most 1,000 concepts), versioned.")


@conceptset_app.command("save")
def conceptset_save(
    set_file: Path = typer.Argument(..., help='Concept set JSON: {"name", "domain", "description", "concepts": [{"conceptId", "standard"}]}.'),
    library: Path = LIBRARY_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Save a concept set as its next version (unchanged content keeps its version)."""
    content = _read_json(set_file, json_output, "(concept set)")
    with user_errors(json_output, source=set_file, heading="invalid concept set"):
        version = _library(library).save_concept_set(content)
    _saved(version, json_output)


@conceptset_app.command("show")
def conceptset_show(
    name: str = typer.Argument(...),
    library: Path = LIBRARY_OPTION,
    version: Optional[int] = typer.Option(None, "--version", help="A given version (default: the latest)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """A saved concept set."""
    with user_errors(json_output, source=library, heading="a saved version is damaged"):
        found = _library(library).latest("concept_set", name, version)
    if json_output:
        emit_json(found.model_dump(mode="json"))
    else:
        out_console.print(f"{found.name} v{found.version} ({found.content['domain']}): {len(found.content['concepts'])} concepts", highlight=False)
