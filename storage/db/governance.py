"""Audit log entries, legal holds, tombstones of destroyed clips and KEK epochs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    #: The DPO's tombstones page, newest first a page at a time (migration 0008).
    __table_args__ = (Index("ix_tombstones_site_destroyed", "site_id", "destroyed_at"),)

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
    # When verp verified the wrapped key gone from every live database file, and how.
    erased_at: Mapped[datetime | None] = mapped_column(default=None)
    erasure_evidence: Mapped[str | None] = mapped_column(String(400), default=None)
    method: Mapped[str] = mapped_column(String(64), default="crypto-shred")
    annotation_count: Mapped[int] = mapped_column(Integer, default=0)
    blob_count: Mapped[int] = mapped_column(Integer, default=0)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    audit_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The KEK that wrapped the data key when it was shredded: once its epoch (and every
    # earlier one) is retired, no copy of the wrapped key anywhere can be unwrapped.
    kek_provider: Mapped[str | None] = mapped_column(String(20), default=None)
    kek_version: Mapped[str | None] = mapped_column(String(200), default=None)


class KekEpoch(Base):
    """One key-encryption-key epoch (storage.kek): when its KEK was created, became
    current, was superseded and retired, and when its key material is gone for good
    (local key file: the retirement; KMS: the deletion date KMS reports)."""

    __tablename__ = "kek_epochs"
    __table_args__ = (UniqueConstraint("provider", "number", name="uq_kek_epochs_provider_number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    # As stored in data_keys.kek_version: the key-file version, or the KMS key ARN.
    # Empty until the key material exists (the epoch was claimed, then created).
    kek_version: Mapped[str] = mapped_column(String(200), default="", index=True)
    provider_key_id: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    current_from: Mapped[datetime | None] = mapped_column(default=None)
    superseded_at: Mapped[datetime | None] = mapped_column(default=None)
    retire_due_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
