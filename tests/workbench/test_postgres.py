"""The Workbench on PostgreSQL, its production database: the same journey as on SQLite."""

from __future__ import annotations

from sqlalchemy import select

from research_workbench.accounts.modules import Tier
from research_workbench.state.models import AuditEvent

from .conftest import ALL_RT, make_user, sign_in, sign_up, verify_email


def test_sign_up_to_registered_tier_on_postgresql(make_workbench, pg_state_url):
    wb = make_workbench(database_url=pg_state_url)
    assert wb.db.dialect == "postgresql"
    c = wb.client()
    sign_up(c)
    verify_email(wb, c)
    assert sign_in(c).headers["location"] == "/access"
    persona = make_user(wb, "rt@state.edu", modules=ALL_RT)
    rt = persona.sign_in()
    assert rt.get("/data/registered").status_code == 200
    assert rt.get("/api/me/access").json()["tiers"][0]["tier"] == Tier.REGISTERED.value
    with wb.db.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions[:3] == ["signup", "email_verified", "signin"]
    assert wb.app.state.services.audit.verify(wb.db).ok
