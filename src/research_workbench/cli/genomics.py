"""``workbench genomics``: genomic analyses of a Controlled Tier index's genotype stores.

Each command imports its stage when it runs (``workbench --help`` loads no stage). ``cohort_person_ids`` is the
one way a command turns ``--cohort`` / ``--persons`` into person ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .output import JSON_OPTION, command_group, emit_json, err_console, out_console, progress_bar, user_errors

genomics_app = command_group("Genomics of a Controlled Tier index: genotype extracts and analyses.")

INDEX_OPTION = typer.Option(..., "--index", help="Index directory of a Controlled Tier release (with genomes).")
COHORT_OPTION = typer.Option(None, "--cohort", help="Cohort Builder definition (JSON): its participants.")
PERSONS_OPTION = typer.Option(None, "--persons", help="File of person ids, one per line ('#' starts a comment).")
KIND_OPTION = typer.Option("wgs", "--kind", help="Genotype store: wgs (whole genome) or array.")


def read_person_ids(path: Path) -> list[int]:
    """Person ids from a file, one per line; blank lines and ``#`` comments skipped; GenomicsError naming the line
    of anything else."""
    from ..genomics.store import GenomicsError

    ids, problems = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if text.isascii() and text.isdigit():
                ids.append(int(text))
            else:
                problems.append(f"{path}, line {number}: {text[:40]!r} is not a person id (a whole number)")
            if len(problems) >= 20:
                problems.append(f"{path}: stopped after 20 problems")
                break
    if problems:
        raise GenomicsError(problems)
    return ids


def cohort_person_ids(index_dir: Path, cohort: Path | None, persons: Path | None) -> list[int]:
    """The person ids of ``--cohort`` (run on the index by the Cohort Builder's engine) or of ``--persons``."""
    from ..genomics.store import GenomicsError

    if (cohort is None) == (persons is None):
        raise GenomicsError(["--cohort / --persons: give exactly one of them"])
    if persons is not None:
        return read_person_ids(persons)
    from ..cohorts.builder.engine import CohortEngine
    from ..cohorts.builder.model import parse_definition, read_json_file

    definition = parse_definition(read_json_file(cohort))
    engine = CohortEngine(index_dir)
    try:
        return list(engine.cohort_persons(definition))
    finally:
        engine.close()


@genomics_app.command("extract")
def extract(
    index_dir: Path = INDEX_OPTION,
    cohort: Optional[Path] = COHORT_OPTION,
    persons: Optional[Path] = PERSONS_OPTION,
    rsid: List[str] = typer.Option([], "--rsid", help="dbSNP id, e.g. rs7903146 (repeatable)."),
    gene: List[str] = typer.Option([], "--gene", help="Gene symbol, e.g. TCF7L2 (repeatable)."),
    region: List[str] = typer.Option([], "--region", help="chr10:114000000-115000000 or chr10 (repeatable)."),
    variant: List[str] = typer.Option([], "--variant", help="Variant id CHROM-POS-REF-ALT (repeatable)."),
    min_af: Optional[float] = typer.Option(None, "--min-af", help="Lowest ALT allele frequency (0–1)."),
    max_af: Optional[float] = typer.Option(None, "--max-af", help="Highest ALT allele frequency (0–1)."),
    min_call_rate: Optional[float] = typer.Option(None, "--min-call-rate",
                                                  help="Keep variants called in this share of the samples (0–1)."),
    formats: List[str] = typer.Option([], "--format", help="vcf, plink1, pgen or bgen (repeatable; default: all)."),
    kind: str = KIND_OPTION,
    name: str = typer.Option("extract", "--name", help="File name stem: NAME.vcf.gz, NAME.bed…"),
    out: Path = typer.Option(..., "--out", help="New directory to write the files and manifest.json into."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Extract a cohort's genotypes for chosen variants (none chosen: every variant) as VCF, PLINK 1, PLINK 2 and
    BGEN files, with a manifest of hashes and provenance."""
    from ..genomics.extract import FORMATS, extract as run_extract, parse_request
    from ..genomics.store import GenotypeStore

    with user_errors(json_output):
        request = parse_request({
            "selection": {"rsids": rsid, "genes": gene, "regions": region, "variant_ids": variant,
                          "min_af": min_af, "max_af": max_af},
            "formats": formats or list(FORMATS), "kind": kind, "min_call_rate": min_call_rate, "name": name})
        store = GenotypeStore.open(index_dir, request.kind)  # first: a Registered Tier index is refused plainly
        person_ids = cohort_person_ids(index_dir, cohort, persons)
    about = {"cohort": str(cohort) if cohort else None, "persons_file": str(persons) if persons else None}
    with user_errors(json_output), progress_bar("Extracting", enabled=not json_output) as progress:
        result = run_extract(store, person_ids, request, out, progress=progress, about=about)
    if json_output:
        emit_json(result.summary())
        return
    err_console.print(f"Extracted {result.variants:,} variants × {result.samples:,} samples into {result.path} "
                      f"in {result.seconds:.1f} s.", highlight=False)
    for fmt, names in result.files.items():
        out_console.print(f"{fmt}: {' '.join(names)}", highlight=False)
