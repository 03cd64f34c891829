"""What people do with workspaces: create, edit, duplicate, delete, share, find collaborators; what administrators
do: lock, unlock, and decide the Resource Access Board's reviews. Web-free: the pages and the API call these.

Every function works in the caller's session and writes its audit event there, so the change and its event commit
or roll back together. Who may act is checked here, not only in the web layer: each function that acts on a
workspace starts with ``roles.require`` (the workspace, the role, the workspace's tier; a locked workspace refuses
every change). ``Context.access_of`` gives any user's access (the one evaluator's answer); the web layer passes
``services.evaluator.state`` (and the viewer's own state for the viewer).

Optimistic concurrency: a workspace's ``etag`` (a number) rises with every change to its name, purpose or
collaborators. Edit, share and delete take the etag the client last saw; if it is not the current one the change
is refused with ``StaleEtag`` (naming the current etag) and nothing is written. The check is a conditional UPDATE
(``… WHERE etag = :seen``), so two writers racing with the same etag cannot both win on any database.

Refused input is a ``WorkspaceError`` (a ``ProblemsError``) whose problems name the field (``name``,
``data_version``, ``intended_study``, ``role.<user id>``…).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from ..accounts.access import AccessState
from ..accounts.audit import AuditAction, AuditLog
from ..accounts.modules import Tier
from ..cdr.problems import Problem, ProblemsError
from ..state.models import DataVersion, Institution, User, Workspace, WorkspaceMember
from .purpose import ResearchPurpose
from .roles import Role, WorkspaceForbidden, WorkspaceNotFound, load_workspace, require, role_of

NAME_MAX = 80
SLUG_MAX = 60  # the namespace's stem; "-2", "-3"… follow it when taken
RESERVED_NAMESPACES = frozenset({"new", "admin", "api", "users", "data-versions"})
REASON_MIN, REASON_MAX = 5, 500  # an administrator's reason for a lock or unlock (kept in the audit log)
NOTE_MAX = 2000  # the Resource Access Board's note with a decision
SEARCH_MIN, SEARCH_SHOWN, SEARCH_SCANNED = 2, 10, 200
REVIEW_PENDING, REVIEW_APPROVED, REVIEW_CHANGES = "pending", "approved", "changes_requested"
DECISIONS = {REVIEW_APPROVED: "Approved", REVIEW_CHANGES: "Changes requested"}

AccessOf = Callable[[User], AccessState]


# -- errors ---------------------------------------------------------------------------------------------------------

class WorkspaceError(ProblemsError):
    heading = "the workspace was not changed"
    outcome = "nothing was written."


class StaleEtag(WorkspaceError):
    """Someone changed the workspace after the client loaded it (the client's etag is not the current one)."""

    heading = "someone else changed this workspace"

    def __init__(self, workspace: Workspace, given: Any):
        self.workspace = workspace
        self.current = workspace.etag
        self.given = given
        super().__init__([Problem(
            f"this workspace was changed by someone else since you loaded it (you had version {given}, it is now "
            f"version {workspace.etag}); nothing was saved: reload it and make your change again", "etag")])


class WorkspaceConflict(WorkspaceError):
    """The workspace is not in the state the action needs (already locked, no review pending…)."""


# -- context --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """What every action needs besides its arguments: the audit log, any user's access, the time, the client."""

    audit: AuditLog
    access_of: AccessOf
    now: datetime
    ip: str | None = None

    def holds(self, user: User, tier: Tier | str) -> bool:
        return user.disabled_at is None and Tier(tier) in self.access_of(user).granted

    def log(self, session: Session, action: AuditAction, actor: User, workspace: Workspace, *,
            target_user_id: int | None = None, **details: Any) -> None:
        self.audit.append(session, action, actor_id=actor.id, target_user_id=target_user_id, ip=self.ip,
                          details={"workspace_id": workspace.id, "namespace": workspace.namespace, **details})


# -- the research purpose -------------------------------------------------------------------------------------------

TEXT_FIELDS = ("disease_of_focus", "other_purpose_details", "intended_study", "scientific_approach",
               "anticipated_findings", "other_population_details", "aian_research_details")


def _clean_text(value: Any) -> Any:
    """Text as the form's counter counted it: CRLF (how browsers send a textarea's line breaks) as one
    character, surrounding spaces dropped; empty optional text as null."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value


def _problem_of(error: Mapping[str, Any]) -> Problem:
    loc = [str(p) for p in error.get("loc", ())]
    where = loc[0] if loc else "purpose"  # a list's item is named by its list: the form shows it there
    if len(loc) > 1 and not loc[1].isdigit():
        where = ".".join(loc)
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    value = error.get("input")
    if kind == "string_too_long":
        message = f"at most {ctx.get('max_length')} characters ({len(value) if isinstance(value, str) else '?'} given)"
    elif kind in ("string_too_short", "missing"):
        field = ResearchPurpose.model_fields.get(loc[0]) if loc else None
        question = field.description if field is not None and field.description else None
        message = f"required: answer “{question}”" if question else "required"
    elif kind == "literal_error":
        message = f"{str(value)[:40]!r} is not one of the choices"
    elif kind == "extra_forbidden":
        message = "not a field of the research purpose"
    elif kind in ("bool_type", "bool_parsing"):
        message = "must be true or false"
    else:
        message = error.get("msg", "not valid")
    return Problem(message, where)


def check_purpose(data: ResearchPurpose | Mapping[str, Any]) -> ResearchPurpose:
    """The research purpose, or ``WorkspaceError`` naming every field that is wrong (each field's own limits,
    then the first rule across fields: a disease named for disease-focused research, at least one primary
    purpose…)."""
    if isinstance(data, ResearchPurpose):
        data = data.model_dump()
    data = {k: _clean_text(v) for k, v in dict(data).items()}
    for key in TEXT_FIELDS:
        if key in data and data[key] == "" and not ResearchPurpose.model_fields[key].is_required():
            data[key] = None
    try:
        return ResearchPurpose.model_validate(data)
    except ValidationError as exc:
        problems, across = [], False
        for error in exc.errors():
            if not error.get("loc") and error.get("type") == "value_error":
                across = True
                text = str((error.get("ctx") or {}).get("error", error.get("msg", "")))
                where, _, message = text.partition(": ")
                problems.append(Problem(message or where, where if message else "purpose"))
            else:
                problems.append(_problem_of(error))
        if not across:
            problems += _cross_field_problem(data, {p.where for p in problems})
        raise WorkspaceError(problems) from None


def _cross_field_problem(data: Mapping[str, Any], already: set[str]) -> list[Problem]:
    """When some fields are wrong the model's rules across fields did not run: run them on what was given, so the
    form shows, say, a missing disease name together with an answer that is too long."""
    known = {k: v for k, v in data.items() if k in ResearchPurpose.model_fields}
    try:
        ResearchPurpose.model_construct(**known)._consistent()
    except ValueError as exc:
        where, _, message = str(exc).partition(": ")
        if message and where not in already:
            return [Problem(message, where)]
    except Exception:  # values of the wrong type: their own problems are already listed
        return []
    return []


def purpose_of(workspace: Workspace) -> ResearchPurpose:
    return ResearchPurpose.model_validate(workspace.purpose)


# -- data versions --------------------------------------------------------------------------------------------------

def data_versions(session: Session, tiers: Iterable[Tier | str] | None = None, *,
                  include_archived: bool = False) -> list[DataVersion]:
    """Data versions (of ``tiers``), newest first."""
    query = select(DataVersion)
    if tiers is not None:
        query = query.where(DataVersion.tier.in_([Tier(t).value for t in tiers]))
    if not include_archived:
        query = query.where(DataVersion.archived_at.is_(None))
    return list(session.scalars(query.order_by(DataVersion.release_number.desc(), DataVersion.id.desc())))


def default_version(session: Session, tier: Tier | str) -> DataVersion | None:
    """The tier's default data version (its newest live one when none is marked default)."""
    live = data_versions(session, [tier])
    return next((v for v in live if v.is_default), live[0] if live else None)


def _version(session: Session, tier: Tier | None, wanted: int | str | None, problems: list[Problem], *,
             at_least: DataVersion | None = None) -> DataVersion | None:
    """The data version ``wanted`` (an id, or a name within ``tier``), checked: of the workspace's tier, not
    archived, and not older than ``at_least``. None or "": the tier's default (for a duplicate: the default when it
    is not older than the source's version, else the source's own, else the newest)."""
    if tier is None:
        return None
    live = [v for v in data_versions(session, [tier])
            if at_least is None or v.release_number >= at_least.release_number]
    names = ", ".join(v.name for v in live) or "none is published"
    if wanted is None or wanted == "":
        fallback = at_least if at_least is not None and at_least in live else (live[0] if live else None)
        found = next((v for v in live if v.is_default), fallback)
        if found is None:
            problems.append(Problem(f"no {tier.label} data version is published yet", "data_version"))
        return found
    found = None
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit() and len(wanted) <= 12):
        found = session.get(DataVersion, int(wanted))
    elif isinstance(wanted, str):
        found = session.scalar(select(DataVersion).where(DataVersion.name == wanted.strip(),
                                                         DataVersion.tier == tier.value))
    if found is None:
        problems.append(Problem(f"no such data version: choose one of the {tier.label}'s ({names})", "data_version"))
    elif found.tier != tier.value:
        problems.append(Problem(f"{found.name} is a {Tier(found.tier).label} data version and this workspace is in "
                                f"the {tier.label}: choose one of {names}", "data_version"))
    elif found.archived_at is not None:
        problems.append(Problem(f"{found.name} is archived: choose one of {names}", "data_version"))
    elif at_least is not None and found.release_number < at_least.release_number:
        problems.append(Problem(f"{found.name} is older than this workspace's {at_least.name}: a duplicate moves to "
                                f"the same or a newer version ({names})", "data_version"))
    else:
        return found
    return None


