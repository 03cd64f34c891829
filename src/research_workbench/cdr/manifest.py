"""``manifest.json``: what a CDR directory holds, how it was made, and how to check it was not altered."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.json"
FORMAT = "research-workbench-cdr"
FORMAT_VERSION = 1
# How `content_hash` is computed; bump when the canonical row text changes (see store.content_hash).
CONTENT_HASH_ALGORITHM = "md5-row-sum-v1"


class TableEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="Parquet file, relative to the CDR directory")
    rows: int = Field(ge=0)
    content_hash: str = Field(description="Order-independent hash of the rows' values (independent of file layout)")
    file_sha256: str = Field(description="SHA-256 of the Parquet file's bytes")
    bytes: int = Field(ge=0)
    duplicate_key_rows: int = Field(0, ge=0, description="Rows sharing a primary key with another (loaded with --allow-duplicate-keys)")


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str
    bytes: int = Field(ge=0)
    description: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    cdm_version: str = "5.4"
    source_cdm_version: str | None = Field(None, description="CDM version of the source before any upgrade")
    vocabulary_version: str | None = None
    created_at: datetime
    content_hash_algorithm: str = CONTENT_HASH_ALGORITHM
    source: dict[str, Any] = Field(default_factory=dict, description="Where the data came from (kind, path or URL)")
    tables: dict[str, TableEntry]
    files: dict[str, FileEntry] = Field(default_factory=dict, description="Other files (genomes and the like)")
    notes: list[str] = Field(default_factory=list, description="What the load changed or skipped, and why")
    extra: dict[str, Any] = Field(default_factory=dict, description="Producer-specific facts (release, curation)")

    @property
    def person_count(self) -> int:
        entry = self.tables.get("person")
        return entry.rows if entry else 0

    @property
    def cutoff_date(self) -> date | None:
        """The date the CDR's data stops: a release's cut-off, or a synthetic program's data cut-off; None when the
        producer did not record one (a loaded OMOP extract), and readers then take the latest event date.
        Ages "at the CDR" (the Cohort Builder's, the Data Browser's) are computed at this one date."""
        for value in (self.extra.get("cutoff_date"), (self.extra.get("synth") or {}).get("data_cutoff")):
            if value:
                return date.fromisoformat(str(value)[:10])
        return None

    def write(self, directory: Path) -> None:
        (directory / MANIFEST_NAME).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: not a CDR directory (no {MANIFEST_NAME})")
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: invalid manifest: {err}") from err
