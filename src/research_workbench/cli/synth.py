"""``workbench synth``: generate a synthetic program (a raw CDR)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .output import JSON_OPTION, emit_json, err_console, progress_bar, user_errors


def synth(
    participants: int = typer.Option(..., "--participants", "-n", min=1, help="Number of participants."),
    seed: int = typer.Option(0, "--seed", "-s", min=0, help="Random seed (same seed and N → byte-identical output)."),
    out: Path = typer.Option(..., "--out", "-o", help="CDR directory to create."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing CDR directory."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write a synthetic raw CDR: vocabulary, participants, EHR, surveys, measurements, wearables, genomes, defects."""
    from ..synth.generate import generate

    started = time.perf_counter()
    with user_errors(json_output), progress_bar("Generating", enabled=not json_output) as progress:
        manifest = generate(participants, seed, out, replace=replace, progress=progress)
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
        emit_json(summary)
    else:
        err_console.print(f"Wrote {participants:,} participants ({summary['rows']:,} rows) to {summary['out']} in {seconds:.1f} s",
                          highlight=False)