# -- names ----------------------------------------------------------------------------------------------------------

def _name(value: Any, problems: list[Problem]) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        problems.append(Problem(f"give the workspace a name (1 to {NAME_MAX} characters)", "name"))
    elif len(name) > NAME_MAX:
        problems.append(Problem(f"at most {NAME_MAX} characters ({len(name)} given)", "name"))
    return name


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:SLUG_MAX].strip("-")
    return slug or "workspace"


def unique_namespace(session: Session, name: str) -> str:
    """A slug of ``name`` no workspace has ever had (deleted ones keep theirs), fixed for good at creation."""
    stem = slugify(name)
    taken = set(session.scalars(select(Workspace.namespace).where(
        or_(Workspace.namespace == stem, Workspace.namespace.like(stem + "-%")))))
    if stem not in taken and stem not in RESERVED_NAMESPACES:
        return stem
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


# -- reading --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listed:
    workspace: Workspace
    role: Role


def list_for(session: Session, user: User, access: AccessState) -> list[Listed]:
    """The user's workspaces they can reach now (a workspace of a tier they do not hold is not listed), the most
    recently changed first."""
    if user.disabled_at is not None:
        return []
    rows = session.scalars(
        select(Workspace).join(WorkspaceMember, WorkspaceMember.workspace_id == Workspace.id)
        .options(selectinload(Workspace.members), selectinload(Workspace.data_version))
        .where(WorkspaceMember.user_id == user.id, Workspace.deleted_at.is_(None),
               Workspace.tier.in_([t.value for t in access.granted]))
        .order_by(Workspace.updated_at.desc(), Workspace.id.desc()))
    return [Listed(w, role_of(w, user.id)) for w in rows]


