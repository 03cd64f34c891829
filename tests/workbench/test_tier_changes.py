"""Every tier change is in the audit log, once: gained or lost by the user's own steps, by an admin, or by time."""

from __future__ import annotations

from sqlalchemy import select

from research_workbench.accounts.modules import Module
from research_workbench.state.models import AuditEvent
from research_workbench.workbench.mailing import reconcile_all_tiers

from .conftest import make_user


def tier_events(wb) -> list[tuple[str, dict]]:
    with wb.db.session() as session:
        return [(e.action, e.details) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["tier_granted", "tier_lost"])).order_by(AuditEvent.seq))]


def test_a_tier_gained_by_the_users_own_step_is_audited_once(wb):
    persona = make_user(wb, "ada@state.edu", modules=(Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING))
    c = persona.sign_in()
    assert tier_events(wb) == []
    wb.complete("ada@state.edu", Module.DUCC)  # as signing the Code of Conduct does
    c.get("/access")
    c.get("/access")
    [(action, details)] = tier_events(wb)
    assert action == "tier_granted" and details["tier"] == "registered" and details["until"].startswith("2027-")


def test_a_tier_that_lapses_while_nobody_is_signed_in_is_audited_by_the_hourly_job(wb):
    make_user(wb, "ada@state.edu", modules=(Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC))
    services = wb.app.state.services
    assert reconcile_all_tiers(services) == 1  # first seen granted
    assert reconcile_all_tiers(services) == 0
    wb.clock.advance(days=366)
    assert reconcile_all_tiers(services) == 1
    assert [(a, d["tier"]) for a, d in tier_events(wb)] == [("tier_granted", "registered"), ("tier_lost", "registered")]
    assert tier_events(wb)[1][1]["missing"] == ["rt_training", "ducc", "profile_confirmation", "publications"]
