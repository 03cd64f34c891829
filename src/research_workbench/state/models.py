"""The application database's tables, one class each. Times are UTC, stored timezone-aware.

What each table holds, and why it is shaped so:

- ``Institution`` and ``TierRule``: an institution's Data Use and Registration Agreement, and per access tier the
  one rule deciding who of its people may reach it (email domains, listed addresses, or nobody).
- ``User``: the account, its profile (public research background included), its sign-in secrets (an argon2id
  password hash, an encrypted TOTP secret with the last accepted time step, so a code is never accepted twice)
  and its lockout counters.
- ``ModuleStatus``: one row per (user, access module): when it was last completed, which version, and an admin
  bypass with its reason and end. What the user may see is computed from these rows (``accounts.access``), never
  stored.
- ``Session``: server-side sessions; the browser holds only an opaque token whose SHA-256 is the key here.
- ``ApiToken``, ``EmailToken``, ``RecoveryCode``: secrets stored as hashes only.
- ``AuditEvent``: the append-only, hash-chained audit log (database triggers refuse UPDATE and DELETE; see the
  first migration).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database: SQLite keeps no zone, so one is put back on reading, and a
    naive datetime is refused on writing (it would be ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: application state stores aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    short_name: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    agreement_signed_on: Mapped[date | None] = mapped_column(Date)
    agreement_expires_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]

    rules: Mapped[list[TierRule]] = relationship(back_populates="institution", cascade="all, delete-orphan",
                                                 order_by="TierRule.tier")


class TierRule(Base):
    """Who of an institution's people may reach ``tier``: ``kind`` is ``domains``, ``addresses`` or ``none``."""

    __tablename__ = "institution_tier_rules"
    __table_args__ = (UniqueConstraint("institution_id", "tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    entries: Mapped[list[Any]] = mapped_column(default=list)

    institution: Mapped[Institution] = relationship(back_populates="rules")


class InstitutionRequest(Base):
    """A request, from the public form, to add an institution."""

    __tablename__ = "institution_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(160))
    contact_email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased; the institutional address
    email_verified_at: Mapped[datetime | None]
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    role: Mapped[str | None] = mapped_column(String(60))
    role_other: Mapped[str | None] = mapped_column(String(80))
    given_name: Mapped[str] = mapped_column(String(80))
    family_name: Mapped[str] = mapped_column(String(80))
    degrees: Mapped[list[Any]] = mapped_column(default=list)
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    research_background: Mapped[str] = mapped_column(Text, default="")
    professional_url: Mapped[str | None] = mapped_column(String(300))
    demographics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    terms_version: Mapped[str | None] = mapped_column(String(20))
    privacy_version: Mapped[str | None] = mapped_column(String(20))
    terms_accepted_at: Mapped[datetime | None]
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)

    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(String(300))  # encrypted with the app's key (Fernet)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # replay protection: steps at or before are refused
    failed_totp: Mapped[int] = mapped_column(Integer, default=0)
    # The tiers last seen granted: a difference with the evaluator's answer is a tier change, audited once
    # (accounts.tier_changes), whether it came from the user, an admin, or time passing.
    tiers: Mapped[list[Any]] = mapped_column(default=list)

    institution: Mapped[Institution | None] = relationship()
    modules: Mapped[list[ModuleStatus]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                       foreign_keys="ModuleStatus.user_id")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class ModuleStatus(Base):
    __tablename__ = "module_status"
    __table_args__ = (UniqueConstraint("user_id", "module"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(40))
    completed_at: Mapped[datetime | None]
    version: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bypass_until: Mapped[datetime | None]
    bypass_reason: Mapped[str | None] = mapped_column(Text)
    bypassed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(back_populates="modules", foreign_keys=[user_id])


class OidcLink(Base):
    """An outside identity linked to a user: for signing in (``signin``) or for identity verification."""

    __tablename__ = "oidc_links"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(20))
    claims: Mapped[dict[str, Any]] = mapped_column(default=dict)
    linked_at: Mapped[datetime]


class QuizAttempt(Base):
    __tablename__ = "quiz_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer)
    out_of: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class DuccSignature(Base):
    """A signed Data User Code of Conduct: the version, the initials given per statement and the full name."""

    __tablename__ = "ducc_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(40))
    full_name: Mapped[str] = mapped_column(String(170))
    initials: Mapped[list[Any]] = mapped_column()
    signed_at: Mapped[datetime]


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None]


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the cookie's token
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mfa_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    tiers: Mapped[list[Any]] = mapped_column(default=list)  # tiers granted when it signed in; a loss revokes it
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # drafts, OIDC state, flash messages
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists; the rest is only ever hashed
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column()
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A notebook server's kernels' token reaches one workspace only (its id; no foreign key, like the audit log's
    # ids: the column was added to a table that SQLite cannot alter in place). None: all of its owner's workspaces.
    workspace_id: Mapped[int | None] = mapped_column(Integer, index=True)


class EmailToken(Base):
    """A link sent by email (verify the address, reset the password): single use, expiring, stored hashed."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """Mail waiting to be sent (or sent). ``dedupe_key`` keeps a reminder from being queued twice."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """One row of the audit log. ``hash`` = HMAC-SHA256(key, ``prev_hash`` ‖ canonical JSON of the row)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(60), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key: the log outlives accounts
    target_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# -- data versions, workspaces and their resources (issue 13) --------------------------------------------------------

class DataVersion(Base):
    """One tier of a curated release, published for workspaces: immutable once registered."""

    __tablename__ = "data_versions"
    __table_args__ = (UniqueConstraint("name", "tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))  # the release's name, e.g. 2026Q4R1
    tier: Mapped[str] = mapped_column(String(20))
    release_number: Mapped[int] = mapped_column(Integer)  # public, increasing across all versions
    cdr_path: Mapped[str] = mapped_column(Text)
    index_path: Mapped[str | None] = mapped_column(Text)
    aggregates_path: Mapped[str | None] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    participant_count: Mapped[int] = mapped_column(Integer)
    data_types: Mapped[list[Any]] = mapped_column(default=list)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)  # the slug in URLs, fixed at creation
    name: Mapped[str] = mapped_column(String(80))
    tier: Mapped[str] = mapped_column(String(20))
    data_version_id: Mapped[int] = mapped_column(ForeignKey("data_versions.id"))
    purpose: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the research purpose (workspaces.purpose)
    etag: Mapped[int] = mapped_column(Integer, default=1)  # raised on every change: optimistic concurrency
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    locked_at: Mapped[datetime | None]
    locked_reason: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    review_status: Mapped[str | None] = mapped_column(String(20))  # pending, approved, changes_requested
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]

    data_version: Mapped[DataVersion] = relationship()
    members: Mapped[list[WorkspaceMember]] = relationship(back_populates="workspace", cascade="all, delete-orphan")


class WorkspaceMember(Base):
    __tablename__ = "workspace_members"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # OWNER, WRITER, READER
    added_at: Mapped[datetime]
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    workspace: Mapped[Workspace] = relationship(back_populates="members")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Resource(Base):
    """A cohort, concept set, dataset, review set or notebook in a workspace; its content lives in versions."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)  # the current version; also the resource's etag
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ResourceVersion(Base):
    __tablename__ = "resource_versions"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(200))  # "created", "restored version 2", "copied from …"


class CohortDraft(Base):
    """The Cohort Builder's unsaved work: one per (workspace, user, cohort), written on every change.

    ``cohort_key`` is the cohort resource's id, or ``new`` for a cohort not yet saved. ``base_version`` is the
    resource version the draft started from, so the page can say when someone else saved a newer one meanwhile.
    """

    __tablename__ = "cohort_drafts"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id", "cohort_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cohort_key: Mapped[str] = mapped_column(String(20))
    base_version: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80), default="")
    content: Mapped[dict[str, Any]] = mapped_column()  # the definition as the page holds it (may be incomplete)
    updated_at: Mapped[datetime]


class ReviewStatus(Base):
    """A participant's review status in a review set (a ``review_set`` resource): included, excluded or
    needs_review. No row: not reviewed yet. Who is in the set is the resource's content (its snapshot); a status
    of someone no longer listed there is kept but not shown."""

    __tablename__ = "review_statuses"

    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20))
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]


class ReviewAnnotationField(Base):
    """An annotation field of a review set: ``kind`` text, list (one of ``options``), date, yes_no or number."""

    __tablename__ = "review_annotation_fields"
    __table_args__ = (UniqueConstraint("resource_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10))
    options: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class ReviewAnnotationValue(Base):
    """One participant's value of one annotation field, in its canonical text (a date as YYYY-MM-DD, yes/no as
    ``yes``/``no``, a number as its shortest decimal); deleting the field deletes its values."""

    __tablename__ = "review_annotation_values"

    field_id: Mapped[int] = mapped_column(ForeignKey("review_annotation_fields.id", ondelete="CASCADE"),
                                          primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime]


class Publication(Base):
    """A publication a researcher reported against a workspace; public on the Research Hub once approved."""

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    doi: Mapped[str | None] = mapped_column(String(200))
    authors: Mapped[str] = mapped_column(Text)
    venue: Mapped[str | None] = mapped_column(String(300))
    published_on: Mapped[date]
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, approved, rejected
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)


class SupportArticle(Base):
    """A support article an admin added (the shipped ones are Markdown files in the package)."""

    __tablename__ = "support_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(Text)  # Markdown
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class HubEvent(Base):
    __tablename__ = "hub_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    location: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    uid: Mapped[str] = mapped_column(String(100), unique=True)  # the iCalendar UID, stable across edits


class DatasetExport(Base):
    """A dataset export: one version of a dataset written as a Parquet snapshot with its manifest, in the background.

    ``status``: queued, running, done, failed or cancelled. Progress is ``done_steps`` of ``total_steps`` (one step
    per table). ``session_id`` (a session's id) or ``token_id`` (an API token's) is what started it: the export stops,
    writing nothing, if that ends before it finishes (a sign-out, a timeout, a revoked token). ``path`` is set only
    once the snapshot is complete.
    """

    __tablename__ = "dataset_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(128))
    token_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    done_steps: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    path: Mapped[str | None] = mapped_column(String(1000))
    manifest: Mapped[dict[str, Any] | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    runner: Mapped[str | None] = mapped_column(String(120))  # "host:pid" of the server process that runs it
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class GenomicsJob(Base):
    """A genomics analysis of a Controlled Tier workspace run in the background: an extract, a GWAS, a PCA, a PheWAS or
    per-ancestry allele frequencies (``genomics.jobs``).

    ``request`` is what was asked, with the workspace's saved cohorts named by id and pinned version (resolved to
    person ids only when it runs). ``status``, ``done_steps`` of ``total_steps``, ``session_id`` / ``token_id``,
    ``cancel_requested`` and ``runner`` mean what they mean on ``DatasetExport``. ``path`` (the job's folder of
    result files) and ``summary`` (what the analysis reports: counts, lambda GC, top hits, file names) are set only
    once every file is in place.
    """

    __tablename__ = "genomics_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(128))
    token_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    request: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="queued")
    done_steps: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    path: Mapped[str | None] = mapped_column(String(1000))
    summary: Mapped[dict[str, Any] | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    runner: Mapped[str | None] = mapped_column(String(120))  # "host:pid" of the server process that runs it
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class EgressAllowance(Base):
    """Downloads of participant-level data an administrator allows a user beyond the daily limit, until a time, with
    a reason (``accounts.egress``)."""

    __tablename__ = "egress_allowances"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    downloads: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    valid_until: Mapped[datetime]