def people(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def _load_users(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).options(
        selectinload(User.modules), selectinload(User.institution).selectinload(Institution.rules))
        .where(User.id.in_(wanted)))}


# -- etags ----------------------------------------------------------------------------------------------------------

def parse_etag(value: Any) -> int | None:
    """An etag as clients send it: ``3``, ``"3"`` or ``W/"3"`` (None when missing or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"').strip()
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _claim(session: Session, workspace: Workspace, etag: Any, actor: User, now: datetime) -> None:
    """Take the next etag if ``etag`` is the current one; ``StaleEtag`` (nothing written) if not."""
    seen = parse_etag(etag)
    if seen is None:
        raise WorkspaceError([Problem("missing: send the workspace's etag (the version you last loaded)", "etag")])
    if seen != workspace.etag:
        raise StaleEtag(workspace, seen)
    done = session.execute(update(Workspace).where(Workspace.id == workspace.id, Workspace.etag == seen)
                           .values(etag=seen + 1, updated_by=actor.id, updated_at=now)
                           .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # another transaction took it between our read and this write
        session.refresh(workspace)
        raise StaleEtag(workspace, seen)
    for key, value in (("etag", seen + 1), ("updated_by", actor.id), ("updated_at", now)):
        set_committed_value(workspace, key, value)  # what the UPDATE wrote, without writing it again


# -- reviews --------------------------------------------------------------------------------------------------------

def _sync_review(session: Session, ctx: Context, actor: User, workspace: Workspace, purpose: ResearchPurpose,
                 *, purpose_changed: bool) -> None:
    """The review request follows the purpose: asked for (or the purpose changed while asked for) → pending;
    withdrawn while pending → no review."""
    if purpose.review_requested:
        fresh = workspace.review_status is None or (purpose_changed and workspace.review_status != REVIEW_PENDING)
        workspace.review_requested = True
        if fresh:
            workspace.review_status, workspace.review_note = REVIEW_PENDING, None
            workspace.reviewed_by = workspace.reviewed_at = None
            ctx.log(session, AuditAction.REVIEW_REQUESTED, actor, workspace)
    else:
        workspace.review_requested = False
        if workspace.review_status == REVIEW_PENDING:
            workspace.review_status = None


# -- create, edit, duplicate, delete --------------------------------------------------------------------------------

def create(session: Session, ctx: Context, user: User, *, name: Any, tier: Any, data_version: int | str | None,
           purpose: ResearchPurpose | Mapping[str, Any]) -> Workspace:
    """A new workspace in ``tier`` (the creator must hold it) on one of its live data versions, with the creator as
    its OWNER. The namespace is a slug of the name, unique, fixed for good."""
    problems: list[Problem] = []
    clean_name = _name(name, problems)
    try:
        chosen_tier: Tier | None = Tier(tier)
    except ValueError:
        chosen_tier = None
        problems.append(Problem("choose the workspace's data tier: " + ", ".join(t.label for t in Tier), "tier"))
    if chosen_tier is not None and not ctx.holds(user, chosen_tier):
        problems.append(Problem(f"you do not have {chosen_tier.label} access, so you cannot create a workspace there",
                                "tier"))
        chosen_tier = None
    version = _version(session, chosen_tier, data_version, problems)
    checked = _checked_purpose(purpose, problems)
    if problems:
        raise WorkspaceError(problems)
    workspace = Workspace(namespace=unique_namespace(session, clean_name), name=clean_name, tier=chosen_tier.value,
                          data_version_id=version.id, data_version=version, purpose=checked.model_dump(mode="json"), etag=1,
                          created_by=user.id, created_at=ctx.now, updated_by=user.id, updated_at=ctx.now,
                          review_requested=False)
    workspace.members.append(WorkspaceMember(user_id=user.id, role=Role.OWNER.name, added_at=ctx.now,
                                             added_by=user.id))
    session.add(workspace)
    session.flush()
    ctx.log(session, AuditAction.WORKSPACE_CREATED, user, workspace, name=clean_name, tier=workspace.tier,
            data_version=version.name)
    _sync_review(session, ctx, user, workspace, checked, purpose_changed=True)
    session.flush()
    return workspace


def _checked_purpose(purpose: Any, problems: list[Problem]) -> ResearchPurpose | None:
    if purpose is None:
        problems.append(Problem("the research purpose is required", "purpose"))
        return None
    try:
        return check_purpose(purpose)
    except WorkspaceError as exc:
        problems.extend(exc.problems)
        return None


def _purpose_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def update_workspace(session: Session, ctx: Context, user: User, namespace: str, *, etag: Any,
                     name: Any = None, purpose: ResearchPurpose | Mapping[str, Any] | None = None) -> Workspace:
    """Change the name and/or the research purpose (WRITER or OWNER) of the version ``etag``. The namespace, tier
    and data version never change here (a newer data version: duplicate)."""
    membership = require(session, namespace, user, ctx.access_of(user), Role.WRITER)
    workspace = membership.workspace
    problems: list[Problem] = []
    new_name = _name(name, problems) if name is not None else workspace.name
    checked = _checked_purpose(purpose, problems) if purpose is not None else None
    seen = parse_etag(etag)
    if seen is not None and seen != workspace.etag:
        raise StaleEtag(workspace, seen)  # a conflict is told before the input's problems: they may be moot
    if problems:
        raise WorkspaceError(problems)
    before = dict(workspace.purpose)
    after = checked.model_dump(mode="json") if checked is not None else before
    changed = (["name"] if new_name != workspace.name else []) + [f"purpose.{k}" for k in _purpose_changes(before, after)]
    if not changed:
        _check_only(workspace, etag)
        return workspace
    _claim(session, workspace, etag, user, ctx.now)
    was_name = workspace.name
    workspace.name, workspace.purpose = new_name, after
    details: dict[str, Any] = {"changed": changed}
    if new_name != was_name:
        details["name"] = {"before": was_name, "after": new_name}
    ctx.log(session, AuditAction.WORKSPACE_UPDATED, user, workspace, etag=workspace.etag, **details)
    if checked is not None:
        _sync_review(session, ctx, user, workspace, checked,
                     purpose_changed=any(c.startswith("purpose.") and c != "purpose.review_requested" for c in changed))
    session.flush()
    return workspace


def _check_only(workspace: Workspace, etag: Any) -> None:
    seen = parse_etag(etag)
    if seen is None:
        raise WorkspaceError([Problem("missing: send the workspace's etag (the version you last loaded)", "etag")])
    if seen != workspace.etag:
        raise StaleEtag(workspace, seen)


def duplicate(session: Session, ctx: Context, user: User, namespace: str, *, name: Any,
              data_version: int | str | None = None, include_collaborators: bool = False,
              purpose: ResearchPurpose | Mapping[str, Any] | None = None) -> Workspace:
    """A copy of a workspace (any member may duplicate one) under a new name, on the same or a newer data version of
    its tier (None: the tier's default, or the source's version when that is newer). The purpose is copied unless
    one is given. With ``include_collaborators`` the source's members keep their roles (those who no longer hold
    the tier are left out); the duplicator is always an OWNER. The source's resources are copied when the
    ``workspaces.resources`` module offers ``copy_all``."""
    source = require(session, namespace, user, ctx.access_of(user), Role.READER).workspace
    tier = Tier(source.tier)
    problems: list[Problem] = []
    clean_name = _name(name, problems)
    version = _version(session, tier, data_version, problems, at_least=source.data_version)
    checked = _checked_purpose(purpose if purpose is not None else source.purpose, problems)
    if problems:
        raise WorkspaceError(problems)
    target = Workspace(namespace=unique_namespace(session, clean_name), name=clean_name, tier=tier.value,
                       data_version_id=version.id, data_version=version, purpose=checked.model_dump(mode="json"), etag=1,
                       created_by=user.id, created_at=ctx.now, updated_by=user.id, updated_at=ctx.now,
                       review_requested=False)
    target.members.append(WorkspaceMember(user_id=user.id, role=Role.OWNER.name, added_at=ctx.now, added_by=user.id))
    copied, skipped = [], []
    if include_collaborators:
        others = [m for m in source.members if m.user_id != user.id]
        users = _load_users(session, [m.user_id for m in others])
        for member in others:
            person = users.get(member.user_id)
            if person is not None and ctx.holds(person, tier):
                target.members.append(WorkspaceMember(user_id=member.user_id, role=member.role, added_at=ctx.now,
                                                      added_by=user.id))
                copied.append(member.user_id)
            else:
                skipped.append(member.user_id)
    session.add(target)
    session.flush()
    resources = _copy_resources(session, source, target, user, ctx.now)
    ctx.log(session, AuditAction.WORKSPACE_DUPLICATED, user, target, source=source.namespace,
            source_id=source.id, name=clean_name, tier=tier.value, data_version=version.name,
            include_collaborators=bool(include_collaborators), collaborators=copied, left_out=skipped,
            resources_copied=resources)
    _sync_review(session, ctx, user, target, checked, purpose_changed=True)
    session.flush()
    return target


def _copy_resources(session: Session, source: Workspace, target: Workspace, user: User,
                    now: datetime) -> int | None:
    """The resources hook: ``workspaces.resources.copy_all(session, source, target, user[, now])`` when it exists;
    how many resources it copied (None when there is no such module or function). Its refusal (a
    ``ProblemsError``) refuses the duplicate: nothing is written."""
    if importlib.util.find_spec(__package__ + ".resources") is None:
        return None
    from . import resources  # type: ignore[attr-defined]

    copy_all = getattr(resources, "copy_all", None)
    if copy_all is None:
        return None
    extra = {"now": now} if "now" in inspect.signature(copy_all).parameters else {}
    answer = copy_all(session, source, target, user, **extra)
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    return len(answer) if isinstance(answer, (list, tuple)) else None


def delete(session: Session, ctx: Context, user: User, namespace: str, *, etag: Any) -> Workspace:
    """Delete a workspace (OWNER): it disappears for everyone; the row stays (``deleted_at``) and its namespace is
    never given to another workspace."""
    workspace = require(session, namespace, user, ctx.access_of(user), Role.OWNER).workspace
    _claim(session, workspace, etag, user, ctx.now)
    workspace.deleted_at = ctx.now
    ctx.log(session, AuditAction.WORKSPACE_DELETED, user, workspace, name=workspace.name, etag=workspace.etag)
    session.flush()
    return workspace


# -- sharing --------------------------------------------------------------------------------------------------------

def search_users(session: Session, ctx: Context, user: User, namespace: str, query: str) -> list[User]:
    """People an OWNER may add: an email, given name, family name or full name starting with ``query`` (at least
    two characters), holding the workspace's tier, not disabled, not already members. At most ten."""
    workspace = require(session, namespace, user, ctx.access_of(user), Role.OWNER).workspace
    words = " ".join((query or "").split()).lower()
    if len(words) < SEARCH_MIN:
        return []
    pattern = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    members = {m.user_id for m in workspace.members}
    candidates = session.scalars(
        select(User).options(selectinload(User.modules), selectinload(User.institution).selectinload(Institution.rules))
        .where(User.disabled_at.is_(None), User.email_verified_at.is_not(None),
               or_(func.lower(User.email).like(pattern, escape="\\"),
                   func.lower(User.given_name).like(pattern, escape="\\"),
                   func.lower(User.family_name).like(pattern, escape="\\"),
                   func.lower(User.given_name + " " + User.family_name).like(pattern, escape="\\")))
        .order_by(User.email).limit(SEARCH_SCANNED))
    found = []
    for person in candidates:
        if person.id not in members and ctx.holds(person, workspace.tier):
            found.append(person)
            if len(found) == SEARCH_SHOWN:
                break
    return found


