"""The private maps: person_id → research_id and date shift, survey response ids, device ids, genomic sample ids,
site masks, and the key of the row-id permutation (``row_ids.py``).

They live in ``RELEASES_DIR/.private/`` (directory mode 0700, files 0600), outside every release directory, and
are never copied into one. Each map only grows: an id seen in an earlier release keeps its research id and its date
shift in every later release, so a participant's research_id and shift are stable across releases; the row-id key
is drawn once and never replaced. New ids are drawn at random in Python, whatever the engine (research ids 10^9 … 10^10, never equal to any
person_id or another research id; shifts 1 … registered.max_date_shift_days; device and sample ids random UUIDs;
site masks "site NNN"). Files are replaced atomically, before the release itself is moved into place, and only
while the releases folder is locked (``lock.py``), so two curations never lose each other's map entries.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from ..cdr.model import cdm
from ..cdr.sql import col
from .engine import Workspace, qualified
from .row_ids import load_key, register_engine, save_key

PRIVATE_DIR_NAME = ".private"
SANDBOX_DIR_NAME = "sandbox"  # .private/sandbox/<release>/<scope>/<rule>/<table>.parquet

MAPS = {
    "person_map": {"person_id": "BIGINT", "research_id": "BIGINT", "shift_days": "INTEGER", "first_release": "VARCHAR"},
    "response_map": {"questionnaire_response_id": "BIGINT", "research_response_id": "BIGINT", "first_release": "VARCHAR"},
    "device_map": {"device_id": "VARCHAR", "research_device_id": "VARCHAR", "first_release": "VARCHAR"},
    "sample_map": {"sample_id": "VARCHAR", "research_sample_id": "VARCHAR", "first_release": "VARCHAR"},
    "site_map": {"src_id": "VARCHAR", "masked_src_id": "VARCHAR", "first_release": "VARCHAR"},
}
RESEARCH_ID_LOW = 1_000_000_000
RESEARCH_ID_SPAN = 9_000_000_000


def protect(path: Path) -> None:
    """Steward-only permissions: directories 0700, files 0600, for ``path`` and everything below it."""
    if path.is_dir():
        os.chmod(path, 0o700)
        for root, dirs, files in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
            for f in files:
                os.chmod(os.path.join(root, f), 0o600)
    elif path.exists():
        os.chmod(path, 0o600)


ARROW_TYPES = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string()}


def map_schema(name: str) -> pa.Schema:
    return pa.schema([(c, ARROW_TYPES[t]) for c, t in MAPS[name].items()])


def load_maps(ws: Workspace, private_dir: Path) -> None:
    """Read the maps into schema ``private`` (empty ones when absent) and register the row-id permutation.

    The maps are read on this machine and handed to the engine as Arrow (a map holds one row per participant,
    response, device, sample or site: tens of millions of rows at most)."""
    key, is_new = load_key(private_dir)
    ws.row_id_key = key if is_new else None  # written by save_maps, with the maps
    register_engine(ws.engine, key)
    for name in MAPS:
        path = private_dir / f"{name}.parquet"
        data = pq.read_table(path).cast(map_schema(name)) if path.is_file() else map_schema(name).empty_table()
        ws.put_arrow("private", name, data)


class _Draws:
    """New random values, drawn here rather than by an engine's ``random()``: the same maps whatever engine runs,
    and a CSPRNG (numpy's generator seeded from ``secrets``)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(secrets.randbits(128))

    def ids(self, count: int, avoid: set[int]) -> np.ndarray:
        """``count`` distinct research ids in [10^9, 10^10), none in ``avoid``."""
        drawn = np.empty(0, dtype=np.int64)
        for _ in range(50):
            more = self.rng.integers(RESEARCH_ID_LOW, RESEARCH_ID_LOW + RESEARCH_ID_SPAN, count - len(drawn), dtype=np.int64)
            drawn = np.unique(np.concatenate([drawn, more[~np.isin(more, np.fromiter(avoid, dtype=np.int64, count=len(avoid)))]]))
            if len(drawn) >= count:
                return self.rng.permutation(drawn)[:count]  # unique() sorted them: unsort
        raise RuntimeError("could not draw unique research ids")

    def shifts(self, count: int, max_shift: int) -> np.ndarray:
        return self.rng.integers(1, max_shift + 1, count, dtype=np.int32)


def _column(ws: Workspace, select: exp.Select) -> list:
    return ws.arrow(select).column(0).to_pylist()


def _new_keys(ws: Workspace, select: exp.Select, key: str, map_name: str) -> list:
    """The distinct non-NULL values of ``select``'s column ``key`` not yet in the map, sorted."""
    known = exp.select(col(key)).from_(qualified("private", map_name))
    query = exp.select(col(key)).from_(select.subquery("k")).where(col(key).is_(exp.Null()).not_(), col(key).isin(query=known).not_()).distinct()
    return sorted(_column(ws, query))


def _append(ws: Workspace, map_name: str, columns: dict[str, list]) -> int:
    schema = map_schema(map_name)
    ws.append_arrow("private", map_name, pa.table({c: pa.array(v, type=schema.field(c).type) for c, v in columns.items()}, schema=schema))
    return len(next(iter(columns.values())))


def _research_ids(ws: Workspace, map_name: str, key: str, value: str, new: list, draws: _Draws) -> np.ndarray:
    """Research ids for ``new`` keys: never another's research id, nor any key of the map (old or new)."""
    if not new:
        return np.empty(0, dtype=np.int64)
    avoid = set(_column(ws, exp.select(col(value)).from_(qualified("private", map_name))))
    avoid |= set(_column(ws, exp.select(col(key)).from_(qualified("private", map_name)))) | set(new)
    return draws.ids(len(new), avoid)


def extend_maps(ws: Workspace, schema: str, release: str, max_shift: int) -> dict[str, int]:
    """Add every id of ``schema`` not yet mapped; returns how many new ids each map received."""
    added = {}
    draws = _Draws()
    src = lambda name: qualified(schema, name)  # noqa: E731

    # persons: a research id and a date shift each
    new = _new_keys(ws, exp.select(col("person_id")).from_(src("person")), "person_id", "person_map")
    ids = _research_ids(ws, "person_map", "person_id", "research_id", new, draws)
    added["person_map"] = _append(ws, "person_map", {"person_id": new, "research_id": ids.tolist(), "shift_days": draws.shifts(len(new), max_shift).tolist(),
                                                     "first_release": [release] * len(new)})

    # survey responses
    responses = exp.union(
        exp.select(col("questionnaire_response_id")).from_(src("observation")),
        exp.select(col("survey_conduct_id").as_("questionnaire_response_id")).from_(src("survey_conduct")),
        distinct=False,
    )
    new = _new_keys(ws, responses, "questionnaire_response_id", "response_map")
    ids = _research_ids(ws, "response_map", "questionnaire_response_id", "research_response_id", new, draws)
    added["response_map"] = _append(ws, "response_map", {"questionnaire_response_id": new, "research_response_id": ids.tolist(), "first_release": [release] * len(new)})

    # wearable devices and genomic samples: a random UUID each
    for map_name, key, value, table_name in (("device_map", "device_id", "research_device_id", "device"),
                                             ("sample_map", "sample_id", "research_sample_id", "genomic_sample")):
        new = _new_keys(ws, exp.select(col(key)).from_(src(table_name)), key, map_name)
        added[map_name] = _append(ws, map_name, {key: new, value: [str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)) for _ in new],
                                                 "first_release": [release] * len(new)})

    # sites: every src_id of every table, masked as "site NNN" (a random unused number)
    union = None
    for identifier in cdm().identifiers("site"):
        part = exp.select(col("src_id")).from_(src(identifier.table))
        union = part if union is None else exp.union(union, part, distinct=False)
    new_sites = _new_keys(ws, union, "src_id", "site_map")  # type: ignore[arg-type]
    used = set(_column(ws, exp.select(col("masked_src_id")).from_(qualified("private", "site_map"))))
    rng = secrets.SystemRandom()
    width = 3
    masks = []
    for site in new_sites:
        while True:
            free = [f"site {n}" for n in range(10 ** (width - 1), 10**width) if f"site {n}" not in used]
            if free:
                break
            width += 1
        mask = rng.choice(free)
        used.add(mask)
        masks.append(mask)
    added["site_map"] = _append(ws, "site_map", {"src_id": new_sites, "masked_src_id": masks, "first_release": [release] * len(new_sites)})
    return added


def private_area(private_dir: Path) -> Path:
    """Create the private folder (mode 0700) when absent."""
    private_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    return private_dir


def save_maps(ws: Workspace, private_dir: Path) -> None:
    """Write each map beside its old file (mode 0600) and rename it into place; a new row-id key is written once."""
    private_area(private_dir)
    if ws.row_id_key is not None:
        save_key(private_dir, ws.row_id_key)
        ws.row_id_key = None
    for name in MAPS:
        path = private_dir / f"{name}.parquet"
        tmp = private_dir / f".{name}.{secrets.token_hex(4)}.tmp"
        pq.write_table(ws.arrow(exp.select(exp.Star()).from_(qualified("private", name))).cast(map_schema(name)), tmp, compression="zstd")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
