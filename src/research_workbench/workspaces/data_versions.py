"""Data versions: each tier of a curated release, registered for workspaces (``workbench release publish``).

A release (``workbench curate RAW --release NAME --out DIR``) holds two CDRs, ``registered/`` and ``controlled/``.
Publishing it registers one data version per tier, with what a researcher choosing one needs to know: the tier,
the participant count (the person table's rows), the data types it holds, when it was published, and a public
release number (one per publish, shared by its tiers, increasing across all versions: the newest publish has the
highest). A version is registered only once its CDR is shown to be served correctly:

- its **index** (``workbench index CDR``, at ``CDR.index`` unless named) exists, was built from the CDR as it is
  now (``index.freshness.check_index``: its recorded manifest hash) and has all its files;
- the release's **public aggregates** (the Data Browser's results store, ``workbench browser build RELEASE``, at
  ``RELEASE.browser.sqlite`` unless named) exist, are not stale, and were computed from this very CDR (the store
  records each source CDR's path and manifest hash). This package sits below the Data Browser, so the caller
  hands in the reader of a store (``AggregatesReader``: the CLI passes the browser's own staleness check).

Checking a release reads its files (``check_release``: outside any database transaction, since counting data
types reads tables) and registering it writes the rows (``publish``: re-hashes each manifest, so a CDR changed in
between is refused). Every refusal is a ``DataVersionError`` listing every problem, each naming the tier and the
file or option at fault; nothing is written then.

Each tier has one **default** version, offered first for new workspaces: the newest published, unless published
with ``make_default=False`` (a tier's first version is its default whatever the flag says: a tier with versions
always has one). An **archived** version stays readable by the workspaces bound to it but is no longer offered
for new ones; the default cannot be archived (make another the default first). A published version is never
changed in place: publishing the same name again is refused, and ``replace`` (re-registering a name whose
versions no workspace uses, e.g. after a wrong index) is refused too once any workspace uses one of them.

Every change is written to the audit log in the same transaction (``DATA_VERSION_PUBLISHED`` per tier,
``DATA_VERSION_DEFAULT_SET``, ``DATA_VERSION_ARCHIVED``), with ``details.via`` saying where it came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..accounts.audit import AuditAction, AuditLog
from ..accounts.modules import Tier
from ..cdr.facts import Domain, event_table_of
from ..cdr.manifest import MANIFEST_NAME
from ..cdr.problems import Problem, ProblemsError
from ..state.models import DataVersion, Workspace

TIERS: tuple[Tier, ...] = (Tier.REGISTERED, Tier.CONTROLLED)
TIER_ORDER = {tier.value: i for i, tier in enumerate(TIERS)}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
NAME_RULE = "1 to 60 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. 2026Q4R1)"

# The data types a version can hold, in the order pages list them: the Cohort Builder's domain spellings
# (``cdr.facts.Domain``), so a data type and a criterion's domain are one word. The first seven are the
# electronic health record's.
EHR_TYPES: tuple[Domain, ...] = (Domain.CONDITION, Domain.DRUG, Domain.PROCEDURE, Domain.MEASUREMENT,
                                 Domain.OBSERVATION, Domain.VISIT, Domain.DEVICE)
DATA_TYPES: dict[str, str] = {
    Domain.CONDITION.value: "Conditions (EHR)",
    Domain.DRUG.value: "Drug exposures (EHR)",
    Domain.PROCEDURE.value: "Procedures (EHR)",
    Domain.MEASUREMENT.value: "Labs and measurements (EHR)",
    Domain.OBSERVATION.value: "Observations (EHR)",
    Domain.VISIT.value: "Visits (EHR)",
    Domain.DEVICE.value: "Devices (EHR)",
    Domain.SURVEY.value: "Surveys",
    Domain.PHYSICAL_MEASUREMENT.value: "Physical measurements",
    Domain.FITBIT.value: "Fitbit (wearables)",
    Domain.WHOLE_GENOME_VARIANT.value: "Short-read whole genome sequencing",
    Domain.ARRAY_DATA.value: "Genotyping arrays",
}
WEARABLE_CATEGORY = "wearable"  # the data model's category of the Fitbit tables (cdr.model)

# A store's sources, as the Data Browser records them: [{"role": "registered", "path": "/abs/…", "manifest_sha256"}].
AggregatesReader = Callable[[Path], Sequence[Mapping[str, Any]]]


class DataVersionError(ProblemsError):
    heading = "data version refused"
    outcome = "no data version was registered or changed."


class DataVersionNotFound(LookupError):
    pass


# -- what a tier holds ------------------------------------------------------------------------------------------

def data_type_labels(keys: Sequence[str]) -> list[str]:
    return [DATA_TYPES.get(k, k.replace("_", " ").title()) for k in keys]


def manifest_sha256(cdr_dir: Path) -> str:
    """SHA-256 of a CDR's ``manifest.json`` (it holds every table's and file's hash, so it changes with them)."""
    return hashlib.sha256((Path(cdr_dir) / MANIFEST_NAME).read_bytes()).hexdigest()


