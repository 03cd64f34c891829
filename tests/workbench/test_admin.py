"""The administration pages: who may use them, and what each action changes and writes to the audit log."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta, timezone

import pyotp
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from research_workbench.accounts.access import Status
from research_workbench.accounts.audit import AuditAction
from research_workbench.accounts.institutions import request_institution
from research_workbench.accounts.modules import Module, Tier
from research_workbench.state.models import AuditEvent, InstitutionRequest, Session as SessionRow, User
from research_workbench.workbench.guards import Access, route_access
from research_workbench.workbench.routes.admin import load_user

from .conftest import post, sign_in, sign_up, verify_email

ADMIN = "admin@citylab.org"
ADA = "ada@state.edu"
REGISTERED_STEPS = (Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION,
                    Module.PUBLICATIONS)
REASON = "Pilot participant: checked by the program office"


# -- helpers ----------------------------------------------------------------------------------------------------

def account(wb, email: str, institution: str):
    client = wb.client()
    sign_up(client, email, institution)
    verify_email(wb, client, email)
    return client


def make_admin(wb, email: str = ADMIN, *, second_factor: bool = True):
    """An administrator signed in; with ``second_factor``, with TOTP turned on in this session."""
    client = account(wb, email, "city-lab")
    with wb.db.session() as s:
        s.scalar(select(User).where(User.email == email)).is_admin = True
    r = sign_in(client, email)
    assert r.status_code == 303, r.text[:500]
    if second_factor:
        page = client.get("/account/two-factor")
        secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text).group(1)
        r = post(client, "/account/two-factor", {"action": "enable", "code": pyotp.TOTP(secret).at(wb.clock.now)})
        assert r.status_code == 200, r.text[:500]
    return client


def researcher(wb, email: str = ADA, *, missing: tuple[Module, ...] = ()):
    """A State University researcher, signed in, with every Registered Tier step done but ``missing``."""
    client = account(wb, email, "state-u")
    wb.complete(email, *(m for m in REGISTERED_STEPS if m not in missing))
    r = sign_in(client, email)
    assert r.status_code == 303, r.text[:500]
    assert client.get("/access").status_code == 200
    return client


def user_id(wb, email: str) -> int:
    return wb.user(email).id


def access(wb, email: str):
    """The one evaluator's answer for ``email`` now."""
    with wb.db.session() as s:
        user = load_user(s, user_id(wb, email))
        return wb.app.state.services.evaluator.state(user, wb.clock.now)


def head(wb) -> int:
    with wb.db.session() as s:
        return s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


def events_after(wb, seq: int) -> list[AuditEvent]:
    with wb.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def only_event(wb, seq: int) -> AuditEvent:
    """The one audit row written since ``seq`` (fails if there are none or several)."""
    rows = events_after(wb, seq)
    assert len(rows) == 1, [r.action for r in rows]
    return rows[0]


def field_errors(html: str) -> set[str]:
    """The fields a page marks as invalid (their error paragraphs' ids, without ``-error``)."""
    return set(re.findall(r'<p class="field-error" id="([^"]+)-error">', html))


def admin_post(client, path: str, data: dict, *, page: str):
    return post(client, path, data, form_page=page)


def in_days(wb, days: int) -> str:
    return (wb.clock.now.date() + timedelta(days=days)).isoformat()


def signed_out(client) -> bool:
    r = client.get("/access")
    return r.status_code == 303 and r.headers["location"].startswith("/signin")


# -- who may use the pages --------------------------------------------------------------------------------------

def admin_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/admin"):
            assert route_access(route) == [Access.ADMIN], route.path
            for method in sorted(route.methods):
                found.append((method, route.path))
    return found


def concrete(path: str, uid: int) -> str:
    return (path.replace("{user_id}", str(uid)).replace("{short_name}", "state-u")
            .replace("{id}", "1"))


