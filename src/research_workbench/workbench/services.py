"""Everything a request handler needs, built once from the config: the database, the keys, the password hasher,
the audit log, the session store, the access evaluator, TOTP secrets, rate limits, the clock and the cohort
engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..accounts.access import AccessPolicy
from ..accounts.audit import AuditLog
from ..accounts.clock import utcnow
from ..accounts.config import Keys, WorkbenchConfig
from ..accounts.documents import current_version
from ..accounts.facts import Evaluator
from ..accounts.passwords import Passwords
from ..accounts.sessions import SessionStore
from ..accounts.totp import TotpSecrets
from ..state import Database
from .engines import EnginePool, server_engine
from .ratelimit import RateLimits
from .review_extracts import ReviewExtracts


@dataclass
class Services:
    config: WorkbenchConfig
    db: Database
    keys: Keys
    passwords: Passwords
    audit: AuditLog
    sessions: SessionStore
    evaluator: Evaluator
    totp: TotpSecrets
    limits: RateLimits
    clock: Callable[[], datetime] = field(default=utcnow)
    engines: EnginePool = field(default_factory=EnginePool)  # cohort engines per thread and data version
    extracts: ReviewExtracts | None = None  # review sets' participants' rows (None: pages read the CDR)
    exports: Any = None  # the background dataset exports (``export_jobs.ExportJobs``), set by ``create_app``
    genomics: Any = None  # the background genomics jobs (``genomics_jobs.GenomicsJobs``), set by ``create_app``

    @classmethod
    def build(cls, config: WorkbenchConfig, *, db: Database | None = None,
              clock: Callable[[], datetime] = utcnow) -> Services:
        keys = Keys(config.secret())
        db = db or Database(config.resolved_database_url)
        policy = AccessPolicy(validity=config.access.validity)
        evaluator = Evaluator(policy, terms_version=current_version("terms"), privacy_version=current_version("privacy"))
        return cls(config=config, db=db, keys=keys, passwords=Passwords(config.passwords), audit=AuditLog(keys.audit, clock),
                   sessions=SessionStore(keys.tokens, config.sessions), evaluator=evaluator,
                   totp=TotpSecrets(keys.fernet), limits=RateLimits(config.limits), clock=clock,
                   engines=EnginePool(server_engine(config)),
                   extracts=ReviewExtracts(config.resolve(config.review_extracts_dir),
                                           unused_days=config.review_extracts_unused_days))

    def now(self) -> datetime:
        return self.clock()
