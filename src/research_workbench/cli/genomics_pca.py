"""``workbench genomics pca | phewas | frequencies``: principal components, a phenome-wide scan and per-ancestry
allele frequencies of a cohort (``genomics.pca``, ``genomics.phewas``, ``genomics.ancestry_af``).

Registered by ``cli/genomics.py`` (``genomics_app.command("pca")(pca)`` and so on). Stages are imported when a
command runs; ``--cohort`` / ``--persons`` go through ``cli.genomics.cohort_person_ids``, imported then too (that
module imports this one to register the commands).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .output import JSON_OPTION, emit_json, err_console, out_console, progress_bar, user_errors

INDEX_OPTION = typer.Option(..., "--index", help="Index directory of a Controlled Tier release (with genomes).")
KIND_OPTION = typer.Option("wgs", "--kind", help="Genotype store: wgs (whole genome) or array.")
RSID_OPTION = typer.Option([], "--rsid", help="dbSNP id, e.g. rs7903146 (repeatable).")
GENE_OPTION = typer.Option([], "--gene", help="Gene symbol, e.g. TCF7L2 (repeatable).")
REGION_OPTION = typer.Option([], "--region", help="chr10:114000000-115000000 or chr10 (repeatable).")
VARIANT_OPTION = typer.Option([], "--variant", help="Variant id CHROM-POS-REF-ALT (repeatable).")
MIN_AF_OPTION = typer.Option(None, "--min-af", help="Lowest ALT allele frequency over the store's samples (0–1).")
MAX_AF_OPTION = typer.Option(None, "--max-af", help="Highest ALT allele frequency over the store's samples (0–1).")
SHOWN = 20


def _selection(rsid: list[str], gene: list[str], region: list[str], variant: list[str], min_af: float | None,
               max_af: float | None):
    """The selection options as a VariantSelection; GenomicsError naming each bad option."""
    from pydantic import ValidationError

    from ..genomics.store import GenomicsError
    from ..index.variant_query import VariantSelection

    option = {"rsids": "--rsid", "genes": "--gene", "regions": "--region", "variant_ids": "--variant",
              "min_af": "--min-af", "max_af": "--max-af"}
    try:
        return VariantSelection(rsids=rsid, genes=gene, regions=region, variant_ids=variant, min_af=min_af, max_af=max_af)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            where = option.get(str(e["loc"][0]), "--min-af / --max-af") if e["loc"] else "--min-af / --max-af"
            problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
        raise GenomicsError(problems) from None


def _persons(index: Path, cohort: Path | None, persons: Path | None, *, required: bool = False) -> list[int] | None:
    """``--cohort`` / ``--persons`` as person ids; None when neither is given and they are optional."""
    from .genomics import cohort_person_ids

    if cohort is None and persons is None and not required:
        return None
    return cohort_person_ids(index, cohort, persons)


def pca(
    index: Path = INDEX_OPTION,
    out: Path = typer.Option(..., "--out", help="Directory to write pcs.parquet/.tsv, eigenvalues, plots into."),
    cohort: Optional[Path] = typer.Option(None, "--cohort", help="Cohort Builder definition (JSON); default: everyone "
                                                                  "with genotypes."),
    persons: Optional[Path] = typer.Option(None, "--persons", help="File of person ids, one per line."),
    k: int = typer.Option(10, "--k", help="Number of principal components."),
    rsid: List[str] = RSID_OPTION,
    gene: List[str] = GENE_OPTION,
    region: List[str] = REGION_OPTION,
    variant: List[str] = VARIANT_OPTION,
    min_af: Optional[float] = MIN_AF_OPTION,
    max_af: Optional[float] = MAX_AF_OPTION,
    min_maf: float = typer.Option(0.01, "--maf", help="Lowest minor-allele frequency in the cohort (0–0.5)."),
    min_call_rate: float = typer.Option(0.95, "--min-call-rate", help="Lowest call rate in the cohort (0–1)."),
    prune_window: int = typer.Option(50, "--prune-window", help="LD pruning window, in variants (plink2 "
                                                                "--indep-pairwise W S R2)."),
    prune_step: int = typer.Option(5, "--prune-step", help="LD pruning step, in variants."),
    prune_r2: float = typer.Option(0.2, "--prune-r2", help="LD pruning r² threshold."),
    no_prune: bool = typer.Option(False, "--no-prune", help="Skip LD pruning."),
    method: str = typer.Option("auto", "--method", help="auto, exact or randomized."),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomized method's test matrix."),
    weights: bool = typer.Option(False, "--weights", help="Also write each variant's weights."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PC1×PC2 and PC3×PC4 plots."),
    kind: str = KIND_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Principal components of a cohort's genotypes as PLINK 2's --pca computes them, after variant QC and LD
    pruning; writes a covariate table for GWAS and plots coloured by predicted ancestry."""
    from ..genomics.pca import PruneSettings, run_pca

    with user_errors(json_output):
        selection = _selection(rsid, gene, region, variant, min_af, max_af)
        person_ids = _persons(index, cohort, persons)
    prune = None if no_prune else PruneSettings(prune_window, prune_step, prune_r2)
    with user_errors(json_output), progress_bar("PCA", enabled=not json_output) as progress:
        result = run_pca(index, person_ids, out, k, kind=kind, selection=selection, min_maf=min_maf,
                         min_call_rate=min_call_rate, prune=prune, method=method, seed=seed, loadings=weights,
                         plots=not no_plots, progress=progress)
    if json_output:
        emit_json(result.summary())
        return
    counts = result.counts
    err_console.print(f"PCA ({result.method}) of {counts['participants']:,} participants over "
                      f"{counts['variants_used']:,} variants ({counts['variants_passing_qc']:,} passed QC of "
                      f"{counts['variants_selected']:,}); files in {out}.", highlight=False)
    for i, value in enumerate(result.eigenvalues.tolist(), start=1):
        out_console.print(f"PC{i}\t{value:.6g}", highlight=False)


