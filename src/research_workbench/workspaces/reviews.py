"""Cohort Review: review sets drawn from a saved cohort, participants' statuses, annotation fields and their values,
the participant table and the export of what the reviewers recorded.

A review set IS a ``review_set`` resource (``resources``: version history, copy, delete). Its content is the
snapshot taken when it was drawn — ``{"cohort": id, "size", "participants": [person ids, ascending],
"cohort_version", "definition" (the cohort's definition then), "data_version" (the workspace's data version id
then), "sample": {"method", "stratify_by", "seed", "population", "strata"}}`` — so it says which participants
are reviewed and why, whatever happens to the cohort later. "Changed since" (``changes``) compares it with the
cohort's current version and the workspace's current data version. What reviewers record hangs off the resource's
id in tables of its own (``ReviewStatus``, ``ReviewAnnotationField``, ``ReviewAnnotationValue``).

Sampling is reproducible without depending on any random-number generator's algorithm: each person gets the key
``splitmix64(person_id + seed · φ)`` (a bijection of 64-bit integers, so keys never tie) and a random sample of k is
the k smallest keys. A stratified sample allocates the size to the strata in proportion to their share of the
cohort (largest remainders; ties to the larger stratum, then the label), then takes each stratum's smallest keys.
The seed is recorded, so the same cohort, data and seed draw the same participants.

Who may do what (All of Us's rule): a Reader sees the review, its participants and their data, and exports; a
Writer also draws review sets, sets statuses, defines annotation fields and records values. Callers write the
audit events (every view of participant-level data, ``AuditLog.record_participant_access``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..cdr.facts import AGE_BANDS, UNKNOWN_AGE
from ..cdr.problems import Problem, ProblemsError
from ..cohorts.builder.model import CohortDefinition, DefinitionError, parse_definition
from ..cohorts.members import is_circe
from ..cohorts.participant import Person
from ..state.models import Resource, ReviewAnnotationField, ReviewAnnotationValue, ReviewStatus, User, Workspace
from . import resources as res
from .roles import Membership, Role

MAX_SIZE = res.REVIEW_SET_MAX_SIZE
"""The largest review set (10,000 as in All of Us); a deployment may set a smaller one (``max_size``)."""
STATUSES: dict[str, str] = {"included": "Included", "excluded": "Excluded", "needs_review": "Needs further review"}
UNREVIEWED = "unreviewed"
STATUS_LABELS: dict[str, str] = {**STATUSES, UNREVIEWED: "Not reviewed"}
METHODS = {"random": "Random sample", "stratified": "Stratified sample (proportional)"}
# What a sample may be stratified by (``ParticipantReader.strata`` reads the labels): label for pages.
STRATIFY_BY: dict[str, tuple[str]] = {
    "sex_at_birth": ("Sex at birth",), "gender": ("Gender",), "race": ("Race",), "ethnicity": ("Ethnicity",),
    "age_band": ("Age band at the data's cut-off",),
}
FIELD_KINDS: dict[str, str] = {"text": "Free text", "list": "List (choose one)", "date": "Date", "yes_no": "Yes/no",
                               "number": "Number"}
MAX_FIELDS = 50
"""Annotation fields of one review set."""
MAX_OPTIONS = 50
"""Options of one list field."""
OPTION_MAX = 80
"""Characters in one option."""
TEXT_MAX = 2000
"""Characters in one free-text value."""
RESERVED_NAMES = {"person_id", "status"}  # the export's own columns
SEED_MAX = 2**63 - 1
PAGE_SIZE = 25


class ReviewError(ProblemsError):
    """A review set, status, field or value refused; each problem names its field."""

    heading = "invalid review"


class NotAReview(LookupError):
    """The resource is not a live review set of the workspace."""


# -- sampling ------------------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def sample_keys(person_ids: np.ndarray, seed: int) -> np.ndarray:
    """Each person's sampling key: splitmix64(person_id + seed · φ), all arithmetic modulo 2⁶⁴."""
    with np.errstate(over="ignore"):
        z = person_ids.astype(np.uint64) + np.uint64(seed % 2**64) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _smallest(person_ids: np.ndarray, seed: int, k: int) -> np.ndarray:
    if k >= len(person_ids):
        return person_ids
    keys = sample_keys(person_ids, seed)
    return person_ids[np.argsort(keys, kind="stable")[:k]]