def test_every_admin_route_refuses_anyone_but_an_admin_signed_in_with_a_second_factor(wb):
    routes = admin_routes(wb.app)
    paths = {p for _, p in routes}
    assert {"/admin", "/admin/users", "/admin/users/{user_id}", "/admin/users/{user_id}/bypass",
            "/admin/users/{user_id}/bypass/remove", "/admin/users/{user_id}/verify-identity",
            "/admin/users/{user_id}/disable", "/admin/users/{user_id}/enable", "/admin/users/{user_id}/reverify",
            "/admin/users/{user_id}/admin", "/admin/institutions", "/admin/institutions/new",
            "/admin/institutions/{short_name}", "/admin/institution-requests",
            "/admin/institution-requests/{id}/handled", "/admin/audit", "/admin/audit/verify",
            "/admin/audit/checkpoint"} <= paths
    with wb.db.session() as s:
        request_institution(s, name="Far College", website=None, contact_name="Dee", contact_email="dee@far.edu",
                            message=None, now=wb.clock.now)
    anonymous = wb.client()
    plain = researcher(wb)
    half_admin = make_admin(wb, "half@citylab.org", second_factor=False)
    uid = user_id(wb, ADA)
    before = head(wb)
    for method, path in routes:
        url = concrete(path, uid)
        if method == "GET":
            assert anonymous.get(url).status_code == 303, url
            r = plain.get(url)
            assert r.status_code == 403 and "This page is for administrators." in r.text, url
            r = half_admin.get(url)
            assert r.status_code == 403, url
            assert "for administrators signed in with two-step verification" in r.text, url
        else:
            data = {"reason": REASON, "module": "identity", "until": in_days(wb, 5), "action": "grant"}
            for client in (plain, half_admin):
                r = post(client, url, data, form_page="/profile")
                assert r.status_code == 403, (url, r.status_code)
    assert [e.action for e in events_after(wb, before)] == []  # nothing was done
    assert access(wb, ADA).modules[Module.IDENTITY].status is Status.COMPLETE


def test_an_admin_reaches_every_page_and_the_navigation_shows_it(wb):
    admin = make_admin(wb)
    researcher(wb)
    uid = user_id(wb, ADA)
    for url in ("/admin", "/admin/users", f"/admin/users/{uid}", "/admin/institutions", "/admin/institutions/new",
                "/admin/institutions/state-u", "/admin/institution-requests", "/admin/audit", "/admin/audit/verify"):
        r = admin.get(url)
        assert r.status_code == 200, (url, r.text[:1000])
        assert '<a href="/admin" aria-current="page">Admin</a>' in r.text, url
    overview = admin.get("/admin").text
    assert re.search(r'<dd id="count-users">2</dd>', overview)
    assert re.search(r'<dd id="count-registered">1</dd>', overview)
    assert re.search(r'<dd id="count-admins">1</dd>', overview)
    assert "No request to add an institution is waiting." in overview
    assert admin.get("/admin/users/999999").status_code == 404
    assert admin.get("/admin/institutions/nowhere").status_code == 404


def test_the_user_list_searches_email_and_name(wb):
    admin = make_admin(wb)
    researcher(wb)
    found = admin.get("/admin/users", params={"q": "lovelace"}).text
    assert "2 users matching" in found and ADA in found and ADMIN in found  # both are "Ada Lovelace"
    found = admin.get("/admin/users", params={"q": "state.edu"}).text
    assert ADA in found and f">{ADMIN}<" not in found
    assert "1 user matching" in found
    assert "Registered Tier" in found
    assert "No user matches." in admin.get("/admin/users", params={"q": "a_a"}).text  # _ is not a wildcard
    assert "No user matches." in admin.get("/admin/users", params={"q": "%"}).text  # nor is %
    by_id = admin.get("/admin/users", params={"q": str(user_id(wb, ADA))}).text
    assert ADA in by_id


# -- bypasses ---------------------------------------------------------------------------------------------------

def test_a_bypass_grants_the_tier_when_it_was_the_only_missing_module_and_ends_on_its_date(wb):
    admin = make_admin(wb)
    researcher(wb, missing=(Module.IDENTITY,))
    uid = user_id(wb, ADA)
    assert Tier.REGISTERED not in access(wb, ADA).granted
    before = head(wb)
    page = f"/admin/users/{uid}"
    r = admin_post(admin, f"/admin/users/{uid}/bypass",
                   {"module": "identity", "until": in_days(wb, 10), "reason": REASON}, page=page)
    assert r.status_code == 303 and r.headers["location"] == page
    ends = datetime.combine(wb.clock.now.date() + timedelta(days=10), time(0), timezone.utc)
    state = access(wb, ADA)
    assert state.modules[Module.IDENTITY].status is Status.BYPASSED
    assert state.modules[Module.IDENTITY].bypass_until == ends
    assert state.modules[Module.IDENTITY].bypass_reason == REASON
    assert Tier.REGISTERED in state.granted
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id) == ("bypass_set", user_id(wb, ADMIN), uid)
    assert event.details == {"module": "identity", "until": ends.isoformat(), "reason": REASON,
                             "tiers_before": [], "tiers_after": ["registered"]}
    shown = admin.get(page).text
    assert re.search(r'id="module-identity">.*?Bypassed.*?' + re.escape(REASON), shown, re.S)
    assert re.search(r'id="registered-status">Registered Tier: <span class="status complete">Granted', shown)

    wb.clock.advance(days=10)  # 09:00 on the end date: the bypass ended at 00:00
    state = access(wb, ADA)
    assert state.modules[Module.IDENTITY].status is Status.NOT_STARTED
    assert Tier.REGISTERED not in state.granted


