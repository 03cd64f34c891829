"""Load an OHDSI Athena vocabulary download (tab-separated, YYYYMMDD dates) into a CDR."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..cdr.manifest import Manifest
from ..cdr.model import cdm
from ..cdr.store import CdrBuilder
from .errors import LoadError
from .omop import LoadResult, Progress, _vocabulary_version
from .sources import SourceFile, split_suffix
from .table_loader import load_table

# The tables of an Athena download; CONCEPT_CPT4 and the like are tools, not tables, and are ignored.
ATHENA_TABLES = (
    "concept",
    "concept_ancestor",
    "concept_relationship",
    "concept_synonym",
    "vocabulary",
    "domain",
    "concept_class",
    "relationship",
    "drug_strength",
)


def _athena_sources(folder: Path) -> dict[str, SourceFile]:
    if not folder.is_dir():
        raise LoadError.one(str(folder), "Athena folder does not exist")
    found: dict[str, SourceFile] = {}
    for path in sorted(folder.iterdir()):
        split = split_suffix(path) if path.is_file() else None
        if not split or split[0] not in ATHENA_TABLES:
            continue
        # Athena files are tab-separated with no quoting: a '"' inside a concept name is just a character.
        found[split[0]] = SourceFile(table=split[0], paths=[path], kind="csv", delimiter="\t", quote="", date_format="%Y%m%d")
    if "concept" not in found:
        raise LoadError.one(str(folder), "not an Athena vocabulary download: CONCEPT.csv is missing")
    return found


def load_athena_vocabulary(athena_dir: Path, into: Path, *, progress: Progress | None = None) -> LoadResult:
    """Replace the vocabulary of the CDR at ``into`` (or create a vocabulary-only CDR) from an Athena download.

    The other tables of an existing CDR are carried over unchanged (hard-linked, not copied) and the whole
    directory is swapped in atomically. Vocabulary tables the download lacks become empty.
    """
    started = time.perf_counter()
    model = cdm()
    sources = _athena_sources(Path(athena_dir))
    into = Path(into)
    previous = Manifest.read(into) if (into / "manifest.json").is_file() else None
    if previous is None and into.exists() and any(into.iterdir()):
        raise LoadError.one(str(into), "exists but is not a CDR directory (no manifest.json)")
    notes: list[str] = []
    with CdrBuilder(into, replace=True) as builder:
        if previous is not None:
            for name, entry in previous.tables.items():
                if name in ATHENA_TABLES:
                    continue
                os.link(into / entry.file, builder.table_path(name))
                builder.tables[name] = entry
            for relative in previous.files:
                target = builder.add_file(relative)
                os.link(into / relative, target)
            notes = list(previous.notes)
        names = [t for t in ATHENA_TABLES if t in sources]
        for done, name in enumerate(names):
            if progress:
                progress(name, done, len(names))
            load_table(builder, model.table(name), sources[name], cdm53=False, strict=False)
        if progress:
            progress("", len(names), len(names))
        missing = [t for t in ATHENA_TABLES if t not in sources]
        notes.append(
            f"vocabulary loaded from Athena download {Path(athena_dir).absolute()}"
            + (f"; absent and left empty: {', '.join(missing)}" if missing else "")
        )
        manifest = builder.commit(
            source=previous.source if previous else {"kind": "athena", "path": str(Path(athena_dir).absolute())},
            source_cdm_version=previous.source_cdm_version if previous else None,
            vocabulary_version=_vocabulary_version(builder),
            notes=notes,
            extra=previous.extra if previous else {},
        )
    return LoadResult(into, manifest, [], time.perf_counter() - started)
