"""Review tables: annotations with history, replies, links, moments, stills, sign-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import ID, Base, new_id

SUBJECTS = ("infant", "parent", "facilitator", "group")


class Annotation(Base):
    __tablename__ = "annotations"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    author_role: Mapped[str] = mapped_column(String(20))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    subject: Mapped[str] = mapped_column(String(20))
    scheme_id: Mapped[str | None] = mapped_column(String(64), default=None)
    scheme_version: Mapped[str | None] = mapped_column(String(32), default=None)
    codes: Mapped[list[str]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text, default="")
    # Shapes drawn on the frame (review.shapes): [{"kind", "colour", "points"}], 0..1 coords.
    shapes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    visibility: Mapped[str] = mapped_column(String(10), default="shared")  # draft | shared
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Bumped on every edit; callers pass the revision they read to detect lost updates.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class AnnotationRevision(Base):
    """The state of an annotation before each edit (edits keep history)."""

    __tablename__ = "annotation_revisions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    annotation_id: Mapped[str] = mapped_column(ForeignKey("annotations.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    edited_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    edited_at: Mapped[datetime]
    snapshot: Mapped[dict[str, Any]]


class Reply(Base):
    __tablename__ = "replies"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    annotation_id: Mapped[str] = mapped_column(ForeignKey("annotations.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    author_role: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class AnnotationLink(Base):
    """A directed link, e.g. an infant initiative -> the parent's response."""

    __tablename__ = "annotation_links"
    __table_args__ = (UniqueConstraint("source_id", "target_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("annotations.id"))
    target_id: Mapped[str] = mapped_column(ForeignKey("annotations.id"))
    relation: Mapped[str] = mapped_column(String(40), default="received")
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class Moment(Base):
    """A moment or still chosen for a shared review; its media is an encrypted blob."""

    __tablename__ = "moments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # moment | still
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    caption: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|ready|failed
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class SignOff(Base):
    """A supervisor's sign-off of a group-delivery review; locks the clip's annotations."""

    __tablename__ = "signoffs"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    supervisor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime]
