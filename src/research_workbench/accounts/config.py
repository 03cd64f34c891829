"""The Researcher Workbench's settings: a TOML file (``workbench serve --config FILE``) over built-in defaults.

Secrets never live in the file or the repository: the master secret comes from ``RW_WORKBENCH_SECRET`` (at least
32 characters) or from a file named by ``secret_file`` / ``RW_WORKBENCH_SECRET_FILE``; outside providers' client
secrets and the SMTP password come from environment variables the file names. Every key the app needs (the audit
chain's HMAC key, the CSRF signing key, the TOTP encryption key) is derived from the master secret, one per
purpose, so a leak of one does not give the others.

A bad file is refused with one problem per bad key, naming the file and the TOML key path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ..cdr.problems import Problem, ProblemsError
from .modules import Tier

SECRET_ENV = "RW_WORKBENCH_SECRET"
SECRET_FILE_ENV = "RW_WORKBENCH_SECRET_FILE"
MIN_SECRET_LENGTH = 32


class WorkbenchConfigError(ProblemsError):
    heading = "invalid Workbench config"
    outcome = "nothing was started."


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessSettings(_Section):
    validity_days: int = Field(365, ge=1, le=3650, description="how long an expiring module stays complete")
    reminder_days: list[int] = Field([30, 15, 7, 1], description="days before expiry a reminder is mailed")
    email_link_hours: int = Field(24, ge=1, le=720, description="how long an emailed link works")

    @field_validator("reminder_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 365 for d in value):
            raise ValueError("each reminder is 0 to 365 days before expiry")
        return sorted(set(value), reverse=True)

    @property
    def validity(self) -> timedelta:
        return timedelta(days=self.validity_days)


class TierTimeouts(_Section):
    idle_minutes: int = Field(ge=1, le=7 * 24 * 60)
    absolute_hours: int = Field(ge=1, le=30 * 24)


class SessionSettings(_Section):
    """Idle and absolute timeouts, by the highest tier the user holds (``none``: no tier yet)."""

    none: TierTimeouts = TierTimeouts(idle_minutes=120, absolute_hours=24)
    registered: TierTimeouts = TierTimeouts(idle_minutes=360, absolute_hours=24)
    controlled: TierTimeouts = TierTimeouts(idle_minutes=180, absolute_hours=12)
    cookie_secure: bool = Field(False, description="send the session cookie over HTTPS only (set behind TLS)")

    def for_tiers(self, tiers: frozenset[Tier] | set[Tier]) -> TierTimeouts:
        if Tier.CONTROLLED in tiers:
            return self.controlled
        if Tier.REGISTERED in tiers:
            return self.registered
        return self.none


class PasswordSettings(_Section):
    """argon2id parameters (RFC 9106's second recommendation by default) and the length limits."""

    time_cost: int = Field(3, ge=1, le=20)
    memory_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    parallelism: int = Field(4, ge=1, le=64)
    min_length: int = Field(12, ge=8, le=128)


class LimitSettings(_Section):
    """Rate limits (``limits`` notation, per client address) and the account lockout."""

    signin: str = "20/minute"
    signup: str = "10/hour"
    totp: str = "10/minute"
    forms: str = "120/minute"
    lockout_failures: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)

    @field_validator("signin", "signup", "totp", "forms")
    @classmethod
    def _limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as err:
            raise ValueError(f"not a rate limit like '10/minute': {err}") from None
        return value


class MailSettings(_Section):
    deliver: Literal["smtp", "log"] = Field("smtp", description="smtp: send over SMTP; log: print each message to "
                                                              "the server's log instead (a demo without a mail server)")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = Field(None, description="the environment variable holding the SMTP password")
    sender: str = "Research Workbench <no-reply@workbench.invalid>"


