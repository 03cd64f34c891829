"""A workspace's resources: cohorts, concept sets, datasets, review sets and notebooks, each with a version history.

Every change is a new ``ResourceVersion`` (who, when, a note, and the whole name, description and content), and
``Resource.version`` names the current one; it is also the resource's etag: an update says which version it
changed, and one made from an older version is refused (``StaleVersion``, naming the current version) instead of
silently overwriting someone else's change. Restoring version N writes a new version whose content is N's, so the
history only ever grows. Deleting is soft (the history stays; the name is free again).

Who may do what: the caller passes the ``roles.Membership`` that ``roles.require`` gave it (READER reads; WRITER
changes; the checks here refuse a Membership whose role is too low, as a second line). Copying reads the source
(any member) and writes the target (WRITER there), and only between workspaces of the same tier, to a target on
the same or a newer data version of that tier (``CopyRefused`` says which rule, and why).

Content, validated per kind (problems are ``ResourceError``: a ``ProblemsError`` whose problems name the JSON path,
e.g. ``content.includes[0].items[0].searchParameters[0].conceptId``):

- ``cohort``: a Cohort Builder definition (``cohorts.builder.model.CohortDefinition``, the All of Us request
  shape) — what the engine reads; or an OHDSI cohort, ``{"circe": <ATLAS cohort expression>}`` (validated by
  ``cohorts.circe``; ``cohorts.members`` answers "who is in it" for both shapes).
- ``concept_set``: ``cohorts.builder.library.ConceptSet`` without its name and description (the resource's own):
  ``{"domain", "concepts": [{"conceptId", "standard"}]}``.
- ``dataset``: ``{"cohorts": [cohort ids or names], "all_participants": bool, "concept_sets": [concept set ids or
  names], "prepackaged": [names], "reviews": [review set ids or names], "values": {DOMAIN: [column, …]},
  "genome_selection": {"rsids", "genes", "regions", "variant_ids", "min_af", "max_af"}}`` (``datasets``: the column
  catalogue, the prepackaged sets, and ``genotypes``: the whole genome variants set's variants, named by identifier);
  every reference names a live resource of that kind in the workspace, and a dataset has a cohort or all participants.
- ``review_set``: ``{"cohort": a cohort's id or name, "size": 1…REVIEW_SET_MAX_SIZE, "participants": [person
  ids, at most size, no repeats]}``.
- ``notebook``: ``{"language": "python" | "r", "source": text of at most NOTEBOOK_MAX_SOURCE_BYTES}``.

Services only: the callers (the pages and the API) write the audit events (``AuditAction.RESOURCE_*``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cdr.facts import Domain
from ..cdr.problems import Problem, ProblemsError
from ..cohorts import jsonfile
from ..cohorts.builder.library import ConceptSet
from ..cohorts.builder.describe import describe
from ..cohorts.builder.model import CohortDefinition, DefinitionError, parse_definition
from ..cohorts.circe import CirceError, parse_expression
from ..cohorts.members import CIRCE_KEY, is_circe
from ..cohorts.limits import MAX_DEFINITION_BYTES, MAX_JSON_DEPTH
from ..datasets.columns import column_problems
from ..datasets.genotypes import GenomeSelection, content_problems as genome_problems
from ..datasets.prepackaged import prepackaged_problem
from ..state.models import Resource, ResourceVersion, User, Workspace
from .roles import Membership, Role, WorkspaceForbidden

KINDS: dict[str, str] = {"cohort": "Cohort", "concept_set": "Concept set", "dataset": "Dataset",
                         "review_set": "Review set", "notebook": "Notebook"}
PLURALS: dict[str, str] = {"cohort": "Cohorts", "concept_set": "Concept sets", "dataset": "Datasets",
                           "review_set": "Review sets", "notebook": "Notebooks"}

# -- limits: one name each ---------------------------------------------------------------------------------------
NAME_MAX = 80
"""Characters in a resource's name (1 to this), unique per kind among the workspace's live resources."""
DESCRIPTION_MAX = 1000
"""Characters in a resource's description."""
NOTE_MAX = 200
"""Characters in a version's note ("created", "restored version 2", "copied from …", or the writer's own)."""
MAX_CONTENT_BYTES = 2_000_000
"""Bytes of one resource's content as JSON (UTF-8), whatever the kind; the kinds' own limits are smaller."""
CONTENT_MAX_DEPTH = MAX_JSON_DEPTH
"""Nesting depth of content given as JSON text (the cohort definition's limit)."""
DATASET_MAX_COHORTS = 50
"""Cohorts one dataset draws participants from."""
DATASET_MAX_CONCEPT_SETS = 100
"""Concept sets one dataset selects data by."""
DATASET_MAX_COLUMNS = 200
"""Columns of one domain a dataset selects."""
DATASET_MAX_REVIEWS = 10
"""Review sets whose statuses and annotations one dataset adds."""
REVIEW_SET_MAX_SIZE = 10_000
"""Participants in one review set (``size`` is 1 to this, and ``participants`` at most ``size``)."""
NOTEBOOK_MAX_SOURCE_BYTES = 1_000_000
"""Bytes (UTF-8) of a notebook's source (1 MB)."""
NOTEBOOK_LANGUAGES = {"python": "Python", "r": "R"}

