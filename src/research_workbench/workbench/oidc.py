"""OpenID Connect: the Authlib clients built from the config, the identity presets, and the claim checks.

Two uses, one machinery (Authlib's Starlette client, ``authlib.integrations.starlette_client.OAuth``):

- **Signing in** through an institution's identity provider (``config.signin_providers``): the provider proves
  who the person is; a provider marked ``trusted_mfa`` may also vouch for their second factor through the ID
  token's ``amr`` claim (RFC 8176 values).
- **Verifying identity** (step 2, ``config.identity``): a linked flow that must come back with an IAL2 assurance
  claim (``acr``). Presets:

  - ``login.gov``: ``private_key_jwt`` token authentication (Authlib's ``PrivateKeyJWT``, signed RS256 with the
    configured PEM key), ``acr_values=urn:acr.login.gov:verified-facial-match-required`` (the only Login.gov
    service level that "meets NIST 800-63-3 IAL2"; ``urn:acr.login.gov:verified`` and the deprecated
    ``http://idmanagement.gov/ns/assurance/ial/2`` are identity verification *without* facial match and, in
    Login.gov's words, do not meet IAL2), ``prompt=select_account`` (required by Login.gov), scope
    ``openid email``.
  - ``id.me``: ``client_secret_post``; ID.me selects its NIST IAL2/AAL2 policy through the scope
    ``http://idmanagement.gov/ns/assurance/ial/2/aal/2``; that value (or the generic IAL2 URI) must come back as
    ``acr``.
  - ``custom``: everything from the config; by default ``acr_values`` and the accepted ``acr`` are the generic
    ``http://idmanagement.gov/ns/assurance/ial/2`` (what NIH RAS passes on from Login.gov / ID.me, the rule All of
    Us applies; the underlying service is named by the ``preferred_username`` suffix ``@login.gov`` / ``@id.me``).

  ``identity.accepted_acr`` overrides the accepted values of any preset.

Every flow uses PKCE (S256), and a ``state`` and ``nonce`` of 43 characters (32 random bytes; Login.gov asks for
at least 22; Authlib's own nonce has 20). The ``redirect_uri`` is built from ``config.base_url``, never from the
request's ``Host``. The ID token is verified by Authlib (signature against the provider's JWKS, ``iss``, ``aud``,
``exp``, ``nonce``); the userinfo endpoint's claims are merged under the ID token's (``sub`` must agree).

Browsers and CSP: Chromium and Safari apply a page's ``form-action`` to the redirects that follow a form
submission, so a page whose form starts a flow (a POST here answered by a redirect to the provider) must list the
provider's origin in ``form-action``: ``content_security_policy(config)`` is the app's policy with every
configured provider's origin added.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2  # the HTTP client Authlib uses (it deprecates plain httpx)
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from starlette.requests import Request

from ..accounts.config import IdentitySettings, ProviderSettings, WorkbenchConfig, WorkbenchConfigError
from ..cdr.problems import Problem
from ..web.headers import DEFAULT_CSP

log = logging.getLogger("research_workbench.workbench.oidc")

IAL2 = "http://idmanagement.gov/ns/assurance/ial/2"
LOGIN_GOV_IAL2 = "urn:acr.login.gov:verified-facial-match-required"
IDME_IAL2 = "http://idmanagement.gov/ns/assurance/ial/2/aal/2"
STATE_BYTES = 32  # token_urlsafe(32): 43 characters
TIMEOUT = 10.0

# RFC 8176 authentication method references. A second factor is shown by "mfa"/"mca", by any possession factor,
# or by two different kinds of factor (e.g. a password and a fingerprint).
_KNOWLEDGE = {"pwd", "pin", "kba"}
_POSSESSION = {"otp", "hwk", "swk", "sc", "sms", "tel"}
_INHERENCE = {"fpt", "face", "iris", "retina", "vbm"}
# The claims an OidcLink keeps (no names, birth dates or numbers: only what says who vouched and how).
KEPT_CLAIMS = ("iss", "acr", "amr", "ial", "aal", "email", "email_verified", "preferred_username", "verified_at",
               "auth_time")


@dataclass(frozen=True)
class Preset:
    key: str  # the OidcLink.provider value and the Authlib client's name
    label: str
    metadata_url: str | None
    scope: str
    acr_values: str | None
    accepted_acr: tuple[str, ...]
    token_auth: str | None  # None: client_secret_basic with a secret, else a public client ("none")
    authorize_params: tuple[tuple[str, str], ...] = ()


PRESETS: dict[str, Preset] = {
    "login.gov": Preset("login.gov", "Login.gov", "https://secure.login.gov/.well-known/openid-configuration",
                        "openid email", LOGIN_GOV_IAL2, (LOGIN_GOV_IAL2,), "private_key_jwt",
                        (("prompt", "select_account"),)),
    "id.me": Preset("id.me", "ID.me", "https://api.id.me/oidc/.well-known/openid-configuration",
                    f"openid {IDME_IAL2}", None, (IDME_IAL2, IAL2), "client_secret_post"),
    # A dot keeps the key apart from sign-in provider names (letters, digits and dashes only).
    "custom": Preset("identity.custom", "your identity provider", None, "openid email profile", IAL2, (IAL2,), None),
}


class OidcFailure(Exception):
    """A flow that did not succeed: ``code`` for the audit log, ``message`` for the person."""

    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@dataclass
class Provider:
    """One configured OpenID Connect client."""

    key: str
    label: str
    app: StarletteOAuth2App
    scope: str
    authorize_params: dict[str, str] = field(default_factory=dict)
    accepted_acr: tuple[str, ...] = ()
    settings: ProviderSettings | IdentitySettings | None = None

    async def authorization_url(self, request: Request, redirect_uri: str) -> str:
        """Where to send the person: a fresh state, nonce and PKCE verifier, kept in their session
        (``OidcFailure`` when the provider's discovery document cannot be had)."""
        try:
            rv = await self.app.create_authorization_url(redirect_uri, **self.authorization_params())
        except (httpx2.HTTPError, ValueError, RuntimeError) as err:
            log.warning("OIDC %s: no discovery document: %s", self.key, err)
            raise OidcFailure("provider unreachable", f"{self.label} could not be reached. Try again in a few "
                                                      "minutes.") from None
        await self.app.save_authorize_data(request, redirect_uri=redirect_uri, **rv)
        return rv["url"]

    def authorization_params(self) -> dict[str, str]:
        return {"state": secrets.token_urlsafe(STATE_BYTES), "nonce": secrets.token_urlsafe(STATE_BYTES),
                "scope": self.scope, **self.authorize_params}

    async def finish(self, request: Request) -> dict[str, Any]:
        """The callback: check state, exchange the code (PKCE verifier, client authentication), verify the ID
        token and its nonce, fetch userinfo; the merged claims, or ``OidcFailure``."""
        label = self.label
        try:
            token = await self.app.authorize_access_token(request)
        except MismatchingStateError:
            raise OidcFailure("state mismatch", (
                f"This answer from {label} does not match a request started in this browser: it was already used, "
                "it expired, or it was started elsewhere. Nothing was changed.")) from None
        except OAuthError as err:
            if err.error == "access_denied":
                raise OidcFailure("access denied", f"{label} reported that the sign-in was cancelled or not allowed.") \
                    from None
            detail = f"{err.error}: {err.description}" if err.description else str(err.error)
            raise OidcFailure(f"provider error: {detail}"[:200], f"{label} refused the request ({detail}).") from None
        except httpx2.HTTPError as err:
            log.warning("OIDC %s unreachable: %s", self.key, err)
            raise OidcFailure("provider unreachable", f"{label} could not be reached. Try again in a few minutes.") \
                from None
        except (JoseError, ValueError) as err:
            log.warning("OIDC %s: invalid ID token: %s", self.key, err)
            raise OidcFailure("invalid id token", f"{label}'s answer could not be verified.") from None
        except Exception:  # a reason page, not a 500, whatever the provider sent
            log.exception("OIDC %s: unexpected failure at the callback", self.key)
            raise OidcFailure("unexpected error", f"{label}'s answer could not be used. Try again.") from None
        id_claims = token.get("userinfo")
        if not id_claims or not id_claims.get("sub"):
            raise OidcFailure("no id token", f"{label} did not send an ID token.")
        claims = dict(id_claims)
        metadata = await self.app.load_server_metadata()
        if metadata.get("userinfo_endpoint"):
            try:
                extra = dict(await self.app.userinfo(token=token))
            except (httpx2.HTTPError, OAuthError, ValueError) as err:
                log.warning("OIDC %s userinfo failed: %s", self.key, err)
                raise OidcFailure("userinfo failed", f"{label} could not be reached. Try again in a few minutes.") \
                    from None
            if extra.get("sub") != claims["sub"]:
                raise OidcFailure("userinfo subject mismatch", f"{label}'s answer could not be verified.")
            claims = {**extra, **claims}  # the signed ID token wins
        return claims


@dataclass
class OidcClients:
    signin: dict[str, Provider]
    identity: Provider | None


# -- building from the config ------------------------------------------------------------------------------------

def _secret(env: str | None, where: str) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise WorkbenchConfigError([Problem(f"the environment variable {env} (the client secret) is not set", where)])
    return value


def _register(oauth: OAuth, name: str, *, client_id: str, secret: Any, metadata_url: str, scope: str,
              token_auth: str | None, private_key: RSAKey | None = None) -> StarletteOAuth2App:
    if token_auth is None:
        token_auth = "client_secret_basic" if secret else "none"
    kwargs: dict[str, Any] = {"scope": scope, "code_challenge_method": "S256", "token_endpoint_auth_method": token_auth,
                              "timeout": TIMEOUT}
    methods = None
    if token_auth == "private_key_jwt":
        secret, methods = private_key, [PrivateKeyJWT()]  # aud: the token endpoint's URL
    return oauth.register(name, client_id=client_id, client_secret=secret, server_metadata_url=metadata_url,
                          client_kwargs=kwargs, client_auth_methods=methods)


def load_private_key(config: WorkbenchConfig, path: str) -> RSAKey:
    resolved = config.resolve(path)
    try:
        pem = resolved.read_bytes()
    except OSError as err:
        raise WorkbenchConfigError([Problem(f"cannot read the private key: {err.strerror}", str(resolved))]) from None
    try:
        key = RSAKey.import_key(pem)
    except (ValueError, TypeError, JoseError) as err:
        raise WorkbenchConfigError([Problem(f"not an RSA private key in PEM: {err}", str(resolved))]) from None
    if not key.is_private:
        raise WorkbenchConfigError([Problem("a public key: private_key_jwt needs the private key", str(resolved))])
    return key


def identity_preset(settings: IdentitySettings) -> Preset:
    return PRESETS[settings.preset]


def build_clients(config: WorkbenchConfig) -> OidcClients:
    """Every configured provider as an Authlib client (``WorkbenchConfigError`` for a missing secret or key)."""
    oauth = OAuth()
    signin: dict[str, Provider] = {}
    for i, p in enumerate(config.signin_providers):
        secret = _secret(p.client_secret_env, f"signin_providers.{i}.client_secret_env")
        app = _register(oauth, p.name, client_id=p.client_id, secret=secret, metadata_url=p.metadata_url,
                        scope=p.scope, token_auth=None)
        signin[p.name] = Provider(p.name, p.label, app, p.scope, settings=p)
    identity = None
    s = config.identity
    if s is not None:
        preset = identity_preset(s)
        token_auth = s.token_auth or preset.token_auth
        key = load_private_key(config, s.private_key_file) if token_auth == "private_key_jwt" else None
        secret = _secret(s.client_secret_env, "identity.client_secret_env")
        scope = s.scope or preset.scope
        app = _register(oauth, preset.key, client_id=s.client_id or "", secret=secret,
                        metadata_url=s.metadata_url or preset.metadata_url or "", scope=scope, token_auth=token_auth,
                        private_key=key)
        params = dict(preset.authorize_params)
        acr_values = s.acr_values if s.acr_values is not None else preset.acr_values
        if acr_values:
            params["acr_values"] = acr_values
        identity = Provider(preset.key, s.label or preset.label, app, scope, params,
                            tuple(s.accepted_acr or preset.accepted_acr), settings=s)
    return OidcClients(signin, identity)


def clients(app) -> OidcClients:
    """The app's clients, built on first use (``create_app`` may build them up front to fail fast)."""
    found = getattr(app.state, "oidc", None)
    if found is None:
        found = build_clients(app.state.services.config)
        app.state.oidc = found
    return found


def redirect_uri(config: WorkbenchConfig, path: str) -> str:
    """An absolute callback URL from ``base_url`` (never from the request's Host)."""
    return config.base_url.rstrip("/") + path


# -- the claim checks ----------------------------------------------------------------------------------------------

def acr_of(claims: dict[str, Any]) -> str | None:
    acr = claims.get("acr")
    return acr if isinstance(acr, str) and acr else None


def is_ial2(claims: dict[str, Any], accepted: tuple[str, ...]) -> bool:
    """The assurance claim is one of the accepted IAL2 values (exact match: no prefixes, no lists)."""
    return acr_of(claims) in accepted


def amr_of(claims: dict[str, Any]) -> list[str]:
    amr = claims.get("amr")
    if isinstance(amr, str):
        amr = [amr]
    return [a for a in amr if isinstance(a, str)] if isinstance(amr, list) else []


def shows_mfa(claims: dict[str, Any]) -> bool:
    """The provider says a second factor was used: ``mfa``/``mca``, a possession factor (a code, a key, a card),
    or two different kinds of factor."""
    amr = {a.lower() for a in amr_of(claims)}
    if amr & {"mfa", "mca"} or amr & _POSSESSION:
        return True
    kinds = sum(bool(amr & kind) for kind in (_KNOWLEDGE, _POSSESSION, _INHERENCE))
    return kinds >= 2


def email_verified(claims: dict[str, Any], trust_email: bool = False) -> bool:
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true") or trust_email


def identity_via(claims: dict[str, Any], preset: str) -> str | None:
    """Which identity service vouched: the preset, or (through a broker such as NIH RAS) the
    ``preferred_username`` suffix ``@login.gov`` / ``@id.me``."""
    if preset in ("login.gov", "id.me"):
        return preset
    name = claims.get("preferred_username")
    if isinstance(name, str):
        for suffix in ("login.gov", "id.me"):
            if name.lower().endswith("@" + suffix):
                return suffix
    return None


def kept_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: claims[k] for k in KEPT_CLAIMS if k in claims and isinstance(claims[k], (str, int, bool, list))}


