"""Concept sets and saved cohort definitions, kept as versioned JSON files.

Layout: ``LIBRARY/concept_sets/<slug>/v1.json, v2.json …`` and ``LIBRARY/cohorts/<slug>/v1.json …``. Saving
content identical to the latest version writes nothing; anything else becomes the next version. Files are
written to a temporary name and renamed, so a version is complete or absent. Each file is an envelope:
kind, name, version, saved_at, content_sha256 and the content itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..limits import MAX_LIBRARY_FILE_BYTES
from .model import EVENT_DOMAINS, CohortDefinition, DefinitionError, Domain, _path, read_json_file

MAX_CONCEPTS_PER_SET = 1000  # as the All of Us Workbench (MAX_CONCEPTS_PER_SET)


class ConceptRef(BaseModel):
    """A concept of a set: on the standard side (``standard``, the events' concept column) or the source side (the
    source concept column); a standard concept may bring its descendants (``includeDescendants``, as OHDSI's
    concept sets do; left out of the stored JSON when false, so content saved before it existed is unchanged)."""

    model_config = ConfigDict(extra="forbid")

    conceptId: int
    standard: bool = True
    includeDescendants: bool = Field(False, exclude_if=lambda include: not include)

    @model_validator(mode="after")
    def _descendants_are_standard(self) -> ConceptRef:
        if self.includeDescendants and not self.standard:
            raise ValueError("only a standard concept has descendants: includeDescendants needs standard true")
        return self


class ConceptSet(BaseModel):
    """A named list of concepts of one domain (a survey's questions count as the SURVEY domain)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    domain: Domain
    description: str = ""
    concepts: list[ConceptRef] = Field(min_length=1, max_length=MAX_CONCEPTS_PER_SET)

    @field_validator("domain")
    @classmethod
    def _event_domain(cls, domain: Domain) -> Domain:
        if domain not in EVENT_DOMAINS:
            raise ValueError(f"a concept set holds concepts of an event domain, not {domain.value}")
        return domain

    @field_validator("concepts")
    @classmethod
    def _unique(cls, concepts: list[ConceptRef]) -> list[ConceptRef]:
        seen = set()
        for i, ref in enumerate(concepts):
            key = (ref.conceptId, ref.standard)
            if key in seen:
                raise ValueError(f"concept {ref.conceptId} ({'standard' if ref.standard else 'source'}) is listed twice (at index {i})")
            seen.add(key)
        return concepts


class SavedCohort(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    definition: CohortDefinition


class Version(BaseModel):
    kind: Literal["concept_set", "cohort"]
    name: str
    version: int
    saved_at: datetime
    content_sha256: str
    content: dict


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text or "unnamed"


def _validated(model: type[BaseModel], document: dict):
    try:
        return model.model_validate(document)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            message = str(e.get("msg", ""))
            if "definition rules broken: " in message:
                inner = json.loads(message.split("definition rules broken: ", 1)[1])
                problems += [f"{_path(tuple(e['loc']))}.{p}" for p in inner]
            else:
                problems.append(f"{_path(tuple(e['loc']))}: {message.removeprefix('Value error, ')}")
        raise DefinitionError(problems) from None


class Library:
    FOLDERS = {"concept_set": "concept_sets", "cohort": "cohorts"}

    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, kind: str, name: str) -> Path:
        return self.root / self.FOLDERS[kind] / slug(name)

    def versions(self, kind: str, name: str) -> list[Version]:
        folder = self._folder(kind, name)
        files = sorted((p for p in folder.glob("v*.json") if p.stem[1:].isdigit()), key=lambda p: int(p.stem[1:])) if folder.is_dir() else []
        return [self._read_version(p) for p in files]

    @staticmethod
    def _read_version(path: Path) -> Version:
        """One version file, read strictly (see ``cohorts.jsonfile``); a damaged file is a DefinitionError naming it."""
        try:
            document = read_json_file(path, "(version)", max_bytes=MAX_LIBRARY_FILE_BYTES, size_limit_name="MAX_LIBRARY_FILE_BYTES")
            return Version.model_validate(document)
        except DefinitionError as err:
            raise DefinitionError([f"{path}: {p}" for p in err.problems]) from None
        except ValidationError as err:
            raise DefinitionError([f"{path}: {_path(tuple(e['loc']))}: {e['msg']}" for e in err.errors()]) from None
        except OSError as err:
            raise DefinitionError([f"{path}: {err.strerror}"]) from None

    def latest(self, kind: str, name: str, version: int | None = None) -> Version:
        versions = self.versions(kind, name)
        if not versions:
            raise FileNotFoundError(f"no {kind.replace('_', ' ')} named {name!r} in {self.root}")
        if version is None:
            return versions[-1]
        for v in versions:
            if v.version == version:
                return v
        raise FileNotFoundError(f"{kind.replace('_', ' ')} {name!r} has no version {version} (latest is {versions[-1].version})")

    def _save(self, kind: str, name: str, content: dict) -> Version:
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        versions = self.versions(kind, name)
        if versions and versions[-1].content_sha256 == digest:
            return versions[-1]
        version = Version(kind=kind, name=name, version=(versions[-1].version + 1 if versions else 1),
                          saved_at=datetime.now(timezone.utc), content_sha256=digest, content=content)
        folder = self._folder(kind, name)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"v{version.version}.json"
        temporary = folder / f".v{version.version}.json.tmp"
        temporary.write_text(version.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, target)
        return version

    def save_concept_set(self, document: dict) -> Version:
        concept_set = _validated(ConceptSet, document)
        return self._save("concept_set", concept_set.name, concept_set.model_dump(mode="json"))

    def save_cohort(self, document: dict) -> Version:
        cohort = _validated(SavedCohort, document)
        return self._save("cohort", cohort.name, cohort.model_dump(mode="json", exclude_none=True))

    def concept_set(self, name: str, version: int | None = None) -> ConceptSet:
        return ConceptSet.model_validate(self.latest("concept_set", name, version).content)

    def cohort(self, name: str, version: int | None = None) -> SavedCohort:
        return SavedCohort.model_validate(self.latest("cohort", name, version).content)

    def names(self, kind: str) -> list[str]:
        folder = self.root / self.FOLDERS[kind]
        if not folder.is_dir():
            return []
        return sorted(v.name for d in folder.iterdir() if d.is_dir() for v in self.versions(kind, d.name)[-1:])
