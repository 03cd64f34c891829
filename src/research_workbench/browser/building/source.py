"""Where the Data Browser's aggregates come from: a release (two tiers) or, until releases exist, one CDR.

A release directory holds ``registered/`` and ``controlled/``, each a CDR. Genome aggregates come from the
Controlled Tier, everything else from the Registered Tier. A plain CDR directory (a raw or synthetic program) is
accepted too and used for every domain, genomes included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ...cdr.info import cutoff_date
from ...cdr.store import Cdr
from ..staleness import manifest_sha256

WGS_NAMES = ("genomics/wgs.vcf.gz",)


@dataclass(frozen=True)
class SourceCdr:
    """One CDR a store is built from, as the store records it: which role it plays, where it was, and the SHA-256
    of its ``manifest.json`` (which changes with any table or file of the CDR, since it holds their hashes)."""

    role: str  # "registered", "controlled" (tiers of a release) or "cdr" (a single CDR)
    path: str  # absolute
    manifest_sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "path": self.path, "manifest_sha256": self.manifest_sha256}


@dataclass(frozen=True)
class BrowserSource:
    name: str
    kind: str  # "release" or "cdr"
    registered: Cdr
    controlled: Cdr
    manifest_sha256: str  # of the manifest(s) the aggregates were computed from
    cutoff: date  # ages are computed at this date
    cdrs: tuple[SourceCdr, ...] = ()  # every CDR read, with its manifest's hash

    @property
    def wgs_vcf(self) -> Path | None:
        """The Controlled Tier's whole-genome VCF, if it has one (named in its manifest's files)."""
        files = self.controlled.manifest.files
        for name in WGS_NAMES:
            if name in files and (self.controlled.path / name).is_file():
                return self.controlled.path / name
        for name in sorted(files):
            if name.endswith(".vcf.gz") and "wgs" in Path(name).name.lower() and (self.controlled.path / name).is_file():
                return self.controlled.path / name
        return None


def _cutoff(cdr: Cdr) -> date:
    """Ages are taken at the CDR's cut-off, the same date the index takes them at (``cdr.info.cutoff_date``); a CDR
    without events has no ages, and its creation date stands in."""
    return cutoff_date(cdr) or cdr.manifest.created_at.date()


def open_source(path: Path) -> BrowserSource:
    """A release directory (``registered/`` + ``controlled/``) or a single CDR directory."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such directory")
    registered_dir, controlled_dir = path / "registered", path / "controlled"
    if registered_dir.is_dir() and controlled_dir.is_dir():
        registered, controlled = Cdr(registered_dir), Cdr(controlled_dir)
        cdrs = (SourceCdr("registered", str(registered_dir.absolute()), manifest_sha256(registered_dir)),
                SourceCdr("controlled", str(controlled_dir.absolute()), manifest_sha256(controlled_dir)))
        digest = hashlib.sha256((cdrs[0].manifest_sha256 + cdrs[1].manifest_sha256).encode()).hexdigest()
        name = str(registered.manifest.extra.get("release") or path.name)
        return BrowserSource(name, "release", registered, controlled, digest, _cutoff(registered), cdrs)
    if registered_dir.is_dir() or controlled_dir.is_dir():
        raise ValueError(f"{path}: a release needs both registered/ and controlled/ (found only one)")
    cdr = Cdr(path)  # raises FileNotFoundError without a manifest
    single = SourceCdr("cdr", str(path.absolute()), manifest_sha256(path))
    return BrowserSource(path.name, "cdr", cdr, cdr, single.manifest_sha256, _cutoff(cdr), (single,))
