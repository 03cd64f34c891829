"""The private maps: person_id → research_id and date shift, survey response ids, device ids, genomic sample ids,
site masks, and the key of the row-id permutation (``row_ids.py``).

They live in ``RELEASES_DIR/.private/`` (directory mode 0700, files 0600), outside every release directory, and
are never copied into one. Each map only grows: an id seen in an earlier release keeps its research id and its date
shift in every later release, so a participant's research_id and shift are stable across releases; the row-id key
is drawn once and never replaced. New ids are drawn at random (research ids 10^9 … 10^10, never equal to any
person_id or another research id; shifts 1 … registered.max_date_shift_days; device and sample ids random UUIDs;
site masks "site NNN"). Files are replaced atomically, before the release itself is moved into place, and only
while the releases folder is locked (``lock.py``), so two curations never lose each other's map entries.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlglot import exp

from ..cdr.model import cdm
from ..cdr.sql import col
from .engine import Workspace, qualified
from .row_ids import RowIdCipher, load_key, register, save_key

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


def load_maps(ws: Workspace, private_dir: Path) -> None:
    """Read the maps into schema ``private`` (empty ones when absent) and register the row-id permutation."""
    key, is_new = load_key(private_dir)
    ws.row_id_key = key if is_new else None  # written by save_maps, with the maps
    register(ws.con, RowIdCipher(key))
    for name, columns in MAPS.items():
        path = private_dir / f"{name}.parquet"
        target = qualified("private", name)
        if path.is_file():
            ws.con.read_parquet(str(path)).create_view("_private_load", replace=True)
            ws.sql(exp.Create(this=target, kind="TABLE", replace=True, expression=exp.select(exp.Star()).from_("_private_load")))
            ws.con.execute("DROP VIEW IF EXISTS _private_load")
        else:
            schema = exp.Schema(this=target, expressions=[exp.ColumnDef(this=exp.to_identifier(c, quoted=True), kind=exp.DataType.build(t)) for c, t in columns.items()])
            ws.sql(exp.Create(this=schema, kind="TABLE", replace=True))


def _random_id() -> exp.Expression:
    return exp.cast(exp.Add(this=exp.Placeholder(this="low"), expression=exp.Floor(this=exp.Mul(this=exp.func("random"), expression=exp.Placeholder(this="span")))), "BIGINT")


def _fresh_ids(ws: Workspace, map_name: str, key: str, value: str, release: str, avoid: exp.Select | None) -> None:
    """Re-draw new research ids that repeat another or equal an id in ``avoid``, until none does."""
    target = qualified("private", map_name)
    params = {"low": RESEARCH_ID_LOW, "span": RESEARCH_ID_SPAN, "release": release}
    for _ in range(50):
        repeated = exp.select(col(value)).from_(target).group_by(col(value)).having(exp.GT(this=exp.func("COUNT", exp.Star()), expression=exp.Literal.number(1)))
        clash = col(value).isin(query=repeated)
        if avoid is not None:
            clash = exp.or_(clash, col(value).isin(query=avoid))
        where = exp.and_(col("first_release").eq(exp.Placeholder(this="release")), clash)
        bad = ws.sql(exp.select(exp.func("COUNT", exp.Star())).from_(target).where(where), params)[0][0]
        if not bad:
            return
        ws.sql(exp.Update(this=target, expressions=[exp.EQ(this=col(value), expression=_random_id())], where=exp.Where(this=where)), params)
    raise RuntimeError(f"could not draw unique ids for {map_name}")


def extend_maps(ws: Workspace, schema: str, release: str, max_shift: int) -> dict[str, int]:
    """Add every id of ``schema`` not yet mapped; returns how many new ids each map received."""
    added = {}
    src = lambda name: qualified(schema, name)  # noqa: E731
    params = {"low": RESEARCH_ID_LOW, "span": RESEARCH_ID_SPAN, "release": release, "max_shift": max_shift}

    def new_keys(select: exp.Select, key: str, map_name: str) -> exp.Select:
        known = exp.select(col(key)).from_(qualified("private", map_name))
        return exp.select(col(key)).from_(select.subquery("k")).where(col(key).is_(exp.Null()).not_(), col(key).isin(query=known).not_()).distinct()

    # persons
    persons = new_keys(exp.select(col("person_id")).from_(src("person")), "person_id", "person_map")
    shift = exp.cast(exp.Add(this=exp.Literal.number(1), expression=exp.Floor(this=exp.Mul(this=exp.func("random"), expression=exp.Placeholder(this="max_shift")))), "INTEGER")
    before = ws.count("private", "person_map")
    ws.sql(exp.Insert(this=qualified("private", "person_map"), expression=exp.select(col("person_id"), _random_id(), shift, exp.Placeholder(this="release")).from_(persons.subquery("n"))), params)
    added["person_map"] = ws.count("private", "person_map") - before
    _fresh_ids(ws, "person_map", "person_id", "research_id", release, exp.select(col("person_id")).from_(qualified("private", "person_map")))

    # survey responses
    responses = exp.union(
        exp.select(col("questionnaire_response_id")).from_(src("observation")),
        exp.select(col("survey_conduct_id").as_("questionnaire_response_id")).from_(src("survey_conduct")),
        distinct=False,
    )
    new = new_keys(responses, "questionnaire_response_id", "response_map")
    before = ws.count("private", "response_map")
    ws.sql(exp.Insert(this=qualified("private", "response_map"), expression=exp.select(col("questionnaire_response_id"), _random_id(), exp.Placeholder(this="release")).from_(new.subquery("n"))), params)
    added["response_map"] = ws.count("private", "response_map") - before
    _fresh_ids(ws, "response_map", "questionnaire_response_id", "research_response_id", release, exp.select(col("questionnaire_response_id")).from_(qualified("private", "response_map")))

    # wearable devices: a random UUID each
    new = new_keys(exp.select(col("device_id")).from_(src("device")), "device_id", "device_map")
    before = ws.count("private", "device_map")
    ws.sql(exp.Insert(this=qualified("private", "device_map"), expression=exp.select(col("device_id"), exp.cast(exp.func("gen_random_uuid"), "VARCHAR"), exp.Placeholder(this="release")).from_(new.subquery("n"))), params)
    added["device_map"] = ws.count("private", "device_map") - before

    # genomic samples: a random UUID each
    new = new_keys(exp.select(col("sample_id")).from_(src("genomic_sample")), "sample_id", "sample_map")
    before = ws.count("private", "sample_map")
    ws.sql(exp.Insert(this=qualified("private", "sample_map"), expression=exp.select(col("sample_id"), exp.cast(exp.func("gen_random_uuid"), "VARCHAR"), exp.Placeholder(this="release")).from_(new.subquery("n"))), params)
    added["sample_map"] = ws.count("private", "sample_map") - before

    # sites: every src_id of every table, masked as "site NNN" (a random unused number)
    union = None
    for identifier in cdm().identifiers("site"):
        part = exp.select(col("src_id")).from_(src(identifier.table))
        union = part if union is None else exp.union(union, part, distinct=False)
    new_sites = [r[0] for r in ws.sql(new_keys(union, "src_id", "site_map").order_by(col("src_id")))]  # type: ignore[arg-type]
    used = {r[0] for r in ws.sql(exp.select(col("masked_src_id")).from_(qualified("private", "site_map")))}
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
    if new_sites:
        import pyarrow as pa

        ws.con.register("_sites", pa.table({"src_id": new_sites, "masked_src_id": masks, "first_release": [release] * len(new_sites)}))
        ws.sql(exp.Insert(this=qualified("private", "site_map"), expression=exp.select(exp.Star()).from_("_sites")))
        ws.con.unregister("_sites")
    added["site_map"] = len(new_sites)
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
        ws.con.sql(exp.select(exp.Star()).from_(qualified("private", name)).sql(dialect="duckdb")).write_parquet(str(tmp), compression="zstd")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