@pytest.mark.parametrize("data, field", [
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": "why"}, "reason"),
    ({"reason": "x" * 501}, "reason"),
    ({"until": ""}, "until"),
    ({"until": "next week"}, "until"),
    ({"until": "PAST"}, "until"),
    ({"until": "TODAY"}, "until"),
    ({"until": "YEAR+1"}, "until"),
    ({"module": "account"}, "module"),
    ({"module": "institution_rt"}, "module"),
    ({"module": "nonsense"}, "module"),
])
def test_a_bypass_needs_a_bypassable_module_a_future_end_within_a_year_and_a_reason(wb, data, field):
    admin = make_admin(wb)
    account(wb, ADA, "state-u")
    uid = user_id(wb, ADA)
    dates = {"PAST": in_days(wb, -1), "TODAY": in_days(wb, 0), "YEAR+1": in_days(wb, 366)}
    values = {"module": "identity", "until": in_days(wb, 30), "reason": REASON, **data}
    values["until"] = dates.get(values["until"], values["until"])
    before = head(wb)
    r = admin_post(admin, f"/admin/users/{uid}/bypass", values, page=f"/admin/users/{uid}")
    assert r.status_code == 422
    assert field_errors(r.text) == {f"bypass-{field}"}
    assert f'href="#bypass-{field}"' in r.text  # the summary links to the field
    assert events_after(wb, before) == []
    assert access(wb, ADA).modules[Module.IDENTITY].status is Status.NOT_STARTED


def test_a_bypass_may_end_exactly_a_year_ahead(wb):
    admin = make_admin(wb)
    account(wb, ADA, "state-u")
    uid = user_id(wb, ADA)
    r = admin_post(admin, f"/admin/users/{uid}/bypass", {"module": "rt_training", "until": in_days(wb, 365),
                                                         "reason": REASON}, page=f"/admin/users/{uid}")
    assert r.status_code == 303
    assert access(wb, ADA).modules[Module.RT_TRAINING].status is Status.BYPASSED


def test_removing_a_bypass_takes_the_tier_away_and_signs_the_user_out(wb):
    admin = make_admin(wb)
    ada = researcher(wb, missing=(Module.DUCC,))
    uid = user_id(wb, ADA)
    page = f"/admin/users/{uid}"
    until = in_days(wb, 20)
    assert admin_post(admin, f"/admin/users/{uid}/bypass", {"module": "ducc", "until": until, "reason": REASON},
                      page=page).status_code == 303
    assert ada.get("/access").status_code == 200  # the session now holds the Registered Tier
    with wb.db.session() as s:
        assert s.scalar(select(SessionRow.tiers).where(SessionRow.user_id == uid,
                                                       SessionRow.revoked_at.is_(None))) == ["registered"]
    r = admin_post(admin, f"/admin/users/{uid}/bypass/remove", {"module": "identity", "reason": REASON}, page=page)
    assert r.status_code == 422 and field_errors(r.text) == {"unbypass-module"}  # identity has no bypass
    before = head(wb)
    r = admin_post(admin, f"/admin/users/{uid}/bypass/remove", {"module": "ducc", "reason": "Bypass given by mistake"},
                   page=page)
    assert r.status_code == 303
    event = only_event(wb, before)
    ends = datetime.combine(date.fromisoformat(until), time(0), timezone.utc)
    assert (event.action, event.actor_id, event.target_user_id) == ("bypass_removed", user_id(wb, ADMIN), uid)
    assert event.details == {"module": "ducc", "reason": "Bypass given by mistake",
                             "was": {"until": ends.isoformat(), "reason": REASON},
                             "tiers_before": ["registered"], "tiers_after": []}
    assert access(wb, ADA).modules[Module.DUCC].status is Status.NOT_STARTED
    seq = head(wb)
    assert signed_out(ada)
    lost, revoked = events_after(wb, seq)  # written by the session layer, not the admin action
    assert (lost.action, lost.target_user_id, lost.details) == (
        "tier_lost", uid, {"tier": "registered", "missing": ["ducc"], "disabled": False})
    assert (revoked.action, revoked.target_user_id, revoked.details["lost"]) == ("session_revoked", uid,
                                                                                 ["registered"])


# -- identity, re-verification, disabling, the admin role ---------------------------------------------------------

