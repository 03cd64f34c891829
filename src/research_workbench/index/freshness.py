"""An index is served only while it matches its CDR and its own files are whole.

``index.json`` records the SHA-256 of the CDR's ``manifest.json`` as it was when the index was built (and the
size of every index file). Opening an index (for counts, ids, breakdowns, SQL or criteria search) checks both:
a CDR that changed since, an index that never recorded its CDR, and a missing or truncated index file are each
refused with the paths involved and the command that rebuilds the index.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..cdr.manifest import MANIFEST_NAME
from ..cdr.store import CdrFileError, sha256_file
from .layout import INDEX_FORMAT_VERSION, INDEX_MANIFEST, default_index_path


class StaleIndexError(ValueError):
    """An index that does not (or cannot be shown to) match the CDR it is used with."""

    def __init__(self, message: str, index_dir: Path, cdr_dir: Path | None):
        self.index_dir = index_dir
        self.cdr_dir = cdr_dir
        super().__init__(message)


def rebuild_command(cdr_dir: Path | str, index_dir: Path) -> str:
    command = f"workbench index {cdr_dir} --replace"
    if Path(index_dir).absolute() != default_index_path(Path(cdr_dir)):
        command += f" --out {index_dir}"
    return command


def _cdr_of(index_dir: Path, manifest: dict, cdr_dir: Path | None) -> Path | None:
    """The CDR to compare with: the one given, else the one recorded at build time, else the default sibling."""
    if cdr_dir is not None:
        return Path(cdr_dir)
    recorded = manifest.get("cdr")
    if recorded and (Path(recorded) / MANIFEST_NAME).is_file():
        return Path(recorded)
    if index_dir.name.endswith(".index") and len(index_dir.name) > len(".index"):
        sibling = index_dir.with_name(index_dir.name[: -len(".index")])
        if (sibling / MANIFEST_NAME).is_file():
            return sibling
    return Path(recorded) if recorded else None


def check_index(index_dir: Path, cdr_dir: Path | None = None) -> dict:
    """The index's manifest, once the index is shown to match its CDR and to have all its files at their size.

    ``cdr_dir``: the CDR the caller means (``--cdr``); by default the one the index was built from. Raises
    FileNotFoundError (no index), StaleIndexError (CDR changed, unknown, or another CDR) or CdrFileError (an index
    file missing or truncated), all ValueError or OSError with a message naming the paths and the fix.
    """
    index_dir = Path(index_dir)
    manifest_path = index_dir / INDEX_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{index_dir}: not an index directory (no {INDEX_MANIFEST}); build it with `workbench index CDR_DIR`")
    try:
        manifest = json.loads(manifest_path.read_bytes().decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        cdr = Path(cdr_dir) if cdr_dir is not None else Path("CDR_DIR")
        raise StaleIndexError(f"{manifest_path}: unreadable index manifest ({err}); rebuild the index with "
                              f"`{rebuild_command(cdr, index_dir)}`", index_dir, cdr_dir) from None
    cdr = _cdr_of(index_dir, manifest, cdr_dir)
    shown = cdr if cdr is not None else Path("CDR_DIR")
    if manifest.get("format_version") != INDEX_FORMAT_VERSION:
        raise StaleIndexError(
            f"{index_dir} is an index of format {manifest.get('format_version')}, and this version reads format "
            f"{INDEX_FORMAT_VERSION}; rebuild it with `{rebuild_command(shown, index_dir)}`", index_dir, cdr)
    recorded = manifest.get("cdr_manifest_sha256")
    if not recorded:
        raise StaleIndexError(
            f"{index_dir} does not record which state of its CDR it was built from (built by an older version), so it "
            f"cannot be shown to match {shown}; rebuild it with `{rebuild_command(shown, index_dir)}`", index_dir, cdr)
    if cdr is None or not (cdr / MANIFEST_NAME).is_file():
        raise StaleIndexError(
            f"{index_dir}: the CDR it was built from is not at {shown} (no {MANIFEST_NAME}), so the index cannot be shown "
            f"to be current; name the CDR (--cdr CDR_DIR) or rebuild the index with `workbench index CDR_DIR --replace`",
            index_dir, cdr)
    current = sha256_file(cdr / MANIFEST_NAME)
    if current != recorded:
        built_from = manifest.get("cdr") or "its CDR"
        raise StaleIndexError(
            f"{index_dir} is stale for the CDR {cdr}: it was built from {built_from} when that CDR's {MANIFEST_NAME} had "
            f"SHA-256 {recorded[:12]}…, and {cdr / MANIFEST_NAME} now has {current[:12]}… (the CDR changed since, or is "
            f"another CDR); rebuild the index with `{rebuild_command(cdr, index_dir)}`", index_dir, cdr)
    _check_files(index_dir, manifest, cdr)
    return manifest


def _check_files(index_dir: Path, manifest: dict, cdr: Path) -> None:
    """Every file of the index present, at the size recorded when it was built (if recorded)."""
    hint = f"the index at {index_dir} is damaged; rebuild it with `{rebuild_command(cdr, index_dir)}`"
    sizes = manifest.get("file_bytes") or {name: None for name in manifest.get("files", {})}
    for name, expected in sizes.items():
        path = index_dir / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise CdrFileError(path, "index file missing", hint) from None
        if expected is not None and size != expected:
            what = "truncated" if size < expected else "altered"
            raise CdrFileError(path, f"index file {what}: {size:,} bytes, {INDEX_MANIFEST} says {expected:,}", hint)
