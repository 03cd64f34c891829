"""Passwords: argon2id hashes (argon2-cffi), with the parameters from the config, rehashed when they change."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .config import PasswordSettings

MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a megabyte "password" from costing a request


class Passwords:
    def __init__(self, settings: PasswordSettings = PasswordSettings()):
        self.settings = settings
        self._hasher = PasswordHasher(time_cost=settings.time_cost, memory_cost=settings.memory_kib,
                                      parallelism=settings.parallelism, type=Type.ID)
        # Verified against when the account does not exist, so "no such user" takes as long as "wrong password".
        self._dummy = self._hasher.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def problems(self, password: str, *, email: str = "", names: tuple[str, ...] = ()) -> list[str]:
        """Why ``password`` may not be chosen (empty: it may)."""
        out = []
        if len(password) < self.settings.min_length:
            out.append(f"use at least {self.settings.min_length} characters")
        if len(password) > MAX_LENGTH:
            out.append(f"use at most {MAX_LENGTH} characters")
        lowered = password.casefold()
        if email and (lowered == email.casefold() or lowered == email.split("@")[0].casefold()):
            out.append("must not be your email address")
        if any(n and len(n) >= 3 and lowered == n.casefold() for n in names):
            out.append("must not be your name")
        if password and len(set(password)) < 4:
            out.append("use more than three different characters")
        return out
