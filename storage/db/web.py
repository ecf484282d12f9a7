"""Web-session bookkeeping shared by every web worker: signed-in sessions, failed logins,
used TOTP steps and playback sessions.

All of it lives in the database (not in process memory) so that sign-out, throttling and
one-time-code replay protection hold across several gunicorn workers and machines.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import ID, Base, new_id


class LoginAttempt(Base):
    """One failed login. ``key`` is a SHA-256 of (email, client address): no personal data."""

    __tablename__ = "login_attempts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(index=True)


class LoginSession(Base):
    """One signed-in browser session (see storage/login_sessions.py), so that signing out
    ends it on the server and not only in the browser that signed out.

    ``id_hash`` is the SHA-256 of a random 256-bit id that only the session cookie holds:
    the table alone lets nobody sign in. No address or user agent is kept. The session
    ends at ``expires_at`` unless used again (each use pushes it on), or when
    ``revoked_at`` is set (sign-out, "log out everywhere", an admin's change).
    """

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class TotpUse(Base):
    """The last TOTP time step a user logged in with; an older or equal step is a replay."""

    __tablename__ = "totp_uses"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    last_step: Mapped[int] = mapped_column(BigInteger)


class PlaybackSession(Base):
    """One viewer's playback session of footage of a clip (its rendition, its thumbnails or
    one moment), so that watching is audited once per session, not once per Range request.

    ``session_key`` is a random id kept in the viewer's signed session cookie (a new login
    starts a new one); ``target`` names what is watched (``playback``, ``thumbnails``,
    ``moment:<id>``). The web layer ends a session after an idle window; the unique key
    lets concurrent requests of one session agree on who records the start.
    """

    __tablename__ = "playback_sessions"
    __table_args__ = (UniqueConstraint("session_key", "clip_id", "target"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    target: Mapped[str] = mapped_column(String(80))
    session_key: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
