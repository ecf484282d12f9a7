"""Audit log entries, legal holds and tombstones of destroyed clips."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import ID, Base, new_id


class AuditEntry(Base):
    """One link of the HMAC hash chain. Holds ids only, never personal data."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_role: Mapped[str | None] = mapped_column(String(20), default=None)
    site_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LegalHold(Base):
    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime]
    lifted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)


class Tombstone(Base):
    """What a destroyed clip was — never the footage or a way back to it."""

    __tablename__ = "tombstones"

    clip_id: Mapped[str] = mapped_column(ID, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    family_code: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str] = mapped_column(String(36))
    form_reference: Mapped[str] = mapped_column(String(200))
    purposes: Mapped[list[str]]
    clip_created_at: Mapped[datetime]
    delete_after: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200))
    destroyed_by: Mapped[str] = mapped_column(String(64))
    # Purposes the consent had been withdrawn for when the clip was destroyed.
    withdrawn_purposes: Mapped[list[str]] = mapped_column(default=list)
    requested_at: Mapped[datetime | None] = mapped_column(default=None)
    requested_by: Mapped[str | None] = mapped_column(String(64), default=None)
    key_destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    method: Mapped[str] = mapped_column(String(64), default="crypto-shred")
    annotation_count: Mapped[int] = mapped_column(Integer, default=0)
    blob_count: Mapped[int] = mapped_column(Integer, default=0)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    audit_hash: Mapped[str | None] = mapped_column(String(64), default=None)
