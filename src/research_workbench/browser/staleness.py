"""Nothing stale is served: the CDRs a store was built from, and the check that refuses a store whose CDRs changed.

The store records every CDR it was built from (``meta.sources``: role, absolute path, SHA-256 of its
``manifest.json``, which changes with any table or file of the CDR since it holds their hashes). Opening a store
to serve it re-hashes each source's manifest and refuses the store (``StaleStoreError``, with the exact rebuild
command) when one has changed, or when the store predates these records. A source directory that does not exist
on this machine (a store deployed alone on a public host) cannot be checked: the store is served with a warning.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any

from ..cdr.manifest import MANIFEST_NAME
from .disclosure import DEFAULT_BIN

ROLE_NAMES = {"registered": "the Registered Tier", "controlled": "the Controlled Tier", "cdr": "the CDR"}


class StaleStoreError(ValueError):
    """The store's aggregates no longer match the CDRs they were computed from (or cannot be checked)."""


def manifest_sha256(cdr_dir: Path) -> str:
    """SHA-256 of a CDR directory's ``manifest.json`` (FileNotFoundError when it has none)."""
    return hashlib.sha256((Path(cdr_dir) / MANIFEST_NAME).read_bytes()).hexdigest()


def rebuild_command(meta: dict[str, Any], store_path: Path) -> str:
    """The exact ``workbench browser build`` command that rebuilds this store in place with the same options."""
    source = meta.get("source_path") or "RELEASE_DIR"
    words = ["workbench", "browser", "build", str(source), "--out", str(Path(store_path).absolute())]
    if meta.get("bin_size") not in (None, DEFAULT_BIN):
        words += ["--bin-size", str(meta["bin_size"])]
    words.append("--replace")
    return " ".join(shlex.quote(w) for w in words)


def verify_sources(meta: dict[str, Any], store_path: Path) -> list[str]:
    """Refuse a stale store (``StaleStoreError``); return warnings for sources that cannot be checked here.

    Each recorded source CDR's ``manifest.json`` is hashed again and compared with the hash recorded at build time.
    """
    store_path = Path(store_path).absolute()
    sources = meta.get("sources")
    command = rebuild_command(meta, store_path)
    if not isinstance(sources, list) or not sources:
        raise StaleStoreError(
            f"{store_path}: this results store was built before stores recorded the manifest hash of the CDRs they "
            f"come from, so whether it is stale cannot be checked. Rebuild it:\n  {command}")
    warnings = []
    for source in sources:
        role, path, recorded = source.get("role", "cdr"), Path(str(source.get("path"))), source.get("manifest_sha256")
        what = f"{ROLE_NAMES.get(role, role)} of {meta.get('release', '?')} ({path})" if role != "cdr" \
            else f"the CDR {path}"
        if not path.is_dir():
            warnings.append(f"{store_path}: cannot check that the store is current: {what} is not on this machine; "
                            f"serving the aggregates as built at {meta.get('built_at', '?')}")
            continue
        try:
            current = manifest_sha256(path)
        except FileNotFoundError:
            current = None
        if current != recorded:
            now = "has no manifest.json any more" if current is None else \
                f"its manifest.json has changed (sha256 {str(recorded)[:12]}… when built, {current[:12]}… now)"
            raise StaleStoreError(
                f"{store_path}: stale results store: {what} {now} since the store was built at "
                f"{meta.get('built_at', '?')}. Its aggregates may not match the data any more. Rebuild it:\n  {command}")
    return warnings