def allocate(strata: dict[str, int], size: int) -> dict[str, int]:
    """``size`` shared among strata in proportion to their populations (largest remainders; a tie goes to the
    larger stratum, then the first label); never more than a stratum holds."""
    total = sum(strata.values())
    if size >= total:
        return dict(strata)
    quotas = {label: size * n / total for label, n in strata.items()}
    shares = {label: math.floor(q) for label, q in quotas.items()}
    left = size - sum(shares.values())
    order = sorted(strata, key=lambda label: (-(quotas[label] - shares[label]), -strata[label], label))
    for label in order[:left]:
        shares[label] += 1
    return shares


@dataclass(frozen=True)
class Sample:
    participants: list[int]  # ascending
    population: int
    strata: dict[str, list[int]]  # label → [in the cohort, sampled]


def draw(population: Sequence[int] | np.ndarray, size: int, seed: int,
         strata_of: dict[int, str] | None = None) -> Sample:
    """A random sample of ``size`` of ``population`` (person ids), or a proportional stratified one when
    ``strata_of`` gives each person's stratum label (persons it does not list are in ``unknown``)."""
    ids = np.unique(np.asarray(population, dtype=np.int64))
    if strata_of is None:
        chosen = _smallest(ids, seed, size)
        return Sample(sorted(int(i) for i in chosen), len(ids), {})
    labels = np.array([strata_of.get(int(i), UNKNOWN_AGE) for i in ids], dtype=object)
    counts = {label: int((labels == label).sum()) for label in sorted(set(labels))}
    shares = allocate(counts, size)
    chosen_parts = [_smallest(ids[labels == label], seed, shares[label]) for label in counts]
    chosen = np.concatenate(chosen_parts) if chosen_parts else np.array([], dtype=np.int64)
    return Sample(sorted(int(i) for i in chosen), len(ids), {label: [counts[label], shares[label]] for label in counts})


AGE_BAND_ORDER = [label for label, _, _ in AGE_BANDS] + [UNKNOWN_AGE]


# -- creating ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrawRequest:
    """What a Writer asks for; ``seed`` None draws a new one (recorded in the set)."""

    cohort_id: int
    name: str
    description: str = ""
    size: int = 100
    method: str = "random"
    stratify_by: str | None = None
    seed: int | None = None


def check_request(request: DrawRequest, max_size: int = MAX_SIZE) -> list[Problem]:
    problems = []
    limit = min(max_size, MAX_SIZE)
    if isinstance(request.size, bool) or not isinstance(request.size, int) or not 1 <= request.size <= limit:
        problems.append(Problem(f"a whole number from 1 to {limit:,}", "size"))
    if request.method not in METHODS:
        problems.append(Problem(f"one of {', '.join(METHODS)}", "method"))
    elif request.method == "stratified" and request.stratify_by not in STRATIFY_BY:
        problems.append(Problem(f"choose what to stratify by: one of {', '.join(STRATIFY_BY)}", "stratify_by"))
    elif request.method == "random" and request.stratify_by:
        problems.append(Problem("a random sample is not stratified: choose the stratified method, or no stratum",
                                "stratify_by"))
    if request.seed is not None and (isinstance(request.seed, bool) or not 0 <= request.seed <= SEED_MAX):
        problems.append(Problem(f"a whole number from 0 to {SEED_MAX}", "seed"))
    if "/" in request.name:
        problems.append(Problem("no slash (/) in a review set's name", "name"))
    return problems


def cohort_content(session: Session, workspace: Workspace, cohort_id: int) -> tuple[Resource, dict]:
    """The live cohort ``cohort_id`` of ``workspace`` and its current content (a Cohort Builder definition or an
    OHDSI one, ``cohorts.members``); ReviewError if there is none."""
    cohort = res.find_reference(session, workspace, "cohort", cohort_id)
    if cohort is None:
        raise ReviewError([Problem(f"no cohort with id {cohort_id} in this workspace", "cohort")])
    return cohort, res.version_of(session, cohort).content


def builder_definition(content: dict | None) -> CohortDefinition | None:
    """The snapshot's Cohort Builder definition, or None (an OHDSI cohort, or a set written by hand)."""
    if not content or is_circe(content):
        return None
    try:
        return parse_definition(content)
    except DefinitionError:
        return None