ShareChange = tuple[int | str, Role | str | None]  # (user id or email, the role to give; None removes them)


REMOVE = ("", "NONE", "REMOVE")


def _role(value: Role | str | None) -> tuple[bool, Role | None]:
    """(understood, the role; None: remove)."""
    if value is None or isinstance(value, Role):
        return True, value
    text = str(value).strip().upper()
    if text in REMOVE:
        return True, None
    return (True, Role[text]) if text in Role.__members__ else (False, None)


def share(session: Session, ctx: Context, user: User, namespace: str, *, etag: Any,
          changes: Sequence[ShareChange]) -> Workspace:
    """Set collaborators' roles (OWNER only). Each change names a user (id or email) and a role, or None to remove
    them. Refused: anyone who does not hold the workspace's tier (or is disabled, or unknown: the three are not
    told apart), and a result without an OWNER. Problems name ``role.<the id or email given>``."""
    workspace = require(session, namespace, user, ctx.access_of(user), Role.OWNER).workspace
    tier = Tier(workspace.tier)
    problems: list[Problem] = []
    wanted: dict[int, Role | None] = {}
    ids = [c[0] for c in changes if isinstance(c[0], int) and not isinstance(c[0], bool)]
    emails = [c[0].strip().lower() for c in changes if isinstance(c[0], str)]
    known = _load_users(session, ids)
    if emails:
        for person in session.scalars(select(User).options(
                selectinload(User.modules), selectinload(User.institution).selectinload(Institution.rules))
                .where(func.lower(User.email).in_(emails))):
            known[person.id] = person
    by_email = {u.email.lower(): u for u in known.values()}
    current = {m.user_id: Role[m.role] for m in workspace.members}
    for key, role_value in changes:
        where = f"role.{key}"
        understood, role = _role(role_value)
        if not understood:
            problems.append(Problem("choose Reader, Writer or Owner (or remove)", where))
            continue
        person = known.get(key) if isinstance(key, int) else by_email.get(str(key).strip().lower())
        if person is None:
            if role is not None:
                problems.append(Problem(f"no registered user with {tier.label} access matches {key!r}", where))
            continue
        if role is not None and not ctx.holds(person, tier) and current.get(person.id) != role:
            problems.append(Problem(f"{person.email} does not have {tier.label} access: only people holding the "
                                    f"workspace's tier can be collaborators", where))
            continue
        wanted[person.id] = role
    after = dict(current)
    for person_id, role in wanted.items():
        if role is None:
            after.pop(person_id, None)
        else:
            after[person_id] = role
    if not any(r is Role.OWNER for r in after.values()):
        problems.append(Problem("a workspace needs at least one owner: keep or make someone an Owner", "owners"))
    seen = parse_etag(etag)
    if seen is not None and seen != workspace.etag:
        raise StaleEtag(workspace, seen)
    if problems:
        raise WorkspaceError(problems)
    diff = {i: (current.get(i), after.get(i)) for i in set(current) | set(after) if current.get(i) != after.get(i)}
    if not diff:
        _check_only(workspace, etag)
        return workspace
    _claim(session, workspace, etag, user, ctx.now)
    members = {m.user_id: m for m in workspace.members}
    for person_id, (before, role) in sorted(diff.items()):
        if role is None:
            workspace.members.remove(members[person_id])
        elif before is None:
            workspace.members.append(WorkspaceMember(user_id=person_id, role=role.name, added_at=ctx.now,
                                                     added_by=user.id))
        else:
            members[person_id].role = role.name
        ctx.log(session, AuditAction.WORKSPACE_SHARED, user, workspace, target_user_id=person_id,
                role_before=before.name if before else None, role_after=role.name if role else None,
                etag=workspace.etag)
    session.flush()
    return workspace


