"""``workbench index`` and ``workbench criteria``: build a CDR's search index and search its criteria."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ..cdr.facts import EVENT_DOMAINS, Domain
from .engine_options import ENGINE_OPTION, SPARK_MASTER_OPTION, open_engine
from .output import command_group, JSON_OPTION, emit_json, err_console, out_console, progress_bar, user_errors

# The domains criteria belong to, in the enum's order.
DOMAINS = tuple(d.value for d in Domain if d in EVENT_DOMAINS)
SEARCH_LIMIT = 250  # index.search.SEARCH_LIMIT; a test checks they agree (importing it here would load the index)

criteria_app = command_group("Browse and search the criteria of an index.")


def index(
    cdr_dir: Path = typer.Argument(..., help="CDR directory (raw or a release tier)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Index directory (default: CDR_DIR.index beside the CDR)."),
    replace: bool = typer.Option(False, "--replace", help="Rebuild an existing index."),
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Build the search index of a CDR: event table, person table, criteria trees and text search.

    The event, person and criteria tables are computed on --engine (DuckDB, or Spark for a program that outgrows
    one machine); the files that serve the index (its DuckDB database, bitmaps, search database) are built here."""
    from ..index.build import build_index

    with user_errors(json_output), open_engine(engine, spark_master) as eng, \
            progress_bar("Indexing", enabled=not json_output) as progress:
        # DuckDB: the build opens its own, spilling into the index's scratch directory (the engine here only
        # checked the options).
        result = build_index(cdr_dir, out, replace=replace, progress=progress,
                             engine=None if eng.name == "duckdb" else eng)
    if json_output:
        emit_json(result.summary())
    else:
        err_console.print(
            f"Indexed {result.counts['events']:,} events of {result.counts['persons']:,} persons "
            f"({result.counts['criteria']:,} criteria) into {result.path} in {result.seconds:.1f} s.",
            highlight=False,
        )


@criteria_app.command("search")
def search(
    term: str = typer.Argument(..., help="Words of a name or synonym, or a code."),
    index_dir: Path = typer.Option(..., "--index", help="Index directory."),
    domain: Optional[str] = typer.Option(None, "--domain", help=f"One of {', '.join(DOMAINS)}."),
    standard: Optional[bool] = typer.Option(None, "--standard/--source", help="Only standard, or only source, concepts."),
    limit: int = typer.Option(SEARCH_LIMIT, "--limit", min=1, max=SEARCH_LIMIT, help="At most this many results."),
    cdr: Optional[Path] = typer.Option(None, "--cdr", help="The CDR the index must match (default: the one it was built from)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Ranked search over criteria names, codes and synonyms (exact code first)."""
    from rich.table import Table as RichTable

    from ..index.freshness import check_index
    from ..index.search import search_criteria

    if domain is not None and domain.upper() not in DOMAINS:
        raise typer.BadParameter(f"must be one of {', '.join(DOMAINS)}", param_hint="--domain")
    with user_errors(json_output):
        check_index(index_dir, cdr)  # refuses an index whose CDR changed since it was built
        started = time.perf_counter()
        results = search_criteria(index_dir, term, domain=domain.upper() if domain else None, standard=standard, limit=limit,
                                  cdr_dir=cdr, check=False)
        elapsed = (time.perf_counter() - started) * 1000
    if json_output:
        emit_json({"term": term, "count": len(results), "elapsed_ms": round(elapsed, 2), "results": results})
        return
    grid = RichTable("concept_id", "domain", "std", "code", "name", "participants", show_edge=False)
    for r in results:
        grid.add_row(str(r["concept_id"]), r["domain"], "S" if r["is_standard"] else "", r["code"], r["name"], f"{r['count']:,}")
    out_console.print(grid)
