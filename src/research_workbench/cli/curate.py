"""``workbench curate``: raw CDR → a release with Registered and Controlled Tier CDRs and a report;
``workbench release scan``: prove a release holds no raw identifier."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .engine_options import ENGINE_OPTION, SPARK_MASTER_OPTION
from .output import command_group, JSON_OPTION, emit_json, err_console, progress_bar, user_errors


def curate(
    raw_dir: Path = typer.Argument(..., help="The raw CDR directory (read only)."),
    release: str = typer.Option(..., "--release", help="Release name: the directory created under --out."),
    out: Path = typer.Option(..., "--out", help="Releases directory (the private maps live in its .private/)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file overriding the curation defaults."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing release of that name."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", help="DuckDB memory cap of the working database, e.g. 8GB (default: RW_DUCKDB_MEMORY_LIMIT or 2GB); past it DuckDB spills to disk."
    ),
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Curate a raw CDR into RELEASES_DIR/NAME/{registered,controlled}, with sandboxes and report.json/html."""
    from contextlib import nullcontext

    from ..curation.release import curate as run_curation
    from .engine_options import open_engine

    with user_errors(json_output):
        # DuckDB (the default): the curation opens its own working database, spilling under the run's scratch
        # directory with --memory-limit; another engine (or a --spark-master given by mistake) goes through
        # open_engine, which names a wrong option.
        default = (engine or "duckdb").strip().lower() == "duckdb" and not spark_master
        with (nullcontext(None) if default else open_engine(engine, spark_master)) as eng, \
                progress_bar("Curating", enabled=not json_output) as progress:
            result = run_curation(raw_dir, release, out, config=config, replace=replace, progress=progress,
                                  memory_limit=memory_limit, engine=eng)
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
    risk, scan = summary["residual_risk"], summary["scan"]
    if scan:
        err_console.print(
            f"Scan: no raw identifier in {scan['checked']['tables']} tables, {scan['checked']['vcf_samples']:,} VCF samples and "
            f"{scan['checked']['files']} file names; sandbox (steward-only): {result.sandbox_dir}",
            highlight=False,
        )
    if risk:
        err_console.print(
            f"Residual risk: {risk['unique']:,} of {risk['participants']:,} Registered Tier participants ({risk['unique_share']:.1%}) are unique "
            "on year of birth, gender, state and conditions (see the report)",
            highlight=False,
        )


release_app = command_group("Check releases, and publish their tiers as data versions for workspaces.")


@release_app.command("scan")
def scan(
    release_dir: Path = typer.Argument(..., help="A release folder (RELEASES_DIR/NAME, holding registered/ and controlled/)."),
    raw: Optional[Path] = typer.Option(None, "--raw", help="The raw CDR it was curated from (default: the path its manifests record)."),
    private: Optional[Path] = typer.Option(None, "--private", help="The private area (default: RELEASES_DIR/.private)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Curation TOML whose scan settings (minimum lengths of ids in text) to use."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Refuse a release holding a raw person, row, response, device, sample or site id, or a full date of birth: every column of every table of both tiers, every VCF header and sample name, every file name and the report are read; exit status 1 when anything is found."""
    from ..curation.config import load_config
    from ..curation.scan import ScanError, scan_release

    with user_errors(json_output):
        result = scan_release(release_dir, private_dir=private, raw_dir=raw, config=load_config(config))
        if not result.ok:
            raise ScanError(release_dir, result.findings)
    if json_output:
        emit_json(result.as_dict())
        return
    checked = result.checked
    err_console.print(
        f"{release_dir}: no raw identifier found ({checked['tables']} tables, {checked['identifier_columns']} identifier and "
        f"{checked['text_columns']} text columns, {checked['vcf_samples']:,} VCF samples, {checked['files']} file names; "
        f"{result.seconds:.1f} s)",
        highlight=False,
    )

