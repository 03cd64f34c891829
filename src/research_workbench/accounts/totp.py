"""Two-step verification: TOTP (RFC 6238, pyotp) with replay protection, and single-use recovery codes.

pyotp accepts a code again within its window; we keep the last accepted time step per user and refuse any code at
or before it, so an observed code cannot be replayed. The TOTP secret is stored encrypted (Fernet, with a key
derived from the app's secret); recovery codes are stored as keyed hashes.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..state.models import RecoveryCode

from .opaque import token_hash

STEP_SECONDS = 30
RECOVERY_CODES = 10
_CODE = re.compile(r"^[0-9]{6}$")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class TotpSecrets:
    def __init__(self, fernet_key: bytes):
        self._fernet = Fernet(fernet_key)

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("the stored TOTP secret cannot be decrypted with this app's key") from None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code (segno, no JavaScript, no outside service)."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")


def accepted_step(secret: str, code: str, *, last_step: int | None, now: datetime) -> int | None:
    """The time step ``code`` belongs to (the current one, or one either side for clock drift), if it is valid and
    newer than ``last_step``; else None."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like ``k7mq-3xrt-p9aw`` (about 64 bits each), shown once."""
    return ["-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
            for _ in range(count)]


def normalise_recovery_code(code: str) -> str:
    letters = re.sub(r"[^a-z0-9]", "", code.lower())
    return "-".join(letters[i:i + 4] for i in range(0, len(letters), 4))


def recovery_hash(pepper: bytes, code: str) -> str:
    return token_hash(pepper, "recovery:" + normalise_recovery_code(code))


# -- the stored codes ---------------------------------------------------------------------------------------------

def replace_recovery_codes(session: Session, user_id: int, pepper: bytes) -> list[str]:
    """New codes for ``user_id`` (the old ones stop working); only their keyed hashes are stored."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = new_recovery_codes()
    session.add_all(RecoveryCode(user_id=user_id, code_hash=recovery_hash(pepper, c)) for c in codes)
    return codes


def recovery_codes_left(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode)
                          .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def use_recovery_code(session: Session, user_id: int, code: str, pepper: bytes, now: datetime) -> int | None:
    """Spend ``code`` if it is one of the user's unused codes: how many are left then; None if it is not."""
    row = session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user_id,
                                                    RecoveryCode.code_hash == recovery_hash(pepper, code),
                                                    RecoveryCode.used_at.is_(None)))
    if row is None:
        return None
    row.used_at = now
    session.flush()
    return recovery_codes_left(session, user_id)
