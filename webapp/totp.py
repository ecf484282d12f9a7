"""Time-based one-time codes (RFC 6238, via pyotp) with replay protection.

A code is accepted for the current 30-second step and one step either side (clock
drift). The step of the last accepted code is stored per user (``totp_uses``), so the
same code cannot be used twice, not even from another worker.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from storage.db.web import TotpUse

ISSUER = "verp"
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh random base32 secret (160 bits)."""
    return str(pyotp.random_base32(length=32))


def provisioning_uri(secret: str, email: str, site_name: str) -> str:
    """The otpauth:// URI an authenticator app accepts (typed in or pasted)."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=f"{ISSUER} {site_name}"))


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into a phone."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals ``code`` (within the drift), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(str(totp.at(step * STEP_SECONDS)), code):
            return step
    return None


def verify(db: Session, user_id: str, secret: str, code: str, now: datetime) -> bool:
    """True if ``code`` is valid now and newer than the user's last accepted code.

    Records the step in the caller's unit of work, so a replay is refused.
    """
    step = matching_step(secret, code, now)
    if step is None:
        return False
    used = db.get(TotpUse, user_id)
    if used is not None and step <= used.last_step:
        return False
    if used is None:
        db.add(TotpUse(user_id=user_id, last_step=step))
    else:
        used.last_step = step
    db.flush()
    return True
