"""Data versions on the web: the API shows a researcher the versions of the tiers they hold (offered ones, archived
ones on request, never the server's paths); the admin page switches a tier's default and archives versions, each
change audited, and refuses archiving the default."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from research_workbench.accounts.audit import AuditAction
from research_workbench.state.models import AuditEvent, DataVersion

from .conftest import ALL_RT, START, make_user, post

RT_TYPES = ["CONDITION", "DRUG", "SURVEY", "PHYSICAL_MEASUREMENT", "FITBIT"]
CT_TYPES = RT_TYPES + ["WHOLE_GENOME_VARIANT"]


def add_version(wb, name: str, tier: str, number: int, *, default: bool = False, archived: bool = False,
                participants: int = 100, types: list[str] | None = None) -> int:
    at = START - timedelta(days=30 * (10 - number))
    with wb.db.session() as session:
        version = DataVersion(name=name, tier=tier, release_number=number, cdr_path=f"/releases/{name}/{tier}",
                              index_path=f"/releases/{name}/{tier}.index",
                              aggregates_path=f"/releases/{name}.browser.sqlite", manifest_sha256="a" * 64,
                              participant_count=participants,
                              data_types=types or (CT_TYPES if tier == "controlled" else RT_TYPES),
                              is_default=default, created_at=at, archived_at=at + timedelta(days=1) if archived else None)
        session.add(version)
        session.flush()
        return version.id


def seed(wb) -> dict[str, int]:
    """Three releases: R1 archived (registered) / offered (controlled), R2 offered, R3 the defaults."""
    return {
        "R1/registered": add_version(wb, "R1", "registered", 1, archived=True, participants=90),
        "R1/controlled": add_version(wb, "R1", "controlled", 1, participants=95),
        "R2/registered": add_version(wb, "R2", "registered", 2, participants=180),
        "R2/controlled": add_version(wb, "R2", "controlled", 2, participants=190),
        "R3/registered": add_version(wb, "R3", "registered", 3, default=True, participants=270),
        "R3/controlled": add_version(wb, "R3", "controlled", 3, default=True, participants=285),
    }


def expected(ids, key, name, tier, number, participants, *, default=False, archived=False):
    at = START - timedelta(days=30 * (10 - number))
    types = CT_TYPES if tier == "controlled" else RT_TYPES
    labels = {"CONDITION": "Conditions (EHR)", "DRUG": "Drug exposures (EHR)", "SURVEY": "Surveys",
              "PHYSICAL_MEASUREMENT": "Physical measurements", "FITBIT": "Fitbit (wearables)",
              "WHOLE_GENOME_VARIANT": "Short-read whole genome sequencing"}
    return {"id": ids[key], "name": name, "tier": tier, "release_number": number, "participant_count": participants,
            "data_types": types, "data_type_labels": [labels[t] for t in types], "default": default,
            "archived": archived, "created_at": at.isoformat().replace("+00:00", "Z"),
            "archived_at": (at + timedelta(days=1)).isoformat().replace("+00:00", "Z") if archived else None}


def controlled_researcher(wb):
    from research_workbench.accounts.modules import Module

    return make_user(wb, "ct@citylab.org", institution="city-lab", modules=ALL_RT + (Module.CT_TRAINING,))


# -- the API ----------------------------------------------------------------------------------------------------

def test_the_api_lists_the_offered_versions_of_the_viewers_tiers_newest_first(wb):
    ids = seed(wb)
    client = make_user(wb, "rt@state.edu", modules=ALL_RT).sign_in()
    r = client.get("/api/data-versions")
    assert r.status_code == 200, r.text
    assert r.json() == [expected(ids, "R3/registered", "R3", "registered", 3, 270, default=True),
                        expected(ids, "R2/registered", "R2", "registered", 2, 180)]
    assert "cdr_path" not in r.text and "/releases/" not in r.text  # never the server's files


def test_the_api_shows_archived_versions_only_when_asked(wb):
    ids = seed(wb)
    client = make_user(wb, "rt@state.edu", modules=ALL_RT).sign_in()
    r = client.get("/api/data-versions?archived=true")
    assert r.status_code == 200, r.text
    assert r.json() == [expected(ids, "R3/registered", "R3", "registered", 3, 270, default=True),
                        expected(ids, "R2/registered", "R2", "registered", 2, 180),
                        expected(ids, "R1/registered", "R1", "registered", 1, 90, archived=True)]


def test_a_controlled_tier_researcher_sees_both_tiers_registered_first_within_a_release(wb):
    ids = seed(wb)
    client = controlled_researcher(wb).sign_in()
    r = client.get("/api/data-versions")
    assert r.status_code == 200, r.text
    assert [(v["name"], v["tier"], v["default"]) for v in r.json()] == [
        ("R3", "registered", True), ("R3", "controlled", True), ("R2", "registered", False),
        ("R2", "controlled", False), ("R1", "controlled", False)]


def test_the_api_needs_a_tier_and_a_token_needs_the_workspaces_read_scope(wb):
    seed(wb)
    assert wb.client().get("/api/data-versions").status_code == 401
    newcomer = make_user(wb, "new@state.edu", totp=False).sign_in()
    assert newcomer.get("/api/data-versions").status_code == 403
    holder = make_user(wb, "token@state.edu", modules=ALL_RT)
    client = holder.sign_in()
    tokens = {}
    for scopes in (["profile:read"], ["workspaces:read"]):
        page = post(client, "/account/tokens", {"action": "create", "name": scopes[0].replace(":", "-"), "days": "30",
                                                "scopes": scopes})
        tokens[scopes[0]] = re.search(r'id="new-token">(rwpat_[^<]+)<', page.text).group(1)
    api = wb.client()
    api.headers["authorization"] = f"Bearer {tokens['profile:read']}"
    assert api.get("/api/data-versions").status_code == 403
    api.headers["authorization"] = f"Bearer {tokens['workspaces:read']}"
    r = api.get("/api/data-versions")
    assert r.status_code == 200 and [v["name"] for v in r.json()] == ["R3", "R2"]


# -- the admin page ---------------------------------------------------------------------------------------------

def admin(wb):
    return make_user(wb, "admin@state.edu", admin=True).sign_in()


def audit_events(wb, action: AuditAction) -> list[tuple]:
    with wb.db.session() as session:
        return [(e.actor_id, e.ip, e.details) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.seq))]


def state(wb) -> dict[tuple[str, str], tuple[bool, bool]]:
    with wb.db.session() as session:
        return {(v.name, v.tier): (v.is_default, v.archived_at is not None) for v in session.scalars(select(DataVersion))}


def test_the_admin_page_lists_every_version_by_tier_with_its_status_and_actions(wb):
    ids = seed(wb)
    client = admin(wb)
    r = client.get("/admin/data-versions")
    assert r.status_code == 200, r.text
    html = r.text
    row = re.search(rf'<tr id="version-{ids["R1/registered"]}">(.*?)</tr>', html, re.S).group(1)
    assert "Archived" in row and "<form" not in row and "90" in row
    row = re.search(rf'<tr id="version-{ids["R3/controlled"]}">(.*?)</tr>', html, re.S).group(1)
    assert "Default" in row and "<form" not in row and "Short-read whole genome sequencing" in row
    row = re.search(rf'<tr id="version-{ids["R2/registered"]}">(.*?)</tr>', html, re.S).group(1)
    assert "Offered" in row
    assert f'action="/admin/data-versions/{ids["R2/registered"]}/default"' in row and "Make R2 the default" in row
    assert f'action="/admin/data-versions/{ids["R2/registered"]}/archive"' in row and "Archive R2" in row
    assert html.index('id="tier-registered"') < html.index('id="tier-controlled"')


def test_making_a_version_the_default_moves_the_tiers_default_and_is_audited(wb):
    ids = seed(wb)
    client = admin(wb)
    admin_id = wb.user("admin@state.edu").id
    r = post(client, f"/admin/data-versions/{ids['R2/registered']}/default", {}, form_page="/admin/data-versions")
    assert r.status_code == 303 and r.headers["location"] == "/admin/data-versions"
    assert state(wb)[("R2", "registered")] == (True, False)
    assert state(wb)[("R3", "registered")] == (False, False)
    assert state(wb)[("R3", "controlled")] == (True, False)  # the other tier keeps its default
    assert audit_events(wb, AuditAction.DATA_VERSION_DEFAULT_SET) == [(admin_id, "testclient", {
        "data_version_id": ids["R2/registered"], "name": "R2", "tier": "registered", "release_number": 2,
        "previous_default": ids["R3/registered"], "previous_name": "R3", "via": "web"})]
    assert "R2 (Registered Tier) is now the default for new workspaces." in client.get("/admin/data-versions").text


def test_archiving_hides_a_version_from_new_workspaces_and_is_audited(wb):
    ids = seed(wb)
    client = admin(wb)
    admin_id = wb.user("admin@state.edu").id
    r = post(client, f"/admin/data-versions/{ids['R2/controlled']}/archive", {}, form_page="/admin/data-versions")
    assert r.status_code == 303
    assert state(wb)[("R2", "controlled")] == (False, True)
    assert audit_events(wb, AuditAction.DATA_VERSION_ARCHIVED) == [(admin_id, "testclient", {
        "data_version_id": ids["R2/controlled"], "name": "R2", "tier": "controlled", "release_number": 2,
        "workspaces": 0, "via": "web"})]
    researcher = controlled_researcher(wb).sign_in()
    assert [(v["name"], v["tier"]) for v in researcher.get("/api/data-versions").json()] == [
        ("R3", "registered"), ("R3", "controlled"), ("R2", "registered"), ("R1", "controlled")]
    archived = researcher.get("/api/data-versions?archived=true").json()
    assert ("R2", "controlled", True) in [(v["name"], v["tier"], v["archived"]) for v in archived]


def test_archiving_the_default_is_refused_and_changes_nothing(wb):
    ids = seed(wb)
    client = admin(wb)
    before = state(wb)
    r = post(client, f"/admin/data-versions/{ids['R3/registered']}/archive", {}, form_page="/admin/data-versions")
    assert r.status_code == 409
    assert re.search(rf'<p class="problem" role="alert" id="version-{ids["R3/registered"]}-error">the tier&#39;s '
                     r"default cannot be archived: make another version the default first</p>", r.text), r.text[-3000:]
    assert state(wb) == before and audit_events(wb, AuditAction.DATA_VERSION_ARCHIVED) == []


def test_an_archived_version_cannot_become_the_default(wb):
    ids = seed(wb)
    client = admin(wb)
    before = state(wb)
    r = post(client, f"/admin/data-versions/{ids['R1/registered']}/default", {}, form_page="/admin/data-versions")
    assert r.status_code == 409 and "archived: an archived version cannot be the default" in r.text
    assert state(wb) == before and audit_events(wb, AuditAction.DATA_VERSION_DEFAULT_SET) == []


def test_an_unknown_version_is_404_and_nothing_is_audited(wb):
    seed(wb)
    client = admin(wb)
    assert post(client, "/admin/data-versions/999/archive", {}, form_page="/admin/data-versions").status_code == 404
    assert post(client, "/admin/data-versions/999/default", {}, form_page="/admin/data-versions").status_code == 404
    assert audit_events(wb, AuditAction.DATA_VERSION_ARCHIVED) == []


def test_the_admin_page_is_for_administrators_only(wb):
    seed(wb)
    researcher = make_user(wb, "rt@state.edu", modules=ALL_RT).sign_in()
    assert researcher.get("/admin/data-versions").status_code == 403
    assert wb.client().get("/admin/data-versions").status_code == 303