def test_a_manual_identity_verification_is_recorded_with_its_reason(wb):
    admin = make_admin(wb)
    researcher(wb, missing=(Module.IDENTITY,))
    uid, admin_id = user_id(wb, ADA), user_id(wb, ADMIN)
    page = f"/admin/users/{uid}"
    assert 'id="identity-form"' in admin.get(page).text
    r = admin_post(admin, f"/admin/users/{uid}/verify-identity", {"reason": "no"}, page=page)
    assert r.status_code == 422 and field_errors(r.text) == {"identity-reason"}
    before = head(wb)
    reason = "Passport and state ID checked in person at the program office"
    r = admin_post(admin, f"/admin/users/{uid}/verify-identity", {"reason": reason}, page=page)
    assert r.status_code == 303
    state = access(wb, ADA)
    assert state.modules[Module.IDENTITY].status is Status.COMPLETE
    assert state.modules[Module.IDENTITY].completed_at == wb.clock.now
    assert Tier.REGISTERED in state.granted
    with wb.db.session() as s:
        row = next(m for m in load_user(s, uid).modules if m.module == "identity")
        assert row.details == {"via": "admin", "reason": reason, "by": admin_id}
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id) == ("identity_verified", admin_id, uid)
    assert event.details == {"method": "manual", "reason": reason, "tiers_before": [], "tiers_after": ["registered"]}
    shown = admin.get(page).text
    assert 'id="identity-form"' not in shown and "(by hand)" in shown
    seq = head(wb)
    r = post(admin, f"/admin/users/{uid}/verify-identity", {"reason": reason}, form_page="/admin")
    assert r.status_code == 409 and "already verified" in r.text
    assert events_after(wb, seq) == []


def test_forcing_re_verification_resets_the_module_and_signs_the_user_out(wb):
    admin = make_admin(wb)
    ada = researcher(wb)
    uid = user_id(wb, ADA)
    page = f"/admin/users/{uid}"
    r = admin_post(admin, f"/admin/users/{uid}/reverify", {"module": "two_factor", "reason": REASON}, page=page)
    assert r.status_code == 422 and field_errors(r.text) == {"reverify-module"}
    r = admin_post(admin, f"/admin/users/{uid}/reverify", {"module": "ct_training", "reason": REASON}, page=page)
    assert r.status_code == 409 and field_errors(r.text) == {"reverify-module"}  # never done: nothing to redo
    before = head(wb)
    completed = access(wb, ADA).modules[Module.RT_TRAINING].completed_at
    r = admin_post(admin, f"/admin/users/{uid}/reverify",
                   {"module": "rt_training", "reason": "Training provider reported a cheating ring"}, page=page)
    assert r.status_code == 303
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id) == ("reverify_forced", user_id(wb, ADMIN), uid)
    assert event.details == {"module": "rt_training", "reason": "Training provider reported a cheating ring",
                             "was": {"completed_at": completed.isoformat(), "version": None, "bypass_until": None},
                             "sessions_revoked": 1, "tiers_before": ["registered"], "tiers_after": []}
    state = access(wb, ADA)
    assert state.modules[Module.RT_TRAINING].status is Status.NOT_STARTED
    assert state.tiers[Tier.REGISTERED].next_step is Module.RT_TRAINING
    seq = head(wb)
    assert signed_out(ada)
    assert events_after(wb, seq) == []  # already revoked by the action: nothing more for the session layer
    assert re.search(r'<dd id="live-sessions">0</dd>', admin.get(page).text)


def test_re_verification_also_ends_a_running_bypass(wb):
    admin = make_admin(wb)
    account(wb, ADA, "state-u")
    uid = user_id(wb, ADA)
    page = f"/admin/users/{uid}"
    admin_post(admin, f"/admin/users/{uid}/bypass", {"module": "ducc", "until": in_days(wb, 9), "reason": REASON},
               page=page)
    assert access(wb, ADA).modules[Module.DUCC].status is Status.BYPASSED
    before = head(wb)
    assert admin_post(admin, f"/admin/users/{uid}/reverify", {"module": "ducc", "reason": REASON},
                      page=page).status_code == 303
    assert access(wb, ADA).modules[Module.DUCC].status is Status.NOT_STARTED
    assert only_event(wb, before).details["was"]["bypass_until"] is not None