# -- administrators: locks and reviews ------------------------------------------------------------------------------

def _admin(user: User) -> None:
    if not user.is_admin or user.disabled_at is not None:
        raise WorkspaceForbidden("This is for administrators.")


def _admin_workspace(session: Session, namespace: str) -> Workspace:
    workspace = load_workspace(session, namespace)
    if workspace is None:
        raise WorkspaceNotFound(namespace)
    return workspace


def _text(value: Any, where: str, low: int, high: int, problems: list[Problem], what: str) -> str:
    text = str(value or "").replace("\r\n", "\n").strip()
    if len(text) < low:
        problems.append(Problem(f"give {what} ({low} to {high} characters)" if not text
                                else f"too short: at least {low} characters", where))
    elif len(text) > high:
        problems.append(Problem(f"at most {high} characters ({len(text)} given)", where))
    return text


def _admin_with_reason(session: Session, admin: User, namespace: str, reason: Any) -> tuple[Workspace, str]:
    """An administrator's action on a workspace: the workspace and the reason given (refused when missing)."""
    _admin(admin)
    workspace = _admin_workspace(session, namespace)
    problems: list[Problem] = []
    text = _text(reason, "reason", REASON_MIN, REASON_MAX, problems, "a reason")
    if problems:
        raise WorkspaceError(problems)
    return workspace, text


