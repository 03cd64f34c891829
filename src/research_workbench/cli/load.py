"""``workbench load``: OMOP files or databases, and Athena vocabularies, into a CDR."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .output import command_group, JSON_OPTION, emit_json, err_console, progress_bar, user_errors

app = command_group("Load data into a CDR directory.")


@app.command("omop")
def load_omop(
    source: str = typer.Argument(..., help="A folder of OMOP CSV/CSV.gz/Parquet files, or a postgresql:// URL."),
    out: Path = typer.Option(..., "--out", help="CDR directory to create."),
    schema: Optional[str] = typer.Option(None, "--schema", help="PostgreSQL schema holding the CDM tables."),
    vocab_schema: Optional[str] = typer.Option(None, "--vocab-schema", help="PostgreSQL schema of the vocabulary tables (default: --schema)."),
    cdm_version: str = typer.Option("auto", "--cdm-version", help="Source CDM version: auto, 5.3.1 or 5.4."),
    strict: bool = typer.Option(False, "--strict", help="Refuse unknown tables and columns instead of skipping them."),
    allow_duplicate_keys: bool = typer.Option(
        False, "--allow-duplicate-keys", help="Keep rows whose primary key repeats (counted in the manifest) instead of refusing the load."
    ),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing CDR at --out."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Load an OMOP CDM 5.3.1 or 5.4 (upgraded to 5.4) into a new CDR directory, atomically."""
    if cdm_version not in ("auto", "5.3.1", "5.4"):
        raise typer.BadParameter("must be auto, 5.3.1 or 5.4", param_hint="--cdm-version")
    from ..ingest.omop import load_omop_folder, load_omop_postgres

    with user_errors(json_output), progress_bar("Loading", enabled=not json_output) as progress:
        options = dict(strict=strict, replace=replace, cdm_version=cdm_version, allow_duplicate_keys=allow_duplicate_keys, progress=progress)
        if source.startswith(("postgresql://", "postgres://")):
            if not schema:
                raise typer.BadParameter("a PostgreSQL source needs --schema", param_hint="--schema")
            result = load_omop_postgres(source, schema, out, vocab_schema=vocab_schema, **options)
        else:
            if schema or vocab_schema:
                raise typer.BadParameter("--schema and --vocab-schema apply to postgresql:// sources only")
            result = load_omop_folder(Path(source), out, **options)
    summary = result.summary()
    if json_output:
        emit_json(summary)
        return
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, markup=False)
    err_console.print(
        f"Loaded {summary['rows']:,} rows ({summary['persons']:,} persons) into {out} "
        f"in {summary['seconds']:.1f} s ({summary['rows_per_second'] or 0:,} rows/s); "
        f"CDM {summary['source_cdm_version']} → {summary['cdm_version']}.",
        highlight=False,
    )


@app.command("vocabulary")
def load_vocabulary(
    athena_dir: Path = typer.Argument(..., help="Folder of an OHDSI Athena vocabulary download."),
    into: Path = typer.Option(..., "--into", help="CDR directory whose vocabulary to replace (created if absent)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Load an Athena vocabulary download (tab-separated, YYYYMMDD dates) into a CDR, atomically."""
    from ..ingest.athena import load_athena_vocabulary

    with user_errors(json_output), progress_bar("Vocabulary", enabled=not json_output) as progress:
        result = load_athena_vocabulary(athena_dir, into, progress=progress)
    vocab = {t: result.manifest.tables[t].rows for t in ("concept", "concept_ancestor", "concept_relationship", "concept_synonym", "vocabulary", "domain", "concept_class", "relationship", "drug_strength")}
    if json_output:
        emit_json({"path": str(into), "vocabulary_version": result.manifest.vocabulary_version, "tables": vocab, "seconds": round(result.seconds, 3)})
        return
    err_console.print(f"Vocabulary {result.manifest.vocabulary_version} loaded into {into}: {vocab['concept']:,} concepts.", highlight=False)