def test_disabling_signs_the_user_out_and_blocks_sign_in_and_enabling_restores_it(wb):
    admin = make_admin(wb)
    ada = researcher(wb)
    other_device = wb.client()
    assert sign_in(other_device, ADA).status_code == 303
    uid, admin_id = user_id(wb, ADA), user_id(wb, ADMIN)
    page = f"/admin/users/{uid}"
    assert re.search(r'<dd id="live-sessions">2</dd>', admin.get(page).text)
    r = admin_post(admin, f"/admin/users/{uid}/disable", {"reason": ""}, page=page)
    assert r.status_code == 422 and field_errors(r.text) == {"disable-reason"}
    before = head(wb)
    r = admin_post(admin, f"/admin/users/{uid}/disable", {"reason": "Shared their password with a student"},
                   page=page)
    assert r.status_code == 303
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id) == ("user_disabled", admin_id, uid)
    assert event.details == {"reason": "Shared their password with a student", "sessions_revoked": 2,
                             "tiers_before": ["registered"], "tiers_after": []}
    user = wb.user(ADA)
    assert user.disabled_at == wb.clock.now and user.disabled_reason == "Shared their password with a student"
    assert signed_out(ada) and signed_out(other_device)
    r = sign_in(wb.client(), ADA)
    assert r.status_code == 403 and "This account is disabled." in r.text
    shown = admin.get(page).text
    assert "Shared their password with a student" in shown and 'id="enable-form"' in shown
    assert 'id="disable-form"' not in shown
    seq = head(wb)
    r = post(admin, f"/admin/users/{uid}/disable", {"reason": "Again, to be sure"}, form_page="/admin")
    assert r.status_code == 409 and "already disabled" in r.text
    assert events_after(wb, seq) == []

    r = admin_post(admin, f"/admin/users/{uid}/enable", {"reason": "Password changed; warned in writing"}, page=page)
    assert r.status_code == 303
    event = only_event(wb, seq)
    assert (event.action, event.actor_id, event.target_user_id) == ("user_enabled", admin_id, uid)
    assert event.details["reason"] == "Password changed; warned in writing"
    assert event.details["was"]["reason"] == "Shared their password with a student"
    assert (event.details["tiers_before"], event.details["tiers_after"]) == ([], ["registered"])
    assert wb.user(ADA).disabled_at is None
    again = wb.client()
    assert sign_in(again, ADA).status_code == 303
    assert again.get("/access").status_code == 200
    assert Tier.REGISTERED in access(wb, ADA).granted


def test_an_admin_cannot_disable_or_demote_themself(wb):
    admin = make_admin(wb)
    me = user_id(wb, ADMIN)
    page = f"/admin/users/{me}"
    shown = admin.get(page).text
    assert 'id="disable-form"' not in shown and 'id="admin-form"' not in shown
    before = head(wb)
    r = post(admin, f"/admin/users/{me}/disable", {"reason": REASON}, form_page=page)
    assert r.status_code == 403 and "you cannot disable your own account" in r.text
    r = post(admin, f"/admin/users/{me}/admin", {"action": "revoke", "reason": REASON}, form_page=page)
    assert r.status_code == 403 and "you cannot change your own administrator role" in r.text
    assert events_after(wb, before) == []
    assert wb.user(ADMIN).disabled_at is None and wb.user(ADMIN).is_admin


def test_granting_and_revoking_the_admin_role(wb):
    admin = make_admin(wb)
    account(wb, ADA, "state-u")
    uid, admin_id = user_id(wb, ADA), user_id(wb, ADMIN)
    page = f"/admin/users/{uid}"
    r = admin_post(admin, f"/admin/users/{uid}/admin", {"action": "promote", "reason": REASON}, page=page)
    assert r.status_code == 422 and "choose grant or revoke" in r.text
    before = head(wb)
    assert admin_post(admin, f"/admin/users/{uid}/admin", {"action": "grant", "reason": "New program officer"},
                      page=page).status_code == 303
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id, event.details) == (
        "admin_granted", admin_id, uid, {"reason": "New program officer"})
    assert wb.user(ADA).is_admin
    seq = head(wb)
    assert admin_post(admin, f"/admin/users/{uid}/admin", {"action": "revoke", "reason": "Left the program"},
                      page=page).status_code == 303
    event = only_event(wb, seq)
    assert (event.action, event.details) == ("admin_revoked", {"reason": "Left the program"})
    assert not wb.user(ADA).is_admin


# -- institutions -----------------------------------------------------------------------------------------------

GOOD_INSTITUTION = {"short_name": "north-med", "display_name": "North Medical College", "kind": "academic",
                    "agreement_signed_on": "2026-01-15", "agreement_expires_on": "2029-01-14",
                    "registered_rule": "domains", "registered_entries": "northmed.edu\nresearch.northmed.edu",
                    "controlled_rule": "addresses", "controlled_entries": "pi@northmed.edu, lab@northmed.edu"}


