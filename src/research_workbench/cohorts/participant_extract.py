"""A review set's participants' rows, copied out of the CDR into two small person-sorted Parquet files.

Why: a participant page reads one person's rows of every event table. In the CDR those rows are spread through
files in release order, so each page scans the whole ``person_id`` column of every table (about 70 ms at a million
participants once the files are cached, several times that on a cold connection), one statement per table. A
review set names at most ``review_max_size`` participants; their rows, copied once in the page's own shape
(``participant.extract_queries``: every event table's rows in one file, the daily wearable summaries in another),
sorted by person, are found through the row groups' min/max statistics: a page then reads one or two row groups.

An extract is keyed by the CDR's manifest (its bytes: a new release is a new key) and the participant list, so
review sets of the same participants share one, and a changed CDR can never be read through a stale copy. It is
written into a hidden directory and renamed into place, with ``extract.json`` (tables, row counts, the key)
written last: a directory without it is not an extract. The rows are the CDR's own, every column unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
from sqlglot import exp

from ..cdr.sql import col
from ..cdr.store import Cdr
from .participant import extract_queries

MARKER = "extract.json"
FORMAT_VERSION = 2
# Row groups of this many rows: a person's rows are in one or two of them, and there are few enough that choosing
# them stays cheap (measured at 1M participants: 2.3 ms a read against 3.6 ms at 2,048 rows and 4.6 ms at 131,072).
ROW_GROUP_ROWS = 8192


def extract_key(cdr: Cdr, person_ids: Iterable[int]) -> str:
    """The extract's name: a digest of the CDR's manifest and the participants (in ascending order)."""
    digest = hashlib.sha256()
    digest.update(f"participant-extract {FORMAT_VERSION}\0".encode())
    digest.update((cdr.path / "manifest.json").read_bytes())
    digest.update(np.unique(np.fromiter(person_ids, dtype=np.int64)).tobytes())
    return digest.hexdigest()[:32]


def find(root: Path, key: str) -> Path | None:
    """The finished extract ``key`` under ``root``, or None; its use is recorded (the directory's time) for pruning."""
    path = Path(root) / key
    if not (path / MARKER).is_file():
        return None
    try:
        os.utime(path)
    except OSError:  # a read-only store still serves
        pass
    return path


def _kept(rows: exp.Expression) -> exp.Select:
    """The rows of the query ``rows`` of the persons ``$ids``, in person order."""
    listed = exp.select(exp.Unnest(expressions=[exp.Placeholder(this="ids")]))
    return (exp.select(exp.Star()).from_(rows.subquery("r"))
            .where(exp.In(this=col("person_id"), query=listed.subquery()))
            .order_by(col("person_id")))


def build(root: Path, cdr: Cdr, person_ids: Iterable[int], *, threads: int = 1) -> Path:
    """Write the extract of ``person_ids`` (its path; an existing one is returned as it is). ``threads`` bounds the
    DuckDB threads it uses: it runs beside a server's requests."""
    ids = np.unique(np.fromiter(person_ids, dtype=np.int64))
    key = extract_key(cdr, ids)
    root = Path(root)
    found = find(root, key)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".{key}.building-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    try:
        con = duckdb.connect(config={"threads": threads})
        try:
            counts = {}
            with cdr.query_errors():
                for name, (rows, params) in extract_queries(cdr).items():
                    target = building / name
                    kept = con.sql(_kept(rows).sql(dialect="duckdb"), params={**params, "ids": ids.tolist()})
                    kept.write_parquet(str(target), compression="zstd", row_group_size=ROW_GROUP_ROWS)
                    counts[name] = con.execute("SELECT count(*) FROM read_parquet(?)", [str(target)]).fetchall()[0][0]
        finally:
            con.close()
        marker = {"format_version": FORMAT_VERSION, "key": key, "cdr": str(cdr.path), "participants": int(ids.size),
                  "rows": counts}
        (building / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        try:
            building.rename(root / key)
        except OSError:  # another process finished the same extract first: theirs is identical
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root / key


def prune(root: Path, *, unused_days: float, now: float | None = None) -> list[str]:
    """Remove extracts not read for ``unused_days`` and building directories left by a stopped process (older than a
    day); the names removed."""
    root = Path(root)
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for path in root.iterdir():
        age_days = (now - path.stat().st_mtime) / 86400
        stale_build = path.name.startswith(".") and ".building-" in path.name and age_days > 1
        if stale_build or (not path.name.startswith(".") and age_days > unused_days):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return sorted(removed)
