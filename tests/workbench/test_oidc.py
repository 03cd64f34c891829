"""OpenID Connect against a real local provider (oidc-provider-mock on a thread, one for the session): identity
verification (step 2) and signing in through an institution, driven like a browser would: the app's redirect to
the provider's authorize URL, the provider's form posted with ``sub=...``, its redirect back to the app's callback.

The Login.gov and ID.me presets are pointed at the local provider's discovery document for their authorization
requests; Login.gov's ``private_key_jwt`` client assertion (which the local provider cannot accept) is checked by
building it with the configured key and verifying it with the public half.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import select

from research_workbench.accounts.config import WorkbenchConfigError, load_workbench_config
from research_workbench.accounts.modules import Module
from research_workbench.state.models import AuditEvent, ModuleStatus, OidcLink, User
from research_workbench.workbench import oidc

from .conftest import BASE, post, sign_in, sign_up, verify_email

IAL2 = "http://idmanagement.gov/ns/assurance/ial/2"
LOGIN_GOV_IAL2 = "urn:acr.login.gov:verified-facial-match-required"
IDME_IAL2 = "http://idmanagement.gov/ns/assurance/ial/2/aal/2"
SECRET_ENV = "RW_TEST_OIDC_CLIENT_SECRET"
REGISTERED_OTHER_THAN_2FA = (Module.IDENTITY, Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION,
                             Module.PUBLICATIONS)


@dataclass
class Idp:
    base: str

    @property
    def metadata_url(self) -> str:
        return self.base + "/.well-known/openid-configuration"

    def user(self, claims: dict, sub: str | None = None) -> str:
        """Set the claims the provider will put in the ID token and userinfo for a new subject."""
        sub = sub or "u-" + uuid.uuid4().hex[:12]
        r = httpx.put(f"{self.base}/users/{sub}", json=claims)
        assert r.status_code == 204, r.text
        return sub

    def authorize(self, location: str, sub: str) -> str:
        """The provider's authorize form posted as ``sub``: the path (and query) of the app's callback."""
        assert location.startswith(self.base + "/oauth2/authorize?"), location
        r = httpx.post(location, data={"sub": sub})
        assert r.status_code == 302, r.text[:500]
        back = r.headers["location"]
        assert back.startswith(BASE + "/"), back
        return back[len(BASE):]

    def identity(self, **overrides) -> dict:
        return {"preset": "custom", "label": "Test ID", "metadata_url": self.metadata_url, "client_id": "workbench",
                "client_secret_env": SECRET_ENV, **overrides}

    def signin(self, name: str = "state-u", **overrides) -> dict:
        return {"name": name, "label": "State University", "metadata_url": self.metadata_url,
                "client_id": "workbench-signin", "client_secret_env": SECRET_ENV, **overrides}


@pytest.fixture(scope="session")
def idp():
    """The provider accepts any client id and secret (client_secret_basic or _post; not public clients)."""
    os.environ[SECRET_ENV] = "workbench-client-secret"
    try:
        with run_server_in_thread() as server:
            yield Idp(f"http://localhost:{server.server_port}")
    finally:
        os.environ.pop(SECRET_ENV, None)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def registered(wb, client, email: str = "ada@state.edu") -> None:
    sign_up(client, email)
    verify_email(wb, client, email)


def signed_in(wb, email: str = "ada@state.edu"):
    c = wb.client()
    registered(wb, c, email)
    r = sign_in(c, email)
    assert r.status_code == 303 and r.headers["location"] == "/access", r.text[:500]
    return c


def start_identity(c) -> str:
    r = post(c, "/access/identity/start", {}, form_page="/access/identity")
    assert r.status_code == 303, r.text[:1000]
    return r.headers["location"]


def start_signin(c, provider: str = "state-u", next_path: str = "/access") -> str:
    r = post(c, f"/signin/oidc/{provider}", {"next": next_path}, form_page="/signin")
    assert r.status_code == 303, r.text[:1000]
    return r.headers["location"]


def events(wb, action: str) -> list[AuditEvent]:
    with wb.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def links(wb) -> list[OidcLink]:
    with wb.db.session() as session:
        return list(session.scalars(select(OidcLink).order_by(OidcLink.id)))


def module_row(wb, email: str, module: Module) -> ModuleStatus | None:
    with wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return session.scalar(select(ModuleStatus).where(ModuleStatus.user_id == user.id,
                                                         ModuleStatus.module == module.value))


# -- identity verification ---------------------------------------------------------------------------------------

def test_identity_verified_with_an_ial2_claim_links_the_subject_completes_the_step_and_is_audited(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    page = c.get("/access/identity")
    assert page.status_code == 200
    assert "Continue to Test ID" in page.text
    assert f"form-action 'self' {idp.base}" in page.headers["content-security-policy"]
    sub = idp.user({"acr": IAL2, "preferred_username": "ada@login.gov", "email": "ada@state.edu",
                    "email_verified": True, "given_name": "Ada"})

    location = start_identity(c)
    params = query(location)
    assert params["redirect_uri"] == BASE + "/access/identity/callback"
    assert params["acr_values"] == IAL2
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    r = c.get(idp.authorize(location, sub))
    assert r.status_code == 303 and r.headers["location"] == "/access/identity/result"

    result = c.get("/access/identity/result")
    assert result.status_code == 200
    assert "Your identity is verified" in result.text
    assert "Test ID confirmed your identity" in result.text
    assert '<a class="button" href="/account/two-factor">Next: Set up two-step verification</a>' in result.text
    [link] = links(wb)
    user = wb.user("ada@state.edu")
    assert (link.user_id, link.provider, link.subject, link.purpose) == (user.id, "identity.custom", sub, "identity")
    assert link.linked_at == wb.clock.now
    assert {k: v for k, v in link.claims.items() if k != "auth_time"} == {
        "iss": idp.base, "acr": IAL2, "email": "ada@state.edu", "email_verified": True,
        "preferred_username": "ada@login.gov"}  # no names kept
    row = module_row(wb, "ada@state.edu", Module.IDENTITY)
    assert row.completed_at == wb.clock.now
    assert row.details == {"provider": "identity.custom", "acr": IAL2}
    [event] = events(wb, "identity_verified")
    assert (event.actor_id, event.target_user_id) == (user.id, user.id)
    assert event.details == {"provider": "identity.custom", "acr": IAL2, "subject": sub, "via": "login.gov"}
    assert [e.details for e in events(wb, "module_completed")] == [{"module": "identity"}]
    assert events(wb, "identity_failed") == []
    page = c.get("/access/identity")
    assert "Your identity is verified through Test ID" in page.text
    assert "Continue to Test ID" not in page.text


def test_identity_refused_without_an_ial2_claim_states_the_reason_and_offers_a_retry(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    sub = idp.user({"acr": "urn:acr.login.gov:verified", "email": "ada@state.edu", "email_verified": True})

    r = c.get(idp.authorize(start_identity(c), sub))
    assert r.status_code == 303 and r.headers["location"] == "/access/identity/result"
    result = c.get("/access/identity/result")
    assert result.status_code == 200
    assert "Your identity was not verified" in result.text
    assert ("Test ID did not confirm your identity at the level this program needs (IAL2): it reported "
            "“urn:acr.login.gov:verified”.") in result.text
    assert '<form method="post" action="/access/identity/start"' in result.text
    assert "Try again with Test ID" in result.text
    assert "refresh" not in result.text.lower()
    assert f"form-action 'self' {idp.base}" in result.headers["content-security-policy"]
    assert module_row(wb, "ada@state.edu", Module.IDENTITY) is None
    assert links(wb) == []
    [event] = events(wb, "identity_failed")
    assert event.details == {"provider": "identity.custom", "reason": "not IAL2", "acr": "urn:acr.login.gov:verified"}
    assert c.get("/access/identity/result").text == result.text  # reloading shows the same outcome

    # the retry button starts a fresh flow, and a verified identity completes the step
    idp.user({"acr": IAL2}, sub=sub)
    r = c.get(idp.authorize(start_identity(c), sub))
    assert "Your identity is verified" in c.get(r.headers["location"]).text
    assert module_row(wb, "ada@state.edu", Module.IDENTITY).completed_at == wb.clock.now


def test_identity_refused_without_any_assurance_claim(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    sub = idp.user({"email": "ada@state.edu"})
    c.get(idp.authorize(start_identity(c), sub))
    text = c.get("/access/identity/result").text
    assert "it reported no assurance level." in text
    assert [e.details for e in events(wb, "identity_failed")] == [{"provider": "identity.custom", "reason": "not IAL2"}]


def test_identity_callback_with_a_state_not_started_here_is_refused(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    sub = idp.user({"acr": IAL2})
    callback = idp.authorize(start_identity(c), sub)
    forged = "/access/identity/callback?" + urlencode({**query(callback), "state": "x" * 43})
    r = c.get(forged)
    assert r.status_code == 303 and r.headers["location"] == "/access/identity/result"
    text = c.get("/access/identity/result").text
    assert "does not match a request started in this browser" in text
    assert "Try again with Test ID" in text
    assert module_row(wb, "ada@state.edu", Module.IDENTITY) is None
    assert [e.details for e in events(wb, "identity_failed")] == [{"provider": "identity.custom",
                                                                   "reason": "state mismatch"}]

    # someone else's browser cannot complete it either (the state lives in the starting session)
    other = signed_in(wb, "bob@state.edu")
    other.get(callback)
    assert "does not match a request started in this browser" in other.get("/access/identity/result").text
    assert module_row(wb, "bob@state.edu", Module.IDENTITY) is None
    assert links(wb) == []


def test_identity_callback_replayed_is_refused_and_changes_nothing(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    sub = idp.user({"acr": IAL2})
    callback = idp.authorize(start_identity(c), sub)
    assert c.get(callback).headers["location"] == "/access/identity/result"
    verified_at = wb.clock.now
    wb.clock.advance(minutes=5)
    r = c.get(callback)
    assert r.status_code == 303 and r.headers["location"] == "/access/identity"  # already verified: its page
    assert "Your identity is verified through Test ID" in c.get("/access/identity").text
    assert len(links(wb)) == 1
    assert module_row(wb, "ada@state.edu", Module.IDENTITY).completed_at == verified_at
    assert len(events(wb, "identity_verified")) == 1
    assert [e.details["reason"] for e in events(wb, "identity_failed")] == ["state mismatch"]


def test_identity_already_linked_to_another_account_is_refused(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    sub = idp.user({"acr": IAL2})
    ada = signed_in(wb)
    ada.get(idp.authorize(start_identity(ada), sub))
    bob = signed_in(wb, "bob@state.edu")
    bob.get(idp.authorize(start_identity(bob), sub))
    text = bob.get("/access/identity/result").text
    assert "This Test ID identity is already linked to another account here" in text
    assert module_row(wb, "bob@state.edu", Module.IDENTITY) is None
    assert [link.user_id for link in links(wb)] == [wb.user("ada@state.edu").id]
    [event] = events(wb, "identity_failed")
    assert event.details["reason"] == "linked to another account"


def test_identity_cancelled_at_the_provider_is_explained(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = signed_in(wb)
    r = httpx.post(start_identity(c), data={"action": "deny"})
    assert r.status_code == 302
    c.get(r.headers["location"][len(BASE):])
    assert "Test ID reported that the sign-in was cancelled or not allowed." in c.get("/access/identity/result").text
    assert [e.details["reason"] for e in events(wb, "identity_failed")] == ["access denied"]


def test_identity_page_without_a_provider_points_to_manual_verification(wb):
    c = signed_in(wb)
    page = c.get("/access/identity")
    assert page.status_code == 200
    assert "This site does not verify identities through an outside provider" in page.text
    assert "An administrator can verify your identity another way" in page.text
    assert "/access/identity/start" not in page.text
    r = post(c, "/access/identity/start", {}, form_page="/access/identity")
    assert r.status_code == 303 and r.headers["location"] == "/access/identity"


def test_identity_pages_need_a_signed_in_user(make_workbench, idp):
    wb = make_workbench(identity=idp.identity())
    c = wb.client()
    for path in ("/access/identity", "/access/identity/result", "/access/identity/callback?code=x&state=y"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), path


# -- the presets' authorization requests ------------------------------------------------------------------------

def _rsa_pem(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "login-gov.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


def _token_request(provider: oidc.Provider) -> tuple[str, dict, str, str]:
    """The client authentication the token request would carry (Authlib's client, with the preset's method)."""
    async def build():
        metadata = await provider.app.load_server_metadata()
        async with provider.app._get_oauth_client(**metadata) as client:
            auth = client.client_auth(client.token_endpoint_auth_method)
            uri, headers, body = auth.prepare("POST", metadata["token_endpoint"], {}, "grant_type=authorization_code")
            return client.token_endpoint_auth_method, headers, body, metadata["token_endpoint"]
    return asyncio.run(build())


def test_login_gov_preset_asks_for_ial2_with_long_nonce_and_signs_a_private_key_jwt(make_workbench, idp, tmp_path):
    pem, key = _rsa_pem(tmp_path)
    client_id = "urn:gov:gsa:openidconnect.profiles:sp:sso:test:workbench"
    wb = make_workbench(identity={"preset": "login.gov", "client_id": client_id, "private_key_file": str(pem),
                                  "metadata_url": idp.metadata_url})
    c = signed_in(wb)
    assert "Continue to Login.gov" in c.get("/access/identity").text
    params = query(start_identity(c))
    assert params["acr_values"] == LOGIN_GOV_IAL2
    assert params["prompt"] == "select_account"
    assert params["scope"] == "openid email"
    assert params["client_id"] == client_id
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert len(params["nonce"]) >= 22 and len(params["state"]) >= 22
    assert params["redirect_uri"] == BASE + "/access/identity/callback"

    provider = oidc.clients(wb.app).identity
    assert (provider.key, provider.accepted_acr) == ("login.gov", (LOGIN_GOV_IAL2,))
    method, headers, body, token_endpoint = _token_request(provider)
    assert method == "private_key_jwt"
    assert "authorization" not in {k.lower() for k in headers}
    form = {k: v[0] for k, v in parse_qs(body).items()}
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    public = RSAKey.import_key(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    assertion = jwt.decode(form["client_assertion"], public, algorithms=["RS256"])
    assert assertion.header["alg"] == "RS256"
    claims = assertion.claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == (client_id, client_id, token_endpoint)
    assert len(claims["jti"]) >= 22 and claims["exp"] > claims["iat"]


def test_idme_preset_asks_for_its_ial2_policy_and_verifies_with_client_secret_post(make_workbench, idp,
                                                                                   monkeypatch):
    monkeypatch.setenv("RW_TEST_IDME_SECRET", "idme-secret")
    wb = make_workbench(identity={"preset": "id.me", "client_id": "idme-client",
                                  "client_secret_env": "RW_TEST_IDME_SECRET", "metadata_url": idp.metadata_url})
    c = signed_in(wb)
    location = start_identity(c)
    params = query(location)
    assert params["scope"] == "openid " + IDME_IAL2
    assert "acr_values" not in params and "prompt" not in params
    assert len(params["nonce"]) >= 22 and len(params["state"]) >= 22 and params["code_challenge_method"] == "S256"
    method, headers, body, _ = _token_request(oidc.clients(wb.app).identity)
    assert method == "client_secret_post"
    form = {k: v[0] for k, v in parse_qs(body).items()}
    assert (form["client_id"], form["client_secret"]) == ("idme-client", "idme-secret")

    sub = idp.user({"acr": IDME_IAL2})
    c.get(idp.authorize(location, sub))  # a real round trip, client_secret_post at the token endpoint
    assert "ID.me confirmed your identity" in c.get("/access/identity/result").text
    assert module_row(wb, "ada@state.edu", Module.IDENTITY).details == {"provider": "id.me", "acr": IDME_IAL2}


def test_identity_config_needs_a_key_for_login_gov_and_a_metadata_url_for_custom():
    with pytest.raises(WorkbenchConfigError, match="private_key_file is required"):
        load_workbench_config(None, identity={"preset": "login.gov", "client_id": "x"})
    with pytest.raises(WorkbenchConfigError, match="metadata_url is required"):
        load_workbench_config(None, identity={"preset": "custom", "client_id": "x"})
    with pytest.raises(WorkbenchConfigError, match="client_id is required"):
        load_workbench_config(None, identity={"preset": "id.me"})
    with pytest.raises(WorkbenchConfigError, match="client_secret_env is required for client_secret_post"):
        load_workbench_config(None, identity={"preset": "id.me", "client_id": "x"})


def test_claim_checks():
    assert oidc.is_ial2({"acr": IAL2}, (IAL2,))
    assert not oidc.is_ial2({"acr": IAL2 + "x"}, (IAL2,))
    assert not oidc.is_ial2({"acr": [IAL2]}, (IAL2,))
    assert not oidc.is_ial2({}, (IAL2,))
    assert oidc.shows_mfa({"amr": ["pwd", "mfa"]})
    assert oidc.shows_mfa({"amr": ["otp"]}) and oidc.shows_mfa({"amr": ["hwk"]}) and oidc.shows_mfa({"amr": "mfa"})
    assert oidc.shows_mfa({"amr": ["pwd", "fpt"]})
    assert not oidc.shows_mfa({"amr": ["pwd"]}) and not oidc.shows_mfa({"amr": ["pwd", "kba"]})
    assert not oidc.shows_mfa({}) and not oidc.shows_mfa({"amr": 3})
    assert oidc.identity_via({"preferred_username": "bob@ID.me"}, "custom") == "id.me"
    assert oidc.identity_via({"preferred_username": "bob@example.org"}, "custom") is None
    assert oidc.identity_via({}, "login.gov") == "login.gov"


# -- signing in through an institution -----------------------------------------------------------------------------

def test_signin_through_a_provider_links_by_verified_email_and_later_by_subject(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin()])
    registered(wb, wb.client())
    sub = idp.user({"email": "Ada@State.edu", "email_verified": True})

    c = wb.client()
    assert f"form-action 'self' {idp.base}" in oidc.content_security_policy(wb.config)
    location = start_signin(c)
    params = query(location)
    assert params["redirect_uri"] == BASE + "/signin/oidc/state-u/callback"
    assert params["scope"] == "openid email profile" and params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    r = c.get(idp.authorize(location, sub))
    assert r.status_code == 303 and r.headers["location"] == "/access", r.text[:500]
    assert c.get("/access").status_code == 200
    user = wb.user("ada@state.edu")
    [link] = links(wb)
    assert (link.user_id, link.provider, link.subject, link.purpose) == (user.id, "state-u", sub, "signin")
    [linked] = events(wb, "oidc_linked")
    assert linked.details == {"provider": "state-u", "subject": sub, "email": "ada@state.edu", "purpose": "signin"}
    signins = events(wb, "signin")
    assert signins[-1].details == {"method": "oidc:state-u", "second_step": None, "linked": True}
    assert signins[-1].actor_id == user.id

    # the link, not the address, finds the account next time
    idp.user({"email": "someone.else@state.edu", "email_verified": True}, sub=sub)
    c2 = wb.client()
    r = c2.get(idp.authorize(start_signin(c2, next_path="/profile"), sub))
    assert r.status_code == 303 and r.headers["location"] == "/profile"
    assert len(links(wb)) == 1 and len(events(wb, "oidc_linked")) == 1
    assert events(wb, "signin")[-1].details == {"method": "oidc:state-u", "second_step": None}


def test_trusted_provider_mfa_claim_completes_two_step_and_gives_a_strong_session(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin(trusted_mfa=True)])
    registered(wb, wb.client())
    wb.complete("ada@state.edu", *REGISTERED_OTHER_THAN_2FA)
    sub = idp.user({"email": "ada@state.edu", "email_verified": True, "amr": ["pwd", "mfa"]})

    c = wb.client()
    r = c.get(idp.authorize(start_signin(c, next_path="/data/registered"), sub))
    assert r.status_code == 303 and r.headers["location"] == "/data/registered"
    assert c.get("/data/registered").status_code == 200
    row = module_row(wb, "ada@state.edu", Module.TWO_FACTOR)
    assert row.completed_at == wb.clock.now and row.details == {"via": "state-u"}
    assert events(wb, "signin")[-1].details == {"method": "oidc:state-u", "second_step": "provider", "linked": True}
    assert events(wb, "module_completed")[-1].details == {"module": "two_factor", "via": "state-u"}


def test_trusted_provider_without_an_mfa_claim_gives_no_data_access(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin(trusted_mfa=True)])
    registered(wb, wb.client())
    wb.complete("ada@state.edu", *REGISTERED_OTHER_THAN_2FA)
    sub = idp.user({"email": "ada@state.edu", "email_verified": True, "amr": ["pwd"]})
    c = wb.client()
    assert c.get(idp.authorize(start_signin(c), sub)).headers["location"] == "/access"
    assert c.get("/data/registered").status_code == 403
    assert module_row(wb, "ada@state.edu", Module.TWO_FACTOR) is None


def test_untrusted_provider_sends_a_totp_user_to_the_second_step(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin()])
    registered(wb, wb.client())
    secret = pyotp.random_base32()
    services = wb.app.state.services
    with wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == "ada@state.edu"))
        user.totp_secret, user.totp_enabled_at = services.totp.seal(secret), wb.clock.now
    sub = idp.user({"email": "ada@state.edu", "email_verified": True, "amr": ["pwd", "mfa"]})

    c = wb.client()
    r = c.get(idp.authorize(start_signin(c, next_path="/profile"), sub))
    assert r.status_code == 303 and r.headers["location"] == "/signin/second-step"
    assert c.get("/access").headers["location"].startswith("/signin/second-step")
    assert events(wb, "signin")[-1].details == {"method": "oidc:state-u", "second_step": "totp", "linked": True}
    r = post(c, "/signin/second-step", {"code": pyotp.TOTP(secret).at(wb.clock.now)})
    assert r.status_code == 303 and r.headers["location"] == "/profile"
    assert c.get("/profile").status_code == 200
    assert module_row(wb, "ada@state.edu", Module.TWO_FACTOR) is None  # the provider vouched for nothing


def test_signin_with_an_unknown_email_says_to_sign_up_first_and_creates_nothing(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin()])
    sub = idp.user({"email": "newcomer@state.edu", "email_verified": True})
    c = wb.client()
    r = c.get(idp.authorize(start_signin(c), sub))
    assert r.status_code == 303 and r.headers["location"] == "/signin/oidc/state-u/result"
    page = c.get("/signin/oidc/state-u/result")
    assert page.status_code == 200
    assert "No account for newcomer@state.edu yet" in page.text
    assert "Accounts are not created automatically: create yours first" in page.text
    assert 'href="/signup"' in page.text
    assert wb.user("newcomer@state.edu") is None and links(wb) == []
    assert c.get("/access").status_code == 303  # not signed in
    [event] = events(wb, "signin_failed")
    assert event.details == {"method": "oidc:state-u", "reason": "no account", "email": "newcomer@state.edu"}


def test_signin_does_not_link_an_account_whose_own_address_is_unverified(make_workbench, idp):
    """Someone who signed up with another person's address must not receive that person's provider sign-ins."""
    wb = make_workbench(signin_providers=[idp.signin()])
    sign_up(wb.client(), "ada@state.edu")  # never verified
    sub = idp.user({"email": "ada@state.edu", "email_verified": True})
    c = wb.client()
    c.get(idp.authorize(start_signin(c), sub))
    page = c.get("/signin/oidc/state-u/result")
    assert "Your account here (ada@state.edu) is not verified yet: open the link we sent" in page.text
    assert "Try again with State University" in page.text
    assert links(wb) == [] and c.get("/access").status_code == 303
    assert events(wb, "signin_failed")[-1].details == {"method": "oidc:state-u", "reason": "account email not verified",
                                                       "email": "ada@state.edu"}


def test_signin_refuses_an_unverified_email_claim_and_an_address_outside_the_providers_domains(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin(email_domains=["citylab.org"])])
    registered(wb, wb.client())
    c = wb.client()
    c.get(idp.authorize(start_signin(c), idp.user({"email": "ada@state.edu", "email_verified": False})))
    assert "did not confirm that ada@state.edu is verified" in c.get("/signin/oidc/state-u/result").text
    c = wb.client()
    c.get(idp.authorize(start_signin(c), idp.user({"email": "ada@state.edu", "email_verified": True})))
    assert "signs in addresses at citylab.org only, not ada@state.edu" in c.get("/signin/oidc/state-u/result").text
    assert links(wb) == []


def test_signin_refuses_a_disabled_account(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin()])
    registered(wb, wb.client())
    with wb.db.session() as session:
        session.scalar(select(User).where(User.email == "ada@state.edu")).disabled_at = wb.clock.now
    c = wb.client()
    c.get(idp.authorize(start_signin(c), idp.user({"email": "ada@state.edu", "email_verified": True})))
    assert "This account is disabled." in c.get("/signin/oidc/state-u/result").text
    assert c.get("/access").status_code == 303 and links(wb) == []
    assert events(wb, "signin_failed")[-1].details == {"method": "oidc:state-u", "reason": "account disabled"}


def test_signin_callback_from_another_browser_or_replayed_is_refused(make_workbench, idp):
    wb = make_workbench(signin_providers=[idp.signin()])
    registered(wb, wb.client())
    sub = idp.user({"email": "ada@state.edu", "email_verified": True})
    c = wb.client()
    callback = idp.authorize(start_signin(c), sub)
    other = wb.client()  # another browser: the state lives in the session that started the flow
    r = other.get(callback)
    assert r.status_code == 303 and r.headers["location"] == "/signin/oidc/state-u/result"
    page = other.get("/signin/oidc/state-u/result")
    assert "does not match a request started in this browser" in page.text
    assert "Try again with State University" in page.text and "refresh" not in page.text.lower()
    assert other.get("/access").status_code == 303
    assert events(wb, "signin_failed")[-1].details == {"method": "oidc:state-u", "reason": "state mismatch"}

    assert c.get(callback).headers["location"] == "/access"  # the browser that started it
    r = c.get(callback)  # replayed: the state was used up
    assert r.headers["location"] == "/signin/oidc/state-u/result"
    assert [e.details["reason"] for e in events(wb, "signin_failed")] == ["state mismatch", "state mismatch"]
    assert len([e for e in events(wb, "signin") if e.details["method"] == "oidc:state-u"]) == 1


def test_signin_with_an_unknown_provider_is_404(wb):
    c = wb.client()
    r = post(c, "/signin/oidc/nowhere", {"next": "/access"}, form_page="/signin")
    assert r.status_code == 404


def test_identity_provider_unreachable_is_explained_with_a_retry(make_workbench, idp):
    wb = make_workbench(identity=idp.identity(metadata_url="http://127.0.0.1:9/.well-known/openid-configuration"))
    c = signed_in(wb)
    r = post(c, "/access/identity/start", {}, form_page="/access/identity")
    assert r.status_code == 303 and r.headers["location"] == "/access/identity/result"
    text = c.get("/access/identity/result").text
    assert "Test ID could not be reached. Try again in a few minutes." in text
    assert "Try again with Test ID" in text
    assert [e.details for e in events(wb, "identity_failed")] == [{"provider": "identity.custom",
                                                                   "reason": "provider unreachable"}]
