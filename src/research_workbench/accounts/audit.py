"""The audit log: append-only, hash-chained with HMAC-SHA256, verifiable, with exportable checkpoints.

Every sign-in, failure, MFA change, module completion, bypass, tier change and admin action is written here by the
service doing it, inside that service's own transaction (so the event and the change it records commit or roll back
together), and so is every touch of participant-level data (``AuditLog.record_participant_access``).

How it resists tampering, layer by layer:

- **Append-only.** The first migration puts triggers on ``audit_events`` that refuse UPDATE and DELETE (and
  TRUNCATE on PostgreSQL). The application never needs either; rewriting history takes dropping the triggers,
  which takes a database administrator.
- **A chain.** Row ``n`` carries ``prev_hash`` (row ``n-1``'s hash; 64 zeros for row 1) and
  ``hash = HMAC-SHA256(key, prev_hash ‖ canonical JSON of the row)``, where ``prev_hash`` is its 64 lower-case
  hex characters in ASCII and the canonical JSON is ``{seq, at, action, actor_id, target_user_id, ip, details}``
  with sorted keys, no spaces, UTF-8 (``at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``). ``seq`` runs 1, 2, 3… without
  gaps. Changing a row breaks its hash; deleting one leaves a gap in ``seq`` and breaks the next row's link;
  inserting or re-ordering breaks the links.
- **HMAC, not a plain hash.** With SHA-256 alone, whoever can write to the database could change a row and
  recompute every hash after it, and the chain would verify. The HMAC key is derived from the Workbench's master
  secret (``Keys.audit``), which lives outside the database: an attacker with database write access but not the
  key cannot produce a chain that verifies.
- **Checkpoints.** One thing a chain cannot show by itself is rows cut from its *end*: a shorter chain is still a
  valid chain. Nor can it catch someone who holds the key and re-chains a rewrite. An exported checkpoint
  (``{"seq", "hash", "at", "rows"}`` of the head, kept off the server) pins the row at ``seq`` to that ``hash``:
  ``verify(checkpoints=[...])`` then names the missing tail, or the rewritten row.

Concurrent appends never fork the chain: ``append`` takes the chain's lock before reading the head (PostgreSQL: a
transaction-level advisory lock; SQLite: the write lock every ``Database`` transaction takes at BEGIN IMMEDIATE),
and ``seq`` is the primary key, so even a caller that bypassed the lock would fail on a duplicate ``seq`` rather
than write a second row 7.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from ..cdr.problems import Problem, ProblemsError
from ..state.db import Database
from ..state.models import AuditEvent
from .clock import utcnow
from .modules import Tier

GENESIS = "0" * 64  # row 1's prev_hash

# The PostgreSQL advisory lock serialising appends: the first 8 bytes of SHA-256("research_workbench.audit_events")
# as a signed 64-bit integer. It is database-wide, so two deployments sharing one database (in two schemas) queue
# their appends behind each other's; each append holds it for one INSERT, so that costs nothing noticeable.
LOCK_ID = int.from_bytes(hashlib.sha256(b"research_workbench.audit_events").digest()[:8], "big", signed=True)

# record_participant_access lists at most this many person ids (with the full count and a digest of them all).
PERSON_IDS_LISTED = 100

VERIFY_BATCH = 5000
_HEX64 = re.compile(r"[0-9a-f]{64}")


class AuditAction(StrEnum):
    """Every kind of event the log holds. The value is what the ``action`` column stores."""

    # account
    SIGNUP = "signup"
    EMAIL_VERIFIED = "email_verified"
    TERMS_ACCEPTED = "terms_accepted"
    PROFILE_UPDATED = "profile_updated"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET = "password_reset"
    # signing in
    SIGNIN = "signin"
    SIGNIN_FAILED = "signin_failed"
    SIGNOUT = "signout"
    LOCKED_OUT = "locked_out"
    SESSION_REVOKED = "session_revoked"
    OIDC_LINKED = "oidc_linked"
    OIDC_UNLINKED = "oidc_unlinked"
    # two-step verification
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    MFA_FAILED = "mfa_failed"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    # access modules and tiers
    IDENTITY_VERIFIED = "identity_verified"
    IDENTITY_FAILED = "identity_failed"
    MODULE_COMPLETED = "module_completed"
    QUIZ_FAILED = "quiz_failed"
    DUCC_SIGNED = "ducc_signed"
    RENEWAL_CONFIRMED = "renewal_confirmed"
    TIER_GRANTED = "tier_granted"
    TIER_LOST = "tier_lost"
    # administration
    BYPASS_SET = "bypass_set"
    BYPASS_REMOVED = "bypass_removed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    REVERIFY_FORCED = "reverify_forced"
    ADMIN_GRANTED = "admin_granted"
    ADMIN_REVOKED = "admin_revoked"
    INSTITUTION_CREATED = "institution_created"
    INSTITUTION_UPDATED = "institution_updated"
    INSTITUTION_REQUESTED = "institution_requested"
    INSTITUTION_REQUEST_HANDLED = "institution_request_handled"
    # API tokens
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_USED_DENIED = "token_used_denied"
    # workspaces: create, edit, duplicate, delete, share, lock, and the Resource Access Board's reviews (issue 13)
    WORKSPACE_CREATED = "workspace_created"
    WORKSPACE_UPDATED = "workspace_updated"
    WORKSPACE_DUPLICATED = "workspace_duplicated"
    WORKSPACE_DELETED = "workspace_deleted"
    WORKSPACE_SHARED = "workspace_shared"
    WORKSPACE_LOCKED = "workspace_locked"
    WORKSPACE_UNLOCKED = "workspace_unlocked"
    REVIEW_REQUESTED = "review_requested"
    REVIEW_DECIDED = "review_decided"
    # data and the log itself
    PARTICIPANT_ACCESS = "participant_access"
    CHECKPOINT_EXPORTED = "checkpoint_exported"
    # workspace resources (issue 13: workspaces.resources)
    RESOURCE_CREATED = "resource_created"
    RESOURCE_UPDATED = "resource_updated"
    RESOURCE_DELETED = "resource_deleted"
    RESOURCE_RESTORED = "resource_restored"
    RESOURCE_COPIED = "resource_copied"
    # the Research Hub: publications, support articles and events (issue 13)
    PUBLICATION_REPORTED = "publication_reported"
    PUBLICATION_DECIDED = "publication_decided"
    ARTICLE_SAVED = "article_saved"
    ARTICLE_DELETED = "article_deleted"
    EVENT_SAVED = "event_saved"
    EVENT_DELETED = "event_deleted"
    # data versions: each tier of a published release (issue 13)
    DATA_VERSION_PUBLISHED = "data_version_published"
    DATA_VERSION_ARCHIVED = "data_version_archived"
    DATA_VERSION_DEFAULT_SET = "data_version_default_set"
    # downloads of participant-level data: an administrator allowing a user more than the daily limit (issue 15)
    EGRESS_ALLOWED = "egress_allowed"
    # notebooks: a JupyterLab server started for a (user, workspace), a notebook opened in it, copied, deleted
    NOTEBOOK_SERVER_STARTED = "notebook_server_started"
    NOTEBOOK_OPENED = "notebook_opened"
    NOTEBOOK_COPIED = "notebook_copied"
    NOTEBOOK_DELETED = "notebook_deleted"


class AuditError(ProblemsError):
    heading = "refused by the audit log"
    outcome = "nothing was written to the audit log."


# -- the hash ---------------------------------------------------------------------------------------------------

def format_at(at: datetime) -> str:
    """``at`` as the chain hashes it: UTC, microseconds, ``Z`` (e.g. ``2026-01-02T03:04:05.000000Z``)."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(seq: int, at: datetime, action: str, actor_id: int | None, target_user_id: int | None,
                   ip: str | None, details: Mapping[str, Any]) -> str:
    return json.dumps({"seq": seq, "at": format_at(at), "action": str(action), "actor_id": actor_id,
                       "target_user_id": target_user_id, "ip": ip, "details": details},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(key: bytes, prev_hash: str, seq: int, at: datetime, action: str, actor_id: int | None,
               target_user_id: int | None, ip: str | None, details: Mapping[str, Any]) -> str:
    """HMAC-SHA256(key, prev_hash ‖ canonical JSON), in lower-case hex: the ``hash`` of one row."""
    message = prev_hash.encode("ascii") + canonical_json(
        seq, at, action, actor_id, target_user_id, ip, details).encode("utf-8")
    return hmac.digest(key, message, "sha256").hex()


# -- checking what a caller gives -------------------------------------------------------------------------------

def _plain(value: Any, where: str, problems: list[Problem]) -> Any:
    """A plain-JSON copy of ``value`` (tuples become lists, enum members their values), noting what is not JSON.

    The copy is what is stored *and* hashed, so the row read back hashes the same as the row written."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(Problem("text that is not valid Unicode (a lone surrogate)", where))
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(Problem(f"{value} is not a JSON number", where))
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(Problem(f"a key must be text, not {type(k).__name__} {k!r}", where))
                continue
            out[str.__str__(k)] = _plain(v, f"{where}.{k}", problems)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    hint = " (give it as an ISO 8601 string)" if isinstance(value, datetime) else ""
    problems.append(Problem(f"{type(value).__name__} is not JSON-serialisable{hint}", where))
    return None


def _optional_int(value: Any, where: str, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(f"must be an integer id, not {type(value).__name__}", where))
        return None
    return int(value)


# -- verifying --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyReport:
    """What ``AuditLog.verify`` found.

    ``rows``: rows verified intact (all of them when ``ok``). ``first_bad_seq``: the first tampered row (for a gap
    or a cut tail, the first *missing* seq). ``reason`` starts with one of ``hash mismatch``, ``prev_hash
    mismatch``, ``seq gap``, ``checkpoint mismatch``, ``truncated``. ``head_seq``/``head_hash``: the last row
    verified intact (the log's head when ``ok``; 0 and 64 zeros for an empty log).
    """

    ok: bool
    rows: int
    first_bad_seq: int | None
    reason: str | None
    head_seq: int
    head_hash: str

    def __str__(self) -> str:
        if self.ok:
            return f"audit log intact: {self.rows} rows, head seq {self.head_seq} hash {self.head_hash}"
        return f"audit log tampered at seq {self.first_bad_seq}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_checkpoint(data: Any, where: str = "checkpoint") -> dict[str, Any]:
    """A checkpoint (``{"seq", "hash", ...}``) checked: ``seq`` ≥ 0, ``hash`` 64 lower-case hex digits."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise AuditError([Problem("a checkpoint is a JSON object with seq and hash", where)])
    seq, hash_ = data.get("seq"), data.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        problems.append(Problem("seq must be an integer ≥ 0", f"{where}: seq"))
    if not isinstance(hash_, str) or not _HEX64.fullmatch(hash_):
        problems.append(Problem("hash must be 64 lower-case hex digits", f"{where}: hash"))
    elif seq == 0 and hash_ != GENESIS:
        problems.append(Problem("the checkpoint of an empty log (seq 0) has the all-zero hash", f"{where}: hash"))
    if problems:
        raise AuditError(problems)
    return dict(data)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """A checkpoint file written by ``export_checkpoint``, checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AuditError([Problem(f"cannot read the checkpoint: {err.strerror}", str(path))]) from None
    except ValueError as err:
        raise AuditError([Problem(f"not a JSON checkpoint: {err}", str(path))]) from None
    return parse_checkpoint(data, str(path))


def _span(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}–{last}"


class AuditLog:
    """The audit log, keyed with the chain's HMAC key (``Keys(secret).audit``)."""

    def __init__(self, key: bytes, clock: Callable[[], datetime] = utcnow):
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError("the audit key is at least 16 bytes (use Keys(secret).audit)")
        self._key = key
        self._clock = clock  # the app's clock: an event's time is the time the app acted on

    # -- writing ----------------------------------------------------------------------------------------------
    def append(self, session: Session, action: AuditAction | str, *, actor_id: int | None = None,
               target_user_id: int | None = None, ip: str | None = None,
               details: Mapping[str, Any] | None = None, at: datetime | None = None) -> AuditEvent:
        """Write one event at the head of the chain, in ``session``'s transaction (it commits with the caller's).

        Refuses (``AuditError``, nothing written) an unknown action, ``details`` that are not plain JSON (an object
        with text keys; numbers finite), non-integer ids, an ``ip`` over 64 characters and a naive ``at``.
        ``at`` defaults to now, read after the lock so ``at`` follows ``seq``.
        """
        problems: list[Problem] = []
        try:
            action = AuditAction(action)
        except ValueError:
            problems.append(Problem(f"unknown audit action {action!r}", "action"))
        actor_id = _optional_int(actor_id, "actor_id", problems)
        target_user_id = _optional_int(target_user_id, "target_user_id", problems)
        if ip is not None and (not isinstance(ip, str) or len(ip) > 64):
            problems.append(Problem("must be text of at most 64 characters", "ip"))
        if details is None:
            details = {}
        if not isinstance(details, Mapping):
            problems.append(Problem(f"must be a JSON object (a dict), not {type(details).__name__}", "details"))
        else:
            details = _plain(details, "details", problems)
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            problems.append(Problem("must be a timezone-aware datetime", "at"))
        if problems:
            raise AuditError(problems)

        self._lock(session)
        head = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                               .order_by(AuditEvent.seq.desc()).limit(1)).first()
        seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS)
        at = (at or self._clock()).astimezone(timezone.utc)
        event = AuditEvent(seq=seq, at=at, action=action.value, actor_id=actor_id, target_user_id=target_user_id,
                           ip=ip, details=details, prev_hash=prev_hash,
                           hash=chain_hash(self._key, prev_hash, seq, at, action.value, actor_id, target_user_id,
                                           ip, details))
        session.add(event)
        session.flush()
        return event

    def record_participant_access(self, session: Session, *, actor_id: int, tier: Tier | str,
                                  workspace_id: int | str, purpose: str,
                                  person_ids: Iterable[int] | None = None, cohort: int | str | None = None,
                                  cdr_version: str | None = None, ip: str | None = None) -> AuditEvent:
        """Record that researcher ``actor_id`` touched participant-level data: a ``participant_access`` event.

        Cohort review, datasets and notebooks call this whenever they show, export or hand over participant-level
        rows. ``purpose`` says what was done (e.g. ``cohort_review``, ``dataset_export``, ``notebook_query``).

        ``details``: ``tier``, ``workspace_id``, ``purpose``, ``cohort``, ``cdr_version`` and ``persons`` —
        ``None`` when no person ids are given, else ``{"count", "ids", "sha256"}``: how many distinct persons, the
        first ``PERSON_IDS_LISTED`` (100) of them in ascending order, and the SHA-256 (hex) of all of them, sorted,
        as decimal text joined by commas. Why not every id: one dataset export can reach millions of participants,
        and a row that size would bloat the log and slow every verification, which reads every row. The count
        says how much was reached; the listed ids let an investigator spot-check; the digest proves whether a
        list of ids recovered later (from the workspace, the export) is exactly the set that was accessed.
        """
        problems: list[Problem] = []
        try:
            tier = Tier(tier)
        except ValueError:
            problems.append(Problem(f"unknown tier {tier!r}", "tier"))
        if isinstance(actor_id, bool) or not isinstance(actor_id, int):
            problems.append(Problem("the researcher's user id is required", "actor_id"))
        if not isinstance(purpose, str) or not purpose.strip():
            problems.append(Problem("say what the access was for", "purpose"))
        if isinstance(workspace_id, bool) or not isinstance(workspace_id, (int, str)) or workspace_id == "":
            problems.append(Problem("the workspace id is required", "workspace_id"))
        persons = None
        if person_ids is not None:
            ids = list(person_ids)
            bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int)]
            if bad:
                problems.append(Problem(f"person ids are integers, not {bad[0]!r}", "person_ids"))
            else:
                unique = sorted(set(int(i) for i in ids))
                persons = {"count": len(unique), "ids": unique[:PERSON_IDS_LISTED],
                           "sha256": hashlib.sha256(",".join(map(str, unique)).encode("ascii")).hexdigest()}
        if problems:
            raise AuditError(problems)
        details = {"tier": tier.value, "workspace_id": workspace_id, "purpose": purpose, "cohort": cohort,
                   "cdr_version": cdr_version, "persons": persons}
        return self.append(session, AuditAction.PARTICIPANT_ACCESS, actor_id=actor_id, ip=ip, details=details)

    # -- checkpoints ------------------------------------------------------------------------------------------
    def checkpoint(self, session: Session) -> dict[str, Any]:
        """``{"seq", "hash", "at", "rows"}`` of the head (one statement, so one snapshot); seq 0 for an empty log."""
        rows = select(func.count()).select_from(AuditEvent).scalar_subquery()
        head = session.execute(select(AuditEvent.seq, AuditEvent.hash, AuditEvent.at, rows)
                               .order_by(AuditEvent.seq.desc()).limit(1)).first()
        if head is None:
            return {"seq": 0, "hash": GENESIS, "at": None, "rows": 0}
        return {"seq": head[0], "hash": head[1], "at": format_at(head[2]), "rows": head[3]}

    def export_checkpoint(self, db: Database, path: Path | str, *, actor_id: int | None = None,
                          ip: str | None = None) -> dict[str, Any]:
        """Write the head's checkpoint to ``path`` as JSON (atomically), then log a ``checkpoint_exported`` event.

        The checkpoint is of the head *before* that event (an event cannot hold its own hash); the event's details
        are the checkpoint's ``seq``, ``hash`` and the file's path, so the log itself lists every export. All in
        one transaction holding the chain's lock: if writing the file fails, nothing is logged; if the commit
        fails after the file was written, the file still pins rows that exist.
        """
        path = Path(path)
        with db.session() as session:
            self._lock(session)
            point = self.checkpoint(session)
            _write_atomic(path, json.dumps(point, indent=2, ensure_ascii=False) + "\n")
            self.append(session, AuditAction.CHECKPOINT_EXPORTED, actor_id=actor_id, ip=ip,
                        details={"seq": point["seq"], "hash": point["hash"], "path": str(path)})
        return point

    # -- verifying --------------------------------------------------------------------------------------------
    def verify(self, source: Session | Database, *, checkpoints: Iterable[Mapping[str, Any]] = (),
               batch_size: int = VERIFY_BATCH) -> VerifyReport:
        """Walk the whole log in ``seq`` order, recomputing every hash, and report the first tampered row.

        Per row, in this order: ``seq`` follows the previous one (else ``seq gap``: rows deleted), ``prev_hash`` is
        the previous row's hash (else ``prev_hash mismatch``), ``hash`` is the HMAC of the row (else ``hash
        mismatch``: content changed, or a hash forged without the key), and any checkpoint at this ``seq`` has this
        hash (else ``checkpoint mismatch``: rewritten and re-chained). After the last row, a checkpoint beyond it
        means ``truncated``. Rows are read in batches of ``batch_size`` by ``seq``; given a ``Database``, each batch
        is its own short transaction, so a long walk never holds SQLite's write lock for long.
        """
        marks: dict[int, list[str]] = {}
        for i, point in enumerate(checkpoints):
            point = parse_checkpoint(point, f"checkpoint {i + 1}")
            marks.setdefault(point["seq"], []).append(point["hash"])
        expected, prev, rows = 1, GENESIS, 0

        def bad(seq: int, reason: str) -> VerifyReport:
            return VerifyReport(False, rows, seq, reason, expected - 1, prev)

        for row in self._rows(source, batch_size):
            seq, at, action, actor_id, target_user_id, ip, details, prev_hash, hash_ = row
            if seq != expected:
                if seq > expected:
                    return bad(expected, f"seq gap: {_span(expected, seq - 1)} missing (deleted) before row {seq}")
                return bad(seq, f"seq gap: row {seq} out of order after row {expected - 1}")
            if prev_hash != prev:
                return bad(seq, f"prev_hash mismatch: row {seq} does not link to row {seq - 1}'s hash "
                                "(a row was removed, inserted or re-chained)")
            if chain_hash(self._key, prev_hash, seq, at, action, actor_id, target_user_id, ip,
                          details) != hash_:
                return bad(seq, f"hash mismatch: row {seq}'s hash does not match its content "
                                "(the row was changed, or its hash made without the key)")
            for pinned in marks.get(seq, ()):
                if pinned != hash_:
                    return bad(seq, f"checkpoint mismatch: row {seq}'s hash is not the checkpoint's "
                                    "(the log was rewritten and re-chained)")
            expected, prev, rows = seq + 1, hash_, rows + 1
        beyond = [s for s in marks if s >= expected]
        if beyond:
            last = max(beyond)
            return bad(expected, f"truncated: the log ends at row {expected - 1} but a checkpoint has row {last} "
                                 f"({_span(expected, last)} removed from the end)")
        return VerifyReport(True, rows, None, None, expected - 1, prev)

    # -- reading ----------------------------------------------------------------------------------------------
    def events(self, session: Session, *, action: AuditAction | str | None = None, actor_id: int | None = None,
               target_user_id: int | None = None, involving: int | None = None, before_seq: int | None = None,
               limit: int = 50) -> list[AuditEvent]:
        """Events for the admin viewer, newest first. ``involving``: the user is the actor or the target.
        Page on with ``before_seq`` = the last shown seq. ``limit`` is 1 to 1000."""
        if not 1 <= limit <= 1000:
            raise AuditError([Problem("limit is 1 to 1000", "limit")])
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if action is not None:
            try:
                action = AuditAction(action)
            except ValueError:
                raise AuditError([Problem(f"unknown audit action {action!r}", "action")]) from None
            query = query.where(AuditEvent.action == action.value)
        if actor_id is not None:
            query = query.where(AuditEvent.actor_id == actor_id)
        if target_user_id is not None:
            query = query.where(AuditEvent.target_user_id == target_user_id)
        if involving is not None:
            query = query.where(or_(AuditEvent.actor_id == involving, AuditEvent.target_user_id == involving))
        if before_seq is not None:
            query = query.where(AuditEvent.seq < before_seq)
        return list(session.scalars(query))

    # -- internals --------------------------------------------------------------------------------------------
    @staticmethod
    def _lock(session: Session) -> None:
        """Take the chain's lock until the transaction ends. SQLite: already held (``Database`` begins every
        transaction IMMEDIATE, i.e. with the write lock)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})

    @staticmethod
    def _rows(source: Session | Database, batch_size: int) -> Iterator[Sequence[Any]]:
        columns = select(AuditEvent.seq, AuditEvent.at, AuditEvent.action, AuditEvent.actor_id,
                         AuditEvent.target_user_id, AuditEvent.ip, AuditEvent.details, AuditEvent.prev_hash,
                         AuditEvent.hash).order_by(AuditEvent.seq).limit(batch_size)
        last = None
        while True:
            query = columns if last is None else columns.where(AuditEvent.seq > last)
            if isinstance(source, Database):
                with source.session() as session:
                    batch = session.execute(query).all()
            else:
                batch = source.execute(query).all()
            yield from batch
            if len(batch) < batch_size:
                return
            last = batch[-1][0]


def _write_atomic(path: Path, content: str) -> None:
    """Write ``content`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise AuditError([Problem(f"cannot write the checkpoint: {err.strerror}", str(path))]) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise AuditError([Problem(f"cannot write the checkpoint: {err.strerror}", str(path))]) from None
        raise
