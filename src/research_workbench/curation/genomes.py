"""Genomes in the Controlled Tier: the raw VCFs with sample ids replaced by research ids.

Samples of participants that curation removed are dropped; the others are renamed through the private person map.
The VCF is streamed line by line (memory bounded by one line), re-compressed as BGZF and tabix-indexed. The
Registered Tier carries no genomes.
"""

from __future__ import annotations

from pathlib import Path

import pysam

VCF_SUFFIX = ".vcf.gz"
FIXED_COLUMNS = 9  # CHROM POS ID REF ALT QUAL FILTER INFO FORMAT


def genome_files(files: dict[str, object]) -> list[str]:
    """The VCFs among a manifest's files (their indexes are rebuilt, not copied)."""
    return sorted(name for name in files if name.endswith(VCF_SUFFIX))


def deidentify_vcf(source: Path, target: Path, research_ids: dict[str, str]) -> int:
    """Write ``source`` to ``target`` keeping only samples in ``research_ids`` (renamed); returns samples kept."""
    keep: list[int] | None = None
    with pysam.BGZFile(str(source), "rb") as raw, pysam.BGZFile(str(target), "wb") as out:
        for line in raw:  # pysam yields lines without their newline
            line = line.rstrip(b"\r\n")
            if line.startswith(b"##"):
                out.write(line + b"\n")
                continue
            fields = line.split(b"\t")
            if line.startswith(b"#CHROM"):
                samples = [s.decode() for s in fields[FIXED_COLUMNS:]]
                keep = [i for i, s in enumerate(samples, start=FIXED_COLUMNS) if s in research_ids]
                renamed = [research_ids[samples[i - FIXED_COLUMNS]].encode() for i in keep]
                out.write(b"\t".join(fields[:FIXED_COLUMNS] + renamed) + b"\n")
                continue
            if keep is None:
                raise ValueError(f"{source}: a data line comes before the #CHROM header")
            out.write(b"\t".join(fields[:FIXED_COLUMNS] + [fields[i] for i in keep]) + b"\n")
    pysam.tabix_index(str(target), preset="vcf", force=True, index=str(target) + ".tbi")
    return len(keep or [])
