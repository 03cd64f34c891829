"""The one access evaluator: exact answers for hand-made users, and properties over random ones."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from research_workbench.accounts.access import (
    AccessFacts, AccessPolicy, ModuleFacts, Status, evaluate,
)
from research_workbench.accounts.modules import MODULES, REQUIRED, STORED_MODULES, Module, Tier

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
YEAR = timedelta(days=365)


def done(days_ago: int = 10) -> ModuleFacts:
    return ModuleFacts(completed_at=NOW - timedelta(days=days_ago))


def registered_facts(**changes) -> AccessFacts:
    base = dict(email_verified=True, terms_current=True, profile_complete=True,
                institution_allows=frozenset({Tier.REGISTERED}),
                modules={m: done() for m in (Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC,
                                             Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS)})
    base.update(changes)
    return AccessFacts(**base)


def test_a_new_account_needs_everything_in_order_and_the_next_step_is_the_first():
    state = evaluate(AccessFacts(institution_allows=frozenset({Tier.REGISTERED})), NOW)
    rt = state.tiers[Tier.REGISTERED]
    assert not rt.granted
    assert rt.missing == (Module.ACCOUNT, Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC,
                          Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS)
    assert rt.next_step is Module.ACCOUNT and state.next_step is Module.ACCOUNT
    assert state.tiers[Tier.CONTROLLED].missing[-2:] == (Module.INSTITUTION_CT, Module.CT_TRAINING)


def test_registered_tier_is_granted_when_every_module_is_done_and_expires_with_the_oldest():
    facts = registered_facts()
    facts.modules[Module.DUCC] = done(days_ago=300)
    state = evaluate(facts, NOW)
    rt = state.tiers[Tier.REGISTERED]
    assert rt.granted and rt.missing == () and rt.next_step is None
    assert rt.expires_at == NOW - timedelta(days=300) + YEAR
    assert state.granted == frozenset({Tier.REGISTERED})
    assert state.tiers[Tier.CONTROLLED].missing == (Module.INSTITUTION_CT, Module.CT_TRAINING)
    assert state.tiers[Tier.CONTROLLED].next_step is Module.INSTITUTION_CT
    assert state.next_step is None  # the institution's permission is not a step the user can take


def test_a_module_expires_a_year_after_completion_and_the_tier_with_it():
    facts = registered_facts()
    facts.modules[Module.RT_TRAINING] = done(days_ago=365)
    state = evaluate(facts, NOW)
    assert state.modules[Module.RT_TRAINING].status is Status.EXPIRED
    assert state.tiers[Tier.REGISTERED].missing == (Module.RT_TRAINING,)
    assert not state.tiers[Tier.REGISTERED].granted
    day_before = evaluate(facts, NOW - timedelta(seconds=1))
    assert day_before.tiers[Tier.REGISTERED].granted


def test_identity_and_two_factor_never_expire():
    facts = registered_facts()
    facts.modules[Module.IDENTITY] = done(days_ago=3000)
    facts.modules[Module.TWO_FACTOR] = done(days_ago=3000)
    for m in (Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS):
        facts.modules[m] = done(days_ago=1)
    state = evaluate(facts, NOW)
    assert state.tiers[Tier.REGISTERED].granted
    assert state.modules[Module.IDENTITY].expires_at is None


def test_validity_is_configurable():
    facts = registered_facts()
    state = evaluate(facts, NOW, AccessPolicy(validity=timedelta(days=5)))
    assert state.modules[Module.DUCC].status is Status.EXPIRED


def test_a_bypass_counts_until_its_end_and_says_so():
    facts = registered_facts()
    facts.modules[Module.IDENTITY] = ModuleFacts(bypass_until=NOW + timedelta(days=30), bypass_reason="no ID")
    state = evaluate(facts, NOW)
    identity = state.modules[Module.IDENTITY]
    assert identity.status is Status.BYPASSED and identity.expires_at == NOW + timedelta(days=30)
    assert state.tiers[Tier.REGISTERED].granted
    assert state.tiers[Tier.REGISTERED].expires_at == NOW + timedelta(days=30)
    later = evaluate(facts, NOW + timedelta(days=30))
    assert later.modules[Module.IDENTITY].status is Status.NOT_STARTED and not later.tiers[Tier.REGISTERED].granted


def test_disabled_accounts_have_no_tier_and_no_next_step():
    state = evaluate(registered_facts(disabled=True), NOW)
    assert state.granted == frozenset() and state.next_step is None
    assert all(t.next_step is None for t in state.tiers.values())


def test_controlled_tier_needs_the_institution_and_its_training():
    facts = registered_facts(institution_allows=frozenset({Tier.REGISTERED, Tier.CONTROLLED}))
    assert evaluate(facts, NOW).tiers[Tier.CONTROLLED].missing == (Module.CT_TRAINING,)
    facts.modules[Module.CT_TRAINING] = done()
    state = evaluate(facts, NOW)
    assert state.granted == frozenset({Tier.REGISTERED, Tier.CONTROLLED})


def test_an_ended_agreement_ends_access_the_day_after_its_last_day():
    facts = registered_facts(institution_agreement_ends=date(2026, 6, 1))
    assert evaluate(facts, NOW).tiers[Tier.REGISTERED].granted
    assert evaluate(facts, NOW).tiers[Tier.REGISTERED].expires_at == datetime(2026, 6, 2, tzinfo=timezone.utc)
    after = evaluate(facts, datetime(2026, 6, 2, 0, 0, tzinfo=timezone.utc))
    assert after.modules[Module.INSTITUTION_RT].status is Status.NOT_ALLOWED
    assert after.tiers[Tier.REGISTERED].missing == (Module.INSTITUTION_RT,)


def test_expiring_lists_what_lapses_soonest_first():
    facts = registered_facts()
    facts.modules[Module.DUCC] = done(days_ago=350)
    facts.modules[Module.RT_TRAINING] = done(days_ago=340)
    soon = evaluate(facts, NOW).expiring(timedelta(days=30))
    assert [s.module for s in soon] == [Module.DUCC, Module.RT_TRAINING]


# -- properties over random users ---------------------------------------------------------------------------------

offsets = st.integers(min_value=-800, max_value=800)
module_facts = st.builds(
    lambda c, b: ModuleFacts(completed_at=None if c is None else NOW + timedelta(days=c),
                             bypass_until=None if b is None else NOW + timedelta(days=b)),
    st.none() | st.integers(min_value=-800, max_value=0), st.none() | offsets)
facts_strategy = st.builds(
    AccessFacts,
    disabled=st.booleans(), email_verified=st.booleans(), terms_current=st.booleans(),
    profile_complete=st.booleans(),
    institution_allows=st.frozensets(st.sampled_from(list(Tier))),
    institution_agreement_ends=st.none() | st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 1, 1)),
    modules=st.dictionaries(st.sampled_from(STORED_MODULES), module_facts),
)


@settings(max_examples=400, deadline=None)
@given(facts_strategy)
def test_granted_exactly_when_enabled_and_nothing_missing(facts):
    state = evaluate(facts, NOW)
    for tier, access in state.tiers.items():
        assert access.granted == (not facts.disabled and access.missing == ())
        assert set(access.missing) == {m for m in REQUIRED[tier] if not state.modules[m].satisfied}
        assert list(access.missing) == [m for m in REQUIRED[tier] if m in access.missing]  # the tier's order
        if access.granted:
            assert access.next_step is None
        elif not facts.disabled:
            assert access.next_step == access.missing[0]


@settings(max_examples=400, deadline=None)
@given(facts_strategy)
def test_controlled_implies_registered_and_disabled_implies_nothing(facts):
    state = evaluate(facts, NOW)
    if Tier.CONTROLLED in state.granted:
        assert Tier.REGISTERED in state.granted
    if facts.disabled:
        assert state.granted == frozenset() and state.next_step is None


@settings(max_examples=400, deadline=None)
@given(facts_strategy)
def test_a_granted_tier_lasts_until_its_expiry_and_not_after(facts):
    state = evaluate(facts, NOW)
    for tier, access in state.tiers.items():
        if access.granted and access.expires_at is not None:
            assert access.expires_at > NOW
            assert evaluate(facts, access.expires_at - timedelta(seconds=1)).tiers[tier].granted
            assert not evaluate(facts, access.expires_at).tiers[tier].granted


@settings(max_examples=300, deadline=None)
@given(facts_strategy, st.sampled_from(STORED_MODULES))
def test_completing_a_module_never_takes_access_away(facts, module):
    before = evaluate(facts, NOW)
    modules = dict(facts.modules)
    modules[module] = ModuleFacts(completed_at=NOW, bypass_until=modules.get(module, ModuleFacts()).bypass_until)
    after = evaluate(AccessFacts(**{**facts.__dict__, "modules": modules}), NOW)
    assert before.granted <= after.granted
    assert after.modules[module].satisfied


@settings(max_examples=300, deadline=None)
@given(facts_strategy)
def test_every_module_state_is_consistent(facts):
    state = evaluate(facts, NOW)
    for module, m in state.modules.items():
        if m.status is Status.EXPIRED:
            assert MODULES[module].expires and m.completed_at is not None
        if m.satisfied and m.expires_at is not None:
            assert m.expires_at > NOW
        if m.status is Status.NOT_ALLOWED:
            assert module in (Module.INSTITUTION_RT, Module.INSTITUTION_CT)
