"""Consents, clips, their encrypted blobs, their wrapped data keys and uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import ID, Base, new_id

KINDS = ("home-visit", "group-delivery", "shared-review")
PURPOSES = ("family-review", "supervision", "training-events", "evaluation")
# "erasure-pending": the data key is destroyed (nothing decrypts) but its erasure from every
# live database file is not yet verified (storage.erasure); "destroyed" only after that.
CLIP_STATES = (
    "receiving",
    "queued",
    "processing",
    "ready",
    "failed",
    "erasure-pending",
    "destroyed",
)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    family_code: Mapped[str] = mapped_column(String(64), index=True)
    # The enrolled family this consent belongs to (storage.db.programme.Family).
    family_id: Mapped[str | None] = mapped_column(ForeignKey("families.id"), default=None)
    participants: Mapped[list[str]]
    purposes: Mapped[list[str]]
    form_reference: Mapped[str] = mapped_column(String(200))
    taken_by: Mapped[str] = mapped_column(String(200))
    taken_at: Mapped[datetime]
    recorded_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]
    withdrawn_purposes: Mapped[list[str]] = mapped_column(default=list)
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, default=None)

    @property
    def active_purposes(self) -> list[str]:
        return [p for p in self.purposes if p not in self.withdrawn_purposes]


class Clip(Base):
    __tablename__ = "clips"
    #: Governance pages and the sweep at scale (migration 0008): due clips of a site,
    #: and the legal-hold picker (live clips of a site by family code); the retention
    #: counts (0009): clips per kind and status, in erasure, being destroyed.
    __table_args__ = (
        Index("ix_clips_site_delete_after", "site_id", "delete_after"),
        Index("ix_clips_site_family", "site_id", "family_code", "created_at"),
        Index("ix_clips_site_kind_status", "site_id", "kind", "status"),
        Index("ix_clips_site_status", "site_id", "status", "destroy_requested_at"),
        Index("ix_clips_site_destroying", "site_id", "destroy_requested_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    family_code: Mapped[str] = mapped_column(String(64), index=True)
    # Where the footage belongs in the programme (storage.db.programme): its group, and
    # the family filmed (home visit) or the group session recorded (session footage).
    group_id: Mapped[str | None] = mapped_column(ForeignKey("groups.id"), index=True, default=None)
    family_id: Mapped[str | None] = mapped_column(ForeignKey("families.id"), default=None)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("group_sessions.id"), default=None)
    # For a trainee's group-delivery footage: the training block (1-3) it is reviewed in.
    training_block: Mapped[int | None] = mapped_column(Integer, default=None)
    title: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    # For group-delivery/shared-review footage: the trainee whose practice is filmed.
    trainee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="receiving", index=True)
    stage: Mapped[str] = mapped_column(String(40), default="")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delete_after: Mapped[datetime | None] = mapped_column(default=None, index=True)
    shared_review_at: Mapped[datetime | None] = mapped_column(default=None)
    signed_off_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when destruction has begun; a crashed sweep resumes every clip with this set.
    destroy_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    destroy_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # Verified erasure (storage.erasure): the hex probe of the shredded wrapped key ("" when
    # there was none), the last check and, while pending, why erasure is not yet verified.
    erasure_probe: Mapped[str | None] = mapped_column(String(64), default=None)
    erasure_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    erasure_problem: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    frame_rate: Mapped[str | None] = mapped_column(String(32), default=None)
    video_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    audio_codec: Mapped[str | None] = mapped_column(String(32), default=None)
    source_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Processing claim (ingest.pipeline): the worker holding the clip and until when its
    # lease runs; an expired lease means the worker died and another may take over.
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Blob(Base):
    """One encrypted object in the blob store: a rendition, thumbnail, moment or upload part."""

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    rendition: Mapped[str] = mapped_column(String(64))
    store_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    ciphertext_size: Mapped[int] = mapped_column(BigInteger, default=0)
    plaintext_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]


class DataKey(Base):
    """A clip's data key, stored only wrapped by a KEK. Never stored beside the blobs."""

    __tablename__ = "data_keys"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    kek_version: Mapped[str] = mapped_column(String(200))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)


class Upload(Base):
    """A resumable (tus) upload in progress; its parts are encrypted blobs of the clip."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    parts: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated: Mapped[bool] = mapped_column(Boolean, default=False)