def test_creating_an_institution_with_bad_input_names_each_field(wb):
    admin = make_admin(wb)
    before = head(wb)
    bad = {"short_name": "North Med!", "display_name": "N", "kind": "castle",
           "agreement_signed_on": "2026-02-30", "agreement_expires_on": "soon",
           "registered_rule": "domains", "registered_entries": "",
           "controlled_rule": "everyone", "controlled_entries": "x"}
    r = post(admin, "/admin/institutions/new", bad)
    assert r.status_code == 422
    assert field_errors(r.text) == {"short_name", "display_name", "kind", "agreement_signed_on",
                                    "agreement_expires_on", "registered_entries", "controlled_rule"}
    assert 'value="North Med!"' in r.text  # what was typed is kept
    r = post(admin, "/admin/institutions/new", {**GOOD_INSTITUTION, "agreement_expires_on": "2025-01-01",
                                                "registered_rule": "none", "registered_entries": "",
                                                "controlled_entries": "not-an-address"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"agreement_expires_on", "registered_rule", "controlled_entries"}
    r = post(admin, "/admin/institutions/new", {**GOOD_INSTITUTION, "short_name": "state-u",
                                                "display_name": "City Health Lab"})
    assert r.status_code == 422 and field_errors(r.text) == {"short_name", "display_name"}
    r = post(admin, "/admin/institutions/new", {**GOOD_INSTITUTION, "short_name": "new"})
    assert r.status_code == 422 and field_errors(r.text) == {"short_name"}
    assert events_after(wb, before) == []

    r = post(admin, "/admin/institutions/new", GOOD_INSTITUTION)
    assert r.status_code == 303 and r.headers["location"] == "/admin/institutions/north-med"
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.target_user_id) == ("institution_created", user_id(wb, ADMIN), None)
    assert event.details == {
        "institution_id": event.details["institution_id"], "short_name": "north-med",
        "display_name": "North Medical College", "kind": "academic", "agreement_signed_on": "2026-01-15",
        "agreement_expires_on": "2029-01-14",
        "registered_rule": {"kind": "domains", "entries": ["northmed.edu", "research.northmed.edu"]},
        "controlled_rule": {"kind": "addresses", "entries": ["pi@northmed.edu", "lab@northmed.edu"]}}
    listing = admin.get("/admin/institutions").text
    assert "North Medical College" in listing and "addresses at northmed.edu, research.northmed.edu" in listing
    assert "2 listed addresses" in listing


def test_editing_an_institution_checks_each_field_and_records_what_changed(wb):
    admin = make_admin(wb)
    page = "/admin/institutions/city-lab"
    form = admin.get(page).text
    assert 'value="city-lab"' in form and "citylab.org</textarea>" in form
    before = head(wb)
    r = post(admin, page, {**GOOD_INSTITUTION, "short_name": "state-u", "display_name": "",
                           "agreement_signed_on": "15/01/2026", "controlled_rule": "domains",
                           "controlled_entries": "not a domain"})
    assert r.status_code == 422
    assert field_errors(r.text) == {"short_name", "display_name", "agreement_signed_on", "controlled_entries"}
    assert events_after(wb, before) == []
    unchanged = {"short_name": "city-lab", "display_name": "City Health Lab", "kind": "nonprofit",
                 "agreement_signed_on": "2025-01-01", "agreement_expires_on": "", "registered_rule": "domains",
                 "registered_entries": "citylab.org", "controlled_rule": "domains", "controlled_entries": "citylab.org"}
    r = post(admin, page, unchanged)
    assert r.status_code == 303 and events_after(wb, before) == []  # nothing changed, nothing written
    r = post(admin, page, {**unchanged, "display_name": "City Health Laboratory",
                           "agreement_expires_on": "2027-06-30"})
    assert r.status_code == 303 and r.headers["location"] == page
    event = only_event(wb, before)
    assert (event.action, event.actor_id) == ("institution_updated", user_id(wb, ADMIN))
    assert event.details["changed"] == {
        "display_name": {"before": "City Health Lab", "after": "City Health Laboratory"},
        "agreement_expires_on": {"before": None, "after": "2027-06-30"}}
    assert event.details["users_losing_a_tier"] == {"count": 0, "ids": []}


def test_an_institution_rule_change_that_removes_a_tier_signs_the_user_out(wb):
    admin = make_admin(wb)
    ada = researcher(wb)
    uid = user_id(wb, ADA)
    assert Tier.REGISTERED in access(wb, ADA).granted
    before = head(wb)
    r = post(admin, "/admin/institutions/state-u", {
        "short_name": "state-u", "display_name": "State University", "kind": "academic",
        "agreement_signed_on": "2025-01-01", "agreement_expires_on": "2030-12-31",
        "registered_rule": "domains", "registered_entries": "med.state.edu",
        "controlled_rule": "none", "controlled_entries": ""})
    assert r.status_code == 303
    event = only_event(wb, before)
    assert event.action == "institution_updated"
    assert event.details["changed"] == {
        "registered_rule": {"before": {"kind": "domains", "entries": ["state.edu"]},
                            "after": {"kind": "domains", "entries": ["med.state.edu"]}},
        "controlled_rule": {"before": {"kind": "addresses", "entries": ["pi@state.edu"]},
                            "after": {"kind": "none", "entries": []}}}
    assert event.details["users_losing_a_tier"] == {"count": 1, "ids": [uid]}
    state = access(wb, ADA)
    assert Tier.REGISTERED not in state.granted
    assert state.modules[Module.INSTITUTION_RT].status is Status.NOT_ALLOWED
    r = ada.get("/access")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=/access")
    assert [e.action for e in events_after(wb, event.seq)] == ["tier_lost", "session_revoked"]