_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,62}")


# -- errors ------------------------------------------------------------------------------------------------------

class ResourceError(ProblemsError):
    """A name, description or content refused; each problem names its field or JSON path (``content.x[0].y``)."""

    heading = "invalid resource"


class ResourceNotFound(LookupError):
    """No live resource with that id in this workspace."""


class StaleVersion(Exception):
    """An update made from a version that is no longer the current one."""

    def __init__(self, resource: Resource, expected: int):
        self.current, self.expected = resource.version, expected
        kind = KINDS[resource.kind].lower()
        super().__init__(f"This {kind} changed since you opened it: you changed version {expected}, but the current "
                         f"version is {resource.version}. Reload version {resource.version} and make your change again.")


class CopyRefused(ProblemsError):
    """A copy that the tiers or data versions of the two workspaces do not allow."""

    heading = "cannot copy"


# -- content models ----------------------------------------------------------------------------------------------

Reference = Annotated[StrictInt | Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX)],
                      Field(description="a resource's id, or its name")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetContent(_Strict):
    cohorts: list[Reference] = Field(default_factory=list, max_length=DATASET_MAX_COHORTS)
    all_participants: bool = Field(False, description="every participant of the data version (no cohort needed)")
    concept_sets: list[Reference] = Field(default_factory=list, max_length=DATASET_MAX_CONCEPT_SETS)
    prepackaged: list[str] = Field(default_factory=list, max_length=DATASET_MAX_CONCEPT_SETS, description=(
        "prepackaged concept sets (``datasets.prepackaged``): demographics, all surveys, one survey, physical "
        "measurements"))
    reviews: list[Reference] = Field(default_factory=list, max_length=DATASET_MAX_REVIEWS, description=(
        "review sets whose statuses and annotations become columns (a table per review set)"))
    values: dict[Domain, list[str]] = Field(default_factory=dict)
    genome_selection: GenomeSelection | None = Field(None, description=(
        "the variants of the whole genome variants set (``datasets.genotypes``)"))

    @field_validator("values")
    @classmethod
    def _columns(cls, values: dict[Domain, list[str]]) -> dict[Domain, list[str]]:
        for domain, columns in values.items():
            if not columns:
                raise ValueError(f"{domain.value}: list at least one column (or leave the domain out)")
            if len(columns) > DATASET_MAX_COLUMNS:
                raise ValueError(f"{domain.value}: {len(columns)} columns, more than {DATASET_MAX_COLUMNS} "
                                 "(limit DATASET_MAX_COLUMNS)")
            for i, column in enumerate(columns):
                if not isinstance(column, str) or not _COLUMN.fullmatch(column):
                    raise ValueError(f"{domain.value}[{i}]: {column!r} is not a column name (lower-case letters, "
                                     "digits and _, starting with a letter, at most 63)")
                if columns.index(column) != i:
                    raise ValueError(f"{domain.value}[{i}]: column {column!r} is listed twice")
            problems = column_problems(domain, columns)
            if problems:
                raise ValueError(problems[0])
        return values

    @field_validator("prepackaged")
    @classmethod
    def _prepackaged(cls, names: list[str]) -> list[str]:
        for i, name in enumerate(names):
            problem = prepackaged_problem(name)
            if problem:
                raise ValueError(f"[{i}]: {problem}")
            if names.index(name) != i:
                raise ValueError(f"[{i}]: {name!r} is listed twice")
        return names

    @model_validator(mode="after")
    def _participants(self) -> DatasetContent:
        if not self.cohorts and not self.all_participants:
            raise ValueError("choose at least one cohort, or all_participants")
        return self


class ReviewSample(_Strict):
    """How a review set's participants were drawn (``workspaces.reviews``): the seed makes it reproducible."""

    method: Literal["random", "stratified"]
    stratify_by: Literal["sex_at_birth", "gender", "race", "ethnicity", "age_band"] | None = None
    seed: StrictInt = Field(ge=0, le=2**63 - 1)
    population: StrictInt = Field(ge=0)
    strata: dict[str, Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=2, max_length=2)]] = Field(
        default_factory=dict, description="stratum label → [participants in the cohort, participants drawn]")


