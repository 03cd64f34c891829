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
INDEX_FORMAT_VERSION = 3
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


def write_manifest(directory: Path, *, cdr_dir: Path, cdr_manifest_sha256: str, seconds: float, counts: dict[str, int]) -> None:
    """``index.json`` of the index built in ``directory``: its CDR as it was read, and the SHA-256 and size of each
    of its files (what ``freshness.check_index`` compares against)."""
    from ..cdr.store import sha256_file

    manifest = {
        "format_version": INDEX_FORMAT_VERSION,
        "cdr": str(Path(cdr_dir).absolute()),
        # The CDR as it was read (hashed before reading it): an index is refused once this changes.
        "cdr_manifest_sha256": cdr_manifest_sha256,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "build_seconds": round(seconds, 3),
        "counts": counts,
        "files": {name: sha256_file(directory / name) for name in INDEX_FILES},
        "file_bytes": {name: (directory / name).stat().st_size for name in INDEX_FILES},
    }
    (directory / INDEX_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
