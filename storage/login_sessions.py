"""The server-side registry of signed-in browser sessions (rows in ``login_sessions``).

A signed session cookie cannot be forged, but it cannot be taken back either: a copy
stays valid however often its browser signs out. So every sign-in creates a row keyed
by the SHA-256 of a random 256-bit id that only the cookie holds, and every request
must find its row alive — not revoked and not idle-expired. Signing out revokes the
row; "log out everywhere", a password change, a second-factor reset, a role change and
deactivation revoke every row of the user.

``last_seen_at`` is written at most once per :data:`TOUCH_EVERY`, so browsing does not
write on each request. ``expires_at`` therefore adds that much slack to the idle limit:
the coarse timestamp never ends a session early, and the exact idle limit is enforced
by the cookie's own (signed) last-use stamp in the web layer.

Ended rows are deleted by :func:`purge_expired` (on every sign-in) and
:func:`purge_expired_sessions` (the worker's periodic job). No Flask here: the web layer
keeps the raw id in its cookie and calls these functions.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import delete, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from storage.clock import Clock
from storage.db.engine import Database
from storage.db.web import LoginSession

#: Bytes of randomness in a session id (256 bits).
SESSION_ID_BYTES = 32
#: ``last_seen_at`` is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)

Ended = Literal["revoked", "expired"]


class RegistryServices(Protocol):
    """What :func:`purge_expired_sessions` needs (``webapp`` ``Services`` fits)."""

    db: Database
    clock: Clock


def hash_id(session_id: str) -> str:
    """The stored form of a session id: its SHA-256, hex."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _deadline(now: datetime, idle: timedelta) -> datetime:
    return now + idle + TOUCH_EVERY


def start(db: Session, *, user_id: str, site_id: str, now: datetime, idle: timedelta) -> str:
    """Register a new session for a user who just proved who they are; return its id.

    The id is for the cookie only (the row keeps its hash). Ended sessions of everyone
    are purged on the way (one indexed delete). Raises ValueError for a non-positive
    ``idle``.
    """
    if idle <= timedelta(0):
        raise ValueError("the idle limit of a session must be positive")
    purge_expired(db, now)
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    db.add(
        LoginSession(
            id_hash=hash_id(session_id),
            user_id=user_id,
            site_id=site_id,
            created_at=now,
            last_seen_at=now,
            expires_at=_deadline(now, idle),
        )
    )
    db.flush()
    return session_id


def ended(row: LoginSession, now: datetime) -> Ended | None:
    """Why the session of ``row`` is over (``revoked`` or ``expired``), or None if live."""
    if row.revoked_at is not None:
        return "revoked"
    if now > row.expires_at:
        return "expired"
    return None


def touch(row: LoginSession, now: datetime, idle: timedelta) -> bool:
    """Note a use of a live session at ``now``; True if the row changed.

    The row changes only when its last recorded use is at least TOUCH_EVERY old, so at
    most one write per minute per session; the caller's unit of work commits it.
    """
    if now - row.last_seen_at < TOUCH_EVERY:
        return False
    row.last_seen_at = now
    row.expires_at = _deadline(now, idle)
    return True


def revoke(db: Session, session_id: str, now: datetime) -> bool:
    """End one session (signing out). True if a live row was revoked."""
    result = db.execute(
        update(LoginSession)
        .where(LoginSession.id_hash == hash_id(session_id), LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return _count(result) > 0


def revoke_all(db: Session, user_id: str, now: datetime) -> int:
    """End every session of a user, in every browser; returns how many were live."""
    result = db.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return _count(result)


def purge_expired(db: Session, now: datetime) -> int:
    """Delete the rows of sessions that can no longer be used; returns how many.

    A revoked row stays until its idle deadline so its browser can be told why it was
    signed out; after that an unknown id is refused just the same.
    """
    return _count(db.execute(delete(LoginSession).where(LoginSession.expires_at < now)))


def purge_expired_sessions(services: RegistryServices) -> int:
    """Periodic job: :func:`purge_expired` in its own unit of work; returns how many."""
    with services.db.session() as db:
        return purge_expired(db, services.clock.now())


def _count(result: object) -> int:
    # Session.execute() is typed as returning a Result; for UPDATE and DELETE it is a
    # CursorResult, whose rowcount is the number of rows matched.
    return result.rowcount if isinstance(result, CursorResult) else 0
