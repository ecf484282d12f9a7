"""Rows that coordinate processes of one deployment (e.g. which worker schedules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base


class Lease(Base):
    """A named lease: ``holder`` has it until ``expires_at`` unless it renews it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