class ReviewSetContent(_Strict):
    cohort: Reference
    size: StrictInt = Field(ge=1, le=REVIEW_SET_MAX_SIZE)
    participants: list[Annotated[StrictInt, Field(ge=1)]] = Field(default_factory=list, max_length=REVIEW_SET_MAX_SIZE)
    # The snapshot a review set drawn by Cohort Review keeps (absent from one written by hand): the cohort's version
    # and definition, and the workspace's data version, when the participants were drawn; and how they were drawn.
    cohort_version: StrictInt | None = Field(None, ge=1)
    definition: dict[str, Any] | None = None
    data_version: StrictInt | None = Field(None, ge=1)
    sample: ReviewSample | None = None


class NotebookContent(_Strict):
    language: Literal["python", "r"]
    source: StrictStr = ""


def _loc(parts: tuple) -> str:
    path = jsonfile.json_path(tuple(parts), "")
    return "content" + ("" if not path or path.startswith("[") else ".") + path


def located(definition_problems: list[str], root: str = "content") -> list[Problem]:
    """``DefinitionError`` problems (``json.path: message``) as problems under ``root`` (the field holding the
    definition: a resource's ``content``, a page's ``definition``)."""
    out = []
    for text in definition_problems:
        where, sep, message = text.partition(": ")
        if not sep:
            out.append(Problem(text, root))
            continue
        if where == "(definition)":
            where = root
        elif not where.startswith("(json)"):
            where = root + ("" if where.startswith("[") else ".") + where
        out.append(Problem(message, where))
    return out


# The limit behind a field's "too long" or "too large" refusal, named in the message.
LIMIT_NAMES = {
    ("concept_set", "concepts"): "MAX_CONCEPTS_PER_SET",
    ("dataset", "cohorts"): "DATASET_MAX_COHORTS", ("dataset", "concept_sets"): "DATASET_MAX_CONCEPT_SETS",
    ("review_set", "size"): "REVIEW_SET_MAX_SIZE", ("review_set", "participants"): "REVIEW_SET_MAX_SIZE",
}
_UNION_BRANCHES = ("int", "str", "constrained-str")
REFERENCE_MESSAGE = f"must be a resource id (a whole number) or a name (1 to {NAME_MAX} characters)"


def _pydantic_problems(kind: str, err: ValidationError) -> list[Problem]:
    """Pydantic's errors as located problems: a reference's two union branches as one problem, a limit by name."""
    out: list[Problem] = []
    for e in err.errors():
        raw = tuple(e.get("loc", ()))
        loc = tuple(p for p in raw if p not in _UNION_BRANCHES)
        message = str(e.get("msg", "")).removeprefix("Value error, ")
        if loc != raw:  # one branch of a reference's int | str union
            message = REFERENCE_MESSAGE
        elif e.get("type") in ("too_long", "less_than_equal") and (kind, loc[0] if loc else "") in LIMIT_NAMES:
            message += f" (limit {LIMIT_NAMES[(kind, loc[0])]})"
        if kind == "dataset" and loc == ("values",) and ": " in message:  # the columns validator names its place
            where, message = message.split(": ", 1)
            problem = Problem(message, "content.values." + where)
        elif kind == "dataset" and loc[:1] == ("values",) and len(loc) >= 2 and e.get("type") == "enum":
            problem = Problem(f"{loc[1]!r} is not a domain: one of {', '.join(d.value for d in Domain)}", _loc(loc[:2]))
        else:
            problem = Problem(message, _loc(loc))
        if problem not in out:
            out.append(problem)
    return out


def decode_content(text: str | bytes) -> Any:
    """Content written as JSON text (the pages' textarea), decoded strictly (``cohorts.jsonfile``): repeated keys,
    NaN and too-deep nesting are refused, each located."""
    try:
        return jsonfile.loads(text, source="content", max_bytes=MAX_CONTENT_BYTES, max_depth=CONTENT_MAX_DEPTH,
                              root="content", limit_names=("MAX_CONTENT_BYTES", "CONTENT_MAX_DEPTH"))
    except jsonfile.JsonInputError as err:
        raise ResourceError([Problem(p.message, p.where() if p.path is None else _under_content(p.path))
                             for p in err.problems]) from None


def _under_content(path: str) -> str:
    """A path ``jsonfile`` gave (``x[0].y``, or the root ``content`` itself) under ``content``."""
    return path if path == "content" else "content" + ("" if path.startswith("[") else ".") + path


def _size_problems(content: Any) -> list[Problem]:
    try:
        size = len(json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError) as err:
        return [Problem(f"not plain JSON ({err})", "content")]
    if size > MAX_CONTENT_BYTES:
        return [Problem(f"{size:,} bytes of JSON, more than the limit of {MAX_CONTENT_BYTES:,} (MAX_CONTENT_BYTES)",
                        "content")]
    return []


