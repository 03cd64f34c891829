"""The on-disk layout of an index: its files, its manifest, where it sits beside its CDR.

Kept apart from the builder so that what reads an index (the freshness check, search, the cohort engine) need not
import the build pipeline.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

INDEX_MANIFEST = "index.json"
# 2: records the size of every file ("file_bytes"), checked each time the index is opened (see freshness.py).
# 3: the search database has each source entry's "Maps to" concepts (criteria_maps_to) and a spelling table.
# 4: a CDR with genomes gets its genotype stores (GENOMICS_DIR), listed with the other files in the manifest.
INDEX_FORMAT_VERSION = 4
EVENTS_FILE = "search_all_events.parquet"
PERSONS_FILE = "search_person.parquet"
CRITERIA_FILE = "criteria.parquet"
ANCESTRY_FILE = "criteria_ancestor.parquet"
BITMAPS_FILE = "concept_persons.sqlite"
# The same tables in DuckDB's own storage, for the embedded engine: zone maps per row group and no Parquet decoding
# make a criterion on the concept-sorted events an order of magnitude faster than reading the Parquet file.
DATABASE_FILE = "search_index.duckdb"
DATABASE_TABLES = {"search_all_events": EVENTS_FILE, "search_person": PERSONS_FILE, "criteria_ancestor": ANCESTRY_FILE}
SURVEY_TREE_FILE = "survey_tree.parquet"
SEARCH_DB = "criteria_search.sqlite"  # SQLite FTS5 (index.search)
# Every file of an index but its manifest, which records each one's SHA-256 and size (checked by freshness.py).
INDEX_FILES = (EVENTS_FILE, PERSONS_FILE, CRITERIA_FILE, SURVEY_TREE_FILE, ANCESTRY_FILE, BITMAPS_FILE, DATABASE_FILE, SEARCH_DB)
# Small row groups: the events file is sorted by concept, so a criterion's min/max statistics let DuckDB skip
# every row group that cannot hold its concepts.
EVENT_ROW_GROUP = 32_768


def default_index_path(cdr_dir: Path) -> Path:
    """Where ``workbench index CDR_DIR`` puts the index: CDR_DIR.index beside the CDR."""
    cdr_dir = Path(cdr_dir).absolute()
    return cdr_dir.parent / f"{cdr_dir.name}.index"


def write_manifest(directory: Path, *, cdr_dir: Path, cdr_manifest_sha256: str, seconds: float, counts: dict[str, int],
                   extra_files: tuple[str, ...] = ()) -> None:
    """``index.json`` of the index built in ``directory``: its CDR as it was read, and the SHA-256 and size of each
    of its files (what ``freshness.check_index`` compares against): ``INDEX_FILES`` and ``extra_files`` (the
    genotype stores, when the CDR has genomes)."""
    from ..cdr.store import sha256_file

    names = (*INDEX_FILES, *extra_files)
    manifest = {
        "format_version": INDEX_FORMAT_VERSION,
        "cdr": str(Path(cdr_dir).absolute()),
        # The CDR as it was read (hashed before reading it): an index is refused once this changes.
        "cdr_manifest_sha256": cdr_manifest_sha256,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "build_seconds": round(seconds, 3),
        "counts": counts,
        "files": {name: sha256_file(directory / name) for name in names},
        "file_bytes": {name: (directory / name).stat().st_size for name in names},
    }
    (directory / INDEX_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

# Genomes (a Controlled Tier's ``genomics/*.vcf.gz``): one genotype store per kind of data, in GENOMICS_DIR of the
# index. A store is a PLINK 1 fileset — ``KIND.bed`` (variant-major, 2 bits per genotype), ``KIND.bim`` (column 5,
# A1, is the VCF's ALT; column 6 is REF) and ``KIND.fam`` (IID = person id, in the store's sample order) — so PLINK 2,
# bed-reader and pgenlib read it as it is, plus ``KIND.variants.parquet`` (one row per .bim line: see
# ``genotype_store.VARIANT_COLUMNS``) and ``KIND.carriers.sqlite`` (per variant, its heterozygous and homozygous
# carriers as pyroaring 32-bit bitmaps of store positions — the .fam row, so position order is person-id order —
# not of person ids: Controlled Tier research ids exceed 32 bits, and positions are dense, so a store of 500,000
# genomes keeps its carriers in about half the size of its .bed, where 64-bit bitmaps of ids took twelve times it). Genotypes count ALT alleles: 0, 1, 2, and -9 for a missing call.
GENOMICS_DIR = "genomics"
GENOME_KINDS = {"wgs": "genomics/wgs.vcf.gz", "array": "genomics/array.vcf.gz"}  # kind → its VCF in a CDR


def genome_store_files(kind: str) -> dict[str, str]:
    """The files of one genotype store, by role, relative to the index directory."""
    base = f"{GENOMICS_DIR}/{kind}"
    return {"bed": f"{base}.bed", "bim": f"{base}.bim", "fam": f"{base}.fam",
            "variants": f"{base}.variants.parquet", "carriers": f"{base}.carriers.sqlite"}
