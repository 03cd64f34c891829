"""Protection on the Workbench's doors: CSRF on plain forms, replayed TOTP codes, expired and reused links, rate
limits and lockout, the limits of every sign-up field, server-side sessions and their timeouts, API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from research_workbench.accounts.modules import Module
from research_workbench.state.models import ApiToken, AuditEvent, Session as SessionRow, User
from research_workbench.web import DEFAULT_CSP

from .conftest import ALL_RT, DETAILS, PASSWORD, make_user, post, sign_in, sign_up, verification_link


def actions(wb) -> list[str]:
    with wb.db.session() as session:
        return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


# -- CSRF -------------------------------------------------------------------------------------------------------------

def test_a_form_post_without_the_csrf_token_is_refused(wb):
    c = wb.client()
    r = c.post("/signin", data={"email": "a@state.edu", "password": "x"})
    assert r.status_code == 403 and "not sent from this site" in r.text
    assert "signin_failed" not in actions(wb)  # refused before the handler ran


def test_a_forged_or_foreign_csrf_token_is_refused(wb):
    c = wb.client()
    c.get("/signin")
    for forged in ("forged", c.cookies.get("csrftoken") + "x", "IjEyMzQ1Njc4OTBhYmNkZWYi.abc.def"):
        r = c.post("/signin", data={"csrftoken": forged, "email": "a@state.edu", "password": "x"})
        assert r.status_code == 403, forged
    # a token signed by another deployment's secret does not pass either
    other = wb.client()
    other.cookies.set("csrftoken", "InNvbWV0aGluZyI.forged-signature")
    r = other.post("/signin", data={"csrftoken": "InNvbWV0aGluZyI.forged-signature", "email": "a@state.edu",
                                    "password": "x"})
    assert r.status_code == 403


def test_the_htmx_header_carries_the_token_as_well_as_the_form_field(wb):
    c = wb.client()
    c.get("/signin")
    token = c.cookies.get("csrftoken")
    r = c.post("/signin", data={"email": "nobody@state.edu", "password": "wrong password here"},
               headers={"x-csrftoken": token})
    assert r.status_code == 401 and "not right" in r.text


# -- TOTP -------------------------------------------------------------------------------------------------------------

def test_a_totp_code_is_accepted_once_and_never_again(wb):
    user = make_user(wb, "ada@state.edu")
    code = pyotp.TOTP(user.totp_secret).at(wb.clock.now)
    c1 = wb.client()
    assert sign_in(c1).headers["location"] == "/signin/second-step"
    assert post(c1, "/signin/second-step", {"code": code}).status_code == 303
    c2 = wb.client()
    sign_in(c2)
    replay = post(c2, "/signin/second-step", {"code": code})
    assert replay.status_code == 401 and "already used" in replay.text
    assert c2.get("/access").headers["location"].startswith("/signin/second-step")
    assert actions(wb).count("mfa_failed") == 1


def test_a_recovery_code_works_once(wb):
    user = make_user(wb, "ada@state.edu", totp=False)
    c = user.sign_in()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', c.get("/account/two-factor").text).group(1)
    shown = post(c, "/account/two-factor", {"action": "enable", "code": pyotp.TOTP(secret).at(wb.clock.now)})
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", shown.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    with wb.db.session() as session:
        stored = session.scalar(select(User).where(User.email == "ada@state.edu"))
        assert stored.totp_enabled_at is not None and user.totp_secret is None
        assert codes[0] not in stored.totp_secret  # sealed, not in clear
    for attempt, expected in ((codes[0].upper().replace("-", " "), 303), (codes[0], 401)):
        c2 = wb.client()
        sign_in(c2)
        r = post(c2, "/signin/second-step", {"recovery_code": attempt})
        assert r.status_code == expected, attempt


def test_repeated_wrong_codes_lock_the_account(wb):
    make_user(wb, "ada@state.edu")
    c = wb.client()
    sign_in(c)
    for _ in range(5):
        r = post(c, "/signin/second-step", {"code": "000000"})
    assert r.status_code == 401
    assert wb.user("ada@state.edu").locked_until == wb.clock.now + timedelta(minutes=15)
    assert "locked_out" in actions(wb)


# -- emailed links ------------------------------------------------------------------------------------------------------

def test_a_verification_link_works_once_and_expires(wb):
    c = wb.client()
    sign_up(c)
    link = verification_link(wb, "ada@state.edu")
    token = link.split("token=")[1]
    wb.clock.advance(hours=24, seconds=1)
    expired = post(c, "/verify-email", {"token": token}, form_page=link)
    assert expired.status_code == 400 and "expired" in expired.text
    assert wb.user("ada@state.edu").email_verified_at is None
    wb.clock.advance(hours=-2)
    assert post(c, "/verify-email", {"token": token}, form_page=link).status_code == 303
    used = post(c, "/verify-email", {"token": token}, form_page=link)
    assert used.status_code == 400 and "already been used" in used.text
    unknown = post(c, "/verify-email", {"token": "x" * 43}, form_page=link)
    assert unknown.status_code == 400 and "not valid" in unknown.text


# -- rate limits and lockout ------------------------------------------------------------------------------------------

def test_wrong_passwords_lock_the_account_even_against_the_right_one(wb):
    make_user(wb, "ada@state.edu")
    c = wb.client()
    for _ in range(5):
        assert sign_in(c, password="wrong password!!").status_code == 401
    locked = sign_in(c)
    assert locked.status_code == 429 and "locked" in locked.text
    wb.clock.advance(minutes=16)
    assert sign_in(c).status_code == 303


def test_too_many_sign_ins_from_one_address_are_rate_limited(make_workbench):
    wb = make_workbench(limits={"signin": "3/minute"})
    c = wb.client()
    for _ in range(3):
        assert sign_in(c, "nobody@state.edu").status_code == 401
    limited = sign_in(c, "nobody@state.edu")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_same_email_and_password_fail_alike_for_unknown_and_known_accounts(wb):
    make_user(wb, "ada@state.edu")
    c = wb.client()
    known = sign_in(c, "ada@state.edu", "wrong password!!")
    unknown = sign_in(c, "bob@state.edu", "wrong password!!")
    assert known.status_code == unknown.status_code == 401
    assert re.search(r'id="signin-problem">([^<]+)<', known.text).group(1) == \
        re.search(r'id="signin-problem">([^<]+)<', unknown.text).group(1)


# -- sign-up field limits -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("given_name", "x" * 81, "at most 80 characters (this is 81)"),
    ("given_name", "   ", "required"),
    ("family_name", "a\x07b", "contains a control character"),
    ("address.street1", "", "required"),
    ("address.city", "c" * 96, "at most 95 characters (this is 96)"),
    ("address.postal_code", "9" * 21, "at most 20 characters (this is 21)"),
    ("address.country", "", "required"),
    ("research_background", "r" * 2001, "at most 2000 characters (this is 2001)"),
    ("research_background", "", "required"),
    ("professional_url", "javascript:alert(1)", "an http:// or https:// address of at most 300 characters"),
    ("password", "short", "use at least 12 characters"),
    ("password", "ada@state.edu", "must not be your email address"),
    ("password", "a" * 257, "use at most 256 characters"),
    ("password_confirm", "something else entirely", "the two passwords differ"),
    ("degrees", ["phd", "wizard"], "unknown degree 'wizard'"),
])
def test_each_details_field_has_limits_named_in_the_error(wb, field, value, message):
    c = wb.client()
    from research_workbench.accounts.documents import current_version

    post(c, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"), "accept_privacy": "on",
                              "privacy_version": current_version("privacy")})
    post(c, "/signup/institution", {"institution": "state-u", "email": "ada@state.edu", "role": "faculty"})
    data = dict(DETAILS)
    if field == "password":
        data["password_confirm"] = value
    data[field] = value
    r = post(c, "/signup/details", data)
    assert r.status_code == 422
    element = field.replace(".", "-")
    shown = message.replace("'", "&#39;")  # as Jinja escapes it
    assert re.search(rf'<p class="field-error" id="{re.escape(element)}-error">{re.escape(shown)}</p>', r.text), r.text[-3000:]
    if field not in ("password", "password_confirm"):  # what was typed is kept (never a password)
        kept = value if isinstance(value, str) else ""
        assert kept == "" or kept[:50].replace("\x07", "") in r.text or field == "family_name"


@pytest.mark.parametrize("data, field, message", [
    ({"institution": "nowhere", "email": "ada@state.edu", "role": "faculty"}, "institution", "choose your institution"),
    ({"institution": "state-u", "email": "ada@gmail.com", "role": "faculty"}, "email",
     "State University&#39;s agreement does not cover gmail.com addresses"),
    ({"institution": "state-u", "email": "not-an-email", "role": "faculty"}, "email", "not an email address"),
    ({"institution": "state-u", "email": "ada@state.edu", "role": "pope"}, "role", "choose your role"),
    ({"institution": "state-u", "email": "ada@state.edu", "role": "other", "role_other": ""}, "role_other", "required"),
])
def test_the_institution_step_checks_the_agreement_rule(wb, data, field, message):
    c = wb.client()
    from research_workbench.accounts.documents import current_version

    post(c, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"), "accept_privacy": "on",
                              "privacy_version": current_version("privacy")})
    r = post(c, "/signup/institution", data)
    assert r.status_code == 422 and f'id="{field}-error">' in r.text and message in r.text, r.text[-2000:]


def test_terms_must_be_the_current_version_and_the_wizard_keeps_its_order(wb):
    c = wb.client()
    assert c.get("/signup/details").headers["location"] == "/signup/terms"  # earlier steps first
    r = post(c, "/signup/terms", {"accept_terms": "on", "terms_version": "1999.1", "accept_privacy": "on",
                                  "privacy_version": "1999.1"})
    assert r.status_code == 422 and 'id="terms_version-error"' in r.text and 'id="privacy_version-error"' in r.text


def test_demographics_answers_are_checked(wb):
    c = wb.client()
    sign_up_until_demographics(c)
    r = post(c, "/signup/demographics", {"demographics.ethnicity": ["yes", "no"],
                                         "demographics.race": ["asian", "prefer_not_to_answer"]})
    assert r.status_code == 422
    assert "choose one answer" in r.text and "&#39;Prefer not to answer&#39; goes alone" in r.text


def sign_up_until_demographics(c):
    from research_workbench.accounts.documents import current_version

    post(c, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"), "accept_privacy": "on",
                              "privacy_version": current_version("privacy")})
    post(c, "/signup/institution", {"institution": "state-u", "email": "ada@state.edu", "role": "faculty"})
    post(c, "/signup/details", DETAILS)


def test_the_wizard_keeps_drafts_server_side_but_never_the_password(wb):
    c = wb.client()
    sign_up_until_demographics(c)
    back = post(c, "/signup/demographics", {"action": "previous"})
    assert back.headers["location"] == "/signup/details"
    page = c.get("/signup/details").text
    assert 'value="Lovelace"' in page and "cardiometabolic" in page and PASSWORD not in page
    with wb.db.session() as session:
        data = [s.data for s in session.scalars(select(SessionRow))]
    assert all(PASSWORD not in repr(d) for d in data)
    assert any(d.get("rw.signup", {}).get("password_hash", "").startswith("$argon2id$") for d in data)


def test_a_second_account_with_the_same_email_is_refused(wb):
    sign_up(wb.client())
    c = wb.client()
    from research_workbench.accounts.documents import current_version

    post(c, "/signup/terms", {"accept_terms": "on", "terms_version": current_version("terms"), "accept_privacy": "on",
                              "privacy_version": current_version("privacy")})
    r = post(c, "/signup/institution", {"institution": "state-u", "email": "ADA@state.edu", "role": "faculty"})
    assert r.status_code == 422 and "an account with this email exists" in r.text


# -- sessions -----------------------------------------------------------------------------------------------------------

def test_the_session_cookie_is_opaque_httponly_samesite_and_new_at_sign_in(wb):
    make_user(wb, "ada@state.edu", totp=False)
    c = wb.client()
    post(c, "/institutions/request", {"name": "X", "contact_name": "Y", "contact_email": "bad"})  # no session yet
    c.get("/signup/terms")
    r = post(c, "/signup/terms", {"accept_terms": "on"})  # a draft: an anonymous session
    before = c.cookies.get("rw_session")
    r = sign_in(c)
    header = [h for h in r.headers.get_list("set-cookie") if h.startswith("rw_session=")][0]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    after = c.cookies.get("rw_session")
    assert before and after and before != after  # no session fixation
    with wb.db.session() as session:
        rows = list(session.scalars(select(SessionRow)))
    assert all(row.id != after for row in rows)  # the database holds a keyed hash, not the token
    assert [r.revoked_reason for r in rows if r.revoked_at] == ["replaced at sign-in"]


def test_idle_and_absolute_timeouts_end_the_session(wb):
    make_user(wb, "ada@state.edu", totp=False)
    c = wb.client()
    sign_in(c)
    wb.clock.advance(minutes=119)
    assert c.get("/access").status_code == 200
    wb.clock.advance(minutes=119)  # touched 119 minutes ago: still under 120
    assert c.get("/access").status_code == 200
    wb.clock.advance(minutes=121)
    r = c.get("/access")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/access&ended=idle"
    assert "signed out after a period without activity" in c.get(r.headers["location"]).text
    c2 = wb.client()
    sign_in(c2)
    for _ in range(14):  # active all along, but 24 hours is the limit without a tier
        wb.clock.advance(minutes=110)
        c2.get("/access")
    assert c2.get("/access").status_code == 303


def test_signing_out_revokes_the_session_on_the_server(wb):
    make_user(wb, "ada@state.edu", totp=False)
    c = wb.client()
    sign_in(c)
    stolen = c.cookies.get("rw_session")
    post(c, "/signout", {}, form_page="/access")
    thief = wb.client()
    thief.cookies.set("rw_session", stolen)
    assert thief.get("/access").status_code == 303


def test_losing_a_tier_revokes_the_session(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    c = persona.sign_in()
    assert c.get("/data/registered").status_code == 200
    with wb.db.session() as session:
        session.execute(ModuleStatusReset.statement(wb, "ada@state.edu", Module.DUCC))
    r = c.get("/profile")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert "session_revoked" in actions(wb)


class ModuleStatusReset:
    @staticmethod
    def statement(wb, email, module):
        from sqlalchemy import update

        from research_workbench.state.models import ModuleStatus

        user_id = wb.user(email).id
        return (update(ModuleStatus).where(ModuleStatus.user_id == user_id, ModuleStatus.module == module.value)
                .values(completed_at=None))


def test_tier_data_needs_a_second_factor_in_this_session(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    c = wb.client()
    r = sign_in(c)
    assert r.headers["location"] == "/signin/second-step"
    assert c.get("/data/registered").headers["location"].startswith("/signin/second-step")
    c = persona.sign_in()
    assert c.get("/data/registered").status_code == 200


# -- API tokens -----------------------------------------------------------------------------------------------------

def _token(c, wb, scopes=("profile:read",), days="30"):
    r = post(c, "/account/tokens", {"action": "create", "name": "laptop", "scopes": list(scopes), "days": days})
    assert r.status_code == 200, r.text[-2000:]
    return re.search(r'id="new-token">(rwpat_[^<]+)<', r.text).group(1)


def test_api_tokens_are_scoped_expiring_revocable_and_stored_hashed(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    c = persona.sign_in()
    token = _token(c, wb)
    api = wb.client()
    me = api.get("/api/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "ada@state.edu"
    assert me.json()["access"]["tiers"][0] == {"tier": "registered", "granted": True, "missing": [],
                                               "next_step": None, "expires_at": me.json()["access"]["tiers"][0]["expires_at"]}
    scoped = api.get("/api/data/registered", headers={"authorization": f"Bearer {token}"})
    assert scoped.status_code == 403 and "data:read" in scoped.json()["error"]
    page = api.get("/access", headers={"authorization": f"Bearer {token}"})
    assert page.status_code == 403
    with wb.db.session() as session:
        row = session.scalar(select(ApiToken))
        assert token not in (row.token_hash, row.prefix) and token.split("_")[1] == row.prefix
    token_id = row.id
    revoke = post(c, "/account/tokens", {"action": "revoke", "token_id": str(token_id)})
    assert revoke.status_code == 303
    assert api.get("/api/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
    short = _token(c, wb, days="1")
    wb.clock.advance(days=1, seconds=1)
    assert api.get("/api/me", headers={"authorization": f"Bearer {short}"}).status_code == 401
    assert {"token_created", "token_revoked"} <= set(actions(wb))


def test_a_bearer_request_ignores_the_session_cookie(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    c = persona.sign_in()
    r = c.get("/api/me", headers={"authorization": "Bearer not-a-token"})
    assert r.status_code == 401  # the valid cookie beside it does not count


def test_token_creation_refuses_bad_input(wb):
    persona = make_user(wb, "ada@state.edu", modules=ALL_RT)
    c = persona.sign_in()
    r = post(c, "/account/tokens", {"action": "create", "name": "", "scopes": ["root"], "days": "400"})
    assert r.status_code == 422
    for field in ("name", "scopes", "days"):
        assert f'id="{field}-error"' in r.text


# -- headers --------------------------------------------------------------------------------------------------------

def test_every_page_has_the_security_headers(wb):
    c = wb.client()
    for path in ("/", "/signin", "/signup/terms", "/institutions", "/static/workbench.css", "/api/institutions",
                 "/nothing"):
        r = c.get(path)
        assert r.headers["content-security-policy"] == DEFAULT_CSP, path
        assert r.headers["x-frame-options"] == "DENY", path
