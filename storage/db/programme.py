"""How a site organises the programme: groups, their co-facilitators and schedule,
enrolled families, who was filmed in a group session, reflective supervision, trainees'
training record, and time-limited shares of a clip with a supervisor elsewhere.

docs/programme.md describes the model and the rules the services enforce.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import ID, Base, new_id

#: A practitioner's discipline: every group has one co-facilitator of each.
DISCIPLINES = ("health", "childrens-services")
GROUP_STATES = ("planned", "running", "ended")
#: The schedule of one group, in order: (session kind, how many).
SCHEDULE = (("home-visit-1", 1), ("antenatal", 6), ("home-visit-2", 1), ("postnatal", 3))
SESSION_KINDS = tuple(kind for kind, _ in SCHEDULE)
MAX_FAMILIES = 8
REQUIRED_SUPERVISIONS = 3
TRAINING_BLOCKS = (1, 2, 3)


class Group(Base):
    """A group of up to eight families run by two co-facilitators at one site.

    ``programme_end`` is the time of the last postnatal session (kept in step with the
    schedule by the services); the retention anchor "programme-end" of the group's clips.
    ``unassigned`` marks the per-site group that holds clips from before groups existed.
    """

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="planned")
    programme_end: Mapped[datetime | None] = mapped_column(default=None)
    unassigned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class GroupFacilitator(Base):
    """A co-facilitator of a group, with the discipline they bring and trainee status."""

    __tablename__ = "group_facilitators"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    discipline: Mapped[str] = mapped_column(String(32))
    trainee: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime]


class GroupSession(Base):
    """One meeting in a group's schedule: a home visit or a group session (editable date)."""

    __tablename__ = "group_sessions"
    __table_args__ = (UniqueConstraint("group_id", "kind", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    scheduled_at: Mapped[datetime | None] = mapped_column(default=None)
    held_at: Mapped[datetime | None] = mapped_column(default=None)


class Family(Base):
    """A family, known only by its pseudonymous code, enrolled in one group."""

    __tablename__ = "families"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[datetime]


class ClipFamily(Base):
    """A family present in a group-session recording, and the consent that covers it.

    A use of the clip (supervision, training events, evaluation) is lawful only while
    the consent of every present family covers it.
    """

    __tablename__ = "clip_families"
    __table_args__ = (UniqueConstraint("clip_id", "family_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("families.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)


class SupervisionSession(Base):
    """A reflective supervision held for a group (at least three per group)."""

    __tablename__ = "supervision_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    held_at: Mapped[datetime]
    supervisor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]


class SupervisionAttendee(Base):
    """A facilitator who took part in a supervision session."""

    __tablename__ = "supervision_attendees"
    __table_args__ = (UniqueConstraint("supervision_id", "user_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    supervision_id: Mapped[str] = mapped_column(ForeignKey("supervision_sessions.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)


class SupervisionItem(Base):
    """A clip (or one of its moments) discussed in a supervision session.

    Deleted with the clip when it is destroyed; the session and its count remain.
    """

    __tablename__ = "supervision_items"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    supervision_id: Mapped[str] = mapped_column(ForeignKey("supervision_sessions.id"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    moment_id: Mapped[str | None] = mapped_column(String(36), default=None)


class TrainingBlock(Base):
    """One of a trainee facilitator's three training blocks, signed off by a supervisor.

    Video reviews of the trainee's group delivery are group-delivery clips with
    ``trainee_id`` set and ``training_block`` naming the block.
    """

    __tablename__ = "training_blocks"
    __table_args__ = (UniqueConstraint("trainee_id", "block"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    trainee_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    block: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[datetime | None] = mapped_column(default=None)
    signed_off_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    signed_off_at: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[str] = mapped_column(Text, default="")


class ClipShare(Base):
    """A clip shared for supervision with a named supervisor, possibly at another site,
    for a fixed period. Only while the consent of everyone filmed covers supervision;
    ends at ``expires_at``, on revocation, or at withdrawal/destruction.
    """

    __tablename__ = "clip_shares"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
    supervisor_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    shared_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    ended_reason: Mapped[str | None] = mapped_column(String(100), default=None)
