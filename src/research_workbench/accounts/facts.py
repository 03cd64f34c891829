"""Reading one user's ``AccessFacts`` from the database: the only input the access evaluator gets."""

from __future__ import annotations

from datetime import datetime

from ..state.models import User
from .access import AccessFacts, AccessPolicy, AccessState, ModuleFacts, evaluate
from .institutions import allowed_tiers
from .modules import STORED_MODULES, Module


def profile_complete(user: User) -> bool:
    address = user.address or {}
    return bool(user.given_name and user.family_name and user.role and address.get("street1")
                and address.get("city") and address.get("country") and user.research_background.strip())


def read_facts(user: User, *, terms_version: str, privacy_version: str, now: datetime) -> AccessFacts:
    modules = {}
    for row in user.modules:
        module = Module(row.module)
        if module in STORED_MODULES:
            modules[module] = ModuleFacts(row.completed_at, row.bypass_until, row.bypass_reason)
    return AccessFacts(
        disabled=user.disabled_at is not None,
        email_verified=user.email_verified_at is not None,
        terms_current=user.terms_version == terms_version and user.privacy_version == privacy_version,
        profile_complete=profile_complete(user),
        institution_allows=allowed_tiers(user.institution, user.email, now.date()),
        institution_agreement_ends=user.institution.agreement_expires_on if user.institution else None,
        modules=modules,
    )


class Evaluator:
    """``evaluate`` bound to the app's policy and current document versions: ``state(user, now)``."""

    def __init__(self, policy: AccessPolicy, *, terms_version: str, privacy_version: str):
        self.policy = policy
        self.terms_version = terms_version
        self.privacy_version = privacy_version

    def facts(self, user: User, now: datetime) -> AccessFacts:
        return read_facts(user, terms_version=self.terms_version, privacy_version=self.privacy_version, now=now)

    def state(self, user: User, now: datetime) -> AccessState:
        return evaluate(self.facts(user, now), now, self.policy)
