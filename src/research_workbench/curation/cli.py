"""``workbench curate``: raw CDR → a release with Registered and Controlled Tier CDRs and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli.output import JSON_OPTION, emit_json, err_console, progress_bar, user_errors


def curate(
    raw_dir: Path = typer.Argument(..., help="The raw CDR directory (read only)."),
    release: str = typer.Option(..., "--release", help="Release name: the directory created under --out."),
    out: Path = typer.Option(..., "--out", help="Releases directory (the private maps live in its .private/)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file overriding the curation defaults."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing release of that name."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", help="DuckDB memory cap of the working database, e.g. 8GB (default: RW_DUCKDB_MEMORY_LIMIT or 2GB); past it DuckDB spills to disk."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Curate a raw CDR into RELEASES_DIR/NAME/{registered,controlled}, with sandboxes and report.json/html."""
    from .release import curate as run_curation

    with user_errors(json_output), progress_bar("Curating", enabled=not json_output) as progress:
        result = run_curation(raw_dir, release, out, config=config, replace=replace, progress=progress, memory_limit=memory_limit)
    summary = result.summary()
    if json_output:
        emit_json(summary)
        return
    err_console.print(
        f"Release {release} written to {result.release_dir} in {summary['seconds']:.1f} s: "
        + ", ".join(f"{k} {v:,} participants" for k, v in summary["participants"].items())
        + f"; report: {result.release_dir / 'report.html'}",
        highlight=False,
    )