# -- CSP ---------------------------------------------------------------------------------------------------------

def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def provider_origins(config: WorkbenchConfig, loaded: OidcClients | None = None) -> list[str]:
    """The origins a form starting a flow may be redirected to: each provider's metadata URL's, and the loaded
    authorization endpoints'."""
    urls: list[str | None] = [p.metadata_url for p in config.signin_providers]
    if config.identity is not None:
        urls.append(config.identity.metadata_url or identity_preset(config.identity).metadata_url)
    if loaded is not None:
        for p in [*loaded.signin.values(), *([loaded.identity] if loaded.identity else [])]:
            urls.append(p.app.server_metadata.get("authorization_endpoint"))
    out: list[str] = []
    for url in urls:
        origin = _origin(url)
        if origin and origin not in out:
            out.append(origin)
    return out


def content_security_policy(config: WorkbenchConfig, loaded: OidcClients | None = None, base: str = DEFAULT_CSP) -> str:
    """``base`` with the providers' origins added to ``form-action``."""
    origins = provider_origins(config, loaded)
    if not origins:
        return base
    parts = [p.strip() for p in base.split(";")]
    out = []
    for part in parts:
        if part.split(" ", 1)[0] == "form-action":
            part = " ".join([part, *origins])
        out.append(part)
    return "; ".join(out)


# -- for the routes ------------------------------------------------------------------------------------------------

def try_clients(app) -> OidcClients | None:
    """The clients, or None (logged) when the config names a secret or key that is not there."""
    try:
        return clients(app)
    except WorkbenchConfigError as err:
        log.error("OpenID Connect is not available: %s", "; ".join(str(p) for p in err.problems))
        return None


def allow_provider_forms(request: Request, response):
    """Let this page's forms be redirected to the providers (CSP ``form-action``; see the module docstring)."""
    config = request.app.state.services.config
    response.headers["content-security-policy"] = content_security_policy(config, getattr(request.app.state, "oidc",
                                                                                           None))
    return response
