"""``workbench synth``: the typer command (wired into the ``workbench`` app by the CLI module)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

app = typer.Typer(help="Generate a synthetic program (a raw CDR).", no_args_is_help=True)


@app.command("synth")
def synth(
    participants: int = typer.Option(..., "--participants", "-n", min=1, help="Number of participants."),
    seed: int = typer.Option(0, "--seed", "-s", min=0, help="Random seed (same seed and N → byte-identical output)."),
    out: Path = typer.Option(..., "--out", "-o", help="CDR directory to create."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing CDR directory."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Write a synthetic raw CDR: vocabulary, participants, EHR, surveys, measurements, wearables, genomes, defects."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..cdr.store import CdrExistsError
    from ..synth.generate import generate

    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=json_output, disable=not console.is_terminal) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            manifest = generate(participants, seed, out, replace=replace, progress=progress)
    except (CdrExistsError, ValueError) as err:
        if json_output:
            sys.stdout.write(json.dumps({"error": str(err)}) + "\n")
        else:
            console.print(f"[bold red]Error:[/] {err}")
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    summary = {
        "out": str(Path(out).absolute()),
        "participants": participants,
        "seed": seed,
        "seconds": round(seconds, 2),
        "rows": sum(t.rows for t in manifest.tables.values()),
        "tables": {name: t.rows for name, t in manifest.tables.items() if t.rows},
        "files": {name: f.bytes for name, f in manifest.files.items()},
        "synth": manifest.extra.get("synth", {}),
    }
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        console.print(f"Wrote {participants:,} participants ({summary['rows']:,} rows) to {summary['out']} in {seconds:.1f} s")


def main() -> None:  # pragma: no cover - convenience entry point
    app()