def create_review(session: Session, membership: Membership, request: DrawRequest, *, population: Iterable[int],
                  strata_of: dict[int, str] | None, user: User, now: dt.datetime,
                  max_size: int = MAX_SIZE) -> Resource:
    """A new review set (a ``review_set`` resource at version 1) drawn from the cohort's ``population`` (its
    participants, as ``cohorts.members`` gives them on the workspace's data version); ``strata_of`` gives each one's
    stratum label (``ParticipantReader.strata``), needed for a stratified sample. WRITER. Raises ReviewError (or
    ``resources.ResourceError``)."""
    problems = check_request(request, max_size)
    if problems:
        raise ReviewError(problems)
    workspace = membership.workspace
    cohort, content = cohort_content(session, workspace, request.cohort_id)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
    if request.method == "stratified" and strata_of is None:
        raise ValueError("a stratified sample needs each person's stratum (strata_of)")
    sample = draw(list(population), request.size, seed, strata_of if request.method == "stratified" else None)
    if not sample.participants:
        raise ReviewError([Problem("the cohort has no participants in this workspace's data version", "cohort")])
    snapshot = {
        "cohort": cohort.id, "size": request.size, "participants": sample.participants,
        "cohort_version": cohort.version, "definition": content, "data_version": workspace.data_version_id,
        "sample": {"method": request.method, "stratify_by": request.stratify_by, "seed": seed,
                   "population": sample.population, "strata": sample.strata},
    }
    return res.create(session, membership, "review_set", request.name, request.description, snapshot, user, now)


# -- reading -------------------------------------------------------------------------------------------------------

def review_of(session: Session, membership: Membership, resource_id: int) -> tuple[Resource, dict]:
    """The live review set ``resource_id`` of the workspace and its current content; NotAReview otherwise."""
    try:
        resource = res.get(session, membership, resource_id)
    except res.ResourceNotFound:
        raise NotAReview(f"no review set {resource_id} in workspace {membership.workspace.namespace}") from None
    if resource.kind != "review_set":
        raise NotAReview(f"resource {resource_id} is a {res.KINDS[resource.kind].lower()}, not a review set")
    return resource, res.version_of(session, resource).content


def changes(session: Session, workspace: Workspace, content: dict) -> list[str]:
    """Why the review set's snapshot no longer matches (empty: it still does): the cohort's current version, or
    the workspace's data version, differs from the snapshot's; or the cohort is gone."""
    out = []
    cohort = res.find_reference(session, workspace, "cohort", content.get("cohort"))
    if cohort is None:
        out.append("The cohort this review set was drawn from is no longer in the workspace.")
    elif "cohort_version" in content and cohort.version != content["cohort_version"]:
        same = res.version_of(session, cohort).content == content.get("definition")
        out.append(f"Cohort “{cohort.name}” is at version {cohort.version}; this review set was drawn from version "
                   f"{content['cohort_version']}" + (" (its definition is unchanged)." if same else
                                                       ", and its definition has changed since."))
    if "data_version" in content and workspace.data_version_id != content["data_version"]:
        out.append(f"The workspace now uses data version {workspace.data_version.name}; this review set was drawn "
                   "on another data version.")
    return out


def participants(content: dict) -> list[int]:
    return list(content.get("participants", []))


def statuses(session: Session, review: Resource) -> dict[int, str]:
    rows = session.execute(select(ReviewStatus.person_id, ReviewStatus.status).where(ReviewStatus.resource_id == review.id))
    return {pid: status for pid, status in rows}


def progress(session: Session, review: Resource, content: dict) -> dict[str, int]:
    """Participants per status (every status listed, ``unreviewed`` included)."""
    listed = participants(content)
    known = statuses(session, review)
    counts = {key: 0 for key in STATUS_LABELS}
    for pid in listed:
        counts[known.get(pid, UNREVIEWED)] += 1
    return counts


def neighbours(content: dict, person_id: int) -> tuple[int | None, int | None, int]:
    """(previous, next, position from 1) of ``person_id`` in the review's order."""
    listed = participants(content)
    i = listed.index(person_id)
    return (listed[i - 1] if i > 0 else None, listed[i + 1] if i + 1 < len(listed) else None, i + 1)


def require_participant(content: dict, person_id: int) -> None:
    if person_id not in set(participants(content)):
        raise NotAReview(f"participant {person_id} is not in this review set")


