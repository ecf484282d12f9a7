"""Computing a user's notices (nothing is stored but when they last looked).

Four kinds, newest first:

- ``reply``: someone else replied to one of the user's annotations;
- ``moment``: a moment or still the user chose has been cut and is ready;
- ``refused``: a clip the user uploaded was refused or could not be processed;
- ``awaiting``: (supervisors) trainee footage of their site awaiting sign-off.

The first three are events: they are *new* until the user opens the list
(:func:`mark_seen`). ``awaiting`` is a to-do: it counts for as long as the review waits.
Only the last :data:`HORIZON` of events is looked at, and at most :data:`LIMIT` of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from storage.db.footage import Clip
from storage.db.review import Annotation, Moment, Reply
from storage.db.tenancy import User
from storage.destruction import UPLOAD_REFUSED
from storage.errors import NotFound

KINDS = ("reply", "moment", "refused", "awaiting")
HORIZON = timedelta(days=30)
LIMIT = 50
#: Clip kinds a supervisor signs off (review.supervision.SIGN_OFF_KINDS; storage may not
#: import review, and a test keeps the two equal).
SIGN_OFF_KINDS = ("group-delivery", "shared-review")


@dataclass(frozen=True)
class Notice:
    """One line of the list. ``who`` is a display name (reply authors), ``clip_label`` the
    clip's title or family code; ``new`` is False once the user has seen it."""

    kind: str
    at: datetime
    clip_id: str
    clip_label: str
    who: str = ""
    detail: str = ""
    annotation_id: str | None = None
    new: bool = True


@dataclass(frozen=True)
class NoticeCounts:
    """What the navigation shows: new events, and reviews waiting for the user."""

    new: int
    awaiting: int

    @property
    def total(self) -> int:
        return self.new + self.awaiting


def _user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id}")
    return user


def _label(clip: Clip) -> str:
    return clip.title or clip.family_code


def _replies(user: User, since: datetime) -> Select[Reply, Annotation, Clip, str]:
    author = aliased(User)
    return (
        select(Reply, Annotation, Clip, author.display_name)
        .join(Annotation, Annotation.id == Reply.annotation_id)
        .join(Clip, Clip.id == Annotation.clip_id)
        .join(author, author.id == Reply.author_id)
        .where(
            Annotation.author_id == user.id,
            Annotation.site_id == user.site_id,
            Annotation.deleted_at.is_(None),
            Reply.author_id != user.id,
            Reply.deleted_at.is_(None),
            Reply.created_at > since,
            Clip.destroy_requested_at.is_(None),
        )
        .order_by(Reply.created_at.desc())
        .limit(LIMIT)
    )


def _moments(user: User, since: datetime) -> Select[Moment, Clip]:
    return (
        select(Moment, Clip)
        .join(Clip, Clip.id == Moment.clip_id)
        .where(
            Moment.created_by == user.id,
            Moment.site_id == user.site_id,
            Moment.status == "ready",
            func.coalesce(Moment.updated_at, Moment.created_at) > since,
            Clip.destroy_requested_at.is_(None),
        )
        .order_by(func.coalesce(Moment.updated_at, Moment.created_at).desc())
        .limit(LIMIT)
    )


def _refused(user: User, since: datetime) -> Select[Clip]:
    return (
        select(Clip)
        .where(
            Clip.uploaded_by == user.id,
            Clip.site_id == user.site_id,
            or_(Clip.status == "failed", Clip.destroy_reason == UPLOAD_REFUSED),
            Clip.updated_at > since,
        )
        .order_by(Clip.updated_at.desc())
        .limit(LIMIT)
    )


def _awaiting(user: User) -> Select[Clip]:
    return (
        select(Clip)
        .where(
            Clip.site_id == user.site_id,
            Clip.kind.in_(SIGN_OFF_KINDS),
            Clip.status == "ready",
            Clip.signed_off_at.is_(None),
            Clip.destroy_requested_at.is_(None),
        )
        .order_by(Clip.created_at, Clip.id)
        .limit(LIMIT)
    )


def notices_for(db: Session, user_id: str, now: datetime) -> list[Notice]:
    """The user's notices, events newest first, then reviews awaiting sign-off.

    Raises NotFound for an unknown user. Reads only; see :func:`mark_seen`.
    """
    user = _user(db, user_id)
    since = now - HORIZON
    seen = user.notices_seen_at
    events: list[Notice] = []
    for reply, note, clip, name in db.execute(_replies(user, since)).all():
        events.append(
            Notice("reply", reply.created_at, clip.id, _label(clip), who=name or "Someone",
                   detail=reply.text[:140], annotation_id=note.id)
        )  # fmt: skip
    for moment, clip in db.execute(_moments(user, since)).all():
        at = moment.updated_at or moment.created_at
        events.append(
            Notice("moment", at, clip.id, _label(clip), detail=moment.caption[:140] or moment.kind)
        )
    for clip in db.scalars(_refused(user, since)):
        events.append(Notice("refused", clip.updated_at, clip.id, _label(clip),
                             detail=(clip.failure_reason or "")[:200]))  # fmt: skip
    events = [
        Notice(**{**n.__dict__, "new": seen is None or n.at > seen})
        for n in sorted(events, key=lambda n: n.at, reverse=True)
    ]
    waiting: list[Notice] = []
    if user.role == "supervisor":
        waiting = [
            Notice("awaiting", c.created_at, c.id, _label(c)) for c in db.scalars(_awaiting(user))
        ]
    return events + waiting


def notice_counts(db: Session, user_id: str, now: datetime) -> NoticeCounts:
    """How many events are new and how many reviews await the user (for the navigation)."""
    items = notices_for(db, user_id, now)
    return NoticeCounts(
        new=sum(1 for n in items if n.kind != "awaiting" and n.new),
        awaiting=sum(1 for n in items if n.kind == "awaiting"),
    )


def mark_seen(db: Session, user_id: str, now: datetime) -> None:
    """Record that the user has seen every notice up to ``now`` (idempotent).

    Raises NotFound for an unknown user.
    """
    user = _user(db, user_id)
    if user.notices_seen_at is None or user.notices_seen_at < now:
        user.notices_seen_at = now
