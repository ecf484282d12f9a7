"""Login throttling shared by every web worker (rows in ``login_attempts``).

A key is the SHA-256 of what is being guessed against (an email and the client's
address; the client's address alone, with a higher limit, so one address cannot try
many emails; or a user's one-time code), so the table holds nothing personal. Only failures
are recorded; a success clears its key. Rows older than the window are pruned as new
failures arrive.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.db.web import LoginAttempt


def throttle_key(*parts: str) -> str:
    """A stable, non-reversible key for the throttled identity (e.g. email + address)."""
    joined = "\x1f".join(p.strip().lower() for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


class LoginKeys(NamedTuple):
    """The two throttle keys of a password attempt."""

    account: str  # this email from this address: a guessing run against one account
    address: str  # this address, whatever the email: one address trying many accounts


def login_keys(email: str, address: str) -> LoginKeys:
    """The throttle keys of a password attempt for ``email`` from ``address``."""
    return LoginKeys(
        account=throttle_key("login", email, address),
        address=throttle_key("login-address", address),
    )


def retry_after(db: Session, key: str, *, now: datetime, limit: int, window: int) -> int:
    """Seconds until ``key`` may try again; 0 if it may try now.

    ``limit`` failures within the last ``window`` seconds lock the key until the oldest of
    them leaves the window.
    """
    since = now - timedelta(seconds=window)
    recent = select(LoginAttempt.at).where(LoginAttempt.key == key, LoginAttempt.at > since)
    count = db.scalar(select(func.count()).select_from(recent.subquery())) or 0
    if count < limit:
        return 0
    times = sorted(db.scalars(recent.order_by(LoginAttempt.at.desc()).limit(limit)))
    unlock = times[0] + timedelta(seconds=window)
    return max(1, int((unlock - now).total_seconds() + 0.999))


def prune(db: Session, *, now: datetime, window: int) -> None:
    """Drop every row older than ``window`` (they no longer count against anyone)."""
    db.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - timedelta(seconds=window)))


def record_failure(db: Session, key: str, *, now: datetime, window: int) -> None:
    """Remember one failed attempt for ``key`` and drop rows older than ``window``."""
    prune(db, now=now, window=window)
    db.add(LoginAttempt(key=key, at=now))
    db.flush()


def clear(db: Session, key: str) -> None:
    """Forget the failures of ``key`` (after a successful login)."""
    db.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