def phewas(
    index: Path = INDEX_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write phewas.parquet/.tsv/.json into."),
    rsid: List[str] = RSID_OPTION,
    gene: List[str] = GENE_OPTION,
    region: List[str] = REGION_OPTION,
    variant: List[str] = VARIANT_OPTION,
    min_af: Optional[float] = MIN_AF_OPTION,
    max_af: Optional[float] = MAX_AF_OPTION,
    carriers: bool = typer.Option(False, "--carriers", help="Exposure: carrying an ALT allele of any selected "
                                                            "variant (default: the ALT dosage of the one variant "
                                                            "given by --rsid or --variant)."),
    cohort: Optional[Path] = typer.Option(None, "--cohort", help="Exposure: membership of this cohort (a Cohort "
                                                                  "Builder definition, e.g. a variant criterion)."),
    persons: Optional[Path] = typer.Option(None, "--persons", help="Exposure: membership of these person ids."),
    within: Optional[Path] = typer.Option(None, "--within", help="Analyse only this cohort's participants (a Cohort "
                                                                  "Builder definition)."),
    min_cases: int = typer.Option(20, "--min-cases", help="Fewest cases a condition needs to be tested."),
    max_levels: Optional[int] = typer.Option(None, "--max-levels", help="Roll conditions up at most this many "
                                                                        "levels of the hierarchy (0: none)."),
    covariates: Optional[Path] = typer.Option(None, "--covariates", help="Extra covariates: Parquet/TSV with "
                                                                          "person_id + numeric columns (pcs.parquet)."),
    kind: str = KIND_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Phenome-wide scan: every condition with enough cases (rolled up through the vocabulary) against a variant's
    dosage, carrier status or a cohort's membership, adjusted for age and sex; Bonferroni and BH q-values."""
    from ..genomics.phewas import read_covariates, run_phewas, shown_count
    from ..genomics.store import GenomicsError

    with user_errors(json_output):
        selection = _selection(rsid, gene, region, variant, min_af, max_af)
        exposure: dict = {}
        if cohort is not None or persons is not None:
            if selection.by_identifier or carriers:
                raise GenomicsError(["--cohort / --persons: the exposure is either a cohort or variants, not both"])
            exposure["exposed"] = _persons(index, cohort, persons, required=True)
        elif carriers:
            exposure["carriers"] = selection
        else:
            named = [*selection.rsids, *selection.variant_ids]
            if len(named) != 1 or selection.genes or selection.regions:
                raise GenomicsError(["--rsid / --variant: give one variant for a dosage scan, or --carriers for a "
                                     "selection, or --cohort / --persons"])
            exposure["variant"] = named[0]
        population = _persons(index, within, None) if within is not None else None
        extra = read_covariates(covariates) if covariates is not None else None
    with user_errors(json_output), progress_bar("PheWAS", enabled=not json_output) as bar:
        result = run_phewas(index, **exposure, population=population, out_dir=out, min_cases=min_cases,
                            max_levels=max_levels, covariates=extra, kind=kind, progress=bar)
    summary = result.summary(top=SHOWN)
    if json_output:
        emit_json(summary)
        return
    from rich.table import Table as RichTable

    err_console.print(f"PheWAS of {result.exposure}: {summary['participants']} participants "
                      f"({shown_count(result.exposed)} exposed), {summary['phenotypes_tested']:,} conditions with "
                      f"{result.min_cases}+ cases; Bonferroni threshold {summary['bonferroni_threshold']:.2g}.",
                      highlight=False)
    grid = RichTable("concept", "condition", "cases", "exposed cases", "test", "OR", "p", "q", show_edge=False)
    for row in summary["top"]:
        grid.add_row(str(row["concept_id"]), row["concept_name"], row["cases"], row["exposed_cases"], row["test"],
                     "" if row["odds_ratio"] is None else f"{row['odds_ratio']:.3g}", f"{row['p_value']:.3g}",
                     f"{row['q_value']:.3g}")
    out_console.print(grid)


def frequencies(
    index: Path = INDEX_OPTION,
    cohort: Optional[Path] = typer.Option(None, "--cohort", help="Cohort Builder definition (JSON); default: everyone "
                                                                  "with genotypes."),
    persons: Optional[Path] = typer.Option(None, "--persons", help="File of person ids, one per line."),
    rsid: List[str] = RSID_OPTION,
    gene: List[str] = GENE_OPTION,
    region: List[str] = REGION_OPTION,
    variant: List[str] = VARIANT_OPTION,
    min_af: Optional[float] = MIN_AF_OPTION,
    max_af: Optional[float] = MAX_AF_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the table (exact counts) to this .parquet or .tsv "
                                                            "file."),
    kind: str = KIND_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Allele count, allele number, homozygotes and frequency per variant and predicted-ancestry group (and in
    total) for a cohort. Shown counts from 1 to 19 read "<20"; the --out file keeps them exact."""
    from ..genomics.ancestry_af import ancestry_frequencies
    from ..genomics.phewas import shown_count

    with user_errors(json_output):
        selection = _selection(rsid, gene, region, variant, min_af, max_af)
        person_ids = _persons(index, cohort, persons)
        if out is not None and out.suffix not in (".parquet", ".tsv"):
            raise ValueError(f"--out: {out} must end in .parquet or .tsv")
    with user_errors(json_output), progress_bar("Frequencies", enabled=not json_output) as bar:
        table = ancestry_frequencies(index, person_ids, selection, kind=kind, progress=bar)
        if out is not None:
            _write(table, out)
    rows = [{**r, "allele_count": shown_count(r["allele_count"]), "allele_number": shown_count(r["allele_number"]),
             "homozygote_count": shown_count(r["homozygote_count"])} for r in table.to_pylist()]
    if json_output:
        emit_json({"rows": rows, "file": str(out) if out else None})
        return
    from rich.table import Table as RichTable

    grid = RichTable("variant", "rsid", "ancestry", "AC", "AN", "hom", "AF", show_edge=False)
    for r in rows:
        af = r["allele_frequency"]
        grid.add_row(r["variant_id"], r["rsid"] or "", r["ancestry"], r["allele_count"], r["allele_number"],
                     r["homozygote_count"], "" if af is None else f"{af:.4g}")
    out_console.print(grid)


def _write(table, out: Path) -> None:
    """The table at ``out``, whole or not at all (a temporary sibling renamed into place)."""
    import os
    import tempfile

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        if out.suffix == ".parquet":
            pq.write_table(table, temporary, compression="zstd")
        else:
            pacsv.write_csv(table, temporary, write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="needed"))
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