def _genome_types(cdr) -> tuple[list[str], list[Problem]]:
    """Whole genomes and arrays: the VCF files the CDR's manifest lists (the Controlled Tier's), each present."""
    found, problems = set(), []
    for name in sorted(cdr.manifest.files):
        base = Path(name).name.lower()
        if not base.endswith(".vcf.gz"):
            continue
        kind = (Domain.WHOLE_GENOME_VARIANT.value if "wgs" in base
                else Domain.ARRAY_DATA.value if "array" in base else None)
        if kind is None:
            continue
        if not (cdr.path / name).is_file():
            problems.append(Problem(f"genome file missing (its manifest lists {name}); the CDR is damaged (see "
                                    f"`workbench cdr verify {cdr.path}`)", str(cdr.path / name)))
            continue
        found.add(kind)
    return sorted(found, key=list(DATA_TYPES).index), problems


def data_types_of(cdr) -> tuple[list[str], list[Problem]]:
    """The data types a CDR (``cdr.store.Cdr``) holds, in ``DATA_TYPES`` order, and the problems met.

    EHR domains: their event table has rows, except that measurements with a PPI source concept are physical
    measurements and observations answering a survey (``questionnaire_response_id``) are surveys, the rule the
    index applies. Fitbit: any wearable table has rows. Genomes: a whole-genome or array VCF the manifest lists.
    """
    tables = cdr.manifest.tables

    def rows(name: str) -> int:
        entry = tables.get(name)
        return entry.rows if entry else 0

    present: set[str] = set()
    for domain in (Domain.CONDITION, Domain.DRUG, Domain.PROCEDURE, Domain.VISIT, Domain.DEVICE):
        if rows(event_table_of(domain).table):
            present.add(domain.value)
    meas, obs = event_table_of(Domain.MEASUREMENT), event_table_of(Domain.OBSERVATION)
    queries = []
    if rows(meas.table):
        joins_concepts = rows("concept") > 0
        ppi = "c.vocabulary_id = 'PPI'" if joins_concepts else "false"
        queries.append((
            f'SELECT coalesce(bool_or({ppi}), false), coalesce(bool_or(NOT ({ppi})), false) FROM "{meas.table}" m'
            + (f' LEFT JOIN "concept" c ON c.concept_id = m."{meas.source_concept}"' if joins_concepts else ""),
            Domain.PHYSICAL_MEASUREMENT, Domain.MEASUREMENT))
    if rows(obs.table):
        queries.append((
            f'SELECT coalesce(bool_or(questionnaire_response_id IS NOT NULL), false), '
            f'coalesce(bool_or(questionnaire_response_id IS NULL), false) FROM "{obs.table}"',
            Domain.SURVEY, Domain.OBSERVATION))
    if queries:
        con = cdr.connect()
        try:
            with cdr.query_errors():
                for sql, first, second in queries:
                    has_first, has_second = con.execute(sql).fetchone()
                    if has_first:
                        present.add(first.value)
                    if has_second:
                        present.add(second.value)
        finally:
            con.close()
    if any(rows(name) for name, table in cdr.model.tables.items() if table.category == WEARABLE_CATEGORY):
        present.add(Domain.FITBIT.value)
    genomes, problems = _genome_types(cdr)
    present.update(genomes)
    return [key for key in DATA_TYPES if key in present], problems


