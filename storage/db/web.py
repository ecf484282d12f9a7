"""Web-session bookkeeping shared by every web worker: failed logins and used TOTP steps.

Both live in the database (not in process memory) so that throttling and one-time-code
replay protection hold across several gunicorn workers and machines.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
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