def lock(session: Session, ctx: Context, admin: User, namespace: str, *, reason: Any) -> Workspace:
    """An administrator locks a workspace: its members then see only its About page, with the reason."""
    workspace, text = _admin_with_reason(session, admin, namespace, reason)
    if workspace.locked_at is not None:
        raise WorkspaceConflict([Problem(f"already locked ({workspace.locked_reason})", "form")])
    workspace.locked_at, workspace.locked_reason, workspace.locked_by = ctx.now, text, admin.id
    ctx.log(session, AuditAction.WORKSPACE_LOCKED, admin, workspace, target_user_id=workspace.created_by, reason=text)
    session.flush()
    return workspace


def unlock(session: Session, ctx: Context, admin: User, namespace: str, *, reason: Any) -> Workspace:
    workspace, text = _admin_with_reason(session, admin, namespace, reason)
    if workspace.locked_at is None:
        raise WorkspaceConflict([Problem("this workspace is not locked", "form")])
    was = {"locked_at": workspace.locked_at.isoformat(), "reason": workspace.locked_reason,
           "locked_by": workspace.locked_by}
    workspace.locked_at = workspace.locked_reason = workspace.locked_by = None
    ctx.log(session, AuditAction.WORKSPACE_UNLOCKED, admin, workspace, target_user_id=workspace.created_by,
            reason=text, was=was)
    session.flush()
    return workspace


