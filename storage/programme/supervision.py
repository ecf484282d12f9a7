"""Reflective supervision of a group: recording a session (date, supervisor, facilitators,
clips and moments discussed, notes) and counting them against the required three.

Notes are stored as typed and escaped wherever they are shown; they are never put in the
audit log (only ids and counts are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.programme import (
    REQUIRED_SUPERVISIONS,
    Group,
    GroupFacilitator,
    SupervisionAttendee,
    SupervisionItem,
    SupervisionSession,
)
from storage.db.review import Moment
from storage.errors import NotFound, ValidationError
from storage.programme.scope import active_user, require_role, site_row

#: Who records a supervision session: the supervisor (or operational lead), an admin.
RECORD_ROLES = ("supervisor", "admin")
MAX_NOTES = 10_000
#: How long before a group's programme end a shortfall is flagged as due.
WARN_BEFORE = timedelta(days=28)


def record_supervision(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    group_id: str,
    held_at: datetime,
    supervisor_id: str,
    facilitator_ids: Sequence[str],
    clip_ids: Sequence[str] = (),
    moment_ids: Sequence[str] = (),
    notes: str = "",
) -> SupervisionSession:
    """Record a reflective supervision of a group; audited ``supervision.record``.

    The supervisor must be an active supervisor of the group's site; the facilitators
    co-facilitators of the group (at least one); the clips live clips of the group, and
    the moments moments of the group's clips. Idempotent: the same group, supervisor and time
    return the session already recorded. Raises PermissionDenied (role), NotFound (group,
    user, clip or moment not found for the group) and ValidationError (naive date, no
    facilitator, notes too long).
    """
    require_role(actor, RECORD_ROLES, "record supervision")
    group = site_row(session, Group, group_id, None if actor.role == "system" else actor.site_id)
    if held_at.tzinfo is None:
        raise ValidationError("held_at needs a time zone")
    if len(notes) > MAX_NOTES:
        raise ValidationError(f"notes are limited to {MAX_NOTES} characters")
    supervisor = active_user(session, supervisor_id, group.site_id)
    if supervisor.role != "supervisor":
        raise ValidationError(f"{supervisor.email} is not a supervisor")
    existing = session.scalar(
        select(SupervisionSession).where(
            SupervisionSession.group_id == group.id,
            SupervisionSession.supervisor_id == supervisor.id,
            SupervisionSession.held_at == held_at,
        )
    )
    if existing is not None:
        return existing
    facilitators = _facilitators(session, group, facilitator_ids)
    clips = _clips(session, group, clip_ids)
    moments = _moments(session, group, moment_ids)
    row = SupervisionSession(
        site_id=group.site_id,
        group_id=group.id,
        held_at=held_at,
        supervisor_id=supervisor.id,
        notes=notes.strip(),
        recorded_by=None if actor.role == "system" else actor.id,
        created_at=audit.clock.now(),
    )
    session.add(row)
    session.flush()
    for user_id in facilitators:
        session.add(SupervisionAttendee(supervision_id=row.id, user_id=user_id))
    items: list[tuple[str, str | None]] = [
        (c, None) for c in clips if c not in {m.clip_id for m in moments}
    ]
    items += [(m.clip_id, m.id) for m in moments]
    for clip_id, moment_id in items:
        session.add(SupervisionItem(supervision_id=row.id, clip_id=clip_id, moment_id=moment_id))
    session.flush()
    audit.append(
        session,
        actor,
        "supervision.record",
        target_type="group",
        target_id=group.id,
        site_id=group.site_id,
        details={
            "supervision_id": row.id,
            "held_at": held_at.isoformat(),
            "supervisor_id": supervisor.id,
            "facilitators": facilitators,
            "clips": clips,
            "moments": [m.id for m in moments],
        },
    )
    return row


def supervision_count(session: Session, group_id: str) -> int:
    """How many reflective supervisions a group has had."""
    query = select(func.count(SupervisionSession.id)).where(SupervisionSession.group_id == group_id)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class SupervisionStatus:
    """A group's supervisions against the required number, and whether it is due."""

    held: int
    required: int
    short: int
    due: bool  # short and the programme ends within WARN_BEFORE (or has ended)


def supervision_status(session: Session, group: Group, now: datetime) -> SupervisionStatus:
    """Supervisions held vs ``REQUIRED_SUPERVISIONS``; ``due`` warns before the group ends."""
    held = supervision_count(session, group.id)
    short = max(0, REQUIRED_SUPERVISIONS - held)
    ending = group.programme_end is not None and group.programme_end - WARN_BEFORE <= now
    return SupervisionStatus(held, REQUIRED_SUPERVISIONS, short, bool(short) and ending)


def list_supervisions(session: Session, group_id: str) -> list[SupervisionSession]:
    """A group's supervision sessions, oldest first."""
    query = (
        select(SupervisionSession)
        .where(SupervisionSession.group_id == group_id)
        .order_by(SupervisionSession.held_at, SupervisionSession.id)
    )
    return list(session.scalars(query))


def _facilitators(session: Session, group: Group, ids: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise ValidationError("name the facilitators who took part")
    known = set(
        session.scalars(
            select(GroupFacilitator.user_id).where(GroupFacilitator.group_id == group.id)
        )
    )
    for user_id in wanted:
        if user_id not in known:
            raise NotFound("a facilitator named is not a co-facilitator of the group")
    return wanted


def _clips(session: Session, group: Group, ids: Sequence[str]) -> list[str]:
    wanted = list(dict.fromkeys(ids))
    for clip_id in wanted:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.group_id != group.id or clip.status == "destroyed":
            raise NotFound("a clip named is not footage of the group")
    return wanted


def _moments(session: Session, group: Group, ids: Sequence[str]) -> list[Moment]:
    moments: list[Moment] = []
    for moment_id in dict.fromkeys(ids):
        moment = session.get(Moment, moment_id)
        if moment is None:
            raise NotFound("a moment named is not a moment of the group's footage")
        _clips(session, group, [moment.clip_id])
        moments.append(moment)
    return moments