# -- the participant table -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableFilters:
    """A filter per column of the participant table (empty: any)."""

    person_id: str = ""
    birth_year: str = ""
    age_band: str = ""
    deceased: str = ""  # "yes" / "no"
    sex_at_birth: str = ""
    gender: str = ""
    race: str = ""
    ethnicity: str = ""
    status: str = ""

    def problems(self) -> list[Problem]:
        out = []
        if self.person_id and not self.person_id.isdigit():
            out.append(Problem("a participant id is a whole number", "person_id"))
        if self.birth_year and not (self.birth_year.isdigit() and len(self.birth_year) == 4):
            out.append(Problem("a year of four digits", "birth_year"))
        if self.deceased not in ("", "yes", "no"):
            out.append(Problem("yes or no", "deceased"))
        if self.status and self.status not in STATUS_LABELS:
            out.append(Problem(f"one of {', '.join(STATUS_LABELS)}", "status"))
        return out

    def active(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class TableRow:
    position: int
    person_id: int
    person: Person | None
    status: str


@dataclass(frozen=True)
class TablePage:
    rows: list[TableRow]
    total: int  # rows the filters keep
    page: int
    pages: int
    choices: dict[str, list[str]]  # the values each filterable column takes in the whole review set


def table_page(session: Session, review: Resource, content: dict, persons: dict[int, Person],
               filters: TableFilters, page: int = 1, page_size: int = PAGE_SIZE) -> TablePage:
    """One page of the participant table: the review's participants in its order, with demographics and status,
    those every filter keeps."""
    problems = filters.problems()
    if problems:
        raise ReviewError(problems)
    known = statuses(session, review)
    rows = [TableRow(i + 1, pid, persons.get(pid), known.get(pid, UNREVIEWED)) for i, pid in enumerate(participants(content))]
    choices = {
        "sex_at_birth": sorted({r.person.sex_at_birth.name for r in rows if r.person}),
        "gender": sorted({r.person.gender.name for r in rows if r.person}),
        "race": sorted({r.person.race.name for r in rows if r.person}),
        "ethnicity": sorted({r.person.ethnicity.name for r in rows if r.person}),
        "age_band": [b for b in AGE_BAND_ORDER if any(r.person and r.person.age_band == b for r in rows)],
    }
    kept = [r for r in rows if _keeps(r, filters)]
    pages = max(1, math.ceil(len(kept) / page_size))
    page = min(max(1, page), pages)
    return TablePage(kept[(page - 1) * page_size:page * page_size], len(kept), page, pages, choices)


def _keeps(row: TableRow, f: TableFilters) -> bool:
    p = row.person
    if f.person_id and str(row.person_id) != f.person_id or f.status and row.status != f.status:
        return False
    demographic = (f.birth_year, f.age_band, f.deceased, f.sex_at_birth, f.gender, f.race, f.ethnicity)
    if not any(demographic):
        return True
    if p is None:
        return False
    return ((not f.birth_year or (p.birth_date is not None and str(p.birth_date.year) == f.birth_year))
            and (not f.age_band or p.age_band == f.age_band)
            and (not f.deceased or p.deceased == (f.deceased == "yes"))
            and (not f.sex_at_birth or p.sex_at_birth.name == f.sex_at_birth)
            and (not f.gender or p.gender.name == f.gender)
            and (not f.race or p.race.name == f.race)
            and (not f.ethnicity or p.ethnicity.name == f.ethnicity))


# -- statuses ------------------------------------------------------------------------------------------------------

def _need_writer(membership: Membership) -> None:
    res._need(membership, Role.WRITER)


def set_status(session: Session, membership: Membership, review: Resource, content: dict, person_id: int,
               status: str | None, *, user: User, now: dt.datetime) -> None:
    """Set (or with None / ``unreviewed``, clear) a participant's status; WRITER."""
    _need_writer(membership)
    require_participant(content, person_id)
    if status in (None, "", UNREVIEWED):
        session.execute(delete(ReviewStatus).where(ReviewStatus.resource_id == review.id,
                                                   ReviewStatus.person_id == person_id))
        return
    if status not in STATUSES:
        raise ReviewError([Problem(f"{status!r} is not a status: one of {', '.join(STATUSES)}", "status")])
    row = session.get(ReviewStatus, (review.id, person_id))
    if row is None:
        session.add(ReviewStatus(resource_id=review.id, person_id=person_id, status=status, updated_by=user.id,
                                 updated_at=now))
    else:
        row.status, row.updated_by, row.updated_at = status, user.id, now
    session.flush()


# -- annotation fields ---------------------------------------------------------------------------------------------

def fields_of(session: Session, review: Resource) -> list[ReviewAnnotationField]:
    return list(session.scalars(select(ReviewAnnotationField).where(ReviewAnnotationField.resource_id == review.id)
                                .order_by(ReviewAnnotationField.position, ReviewAnnotationField.id)))


def _field_problems(session: Session, review: Resource, name: str, kind: str, options: list[str]) -> list[Problem]:
    problems = []
    clean = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(clean) <= res.NAME_MAX:
        problems.append(Problem(f"1 to {res.NAME_MAX} characters", "field_name"))
    elif any(ord(c) < 32 or ord(c) == 127 for c in clean):
        problems.append(Problem("no control characters", "field_name"))
    elif clean.lower() in RESERVED_NAMES:
        problems.append(Problem(f"{clean!r} is a column of the export already: choose another name", "field_name"))
    elif session.scalar(select(ReviewAnnotationField.id).where(
            ReviewAnnotationField.resource_id == review.id,
            func.lower(ReviewAnnotationField.name) == clean.lower())) is not None:
        problems.append(Problem(f"this review set already has a field named {clean!r}", "field_name"))
    if kind not in FIELD_KINDS:
        problems.append(Problem(f"one of {', '.join(FIELD_KINDS)}", "field_kind"))
    elif kind == "list":
        if not options:
            problems.append(Problem("a list field needs at least one option (one per line)", "field_options"))
        elif len(options) > MAX_OPTIONS:
            problems.append(Problem(f"{len(options)} options, more than {MAX_OPTIONS} (MAX_OPTIONS)", "field_options"))
        for i, option in enumerate(options):
            if len(option) > OPTION_MAX:
                problems.append(Problem(f"option {i + 1} is longer than {OPTION_MAX} characters", "field_options"))
            elif option in options[:i]:
                problems.append(Problem(f"option {option!r} is listed twice", "field_options"))
    elif options:
        problems.append(Problem(f"only a list field has options; a {FIELD_KINDS[kind].lower()} field has none",
                                "field_options"))
    return problems


def add_field(session: Session, membership: Membership, review: Resource, name: str, kind: str,
              options: Sequence[str] = (), *, user: User, now: dt.datetime) -> ReviewAnnotationField:
    """A new annotation field at the end; WRITER. ReviewError names the form field (``field_name``,
    ``field_kind``, ``field_options``)."""
    _need_writer(membership)
    options = [o.strip() for o in options if o.strip()]
    problems = _field_problems(session, review, name, kind, options)
    existing = fields_of(session, review)
    if len(existing) >= MAX_FIELDS:
        problems.append(Problem(f"a review set has at most {MAX_FIELDS} annotation fields (MAX_FIELDS)", "field_name"))
    if problems:
        raise ReviewError(problems)
    row = ReviewAnnotationField(resource_id=review.id, position=(existing[-1].position + 1 if existing else 1),
                                name=name.strip(), kind=kind, options=options, created_by=user.id, created_at=now)
    session.add(row)
    session.flush()
    return row


def delete_field(session: Session, membership: Membership, review: Resource, field_id: int) -> ReviewAnnotationField:
    """Delete an annotation field and every value of it; WRITER."""
    _need_writer(membership)
    row = session.scalar(select(ReviewAnnotationField).where(ReviewAnnotationField.id == field_id,
                                                             ReviewAnnotationField.resource_id == review.id))
    if row is None:
        raise NotAReview(f"no annotation field {field_id} in this review set")
    session.execute(delete(ReviewAnnotationValue).where(ReviewAnnotationValue.field_id == row.id))
    session.delete(row)
    session.flush()
    return row


def copy_fields(session: Session, membership: Membership, review: Resource, source: Resource, *, user: User,
                now: dt.datetime) -> tuple[list[str], list[str]]:
    """The annotation fields of another review set of the workspace (``source``) added to ``review``, in order:
    (names copied, names skipped because ``review`` has a field of that name already). WRITER."""
    _need_writer(membership)
    if source.id == review.id:
        raise ReviewError([Problem("choose another review set to copy the fields from", "source")])
    have = {f.name.lower() for f in fields_of(session, review)}
    copied, skipped = [], []
    for f in fields_of(session, source):
        if f.name.lower() in have:
            skipped.append(f.name)
            continue
        add_field(session, membership, review, f.name, f.kind, list(f.options), user=user, now=now)
        copied.append(f.name)
    return copied, skipped


# -- annotation values ---------------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
YES, NO = ("yes", "true", "y", "1"), ("no", "false", "n", "0")


def canonical_value(f: ReviewAnnotationField, raw: str) -> str | None:
    """A value typed for field ``f`` in its stored form (None: empty, the value is removed); ValueError with the
    reason when it does not fit the field."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None
    if f.kind == "text":
        if len(text) > TEXT_MAX:
            raise ValueError(f"at most {TEXT_MAX} characters (this has {len(text)})")
        if any(ord(c) < 32 and c not in "\n\t\r" for c in text):
            raise ValueError("no control characters")
        return text
    if f.kind == "list":
        if text not in f.options:
            raise ValueError(f"{text!r} is not one of its options: {', '.join(f.options)}")
        return text
    if f.kind == "date":
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if f.kind == "yes_no":
        if text.lower() in YES:
            return "yes"
        if text.lower() in NO:
            return "no"
        raise ValueError(f"{text!r} is not yes or no")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        raise ValueError(f"{text!r} is not a finite number below 10^15 in size")
    normal = format(number.normalize(), "f")
    return normal if "." not in normal else normal.rstrip("0").rstrip(".")


def set_annotations(session: Session, membership: Membership, review: Resource, content: dict, person_id: int,
                    values: dict[int, str], *, user: User, now: dt.datetime) -> None:
    """Record a participant's values (field id → typed text; empty removes the value); WRITER. Every value is
    checked first: one that does not fit refuses them all (ReviewError, each problem at ``annotation-<field id>``
    with the field's name in its message)."""
    _need_writer(membership)
    require_participant(content, person_id)
    by_id = {f.id: f for f in fields_of(session, review)}
    problems, clean = [], {}
    for field_id, raw in values.items():
        f = by_id.get(field_id)
        if f is None:
            problems.append(Problem(f"no annotation field {field_id} in this review set", f"annotation-{field_id}"))
            continue
        try:
            clean[field_id] = canonical_value(f, raw)
        except ValueError as err:
            problems.append(Problem(f"{f.name}: {err}", f"annotation-{field_id}"))
    if problems:
        raise ReviewError(problems)
    for field_id, value in clean.items():
        row = session.get(ReviewAnnotationValue, (field_id, person_id))
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(ReviewAnnotationValue(field_id=field_id, person_id=person_id, value=value, updated_by=user.id,
                                              updated_at=now))
        elif row.value != value:
            row.value, row.updated_by, row.updated_at = value, user.id, now
    session.flush()


def annotations(session: Session, review: Resource, person_ids: Iterable[int] | None = None) -> dict[int, dict[int, str]]:
    """person → field id → stored value (of ``person_ids``, or everyone)."""
    query = (select(ReviewAnnotationValue.person_id, ReviewAnnotationValue.field_id, ReviewAnnotationValue.value)
             .join(ReviewAnnotationField, ReviewAnnotationField.id == ReviewAnnotationValue.field_id)
             .where(ReviewAnnotationField.resource_id == review.id))
    if person_ids is not None:
        query = query.where(ReviewAnnotationValue.person_id.in_(list(person_ids)))
    out: dict[int, dict[int, str]] = {}
    for pid, field_id, value in session.execute(query):
        out.setdefault(pid, {})[field_id] = value
    return out


# -- export --------------------------------------------------------------------------------------------------------

ARROW_TYPES = {"text": pa.string(), "list": pa.string(), "date": pa.date32(), "yes_no": pa.bool_(), "number": pa.float64()}


def _typed(kind: str, value: str | None) -> Any:
    if value is None:
        return None
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "yes_no":
        return value == "yes"
    if kind == "number":
        return float(value)
    return value


def export_table(session: Session, review: Resource, content: dict) -> pa.Table:
    """What the reviewers recorded, a row per participant of the set in its order: ``person_id`` (int64),
    ``status`` (included, excluded, needs_review or unreviewed), then a column per annotation field named as the
    field, typed by its kind (text and list: string; date: date32; yes/no: bool; number: float64), null where no
    value was recorded. The Dataset Builder joins it on ``person_id``."""
    listed = participants(content)
    known = statuses(session, review)
    fields = fields_of(session, review)
    values = annotations(session, review)
    columns: dict[str, pa.Array] = {
        "person_id": pa.array(listed, pa.int64()),
        "status": pa.array([known.get(pid, UNREVIEWED) for pid in listed], pa.string()),
    }
    for f in fields:
        columns[f.name] = pa.array([_typed(f.kind, values.get(pid, {}).get(f.id)) for pid in listed], ARROW_TYPES[f.kind])
    return pa.table(columns)


def export_csv(table: pa.Table) -> str:
    """The export as CSV: a header of the column names, dates as YYYY-MM-DD, yes/no as true/false, numbers in
    their shortest form, empty where null."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([_cell(v) for v in row.values()])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    return str(value)


def export_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()
