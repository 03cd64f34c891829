"""The one access evaluator: per tier, granted or not, what is missing, the one next step, and what expires when.

``evaluate`` is a pure function of ``AccessFacts`` (a snapshot of one user, read by ``facts.read_facts``) and the
time. The access-requirements page, the renewal page, every route guard, the profile and the admin view render
its answer; nothing else decides access. Property tests (``tests/accounts/test_access_properties.py``) check it
over random users.

A module is *satisfied* when an admin bypass is running (``bypass_until`` in the future) or when it was completed
and, if it expires, less than ``policy.validity`` ago. A tier is granted when the account is enabled and every
module the tier needs is satisfied. The next step is the first unsatisfied module in the tier's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from .modules import MODULES, REQUIRED, Module, Tier

DEFAULT_VALIDITY = timedelta(days=365)


class Status(StrEnum):
    COMPLETE = "complete"
    BYPASSED = "bypassed"
    EXPIRED = "expired"
    NOT_STARTED = "not_started"
    NOT_ALLOWED = "not_allowed"  # the institution's rule does not cover this user


@dataclass(frozen=True)
class ModuleFacts:
    completed_at: datetime | None = None
    bypass_until: datetime | None = None
    bypass_reason: str | None = None


@dataclass(frozen=True)
class AccessPolicy:
    validity: timedelta = DEFAULT_VALIDITY  # how long an expiring module stays complete
    expiring_within: timedelta = timedelta(days=30)  # "expires soon" on the pages and in reminders


@dataclass(frozen=True)
class AccessFacts:
    """What the evaluator needs to know of one user (nothing else is consulted)."""

    disabled: bool = False
    email_verified: bool = False
    terms_current: bool = False  # the current Terms of Service and privacy policy are accepted
    profile_complete: bool = False
    institution_allows: frozenset[Tier] = frozenset()  # tiers its agreement's rules grant this email
    institution_agreement_ends: date | None = None
    modules: dict[Module, ModuleFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class ModuleState:
    module: Module
    status: Status
    completed_at: datetime | None
    expires_at: datetime | None  # when it stops counting (completion + validity, or the bypass's end)
    bypass_until: datetime | None
    bypass_reason: str | None

    @property
    def satisfied(self) -> bool:
        return self.status in (Status.COMPLETE, Status.BYPASSED)

    @property
    def info(self):
        return MODULES[self.module]


@dataclass(frozen=True)
class TierAccess:
    tier: Tier
    granted: bool
    missing: tuple[Module, ...]
    next_step: Module | None
    expires_at: datetime | None  # when a granted tier lapses unless something is renewed


@dataclass(frozen=True)
class AccessState:
    at: datetime
    disabled: bool
    modules: dict[Module, ModuleState]
    tiers: dict[Tier, TierAccess]

    @property
    def granted(self) -> frozenset[Tier]:
        return frozenset(t for t, a in self.tiers.items() if a.granted)

    @property
    def next_step(self) -> Module | None:
        """The one thing to do next: the Registered Tier's next step, then the Controlled Tier's."""
        if self.disabled:
            return None
        for tier in Tier:
            step = self.tiers[tier].next_step
            if step is not None and not (tier is Tier.CONTROLLED and step in _NOT_USER_STEPS):
                return step
        return None

    def expiring(self, within: timedelta) -> list[ModuleState]:
        """Satisfied modules that stop counting within ``within``, soonest first."""
        soon = [m for m in self.modules.values()
                if m.satisfied and m.expires_at is not None and m.expires_at <= self.at + within]
        return sorted(soon, key=lambda m: (m.expires_at, m.module))


_NOT_USER_STEPS = (Module.INSTITUTION_CT,)


def _stored_state(module: Module, facts: ModuleFacts | None, now: datetime, policy: AccessPolicy) -> ModuleState:
    facts = facts or ModuleFacts()
    expires_at = None
    if facts.completed_at is not None and MODULES[module].expires:
        expires_at = facts.completed_at + policy.validity
    done = facts.completed_at is not None and (expires_at is None or now < expires_at)
    bypassed = facts.bypass_until is not None and now < facts.bypass_until
    if done:
        status = Status.COMPLETE
        if bypassed and expires_at is not None and facts.bypass_until > expires_at:
            status, expires_at = Status.BYPASSED, facts.bypass_until
    elif bypassed:
        status, expires_at = Status.BYPASSED, facts.bypass_until
    elif facts.completed_at is not None:
        status = Status.EXPIRED
    else:
        status = Status.NOT_STARTED
    return ModuleState(module, status, facts.completed_at, expires_at, facts.bypass_until, facts.bypass_reason)


def _derived_state(module: Module, facts: AccessFacts, now: datetime) -> ModuleState:
    ends = None
    if facts.institution_agreement_ends is not None:
        ends = datetime.combine(facts.institution_agreement_ends + timedelta(days=1), datetime.min.time(), now.tzinfo)
    if module is Module.ACCOUNT:
        ok = facts.email_verified and facts.terms_current and facts.profile_complete
        return ModuleState(module, Status.COMPLETE if ok else Status.NOT_STARTED, None, None, None, None)
    tier = Tier.REGISTERED if module is Module.INSTITUTION_RT else Tier.CONTROLLED
    ok = tier in facts.institution_allows and (ends is None or now < ends)
    return ModuleState(module, Status.COMPLETE if ok else Status.NOT_ALLOWED, None, ends if ok else None, None, None)


def evaluate(facts: AccessFacts, now: datetime, policy: AccessPolicy = AccessPolicy()) -> AccessState:
    modules: dict[Module, ModuleState] = {}
    for module in Module:
        if module in (Module.ACCOUNT, Module.INSTITUTION_RT, Module.INSTITUTION_CT):
            modules[module] = _derived_state(module, facts, now)
        else:
            modules[module] = _stored_state(module, facts.modules.get(module), now, policy)
    tiers = {}
    for tier in Tier:
        missing = tuple(m for m in REQUIRED[tier] if not modules[m].satisfied)
        granted = not facts.disabled and not missing
        ends = [modules[m].expires_at for m in REQUIRED[tier] if modules[m].expires_at is not None]
        tiers[tier] = TierAccess(tier, granted, missing, None if facts.disabled or not missing else missing[0],
                                 min(ends) if granted and ends else None)
    return AccessState(now, facts.disabled, modules, tiers)