# -- checking a release -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckedTier:
    tier: Tier
    cdr_path: Path  # absolute
    index_path: Path  # absolute
    manifest_sha256: str
    participant_count: int
    data_types: tuple[str, ...]
    release: str  # the release's name as its manifest records it (``extra.release``)


@dataclass(frozen=True)
class CheckedRelease:
    """A release shown to be publishable: both tiers' CDRs, indexes and the public aggregates current."""

    release_dir: Path  # absolute
    release: str  # the release's own name (its manifests' ``extra.release``)
    aggregates_path: Path  # absolute
    tiers: tuple[CheckedTier, ...]


def default_index_path(cdr_dir: Path) -> Path:
    from ..index.layout import default_index_path as index_path

    return index_path(cdr_dir)


def default_aggregates_path(release_dir: Path) -> Path:
    """Where ``workbench browser build RELEASE_DIR`` puts the store: ``RELEASE_DIR.browser.sqlite`` beside it."""
    release_dir = Path(release_dir).absolute()
    return release_dir.parent / f"{release_dir.name}.browser.sqlite"


def _same_dir(a: Path | str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def _check_tier(tier: Tier, cdr_dir: Path, index_dir: Path, problems: list[Problem]) -> CheckedTier | None:
    from ..cdr.store import Cdr, CdrFileError
    from ..index.freshness import StaleIndexError, check_index

    label = tier.label
    if not (cdr_dir / MANIFEST_NAME).is_file():
        problems.append(Problem(f"{label}: no CDR here (no {MANIFEST_NAME}): a release made by `workbench curate` "
                                f"holds registered/ and controlled/", str(cdr_dir)))
        return None
    try:
        cdr = Cdr(cdr_dir)
    except (OSError, ValueError) as err:
        problems.append(Problem(f"{label}: unreadable CDR: {err}", str(cdr_dir / MANIFEST_NAME)))
        return None
    recorded_tier = cdr.manifest.extra.get("tier")
    if recorded_tier != tier.value:
        said = f"says tier {recorded_tier!r}" if recorded_tier else "records no tier (not made by `workbench curate`)"
        problems.append(Problem(f"{label}: not this tier of a curated release: its {MANIFEST_NAME} {said}",
                                str(cdr_dir / MANIFEST_NAME)))
        return None
    sha = manifest_sha256(cdr_dir)
    count = cdr.manifest.person_count
    if count <= 0:
        problems.append(Problem(f"{label}: the CDR has no participants (its person table is empty)",
                                str(cdr_dir / MANIFEST_NAME)))
    ok = True
    if not (index_dir / "index.json").is_file():
        command = f"workbench index {cdr_dir}" + ("" if index_dir == default_index_path(cdr_dir) else f" --out {index_dir}")
        problems.append(Problem(f"{label}: no index at {index_dir}: build it with `{command}`", str(index_dir)))
        ok = False
    else:
        try:
            check_index(index_dir, cdr_dir)
        except (StaleIndexError, CdrFileError, OSError, ValueError) as err:
            problems.append(Problem(f"{label}: the index does not match the CDR: {err}", str(index_dir)))
            ok = False
    try:
        data_types, genome_problems = data_types_of(cdr)
    except (CdrFileError, OSError) as err:
        problems.append(Problem(f"{label}: the CDR is damaged: {err}", str(cdr_dir)))
        return None
    for problem in genome_problems:
        problems.append(Problem(f"{label}: {problem.message}", problem.where))
    if not ok or genome_problems or count <= 0:
        return None
    return CheckedTier(tier, cdr_dir, index_dir, sha, count, tuple(data_types),
                       str(cdr.manifest.extra.get("release") or cdr_dir.parent.name))


def check_release(release_dir: Path, *, read_aggregates: AggregatesReader, aggregates_path: Path | None = None,
                  index_paths: Mapping[Tier, Path] | None = None) -> CheckedRelease:
    """The release at ``release_dir`` checked for publishing (no database involved), or ``DataVersionError``.

    ``index_paths``: a tier's index when not at ``CDR.index``; ``aggregates_path``: the results store when not at
    ``RELEASE_DIR.browser.sqlite``. ``read_aggregates(path)`` returns the store's recorded sources, raising
    ``OSError``/``ValueError`` (with its message) for a missing, foreign or stale store.
    """
    release_dir = Path(release_dir).absolute()
    problems: list[Problem] = []
    if not release_dir.is_dir():
        raise DataVersionError([Problem("no such release directory", str(release_dir))])
    index_paths = dict(index_paths or {})
    store = Path(aggregates_path).absolute() if aggregates_path else default_aggregates_path(release_dir)
    checked: list[CheckedTier] = []
    tier_dirs = {tier: release_dir / tier.value for tier in TIERS}
    for tier in TIERS:
        index_dir = Path(index_paths[tier]).absolute() if index_paths.get(tier) else default_index_path(tier_dirs[tier])
        found = _check_tier(tier, tier_dirs[tier], index_dir, problems)
        if found is not None:
            checked.append(found)
    # The public aggregates: present, current (the reader refuses a stale store) and computed from these CDRs.
    if not store.is_file():
        problems.append(Problem(f"no public aggregates for this release: build them with `workbench browser build "
                                f"{release_dir} --out {store}`", str(store)))
    else:
        try:
            sources = list(read_aggregates(store))
        except (OSError, ValueError) as err:
            problems.append(Problem(f"the public aggregates cannot be used: {err}", str(store)))
        else:
            for tier in TIERS:
                cdr_dir = tier_dirs[tier]
                if not (cdr_dir / MANIFEST_NAME).is_file():
                    continue  # already refused above
                mine = [s for s in sources if _same_dir(str(s.get("path", "")), cdr_dir)]
                if not mine:
                    built = ", ".join(str(s.get("path")) for s in sources) or "no recorded CDR"
                    problems.append(Problem(
                        f"{tier.label}: the public aggregates were not computed from this release's {tier.value}/ "
                        f"(they come from {built}): build them with `workbench browser build {release_dir} --out "
                        f"{store} --replace`", str(store)))
                elif all(s.get("manifest_sha256") != manifest_sha256(cdr_dir) for s in mine):
                    problems.append(Problem(
                        f"{tier.label}: the public aggregates are stale: {cdr_dir / MANIFEST_NAME} changed since they "
                        f"were built; rebuild them with `workbench browser build {release_dir} --out {store} "
                        f"--replace`", str(store)))
    if problems:
        raise DataVersionError(problems)
    names = sorted({t.release for t in checked})
    if len(names) != 1:
        raise DataVersionError([Problem(f"the tiers come from different releases ({', '.join(names)})",
                                        str(release_dir))])
    return CheckedRelease(release_dir, names[0], store, tuple(checked))


# -- registering ------------------------------------------------------------------------------------------------

def name_problems(session: Session, name: str, *, replace: bool = False) -> list[Problem]:
    """Why ``name`` cannot be published (empty when it can): its spelling, or versions of that name that exist
    (with ``replace``: only when a workspace uses one of them)."""
    if not NAME_PATTERN.fullmatch(name or ""):
        return [Problem(f"{(name or '')[:80]!r} is not a data version name: {NAME_RULE}", "name")]
    existing = list(session.scalars(select(DataVersion).where(DataVersion.name == name)))
    if not existing:
        return []
    if not replace:
        first = min(existing, key=lambda v: v.created_at)
        return [Problem(f"{name} is already published (release {first.release_number}, "
                        f"{first.created_at:%Y-%m-%d %H:%M} UTC): a published data version is never changed; publish "
                        f"the release under a new name", "name")]
    used = session.scalar(select(func.count()).select_from(Workspace)
                          .where(Workspace.data_version_id.in_([v.id for v in existing])))
    if used:
        return [Problem(f"{name} cannot be replaced: {used} workspace{'s' if used != 1 else ''} use"
                        f"{'s' if used == 1 else ''} it; publish the release under a new name", "name")]
    return []


def _lock_versions(session: Session, tier: str | None = None) -> list[DataVersion]:
    """The versions (of a tier), locked for this transaction on PostgreSQL (SQLite's write lock is already held)."""
    query = select(DataVersion).order_by(DataVersion.id).with_for_update()
    if tier is not None:
        query = query.where(DataVersion.tier == tier)
    return list(session.scalars(query))


def publish(session: Session, checked: CheckedRelease, *, name: str, now: datetime, audit: AuditLog,
            make_default: bool = True, replace: bool = False, actor_id: int | None = None, ip: str | None = None,
            via: str = "cli") -> list[DataVersion]:
    """Register each tier of a checked release as a data version named ``name``, in ``session``'s transaction.

    Refuses (``DataVersionError``, nothing written) a name already published (unless ``replace`` and no workspace
    uses it) and a CDR whose manifest changed since it was checked. Returns the new versions, registered first.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    problems = name_problems(session, name, replace=replace)
    for tier in checked.tiers:
        try:
            current = manifest_sha256(tier.cdr_path)
        except OSError:
            current = None
        if current != tier.manifest_sha256:
            problems.append(Problem(f"{tier.tier.label}: the CDR changed while it was being checked; publish again",
                                    str(tier.cdr_path / MANIFEST_NAME)))
    if problems:
        raise DataVersionError(problems)
    everything = _lock_versions(session)
    replaced = {v.tier: v for v in everything if v.name == name}
    number = (min(v.release_number for v in replaced.values()) if replaced
              else max((v.release_number for v in everything), default=0) + 1)
    for old in replaced.values():
        session.delete(old)
    session.flush()
    made = []
    for tier in checked.tiers:
        previous = next((v for v in everything if v.tier == tier.tier.value and v.is_default
                         and v not in replaced.values()), None)
        old = replaced.get(tier.tier.value)
        default = make_default or previous is None
        if default and previous is not None:
            previous.is_default = False
        version = DataVersion(name=name, tier=tier.tier.value, release_number=number, cdr_path=str(tier.cdr_path),
                              index_path=str(tier.index_path), aggregates_path=str(checked.aggregates_path),
                              manifest_sha256=tier.manifest_sha256, participant_count=tier.participant_count,
                              data_types=list(tier.data_types), is_default=default, created_at=now, archived_at=None)
        session.add(version)
        session.flush()
        audit.append(session, AuditAction.DATA_VERSION_PUBLISHED, actor_id=actor_id, ip=ip, details={
            "data_version_id": version.id, "name": name, "tier": version.tier, "release_number": number,
            "release": checked.release, "participant_count": version.participant_count,
            "data_types": list(version.data_types), "manifest_sha256": version.manifest_sha256,
            "cdr_path": version.cdr_path, "default": default,
            "previous_default": previous.id if default and previous is not None else None,
            "replaced": old.id if old is not None else None, "via": via})
        made.append(version)
    return made


# -- reading ----------------------------------------------------------------------------------------------------

def newest_first(versions) -> list[DataVersion]:
    """Newest release first; within a release, the Registered Tier before the Controlled Tier."""
    return sorted(versions, key=lambda v: (-v.release_number, TIER_ORDER.get(v.tier, 9), v.id))


def _tier_value(tier: Tier | str) -> str:
    return Tier(tier).value


def list_versions(session: Session, tier: Tier | str | None = None, *,
                  include_archived: bool = False) -> list[DataVersion]:
    """Published versions (of one tier), newest first; archived ones only with ``include_archived``."""
    query = select(DataVersion)
    if tier is not None:
        query = query.where(DataVersion.tier == _tier_value(tier))
    if not include_archived:
        query = query.where(DataVersion.archived_at.is_(None))
    return newest_first(session.scalars(query))


def get_version(session: Session, version_id: int) -> DataVersion:
    version = session.get(DataVersion, version_id)
    if version is None:
        raise DataVersionNotFound(f"no data version {version_id}")
    return version


def find_versions(session: Session, name: str, tier: Tier | str | None = None) -> list[DataVersion]:
    """The versions named ``name`` (one per tier; of one tier when given), Registered Tier first."""
    query = select(DataVersion).where(DataVersion.name == name)
    if tier is not None:
        query = query.where(DataVersion.tier == _tier_value(tier))
    return newest_first(session.scalars(query))


def default_for(session: Session, tier: Tier | str) -> DataVersion | None:
    return session.scalar(select(DataVersion).where(DataVersion.tier == _tier_value(tier),
                                                    DataVersion.is_default.is_(True)).order_by(DataVersion.id.desc()))


def offered_for_new(session: Session, tier: Tier | str) -> list[DataVersion]:
    """What a new workspace of ``tier`` may be bound to: its versions not archived, the default first, then newest."""
    return sorted(list_versions(session, tier), key=lambda v: (not v.is_default, -v.release_number, v.id))


def require_offered(session: Session, version_id: int, tier: Tier | str) -> DataVersion:
    """The version a new workspace of ``tier`` asked for, once shown to be offered (``DataVersionError`` naming
    why not: no such version, another tier's, archived)."""
    version = session.get(DataVersion, version_id)
    tier = Tier(tier)
    if version is None:
        raise DataVersionError([Problem(f"no data version {version_id}", "data_version")])
    if version.tier != tier.value:
        raise DataVersionError([Problem(f"{version.name} ({Tier(version.tier).label}) is not a {tier.label} data "
                                        "version", "data_version")])
    if version.archived_at is not None:
        raise DataVersionError([Problem(f"{version.name} is archived: it is not offered for new workspaces",
                                        "data_version")])
    return version


# -- changing ---------------------------------------------------------------------------------------------------

def _where(version: DataVersion) -> str:
    """How a problem names a version: ``data version 2026Q4R1 (Registered Tier)``."""
    return f"data version {version.name} ({Tier(version.tier).label})"


def set_default(session: Session, version_id: int, *, now: datetime, audit: AuditLog, actor_id: int | None = None,
                ip: str | None = None, via: str = "cli") -> tuple[DataVersion, DataVersion | None, bool]:
    """Make a version its tier's default; returns it, the version that was the default (None when none was) and
    whether anything changed (nothing does when it already is). An archived version cannot be the default."""
    version = get_version(session, version_id)
    tier_versions = _lock_versions(session, version.tier)
    if version.archived_at is not None:
        raise DataVersionError([Problem("archived: an archived version cannot be the default", _where(version))])
    if version.is_default:
        return version, None, False
    previous = next((v for v in tier_versions if v.is_default), None)
    for other in tier_versions:
        other.is_default = other.id == version.id
    session.flush()
    audit.append(session, AuditAction.DATA_VERSION_DEFAULT_SET, actor_id=actor_id, ip=ip, details={
        "data_version_id": version.id, "name": version.name, "tier": version.tier,
        "release_number": version.release_number, "previous_default": previous.id if previous else None,
        "previous_name": previous.name if previous else None, "via": via})
    return version, previous, True


def archive(session: Session, version_id: int, *, now: datetime, audit: AuditLog, actor_id: int | None = None,
            ip: str | None = None, via: str = "cli") -> tuple[DataVersion, bool]:
    """Archive a version: its workspaces keep reading it, new workspaces are not offered it. Returns it and
    whether it changed (archiving an archived version changes nothing). The default cannot be archived."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    version = get_version(session, version_id)
    _lock_versions(session, version.tier)
    if version.archived_at is not None:
        return version, False
    if version.is_default:
        raise DataVersionError([Problem("the tier's default cannot be archived: make another version the default "
                                        "first", _where(version))])
    version.archived_at = now
    session.flush()
    used = session.scalar(select(func.count()).select_from(Workspace).where(Workspace.data_version_id == version.id,
                                                                           Workspace.deleted_at.is_(None)))
    audit.append(session, AuditAction.DATA_VERSION_ARCHIVED, actor_id=actor_id, ip=ip, details={
        "data_version_id": version.id, "name": version.name, "tier": version.tier,
        "release_number": version.release_number, "workspaces": used, "via": via})
    return version, True


# -- describing -------------------------------------------------------------------------------------------------

def version_dict(version: DataVersion, *, paths: bool = True) -> dict[str, Any]:
    """A version as JSON (the CLI's ``--json``); without ``paths`` the server's file locations are left out."""
    out: dict[str, Any] = {
        "id": version.id, "name": version.name, "tier": version.tier, "release_number": version.release_number,
        "participant_count": version.participant_count, "data_types": list(version.data_types),
        "default": bool(version.is_default), "archived": version.archived_at is not None,
        "created_at": version.created_at.isoformat(),
        "archived_at": version.archived_at.isoformat() if version.archived_at else None,
    }
    if paths:
        out.update(cdr_path=version.cdr_path, index_path=version.index_path,
                   aggregates_path=version.aggregates_path, manifest_sha256=version.manifest_sha256)
    return out