def _circe_content(content: dict[str, Any]) -> dict[str, Any]:
    """An OHDSI cohort: ``{"circe": <ATLAS cohort expression>}``, validated by the Circe model and kept as given (an
    ATLAS export round-trips unchanged)."""
    others = sorted(set(content) - {CIRCE_KEY})
    if others:
        raise ResourceError([Problem(f"an OHDSI cohort's content holds only \"{CIRCE_KEY}\", not {', '.join(others)}",
                                     f"content.{others[0]}")])
    try:
        parse_expression(content[CIRCE_KEY])
    except CirceError as err:
        raise ResourceError([Problem(p.message, f"content.{CIRCE_KEY}" + ("" if p.path in ("(root)", "") else
                                     ("" if p.path.startswith("[") else ".") + p.path)) for p in err.problems]) from None
    return {CIRCE_KEY: content[CIRCE_KEY]}


def validate_content(kind: str, content: Any, *, name: str = "", session: Session | None = None,
                     workspace: Workspace | None = None) -> dict[str, Any]:
    """The content of a ``kind`` resource, validated and in its stored (normalised) form; raises ResourceError.

    With ``session`` and ``workspace``, a dataset's and a review set's references must each name a live resource
    of that kind in ``workspace``.
    """
    if kind not in KINDS:
        raise ResourceError([Problem(f"unknown kind {kind!r}: one of {', '.join(KINDS)}", "kind")])
    if not isinstance(content, dict):
        raise ResourceError([Problem("must be a JSON object", "content")])
    problems = _size_problems(content)
    if problems:
        raise ResourceError(problems)
    if kind == "cohort" and is_circe(content):
        return _circe_content(content)
    if kind == "cohort":
        if len(json.dumps(content, separators=(",", ":")).encode()) > MAX_DEFINITION_BYTES:
            raise ResourceError([Problem(f"more than {MAX_DEFINITION_BYTES:,} bytes (MAX_DEFINITION_BYTES)", "content")])
        try:
            definition = parse_definition(content)
        except DefinitionError as err:
            raise ResourceError(located(err.problems)) from None
        return definition.model_dump(mode="json", exclude_none=True)
    if kind == "concept_set":
        own = [Problem(f"a concept set's {key} is the resource's own {key}: leave it out of the content", f"content.{key}")
               for key in ("name", "description") if key in content]
        if own:
            raise ResourceError(own)
        try:
            concept_set = ConceptSet.model_validate({"name": name or "unnamed", **content})
        except ValidationError as err:
            raise ResourceError(_pydantic_problems("concept_set", err)) from None
        return concept_set.model_dump(mode="json", exclude={"name", "description"})
    if kind == "notebook":
        try:
            notebook = NotebookContent.model_validate(content)
        except ValidationError as err:
            raise ResourceError(_pydantic_problems("notebook", err)) from None
        size = len(notebook.source.encode("utf-8", "surrogatepass"))
        if size > NOTEBOOK_MAX_SOURCE_BYTES:
            raise ResourceError([Problem(f"{size:,} bytes, more than the limit of {NOTEBOOK_MAX_SOURCE_BYTES:,} "
                                         "(NOTEBOOK_MAX_SOURCE_BYTES)", "content.source")])
        return notebook.model_dump(mode="json")
    if kind == "dataset":
        try:
            dataset = DatasetContent.model_validate(content)
        except ValidationError as err:
            raise ResourceError(_pydantic_problems("dataset", err)) from None
        problems = genome_problems(dataset.prepackaged, dataset.genome_selection)
        for field, ref_kind, refs in (("cohorts", "cohort", dataset.cohorts),
                                      ("concept_sets", "concept_set", dataset.concept_sets),
                                      ("reviews", "review_set", dataset.reviews)):
            seen = []
            for i, ref in enumerate(refs):
                if ref in seen:
                    problems.append(Problem(f"{ref!r} is listed twice", f"content.{field}[{i}]"))
                seen.append(ref)
                if session is not None and workspace is not None and find_reference(session, workspace, ref_kind, ref) is None:
                    problems.append(Problem(_missing(ref_kind, ref), f"content.{field}[{i}]"))
        if problems:
            raise ResourceError(problems)
        stored = dataset.model_dump(mode="json")
        # The later additions are stored only when used: a dataset's content reads as it was written.
        return {k: v for k, v in stored.items()
                if v or k not in ("all_participants", "prepackaged", "reviews", "genome_selection")}
    # review_set
    try:
        review = ReviewSetContent.model_validate(content)
    except ValidationError as err:
        raise ResourceError(_pydantic_problems("review_set", err)) from None
    problems = []
    if len(review.participants) > review.size:
        problems.append(Problem(f"{len(review.participants):,} participants, more than the set's size {review.size:,}",
                                "content.participants"))
    seen: set[int] = set()
    for i, person in enumerate(review.participants):
        if person in seen:
            problems.append(Problem(f"participant {person} is listed twice", f"content.participants[{i}]"))
        seen.add(person)
    if session is not None and workspace is not None and find_reference(session, workspace, "cohort", review.cohort) is None:
        problems.append(Problem(_missing("cohort", review.cohort), "content.cohort"))
    if problems:
        raise ResourceError(problems)
    return review.model_dump(mode="json", exclude_none=True)