def review_queue(session: Session, *, decided: int = 50) -> tuple[list[Workspace], list[Workspace]]:
    """Reviews waiting for the Resource Access Board (oldest request first) and the latest ``decided`` ones."""
    base = select(Workspace).options(selectinload(Workspace.members), selectinload(Workspace.data_version)).where(
        Workspace.deleted_at.is_(None))
    pending = list(session.scalars(base.where(Workspace.review_status == REVIEW_PENDING)
                                   .order_by(Workspace.updated_at, Workspace.id)))
    done = list(session.scalars(base.where(Workspace.review_status.in_(list(DECISIONS)))
                                .order_by(Workspace.reviewed_at.desc(), Workspace.id.desc()).limit(decided)))
    return pending, done


def decide_review(session: Session, ctx: Context, admin: User, namespace: str, *, decision: Any,
                  note: Any) -> Workspace:
    """The Resource Access Board's decision on a pending review: ``approved`` (a note optional) or
    ``changes_requested`` (a note saying which)."""
    _admin(admin)
    workspace = _admin_workspace(session, namespace)
    problems: list[Problem] = []
    if decision not in DECISIONS:
        problems.append(Problem("choose Approved or Changes requested", "decision"))
    low = REASON_MIN if decision == REVIEW_CHANGES else 0
    text = _text(note, "note", low, NOTE_MAX, problems, "a note saying what to change")
    if problems:
        raise WorkspaceError(problems)
    if workspace.review_status != REVIEW_PENDING:
        raise WorkspaceConflict([Problem("no review is pending for this workspace", "form")])
    workspace.review_status, workspace.review_note = decision, text or None
    workspace.reviewed_by, workspace.reviewed_at = admin.id, ctx.now
    ctx.log(session, AuditAction.REVIEW_DECIDED, admin, workspace, target_user_id=workspace.created_by,
            decision=decision, note=text)
    session.flush()
    return workspace


def admin_search(session: Session, query: str, *, limit: int = 50) -> list[Workspace]:
    """Workspaces (not deleted) whose name or namespace contains ``query``, for administrators; the latest first."""
    words = " ".join((query or "").split()).lower()
    statement = select(Workspace).options(selectinload(Workspace.members), selectinload(Workspace.data_version)).where(
        Workspace.deleted_at.is_(None))
    if words:
        pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(or_(func.lower(Workspace.name).like(pattern, escape="\\"),
                                        Workspace.namespace.like(pattern, escape="\\")))
    return list(session.scalars(statement.order_by(Workspace.locked_at.is_(None), Workspace.updated_at.desc())
                                .limit(limit)))
