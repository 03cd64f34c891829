"""``workbench release publish|versions|set-default|archive``: a release's tiers as data versions for workspaces.

``publish`` checks each tier of a curated release (its index current, the public aggregates current and computed
from it: this layer hands the Data Browser's own staleness check to the service, which sits below the browser)
and registers one data version per tier in the Workbench's database. The commands read the Workbench's settings
like ``workbench admin …`` (``--config`` or ``$RW_WORKBENCH_CONFIG``) and audit what they change with
``actor_id`` none and ``details.via = "cli"`` (``workspaces.data_versions``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .curate import release_app
from .output import JSON_OPTION, emit_json, err_console, fail, user_errors
from .workbench_app import CONFIG_OPTION, _audit_log, _open, _writing

if TYPE_CHECKING:
    from ..state.models import DataVersion


class TierChoice(str, Enum):  # accounts.modules.Tier's values, without importing accounts to build the CLI
    registered = "registered"
    controlled = "controlled"


TIER_OPTION = typer.Option(None, "--tier", help="Only this tier's version (default: every tier of that name).")


def _read_aggregates(store: Path) -> list[dict[str, Any]]:
    """The Data Browser's own check of a results store (present, a store, not stale), then its recorded sources."""
    from ..browser.serving.store import Store

    return list(Store(store).meta.get("sources") or [])


def _describe(version: DataVersion) -> str:
    from ..accounts.modules import Tier
    from ..workspaces.data_versions import data_type_labels

    flags = [f for f, on in (("default", version.is_default), ("archived", version.archived_at is not None)) if on]
    return (f"{version.name} {Tier(version.tier).label} (id {version.id}, release {version.release_number}"
            f"{', ' + ', '.join(flags) if flags else ''}): {version.participant_count:,} participants; "
            + ", ".join(data_type_labels(version.data_types)))


@release_app.command("publish")
def publish(
    release_dir: Path = typer.Argument(..., help="A release folder made by `workbench curate` (RELEASES_DIR/NAME)."),
    name: str = typer.Option(..., "--name", help="The data versions' public name, e.g. 2026Q4R1 (never reused)."),
    aggregates: Optional[Path] = typer.Option(
        None, "--aggregates", dir_okay=False,
        help="The release's public aggregates (default: RELEASE_DIR.browser.sqlite, where `workbench browser build` "
             "puts them)."),
    registered_index: Optional[Path] = typer.Option(
        None, "--registered-index", file_okay=False, help="The Registered Tier's index (default: registered.index)."),
    controlled_index: Optional[Path] = typer.Option(
        None, "--controlled-index", file_okay=False, help="The Controlled Tier's index (default: controlled.index)."),
    no_default: bool = typer.Option(
        False, "--no-default",
        help="Keep each tier's current default (a tier's first version is its default regardless)."),
    replace: bool = typer.Option(
        False, "--replace", help="Re-register a published name; refused once a workspace uses one of its versions."),
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Register each tier of a curated release as a data version: its tier, participant count, data types and a
    public release number (one more than the highest so far).

    Refused, with every problem named, unless both tiers' indexes were built from the CDRs as they are and the
    public aggregates are current and were computed from this release. The newest published version becomes each
    tier's default (offered first for new workspaces) unless --no-default.
    """
    from ..accounts.clock import utcnow
    from ..accounts.modules import Tier
    from ..workspaces import data_versions as dv

    _, keys, db = _open(config_path, json_output)
    with user_errors(json_output), db.reading() as session:  # a used name is refused before reading the release
        problems = dv.name_problems(session, name, replace=replace)
        if problems:
            raise dv.DataVersionError(problems)
    indexes = {t: p for t, p in ((Tier.REGISTERED, registered_index), (Tier.CONTROLLED, controlled_index)) if p}
    with user_errors(json_output):
        checked = dv.check_release(release_dir, read_aggregates=_read_aggregates, aggregates_path=aggregates,
                                   index_paths=indexes)
    with _writing(db, json_output) as session:
        versions = dv.publish(session, checked, name=name, now=utcnow(), audit=_audit_log(keys),
                              make_default=not no_default, replace=replace, via="cli")
        document = {"name": name, "release": checked.release, "release_number": versions[0].release_number,
                    "versions": [dv.version_dict(v) for v in versions]}
        lines = [_describe(v) for v in versions]
    if json_output:
        emit_json(document)
        return
    err_console.print(f"Published {name} (release {document['release_number']}) from {checked.release_dir}:",
                      highlight=False, markup=False)
    for line in lines:
        err_console.print(f"  {line}", highlight=False, markup=False)


@release_app.command("versions")
def versions(
    tier: Optional[TierChoice] = typer.Option(None, "--tier", help="Only this tier's versions."),
    archived: bool = typer.Option(False, "--archived", help="Also list archived versions."),
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """List the published data versions, newest first (archived ones with --archived)."""
    from ..workspaces import data_versions as dv

    _, _, db = _open(config_path, json_output, secret=False)
    with user_errors(json_output), db.reading() as session:
        found = dv.list_versions(session, tier.value if tier else None, include_archived=archived)
        document = {"versions": [dv.version_dict(v) for v in found]}
        lines = [_describe(v) for v in found]
    if json_output:
        emit_json(document)
    elif not lines:
        print("No data version" + (" (archived ones: --archived)" if not archived else "") + ".")
    else:
        print("\n".join(lines))


def _change(name: str, tier: TierChoice | None, json_output: bool, config_path: Path | None, what: str) -> None:
    from ..accounts.clock import utcnow
    from ..workspaces import data_versions as dv

    _, keys, db = _open(config_path, json_output)
    audit, now = _audit_log(keys), utcnow()
    with _writing(db, json_output) as session:
        found = dv.find_versions(session, name, tier.value if tier else None)
        if not found:
            fail(f"no data version named {name!r}" + (f" of the {tier.value} tier" if tier else "")
                 + " (see `workbench release versions --archived`)", json_output)
        changed, previous = [], {}
        for version in found:  # one transaction: every tier changes, or none
            if what == "archive":
                _, did = dv.archive(session, version.id, now=now, audit=audit, via="cli")
            else:
                _, before, did = dv.set_default(session, version.id, now=now, audit=audit, via="cli")
                if did:
                    previous[version.tier] = before.id if before is not None else None
            if did:
                changed.append(version.id)
        document: dict[str, Any] = {"versions": [dv.version_dict(v) for v in found], "changed": changed}
        if what == "default":
            document["previous"] = previous
        lines = [_describe(v) for v in found]
    if json_output:
        emit_json(document)
        return
    verb = "Archived" if what == "archive" else "Default now"
    for version_line, version in zip(lines, document["versions"]):
        state = verb if version["id"] in changed else "Unchanged"
        err_console.print(f"{state}: {version_line}", highlight=False, markup=False)


@release_app.command("set-default")
def set_default(
    name: str = typer.Argument(..., help="The data version's name (see `workbench release versions`)."),
    tier: Optional[TierChoice] = TIER_OPTION,
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Make a published version its tier's default: offered first for new workspaces (an archived one cannot be)."""
    _change(name, tier, json_output, config_path, "default")


@release_app.command("archive")
def archive(
    name: str = typer.Argument(..., help="The data version's name (see `workbench release versions`)."),
    tier: Optional[TierChoice] = TIER_OPTION,
    config_path: Optional[Path] = CONFIG_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Archive a version: workspaces bound to it keep reading it; new workspaces are not offered it. A tier's
    default cannot be archived (make another version the default first)."""
    _change(name, tier, json_output, config_path, "archive")