def test_institution_requests_are_marked_handled_with_a_note(wb):
    admin = make_admin(wb)
    with wb.db.session() as s:
        req = request_institution(s, name="Far College", website="https://far.edu", contact_name="Dee Dee",
                                  contact_email="dee@far.edu", message="Please add us", now=wb.clock.now)
        rid = req.id
    assert "1 request</strong> to add an institution waiting" in admin.get("/admin").text
    page = "/admin/institution-requests"
    listing = admin.get(page).text
    assert "Far College" in listing and "dee@far.edu" in listing and "Waiting" in listing
    before = head(wb)
    r = post(admin, f"/admin/institution-requests/{rid}/handled", {"reason": ""}, form_page=page)
    assert r.status_code == 422 and field_errors(r.text) == {f"request-{rid}-reason"}
    r = post(admin, f"/admin/institution-requests/{rid}/handled", {"reason": "Added as far-college"}, form_page=page)
    assert r.status_code == 303 and r.headers["location"] == page
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.details) == (
        "institution_request_handled", user_id(wb, ADMIN),
        {"request_id": rid, "name": "Far College", "reason": "Added as far-college"})
    with wb.db.session() as s:
        assert s.get(InstitutionRequest, rid).handled_at == wb.clock.now
    seq = head(wb)
    r = post(admin, f"/admin/institution-requests/{rid}/handled", {"reason": "Added as far-college"},
             form_page="/admin")
    assert r.status_code == 409 and events_after(wb, seq) == []
    assert "No request to add an institution is waiting." in admin.get("/admin").text


# -- the audit log ----------------------------------------------------------------------------------------------