class ProviderSettings(_Section):
    """An institution's OpenID Connect provider for signing in."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    label: str
    metadata_url: str
    client_id: str
    client_secret_env: str | None = None
    scope: str = "openid email profile"
    trusted_mfa: bool = Field(False, description="accept the provider's MFA claim (amr) as two-step verification")
    email_domains: list[str] = Field([], description="link an account by email only at these domains (empty: any)")
    trust_email: bool = Field(False, description="treat the email claim as verified without email_verified=true")

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return sorted({d.strip().lower().lstrip("@") for d in value if d.strip()})


class IdentitySettings(_Section):
    """The identity-verification provider: an OpenID Connect flow that must return an IAL2 assurance claim."""

    preset: Literal["login.gov", "id.me", "custom"] = "custom"
    label: str | None = None
    metadata_url: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    private_key_file: str | None = Field(None, description="PEM key for private_key_jwt (Login.gov)")
    acr_values: str | None = None
    scope: str | None = None
    accepted_acr: list[str] | None = Field(None, description="acr values that count as IAL2 (default: the preset's)")
    token_auth: Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] | None = Field(
        None, description="how the token endpoint is authenticated (default: the preset's)")

    @model_validator(mode="after")
    def _complete(self) -> IdentitySettings:
        if not self.client_id:
            raise ValueError("client_id is required")
        if self.preset == "custom" and not self.metadata_url:
            raise ValueError("metadata_url is required for a custom identity provider")
        auth = self.token_auth or {"login.gov": "private_key_jwt", "id.me": "client_secret_post"}.get(self.preset)
        if auth == "private_key_jwt" and not self.private_key_file:
            raise ValueError("private_key_file is required for private_key_jwt (Login.gov)")
        if auth in ("client_secret_basic", "client_secret_post") and not self.client_secret_env:
            raise ValueError(f"client_secret_env is required for {auth}")
        if self.accepted_acr is not None and not self.accepted_acr:
            raise ValueError("accepted_acr needs at least one value")
        return self


class WorkbenchConfig(_Section):
    program_name: str = "Research Workbench"
    base_url: str = "http://127.0.0.1:8001"
    database_url: str = "sqlite:///workbench-state/workbench.sqlite"
    allowed_hosts: list[str] = ["127.0.0.1", "localhost"]
    secret_file: str | None = None
    support_email: str = "support@workbench.invalid"
    review_max_size: int = Field(10_000, ge=1, le=10_000, description="the largest Cohort Review set a Writer may draw")
    review_extracts_dir: str = Field("workbench-state/review-extracts", description=(
        "where review sets' participants' rows are copied for fast participant pages (relative to this file)"))
    review_extracts_unused_days: float = Field(30, gt=0, description="an extract not read for this long is removed")
    notebooks_dir: str = Field("workbench-state/notebooks", description=(
        "where each workspace's notebooks live, one folder per workspace (relative to this file)"))
    notebook_host: str | None = Field(None, description=(
        "the separate host name JupyterLab is served on through the Workbench's proxy (e.g. localhost when the "
        "Workbench is 127.0.0.1, notebooks.example.org in production; same port and scheme as base_url); "
        "unset: notebooks can be listed and previewed but not opened in JupyterLab"))
    notebook_idle_minutes: int = Field(60, ge=1, le=24 * 60, description=(
        "an idle kernel, and a notebook server with no kernel and no activity, is stopped after this long"))
    egress_downloads_per_day: int = Field(100, ge=0, description=(
        "downloads of participant-level data one user may make per UTC day (administrators may allow more)"))
    exports_dir: str = Field("workbench-state/exports", description=(
        "where dataset exports (Parquet snapshots with their manifests) are written, a folder per workspace"))
    genomics_dir: str | None = Field(None, description=(
        "where genomics jobs (extracts, GWAS, PCA, PheWAS, allele frequencies) write their files, a folder per "
        "workspace; unset: a folder genomics beside exports_dir"))
    engine: Literal["duckdb", "spark"] = Field("duckdb", description=(
        "where cohorts, Circe cohorts and datasets run: duckdb (embedded: counts from the index's bitmaps in "
        "milliseconds) or spark (one Spark session for the server's life: every count and dataset is a Spark job, "
        "half a second or more each; for a program whose CDR one machine cannot hold)"))
    spark_master: str | None = Field(None, description=(
        "with engine = \"spark\": the master URL (local[N], spark://HOST:7077, k8s://…); unset: local[2], or the "
        "session of the process when it has one"))
    access: AccessSettings = AccessSettings()
    sessions: SessionSettings = SessionSettings()
    passwords: PasswordSettings = PasswordSettings()
    limits: LimitSettings = LimitSettings()
    mail: MailSettings = MailSettings()
    signin_providers: list[ProviderSettings] = []
    identity: IdentitySettings | None = None
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("notebook_host")
    @classmethod
    def _notebook_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?", name):
            raise ValueError(f"not a host name: {value!r} (a name like notebooks.example.org, without port or scheme)")
        return name

    @field_validator("spark_master")
    @classmethod
    def _spark_master(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("engine", "duckdb") != "spark":
            raise ValueError('a Spark master is for engine = "spark" (the engine is duckdb)')
        if value is not None and not value.strip():
            raise ValueError("an empty master URL: leave spark_master out for local[2]")
        return value

    def resolve(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def resolved_genomics_dir(self) -> Path:
        """``genomics_dir``, or ``genomics`` beside ``exports_dir`` (so a test or a deployment that moves its exports
        moves its genomics files with them)."""
        if self.genomics_dir is not None:
            return self.resolve(self.genomics_dir)
        return self.resolve(self.exports_dir).parent / "genomics"

    @property
    def resolved_database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config file's directory."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and not self.database_url.startswith(prefix + "/"):
            rest = self.database_url[len(prefix):]
            if rest and rest != ":memory:":
                return prefix + str(self.resolve(rest).resolve())
        return self.database_url

    def secret(self) -> bytes:
        """The master secret: $RW_WORKBENCH_SECRET, else the file named by the config or $RW_WORKBENCH_SECRET_FILE."""
        value = os.environ.get(SECRET_ENV)
        where = SECRET_ENV
        if value is None:
            name = os.environ.get(SECRET_FILE_ENV) or self.secret_file
            if name is None:
                raise WorkbenchConfigError([Problem(
                    f"no secret: set {SECRET_ENV}, {SECRET_FILE_ENV} or secret_file in the config", "secret_file")])
            path = self.resolve(name)
            where = str(path)
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise WorkbenchConfigError([Problem(f"cannot read the secret file: {err.strerror}", where)]) from None
        if len(value) < MIN_SECRET_LENGTH:
            raise WorkbenchConfigError([Problem(f"the secret must be at least {MIN_SECRET_LENGTH} characters", where)])
        return value.encode("utf-8")


class Keys:
    """One key per purpose, derived from the master secret (HMAC-SHA256 of the purpose's name)."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def derive(self, purpose: str) -> bytes:
        return hmac.new(self._secret, f"research-workbench/{purpose}".encode(), hashlib.sha256).digest()

    @property
    def audit(self) -> bytes:
        return self.derive("audit-chain")

    @property
    def csrf(self) -> str:
        return self.derive("csrf").hex()

    @property
    def fernet(self) -> bytes:
        return base64.urlsafe_b64encode(self.derive("totp-secrets"))

    @property
    def tokens(self) -> bytes:
        return self.derive("token-pepper")


def _problems(err: ValidationError, where: str) -> list[Problem]:
    out = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"])
        out.append(Problem(str(e["msg"]).removeprefix("Value error, "), f"{where}: {key}" if key else where))
    return out


def load_workbench_config(path: Path | str | None = None, **overrides: Any) -> WorkbenchConfig:
    """The defaults, overridden by the TOML file at ``path`` and then by ``overrides`` (top-level keys)."""
    data: dict[str, Any] = {}
    where = "defaults"
    base_dir = Path(".")
    if path is not None:
        path = Path(path)
        where, base_dir = str(path), path.parent
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorkbenchConfigError([Problem("config file not found", where)]) from None
        except tomllib.TOMLDecodeError as err:
            raise WorkbenchConfigError([Problem(f"not valid TOML: {err}", where)]) from None
    data.update(overrides)
    try:
        return WorkbenchConfig(**data, base_dir=base_dir)
    except ValidationError as err:
        raise WorkbenchConfigError(_problems(err, where)) from None
