"""Web-session bookkeeping shared by every web worker: failed logins and used TOTP steps.

Both live in the database (not in process memory) so that throttling and one-time-code
replay protection hold across several gunicorn workers and machines.
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