def audit_rows(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr id="event-(\d+)">', html)]


def test_the_audit_viewer_lists_events_newest_first_with_filters_and_pages(wb):
    admin = make_admin(wb)
    researcher(wb)
    uid, admin_id = user_id(wb, ADA), user_id(wb, ADMIN)
    services = wb.app.state.services
    with wb.db.session() as s:
        for i in range(60):
            services.audit.append(s, AuditAction.PROFILE_UPDATED, actor_id=uid, target_user_id=uid,
                                  details={"n": i})
    last = head(wb)
    first_page = admin.get("/admin/audit")
    assert first_page.status_code == 200
    seqs = audit_rows(first_page.text)
    assert seqs == list(range(last, last - 50, -1))
    more = re.search(r'<a href="([^"]+)" hx-get="([^"]+)"[^>]*id="load-more">Load more</a>', first_page.text)
    assert more and more.group(1) == more.group(2) == f"/admin/audit?before_seq={last - 49}"
    plain = admin.get(more.group(1).replace("&amp;", "&"))  # works as a plain link: a whole page
    assert plain.status_code == 200 and "<html" in plain.text
    assert audit_rows(plain.text) == list(range(last - 50, 0, -1))[:50]
    rows = admin.get(more.group(1), headers={"HX-Request": "true"})  # htmx: only the rows
    assert "<html" not in rows.text and audit_rows(rows.text) == audit_rows(plain.text)

    signins = admin.get("/admin/audit", params={"action": "signin"}).text
    with wb.db.session() as s:
        expected = list(s.scalars(select(AuditEvent.seq).where(AuditEvent.action == "signin")
                                  .order_by(AuditEvent.seq.desc())))
    assert audit_rows(signins) == expected and len(expected) == 2  # the admin's and Ada's
    mine = admin.get("/admin/audit", params={"actor_id": str(admin_id)}).text
    with wb.db.session() as s:
        assert audit_rows(mine) == list(s.scalars(select(AuditEvent.seq).where(AuditEvent.actor_id == admin_id)
                                                  .order_by(AuditEvent.seq.desc())))
    about_ada = admin.get("/admin/audit", params={"target_user_id": str(uid), "action": "profile_updated"}).text
    assert len(audit_rows(about_ada)) == 50 and "Load more" in about_ada
    link = re.search(r'<a href="([^"]+)"[^>]*id="load-more"', about_ada).group(1)
    assert "action=profile_updated" in link and f"target_user_id={uid}" in link
    none = admin.get("/admin/audit", params={"action": "bypass_set"}).text
    assert audit_rows(none) == [] and "No events match." in none
    bad = admin.get("/admin/audit", params={"action": "explode", "actor_id": "x1"})
    assert bad.status_code == 422 and field_errors(bad.text) == {"action", "actor_id"}


def test_verifying_the_audit_log_reports_ok_then_names_a_tampered_row(wb):
    admin = make_admin(wb)
    researcher(wb)
    assert "Not verified since this server started." in admin.get("/admin").text
    r = post(admin, "/admin/audit/verify", {})
    assert r.status_code == 200
    rows = head(wb)
    assert re.search(rf'id="verify-result">Intact: all {rows} rows verify\.', r.text)
    assert "intact</span> (" in admin.get("/admin").text

    before = head(wb)
    download = admin.get("/admin/audit/checkpoint")
    assert download.status_code == 200 and download.headers["content-type"] == "application/json"
    assert download.headers["content-disposition"] == f'attachment; filename="audit-checkpoint-{before}.json"'
    point = download.json()
    assert point["seq"] == before and point["rows"] == before and re.fullmatch(r"[0-9a-f]{64}", point["hash"])
    event = only_event(wb, before)
    assert (event.action, event.actor_id, event.details) == (
        "checkpoint_exported", user_id(wb, ADMIN), {"seq": before, "hash": point["hash"], "path": "download"})
    r = post(admin, "/admin/audit/verify", {"checkpoint": json.dumps(point)}, form_page="/admin/audit/verify")
    assert r.status_code == 200 and "and the checkpoint matches" in r.text
    r = post(admin, "/admin/audit/verify", {"checkpoint": "{not json"}, form_page="/admin/audit/verify")
    assert r.status_code == 422 and field_errors(r.text) == {"checkpoint"} and "not JSON" in r.text
    r = post(admin, "/admin/audit/verify", {"checkpoint": json.dumps({"seq": 3, "hash": "abc"})},
             form_page="/admin/audit/verify")
    assert r.status_code == 422 and field_errors(r.text) == {"checkpoint"}
    assert "hash must be 64 lower-case hex digits" in r.text and "not JSON" not in r.text
    r = post(admin, "/admin/audit/verify", {"checkpoint": json.dumps({**point, "seq": point["seq"] + 5})},
             form_page="/admin/audit/verify")  # a checkpoint past the end: rows cut from the log
    assert re.search(rf'id="verify-result">Tampered at row {before + 2}: truncated', r.text)

    # A database administrator drops the trigger and rewrites row 3.
    with wb.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.exec_driver_sql("UPDATE audit_events SET details = '{\"email\": \"someone@else.edu\"}' WHERE seq = 3")
    r = post(admin, "/admin/audit/verify", {}, form_page="/admin/audit/verify")
    assert r.status_code == 200
    assert re.search(r'id="verify-result">Tampered at row 3: hash mismatch', r.text)
    assert 'href="/admin/audit?before_seq=4"' in r.text
    assert "tampered at row 3" in admin.get("/admin").text


# -- on PostgreSQL, the production database ----------------------------------------------------------------------

def test_the_admin_pages_on_postgresql(make_workbench, pg_state_url):
    wb = make_workbench(database_url=pg_state_url)
    assert wb.db.dialect == "postgresql"
    admin = make_admin(wb)
    ada = researcher(wb, missing=(Module.IDENTITY,))
    uid = user_id(wb, ADA)
    found = admin.get("/admin/users", params={"q": "ADA LOVE"}).text  # a name search across both columns
    assert "2 users matching" in found
    assert "No user matches." in admin.get("/admin/users", params={"q": "a_a"}).text  # _ is not a wildcard
    page = f"/admin/users/{uid}"
    before = head(wb)
    assert admin_post(admin, f"/admin/users/{uid}/bypass", {"module": "identity", "until": in_days(wb, 3),
                                                            "reason": REASON}, page=page).status_code == 303
    assert only_event(wb, before).action == "bypass_set"
    assert Tier.REGISTERED in access(wb, ADA).granted
    assert ada.get("/access").status_code == 200
    r = post(admin, "/admin/institutions/state-u", {
        "short_name": "state-u", "display_name": "State University", "kind": "academic",
        "agreement_signed_on": "2025-01-01", "agreement_expires_on": "2030-12-31", "registered_rule": "addresses",
        "registered_entries": "pi@state.edu", "controlled_rule": "none", "controlled_entries": ""})
    assert r.status_code == 303
    assert signed_out(ada)
    with wb.db.session() as s:
        request_institution(s, name="Far College", website=None, contact_name="Dee", contact_email="dee@far.edu",
                            message=None, now=wb.clock.now)
    assert "Far College" in admin.get("/admin/institution-requests").text
    signins = admin.get("/admin/audit", params={"action": "signin", "target_user_id": str(uid)}).text
    assert len(audit_rows(signins)) == 1
    assert "Intact: all" in post(admin, "/admin/audit/verify", {}).text
    with wb.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_change ON audit_events")
        conn.exec_driver_sql("UPDATE audit_events SET ip = '10.6.6.6' WHERE seq = 2")
    r = post(admin, "/admin/audit/verify", {})
    assert re.search(r'id="verify-result">Tampered at row 2: hash mismatch', r.text)
