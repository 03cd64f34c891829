"""``workbench genomics gwas``: a genome-wide association study on an index's genotypes (``genomics.gwas_run``).

Registered by ``cli/genomics.py`` as ``genomics_app.command("gwas")(gwas)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .output import JSON_OPTION, emit_json, err_console, out_console, progress_bar, user_errors

SHOWN_HITS = 10


def gwas(
    index: Path = typer.Option(..., "--index", help="Index directory of a Controlled Tier release (with genotypes)."),
    out: Path = typer.Option(..., "--out", help="Output directory (created; refused if not empty unless --replace)."),
    cases: Optional[Path] = typer.Option(None, "--cases", help="Case cohort: a Cohort Builder definition (JSON)."),
    controls: Optional[Path] = typer.Option(None, "--controls", help="Control cohort definition (JSON); default: "
                                                                      "everyone else with genotypes."),
    measurement: Optional[int] = typer.Option(None, "--measurement", help="Quantitative phenotype: a measurement "
                                                                          "concept id."),
    summary_kind: str = typer.Option("latest", "--measurement-value", help="latest or mean value per participant."),
    covariates: str = typer.Option("age,sex", "--covariates", help="Comma-separated: age, sex, pcs."),
    pcs: Optional[Path] = typer.Option(None, "--pcs", help="Parquet file of principal components (person_id, PC1..PCk)."),
    model: Optional[str] = typer.Option(None, "--model", help="linear or logistic (default: logistic for a case "
                                                              "cohort, linear for a measurement)."),
    kind: str = typer.Option("wgs", "--kind", help="Genotype store: wgs or array."),
    maf: float = typer.Option(0.01, "--maf", min=0.0, max=0.5, help="Skip variants with a minor-allele frequency "
                                                                     "below this."),
    min_call_rate: float = typer.Option(0.95, "--min-call-rate", min=0.0, max=1.0,
                                        help="Skip variants called in fewer than this share of the samples."),
    rsid: list[str] = typer.Option([], "--rsid", help="Only these rsIDs (repeatable)."),
    gene: list[str] = typer.Option([], "--gene", help="Only variants of these genes (repeatable)."),
    region: list[str] = typer.Option([], "--region", help="Only these regions, e.g. chr10:112000000-114000000 "
                                                          "(repeatable)."),
    top: int = typer.Option(100, "--top", min=0, help="Logistic: re-test exactly the variants with the smallest "
                                                      "score p."),
    exact_test: str = typer.Option("firth", "--exact-test", help="Logistic: firth (as plink2 --glm firth) or wald "
                                                                 "(maximum likelihood, as plink2 --glm no-firth)."),
    replace: bool = typer.Option(False, "--replace", help="Replace the contents of --out."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads sharing each chunk's sums "
                                          "(default: one per core)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Genome-wide association: linear (quantitative) or logistic (case/control: score test, Firth or Wald
    for the top hits) regression on every selected variant, with Manhattan and QQ plots."""
    from ..cohorts.builder.model import read_json_file
    from ..genomics.gwas_run import parse_spec, run_gwas

    document: dict = {
        "kind": kind, "model": model, "min_maf": maf, "min_call_rate": min_call_rate, "top": top,
        "exact_test": exact_test,
        "covariates": [c.strip() for c in covariates.split(",") if c.strip()],
        "measurement_summary": summary_kind,
        "selection": {"rsids": rsid, "genes": gene, "regions": region},
    }
    if measurement is not None:
        document["measurement_concept_id"] = measurement
    if pcs is not None:
        document["pcs"] = str(pcs)
    for name, path in (("cases", cases), ("controls", controls)):
        if path is not None:
            with user_errors(json_output, source=path, heading=f"invalid {name} cohort definition"):
                document[name] = read_json_file(path)
    with user_errors(json_output):
        spec = parse_spec(document)
    with user_errors(json_output), progress_bar("GWAS", enabled=not json_output) as progress:
        summary = run_gwas(index, spec, out, progress=progress, replace=replace, threads=threads)
    if json_output:
        emit_json(summary)
        return
    _print(summary, out)


def _print(summary: dict, out: Path) -> None:
    from rich.table import Table as RichTable

    variants = summary["variants"]
    who = (f"{summary['cases']:,} cases, {summary['controls']:,} controls" if summary["phenotype"]["binary"]
           else f"{summary['samples']:,} samples")
    err_console.print(f"{summary['model'].capitalize()} GWAS of {who}: {variants['tested']:,} variants tested, "
                      f"{variants['filtered']:,} filtered, in {summary['seconds']:.1f} s.", highlight=False)
    lam = summary["lambda_gc"]
    out_console.print(f"λGC = {lam:.3f}" if lam is not None else "λGC: no variant tested", highlight=False)
    grid = RichTable("variant", "rsid", "gene", "alt freq", "beta", "se", "-log10 p", "test", show_edge=False)
    for hit in summary["top_hits"][:SHOWN_HITS]:
        grid.add_row(hit["variant_id"], hit["rsid"] or "", hit["gene"] or "", _num(hit["alt_freq"], ".3f"),
                     _num(hit["beta"], ".4g"), _num(hit["se"], ".3g"), _num(hit["log10p"], ".2f"), hit["test"])
    out_console.print(grid)
    err_console.print(f"Results, plots and summary in {out}", highlight=False)


def _num(value, fmt: str) -> str:
    return "NA" if value is None else format(value, fmt)