def _missing(kind: str, ref: int | str) -> str:
    what = KINDS[kind].lower()
    return (f"no {what} with id {ref} in this workspace" if isinstance(ref, int)
            else f"no {what} named {ref!r} in this workspace")


def _check_name(name: str, description: str) -> list[Problem]:
    problems = []
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= NAME_MAX:
        problems.append(Problem(f"1 to {NAME_MAX} characters", "name"))
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problems.append(Problem("no control characters", "name"))
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        problems.append(Problem(f"at most {DESCRIPTION_MAX} characters", "description"))
    return problems


# -- reading -----------------------------------------------------------------------------------------------------

def live(session: Session, workspace: Workspace, kind: str | None = None) -> list[Resource]:
    """The workspace's live resources (of ``kind``), by kind then name."""
    query = select(Resource).where(Resource.workspace_id == workspace.id, Resource.deleted_at.is_(None))
    if kind is not None:
        query = query.where(Resource.kind == kind)
    order = list(KINDS)
    return sorted(session.scalars(query), key=lambda r: (order.index(r.kind) if r.kind in order else 99,
                                                          r.name.casefold(), r.id))


def get(session: Session, membership: Membership, resource_id: int, *, for_update: bool = False) -> Resource:
    """A live resource of the membership's workspace; ResourceNotFound otherwise."""
    query = select(Resource).where(Resource.id == resource_id, Resource.workspace_id == membership.workspace.id,
                                   Resource.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    resource = session.scalar(query)
    if resource is None:
        raise ResourceNotFound(f"no resource {resource_id} in workspace {membership.workspace.namespace}")
    return resource


def find_reference(session: Session, workspace: Workspace, kind: str, ref: int | str) -> Resource | None:
    """The live ``kind`` resource of ``workspace`` that ``ref`` (an id, or a name) names."""
    query = select(Resource).where(Resource.workspace_id == workspace.id, Resource.kind == kind,
                                   Resource.deleted_at.is_(None))
    if isinstance(ref, int):
        return session.scalar(query.where(Resource.id == ref))
    return session.scalar(query.where(func.lower(Resource.name) == ref.strip().lower()))


def version_of(session: Session, resource: Resource, version: int | None = None) -> ResourceVersion:
    """Version ``version`` of ``resource`` (the current one by default); ResourceNotFound when there is none."""
    number = resource.version if version is None else version
    row = session.scalar(select(ResourceVersion).where(ResourceVersion.resource_id == resource.id,
                                                       ResourceVersion.version == number))
    if row is None:
        raise ResourceNotFound(f"{KINDS[resource.kind].lower()} {resource.id} has no version {number} "
                               f"(the current version is {resource.version})")
    return row


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    name: str
    description: str
    created_at: datetime
    created_by: int
    author: str  # the writer's name and email, as the history shows them
    note: str | None
    current: bool


def history(session: Session, resource: Resource) -> list[HistoryEntry]:
    """Every version of ``resource``, newest first: who wrote it, when, and the note."""
    rows = session.execute(select(ResourceVersion, User).join(User, User.id == ResourceVersion.created_by)
                           .where(ResourceVersion.resource_id == resource.id)
                           .order_by(ResourceVersion.version.desc()))
    return [HistoryEntry(version=v.version, name=v.name, description=v.description, created_at=v.created_at,
                         created_by=v.created_by, author=f"{u.given_name} {u.family_name} ({u.email})".strip(),
                         note=v.note, current=v.version == resource.version) for v, u in rows]


# -- changing ----------------------------------------------------------------------------------------------------

def _need(membership: Membership, minimum: Role) -> None:
    if membership.role < minimum:
        raise WorkspaceForbidden(f"This needs the {minimum.label} role in the workspace; you are a "
                                 f"{membership.role.label}.", minimum)


def _lock_workspace(session: Session, workspace: Workspace) -> None:
    """Serialise changes to one workspace's resources (PostgreSQL: the row lock; SQLite: BEGIN IMMEDIATE already)."""
    session.execute(select(Workspace.id).where(Workspace.id == workspace.id).with_for_update())


def _name_taken(session: Session, workspace: Workspace, kind: str, name: str, *, other_than: int | None = None) -> bool:
    query = select(Resource.id).where(Resource.workspace_id == workspace.id, Resource.kind == kind,
                                      Resource.deleted_at.is_(None), func.lower(Resource.name) == name.lower())
    if other_than is not None:
        query = query.where(Resource.id != other_than)
    return session.scalar(query.limit(1)) is not None


def _taken_problem(kind: str, name: str) -> Problem:
    return Problem(f"this workspace already has a {KINDS[kind].lower()} named {name!r}", "name")


def _note(text: str) -> str:
    return text if len(text) <= NOTE_MAX else text[:NOTE_MAX - 1] + "…"


def _add_version(session: Session, resource: Resource, content: dict, user: User, now: datetime, note: str) -> ResourceVersion:
    row = ResourceVersion(resource_id=resource.id, version=resource.version, name=resource.name,
                          description=resource.description, content=content, created_by=user.id, created_at=now,
                          note=_note(note))
    session.add(row)
    session.flush()
    return row


def create(session: Session, membership: Membership, kind: str, name: str, description: str, content: Any,
           user: User, now: datetime) -> Resource:
    """A new resource at version 1 (note "created"); WRITER. Raises ResourceError naming each problem."""
    _need(membership, Role.WRITER)
    workspace = membership.workspace
    problems = _check_name(name, description)
    if kind not in KINDS:
        problems.append(Problem(f"unknown kind {kind!r}: one of {', '.join(KINDS)}", "kind"))
    if problems:
        raise ResourceError(problems)
    name = name.strip()
    _lock_workspace(session, workspace)
    stored = validate_content(kind, content, name=name, session=session, workspace=workspace)
    if _name_taken(session, workspace, kind, name):
        raise ResourceError([_taken_problem(kind, name)])
    resource = Resource(workspace_id=workspace.id, kind=kind, name=name, description=description, version=1,
                        created_by=user.id, created_at=now, updated_by=user.id, updated_at=now)
    session.add(resource)
    session.flush()
    _add_version(session, resource, stored, user, now, "created")
    return resource


_UNSET: Any = object()


def update(session: Session, membership: Membership, resource: Resource, *, expected_version: int, user: User,
           now: datetime, name: str | None = None, description: str | None = None, content: Any = _UNSET,
           note: str | None = None) -> bool:
    """Change the name, description and/or content (None / unset: kept) as a new version; WRITER.

    ``expected_version`` is the version the change was made from: another one raises StaleVersion. A change
    identical to the current version writes nothing (False); otherwise True, with ``resource.version`` raised.
    """
    _need(membership, Role.WRITER)
    _lock_workspace(session, membership.workspace)
    session.refresh(resource, with_for_update=True)
    if resource.deleted_at is not None:
        raise ResourceNotFound(f"resource {resource.id} was deleted")
    if expected_version != resource.version:
        raise StaleVersion(resource, expected_version)
    current = version_of(session, resource)
    new_name = current.name if name is None else name
    new_description = current.description if description is None else description
    problems = _check_name(new_name, new_description)
    if note is not None and len(note) > NOTE_MAX:
        problems.append(Problem(f"at most {NOTE_MAX} characters", "note"))
    if problems:
        raise ResourceError(problems)
    new_name = new_name.strip()
    stored = current.content if content is _UNSET or content is None else validate_content(
        resource.kind, content, name=new_name, session=session, workspace=membership.workspace)
    if _name_taken(session, membership.workspace, resource.kind, new_name, other_than=resource.id):
        raise ResourceError([_taken_problem(resource.kind, new_name)])
    if (new_name, new_description, stored) == (current.name, current.description, current.content):
        return False
    resource.name, resource.description = new_name, new_description
    resource.version += 1
    resource.updated_by, resource.updated_at = user.id, now
    _add_version(session, resource, stored, user, now, (note or "").strip() or "edited")
    return True


def _lock_current(session: Session, membership: Membership, resource: Resource, expected_version: int | None) -> None:
    """WRITER, the workspace and the resource locked, the resource live and (if said) at ``expected_version``."""
    _need(membership, Role.WRITER)
    _lock_workspace(session, membership.workspace)
    session.refresh(resource, with_for_update=True)
    if resource.deleted_at is not None:
        raise ResourceNotFound(f"resource {resource.id} was deleted")
    if expected_version is not None and expected_version != resource.version:
        raise StaleVersion(resource, expected_version)


def delete(session: Session, membership: Membership, resource: Resource, *, user: User, now: datetime,
           expected_version: int | None = None) -> None:
    """Soft-delete: gone from the workspace, its history kept, its name free again; WRITER."""
    _lock_current(session, membership, resource, expected_version)
    resource.deleted_at = now
    resource.updated_by, resource.updated_at = user.id, now


def restore(session: Session, membership: Membership, resource: Resource, version: int, *, user: User,
            now: datetime, expected_version: int | None = None) -> ResourceVersion:
    """A NEW version whose name, description and content are version ``version``'s (note "restored version N");
    WRITER. Restoring the current version is refused; so is a name another live resource of the kind now has."""
    _lock_current(session, membership, resource, expected_version)
    old = version_of(session, resource, version)
    if version == resource.version:
        raise ResourceError([Problem(f"version {version} is already the current version", "version")])
    if _name_taken(session, membership.workspace, resource.kind, old.name, other_than=resource.id):
        raise ResourceError([_taken_problem(resource.kind, old.name)])
    resource.name, resource.description = old.name, old.description
    resource.version += 1
    resource.updated_by, resource.updated_at = user.id, now
    return _add_version(session, resource, old.content, user, now, f"restored version {version}")


# -- copying -----------------------------------------------------------------------------------------------------

def copy_problems(source: Workspace, target: Workspace) -> list[Problem]:
    """Why ``source``'s resources may not go to ``target`` (empty when they may): the same tier only, and a target
    data version of that tier that is the same release or a newer one."""
    from ..accounts.modules import Tier

    if source.tier != target.tier:
        return [Problem(f"{target.name} is a {Tier(target.tier).label} workspace: resources of a "
                        f"{Tier(source.tier).label} workspace can be copied only to another "
                        f"{Tier(source.tier).label} workspace.", "target")]
    mine, theirs = source.data_version, target.data_version
    if theirs.release_number < mine.release_number:
        return [Problem(f"{target.name} uses data version {theirs.name}, older than this workspace's {mine.name}: "
                        f"resources can be copied only to a workspace on the same or a newer data version of the "
                        f"{Tier(source.tier).label}.", "target")]
    return []


def _rewrite_references(session: Session, kind: str, content: dict, source: Workspace,
                        ids: dict[int, int] | None) -> dict:
    """A dataset's or review set's references for another workspace: mapped to the copies' ids (``ids``, when the
    whole workspace is copied) or else to the referenced resources' names (resolved in the target by name)."""
    if kind not in ("dataset", "review_set"):
        return content

    def moved(ref_kind: str, ref: int | str) -> int | str:
        if not isinstance(ref, int):
            return ref
        if ids is not None and ref in ids:
            return ids[ref]
        found = session.scalar(select(Resource).where(Resource.id == ref, Resource.workspace_id == source.id))
        return found.name if found is not None else ref

    content = json.loads(json.dumps(content))
    if kind == "dataset":
        content["cohorts"] = [moved("cohort", r) for r in content.get("cohorts", [])]
        content["concept_sets"] = [moved("concept_set", r) for r in content.get("concept_sets", [])]
        if content.get("reviews"):
            content["reviews"] = [moved("review_set", r) for r in content["reviews"]]
    else:
        content["cohort"] = moved("cohort", content.get("cohort"))
    return content


def copy(session: Session, source: Membership, resource: Resource, target: Membership, *, user: User, now: datetime,
         name: str | None = None) -> Resource:
    """A new resource in ``target`` (version 1, note "copied from …") with ``resource``'s current name (or
    ``name``), description and content; READER on the source, WRITER on the target, and ``copy_problems`` none.

    A dataset's or review set's references by id become the referenced resources' names (ids are the source
    workspace's); they are not checked against the target until the copy is next changed."""
    _need(source, Role.READER)
    if target.role < Role.WRITER:
        raise WorkspaceForbidden(f"Copying into {target.workspace.name} needs the Writer role there; you are a "
                                 f"{target.role.label}.", Role.WRITER)
    if resource.workspace_id != source.workspace.id or resource.deleted_at is not None:
        raise ResourceNotFound(f"no resource {resource.id} in workspace {source.workspace.namespace}")
    problems = copy_problems(source.workspace, target.workspace)
    if problems:
        raise CopyRefused(problems)
    current = version_of(session, resource)
    new_name = current.name if name is None or not name.strip() else name
    problems = _check_name(new_name, current.description)
    if problems:
        raise ResourceError(problems)
    new_name = new_name.strip()
    _lock_workspace(session, target.workspace)
    if _name_taken(session, target.workspace, resource.kind, new_name):
        raise ResourceError([_taken_problem(resource.kind, new_name)])
    content = current.content
    if target.workspace.id != source.workspace.id:
        content = _rewrite_references(session, resource.kind, content, source.workspace, None)
    copied = Resource(workspace_id=target.workspace.id, kind=resource.kind, name=new_name,
                      description=current.description, version=1, created_by=user.id, created_at=now,
                      updated_by=user.id, updated_at=now)
    session.add(copied)
    session.flush()
    _add_version(session, copied, content, user, now,
                 f"copied from {source.workspace.name} ({source.workspace.namespace}), "
                 f"{KINDS[resource.kind].lower()} {resource.id} version {current.version}")
    return copied


def copy_all(session: Session, source_ws: Workspace, target_ws: Workspace, user: User, now: datetime) -> list[tuple[Resource, Resource]]:
    """Every live resource of ``source_ws`` into ``target_ws`` (a duplicated workspace): same names, each copy at
    version 1 noted "copied from …"; datasets' and review sets' references by id follow to the copies. The caller
    checked the roles (and audits); the tier and data-version rules are checked here too (``CopyRefused``).
    Returns (source, copy) pairs in the order copied."""
    problems = copy_problems(source_ws, target_ws)
    if problems:
        raise CopyRefused(problems)
    _lock_workspace(session, target_ws)
    resources = live(session, source_ws)
    # Referenced kinds first, so their new ids are known when the datasets and review sets are copied.
    resources.sort(key=lambda r: r.kind in ("dataset", "review_set"))
    ids: dict[int, int] = {}
    pairs = []
    for resource in resources:
        if _name_taken(session, target_ws, resource.kind, resource.name):
            raise ResourceError([_taken_problem(resource.kind, resource.name)])
        current = version_of(session, resource)
        content = _rewrite_references(session, resource.kind, current.content, source_ws, ids)
        copied = Resource(workspace_id=target_ws.id, kind=resource.kind, name=resource.name,
                          description=resource.description, version=1, created_by=user.id, created_at=now,
                          updated_by=user.id, updated_at=now)
        session.add(copied)
        session.flush()
        ids[resource.id] = copied.id
        _add_version(session, copied, content, user, now,
                     f"copied from {source_ws.name} ({source_ws.namespace}), "
                     f"{KINDS[resource.kind].lower()} {resource.id} version {current.version}")
        pairs.append((resource, copied))
    return pairs


# -- showing -----------------------------------------------------------------------------------------------------

def summary(session: Session, workspace: Workspace, kind: str, content: dict) -> list[str]:
    """The content in a few lines of text, for pages (a cohort's groups, a dataset's resolved references…)."""
    if kind == "cohort":
        return cohort_text(content)
    if kind == "concept_set":
        concepts = content.get("concepts", [])
        return [f"Domain: {content.get('domain')}", f"{len(concepts)} concept{'s' if len(concepts) != 1 else ''}: "
                + ", ".join(f"{c['conceptId']}{'' if c.get('standard', True) else ' (source)'}"
                            f"{' and descendants' if c.get('includeDescendants') else ''}" for c in concepts[:50])
                + (" …" if len(concepts) > 50 else "")]
    if kind == "dataset":
        def named(ref_kind, ref):
            found = find_reference(session, workspace, ref_kind, ref)
            return found.name if found is not None else f"{ref} (not found in this workspace)"

        lines = ["Cohorts: " + ", ".join(named("cohort", r) for r in content.get("cohorts", []))]
        sets = content.get("concept_sets", [])
        lines.append("Concept sets: " + (", ".join(named("concept_set", r) for r in sets) if sets else "none"))
        for domain, columns in content.get("values", {}).items():
            lines.append(f"{domain} values: {', '.join(columns)}")
        return lines
    if kind == "review_set":
        found = find_reference(session, workspace, "cohort", content.get("cohort"))
        cohort = found.name if found is not None else f"{content.get('cohort')} (not found in this workspace)"
        return [f"Cohort: {cohort}", f"Size: {content.get('size'):,}",
                f"Participants chosen: {len(content.get('participants', [])):,}"]
    if kind == "notebook":
        source = content.get("source", "")
        return [f"Language: {NOTEBOOK_LANGUAGES.get(content.get('language'), content.get('language'))}",
                f"{len(source.encode('utf-8', 'surrogatepass')):,} bytes, {source.count(chr(10)) + (1 if source else 0):,} lines"]
    return []


def cohort_text(content: dict) -> list[str]:
    """A cohort as readable lines: the Cohort Builder's sentence (``cohorts.builder.describe``), or an OHDSI cohort's
    outline."""
    if is_circe(content):
        circe = content[CIRCE_KEY]
        rules = [r.get("name") or f"rule {i + 1}" for i, r in enumerate(circe.get("InclusionRules") or [])]
        return ["OHDSI (ATLAS) cohort definition", f"{len(circe.get('ConceptSets') or [])} concept sets",
                f"{len(rules)} inclusion rules" + (": " + "; ".join(rules) if rules else "")]
    try:
        definition = CohortDefinition.model_validate(content)
    except ValidationError:
        return ["(this definition no longer validates; see its JSON)"]
    return [describe(definition)]