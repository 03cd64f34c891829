"""``workbench cohort circe``: run an OHDSI Circe (ATLAS) cohort definition against a CDR."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from typing import TYPE_CHECKING

import typer

from .engine_options import ENGINE_OPTION, SPARK_MASTER_OPTION
from .output import JSON_OPTION, emit_json, err_console, out_console, user_errors

if TYPE_CHECKING:
    from ..cohorts.circe.executor import CirceResult


def write_rows(result: CirceResult, out: Path) -> None:
    """The cohort rows as Parquet or CSV (by the file's suffix)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"--out {out}: expected a .parquet or .csv file")
    columns = list(zip(*result.rows)) if result.rows else [[], [], []]
    data = pa.table(
        {
            "subject_id": pa.array(columns[0], pa.int64()),
            "cohort_start_date": pa.array(columns[1], pa.date32()),
            "cohort_end_date": pa.array(columns[2], pa.date32()),
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pq.write_table(data, out)
    else:
        pacsv.write_csv(data, out)


def _print_summary(definition: Path, result: CirceResult) -> None:
    out_console.print(
        f"[bold]{definition.name}[/]  subjects: {result.subject_count:,}   entries: {result.entry_count:,}   "
        f"cohort rows: {len(result.rows):,}   {result.elapsed_ms:,.0f} ms",
        highlight=False,
    )
    from rich.table import Table as RichTable

    steps = RichTable("step", "events", "persons", show_edge=False)
    for step in result.attrition:
        steps.add_row(step.name, f"{step.events:,}", f"{step.persons:,}")
    out_console.print(steps)
    if result.inclusion_rules:
        rules = RichTable("#", "inclusion rule", "persons passing", "events passing", "persons remaining", "persons lost", show_edge=False)
        for rule in result.inclusion_rules:
            rules.add_row(
                str(rule.index), rule.name, f"{rule.persons_passing:,}", f"{rule.events_passing:,}",
                f"{rule.persons_remaining:,}", f"{rule.persons_lost:,}",
            )
        out_console.print(rules)


def circe(
    definition: Path = typer.Argument(..., help="Circe cohort expression (JSON, as exported by ATLAS)."),
    cdr: Path = typer.Option(..., "--cdr", help="CDR directory."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the cohort rows to FILE.parquet or FILE.csv."),
    json_output: bool = JSON_OPTION,
    engine: str = ENGINE_OPTION,
    spark_master: Optional[str] = SPARK_MASTER_OPTION,
) -> None:
    """Execute a Circe definition: entry and subject counts, per-rule attrition, optionally the rows."""
    with user_errors(json_output):
        if out is not None and out.suffix.lower() not in (".parquet", ".csv"):
            raise ValueError(f"--out {out}: expected a .parquet or .csv file")
        from ..cohorts.circe.executor import run_circe
        from ..cohorts.circe.model import load_definition
        from .stage_engine import stage_engine

        expression = load_definition(definition)
        with stage_engine(engine, spark_master) as on:
            result = run_circe(expression, cdr, engine=on)
        if out is not None:
            write_rows(result, out)
    if json_output:
        emit_json(result.summary())
    else:
        _print_summary(definition, result)
        if out is not None:
            err_console.print(f"wrote {len(result.rows):,} rows to {out}", highlight=False)
