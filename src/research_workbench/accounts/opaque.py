"""Opaque secrets handed to users (session cookies, API tokens, emailed links, recovery codes) and how they are
stored: only as a keyed hash (HMAC-SHA256 with the app's token pepper). They carry 128 bits or more of randomness,
so a fast keyed hash is enough; a slow one (argon2) is kept for passwords, which people choose."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(pepper: bytes, token: str) -> str:
    return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
