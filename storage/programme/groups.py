"""Groups: creating one with its two co-facilitators and its 11-meeting schedule, editing
the schedule (which moves the group's programme end and its clips' retention), marking a
meeting held, and the site's per-site "unassigned" group.

The schedule itself (default dates, meetings, programme end) is storage/programme/schedule.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.programme import (
    DISCIPLINES,
    SCHEDULE,
    Group,
    GroupFacilitator,
    GroupSession,
)
from storage.db.tenancy import Site
from storage.errors import NotFound, ValidationError
from storage.programme.errors import FacilitatorsInvalid
from storage.programme.schedule import default_schedule, group_session, programme_end_of
from storage.programme.scope import (
    FACILITATOR_ROLES,
    MANAGE_ROLES,
    active_user,
    require_role,
    require_site,
    site_row,
)
from storage.retention import recompute_clip

UNASSIGNED_CODE = "unassigned"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def create_group(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    site_id: str,
    code: str,
    name: str,
    facilitators: Sequence[tuple[str, str, bool]],
    starts_on: datetime,
) -> Group:
    """Create a group with its co-facilitators ``(user_id, discipline, trainee)`` and its
    default schedule from ``starts_on``; audited as ``group.create``.

    Idempotent: the same code at the same site returns the existing group unchanged.
    Raises PermissionDenied (role), NotFound (site or user not at the site),
    FacilitatorsInvalid (not exactly one facilitator per discipline, the same person
    twice, a user who is not a practitioner, or a discipline that differs from the one
    on the user's account) and ValidationError (bad code, name or naive date).
    """
    require_role(actor, MANAGE_ROLES, "create groups")
    require_site(actor, site_id)
    site_row(session, Site, site_id, None)
    code = group_code(code)
    existing = session.scalar(select(Group).where(Group.site_id == site_id, Group.code == code))
    if existing is not None:
        return existing
    name = _one_line(name or code, "name")
    if starts_on.tzinfo is None:
        raise ValidationError("starts_on needs a time zone")
    chosen = _check_facilitators(session, site_id, facilitators)
    now = audit.clock.now()
    group = Group(site_id=site_id, code=code, name=name, status="planned", created_at=now)
    session.add(group)
    session.flush()
    for user_id, discipline, trainee in chosen:
        session.add(
            GroupFacilitator(
                site_id=site_id,
                group_id=group.id,
                user_id=user_id,
                discipline=discipline,
                trainee=trainee,
                added_at=now,
            )
        )
    for kind, number, at in default_schedule(starts_on):
        session.add(
            GroupSession(
                site_id=site_id, group_id=group.id, kind=kind, number=number, scheduled_at=at
            )
        )
    session.flush()
    group.programme_end = programme_end_of(session, group.id)
    audit.append(
        session,
        actor,
        "group.create",
        target_type="group",
        target_id=group.id,
        site_id=site_id,
        details={
            "code": code,
            "facilitators": [{"user_id": u, "discipline": d, "trainee": t} for u, d, t in chosen],
            "programme_end": group.programme_end.isoformat() if group.programme_end else None,
        },
    )
    return group


def group_code(value: str) -> str:
    """A group code normalised (upper case); ValidationError if malformed or reserved."""
    text = (value or "").strip()
    if not _CODE.match(text) or text.lower() == UNASSIGNED_CODE:
        raise ValidationError(
            "a group code is 2-64 letters, digits and hyphens (e.g. G-2026-A); "
            f"{UNASSIGNED_CODE!r} is reserved"
        )
    return text.upper()


def _check_facilitators(
    session: Session, site_id: str, facilitators: Sequence[tuple[str, str, bool]]
) -> list[tuple[str, str, bool]]:
    disciplines = sorted(d for _, d, _ in facilitators)
    if len(facilitators) != 2 or disciplines != sorted(DISCIPLINES):
        raise FacilitatorsInvalid(
            "a group needs exactly two co-facilitators, one of each discipline "
            f"({', '.join(DISCIPLINES)})"
        )
    if facilitators[0][0] == facilitators[1][0]:
        raise FacilitatorsInvalid("the two co-facilitators must be different people")
    chosen: list[tuple[str, str, bool]] = []
    for user_id, discipline, trainee in facilitators:
        user = active_user(session, user_id, site_id)
        if user.role not in FACILITATOR_ROLES:
            raise FacilitatorsInvalid(f"{user.email} is a {user.role}, not a practitioner")
        if user.discipline is not None and user.discipline != discipline:
            raise FacilitatorsInvalid(
                f"{user.email} is recorded as {user.discipline}, not {discipline}"
            )
        chosen.append((user.id, discipline, bool(trainee)))
    return chosen


def set_session_date(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    group_id: str,
    kind: str,
    number: int,
    when: datetime,
    *,
    retention: Mapping[str, Any],
) -> GroupSession:
    """Move meeting ``kind`` ``number`` of a group to ``when``; audited ``group.schedule``.

    The group's programme end follows its last postnatal meeting, and the ``delete_after``
    of the group's live clips is recomputed from ``retention`` (each change audited as
    ``clip.retention_change``). Setting the date it already has changes nothing.
    Raises PermissionDenied, NotFound (group or meeting) and ValidationError (naive date).
    """
    require_role(actor, MANAGE_ROLES, "edit a group's schedule")
    group = _group_for(session, actor, group_id)
    if when.tzinfo is None:
        raise ValidationError("a meeting date needs a time zone")
    meeting = group_session(session, group.id, kind, number)
    if meeting.scheduled_at == when:
        return meeting
    before = meeting.scheduled_at
    meeting.scheduled_at = when
    session.flush()
    audit.append(
        session,
        actor,
        "group.schedule",
        target_type="group",
        target_id=group.id,
        site_id=group.site_id,
        details={
            "kind": kind,
            "number": number,
            "old": before.isoformat() if before else None,
            "new": when.isoformat(),
        },
    )
    refresh_programme_end(session, audit, actor, group, retention)
    return meeting


def mark_session_held(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    group_id: str,
    kind: str,
    number: int,
    held_at: datetime,
    *,
    retention: Mapping[str, Any],
) -> GroupSession:
    """Record that a meeting was held at ``held_at``; audited ``group.session_held``.

    The group becomes ``running`` at its first meeting and ``ended`` when its last
    postnatal meeting is held; a held postnatal meeting moves the programme end (clips'
    retention recomputed, audited). Recording the same time again changes nothing.
    A co-facilitator of the group may record it, as may admins and supervisors.
    Raises PermissionDenied, NotFound and ValidationError (naive or future-less date).
    """
    group = _group_for(session, actor, group_id)
    if actor.role not in (*MANAGE_ROLES, "system") and not is_facilitator(
        session, group.id, actor.id
    ):
        raise NotFound("no such group")
    if held_at.tzinfo is None:
        raise ValidationError("held_at needs a time zone")
    meeting = group_session(session, group.id, kind, number)
    if meeting.held_at == held_at:
        return meeting
    meeting.held_at = held_at
    last = max(n for k, n in SCHEDULE if k == "postnatal")
    if kind == "postnatal" and number == last:
        group.status = "ended"
    elif group.status == "planned":
        group.status = "running"
    session.flush()
    audit.append(
        session,
        actor,
        "group.session_held",
        target_type="group",
        target_id=group.id,
        site_id=group.site_id,
        details={"kind": kind, "number": number, "held_at": held_at.isoformat()},
    )
    refresh_programme_end(session, audit, actor, group, retention)
    return meeting


def refresh_programme_end(
    session: Session, audit: AuditLog, actor: Actor, group: Group, retention: Mapping[str, Any]
) -> int:
    """Re-derive the group's programme end and, if it moved, its clips' retention.

    Returns how many clips changed their ``delete_after`` (each audited).
    """
    end = programme_end_of(session, group.id)
    if end == group.programme_end:
        return 0
    old, group.programme_end = group.programme_end, end
    session.flush()
    audit.append(
        session,
        actor,
        "group.programme_end",
        target_type="group",
        target_id=group.id,
        site_id=group.site_id,
        details={"old": old.isoformat() if old else None, "new": end.isoformat() if end else None},
    )
    return recompute_group_clips(session, audit, actor, group, retention, cause="schedule")


def recompute_group_clips(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    group: Group,
    retention: Mapping[str, Any],
    *,
    cause: str,
) -> int:
    """Recompute ``delete_after`` of the group's live clips; audit each that changed."""
    site = site_row(session, Site, group.site_id, None)
    changed = 0
    live = select(Clip).where(Clip.group_id == group.id, Clip.status != "destroyed")
    for clip in session.scalars(live.order_by(Clip.created_at, Clip.id)).all():
        before = clip.delete_after
        recompute_clip(session, retention, clip, site.slug)
        if clip.delete_after != before:
            changed += 1
            audit.append(
                session,
                actor,
                "clip.retention_change",
                target_type="clip",
                target_id=clip.id,
                site_id=clip.site_id,
                details={
                    "old": before.isoformat() if before else None,
                    "new": clip.delete_after.isoformat() if clip.delete_after else None,
                    "cause": cause,
                },
            )
    return changed


def facilitator_group_ids(session: Session, user_id: str) -> list[str]:
    """The groups ``user_id`` co-facilitates (ids, in a stable order)."""
    query = select(GroupFacilitator.group_id).where(GroupFacilitator.user_id == user_id)
    return sorted(session.scalars(query))


def is_facilitator(session: Session, group_id: str, user_id: str) -> bool:
    """Whether ``user_id`` co-facilitates ``group_id``."""
    query = select(func.count(GroupFacilitator.id)).where(
        GroupFacilitator.group_id == group_id, GroupFacilitator.user_id == user_id
    )
    return bool(session.scalar(query))


def unassigned_group(session: Session, site_id: str) -> Group:
    """The site's "unassigned" group (clips registered without a group), created on demand.

    Not audited: it is bookkeeping with no people or footage of its own. Raises NotFound
    for an unknown site.
    """
    query = select(Group).where(Group.site_id == site_id, Group.unassigned.is_(True))
    group = session.scalar(query)
    if group is not None:
        return group
    site_row(session, Site, site_id, None)
    group = Group(
        site_id=site_id,
        code=UNASSIGNED_CODE,
        name="Clips recorded without a group",
        status="running",
        unassigned=True,
        created_at=datetime.now(UTC),
    )
    session.add(group)
    session.flush()
    return group


def get_group(session: Session, site_id: str | None, ref: str) -> Group:
    """A group of ``site_id`` (None: any site, operator tools) by id or code; NotFound."""
    group = session.get(Group, ref)
    if group is None and site_id is not None:
        code = ref.strip().upper() if ref.strip().lower() != UNASSIGNED_CODE else UNASSIGNED_CODE
        group = session.scalar(select(Group).where(Group.site_id == site_id, Group.code == code))
    if group is None or (site_id is not None and group.site_id != site_id):
        raise NotFound(f"no group {ref!r}")
    return group


def _group_for(session: Session, actor: Actor, group_id: str) -> Group:
    group = site_row(session, Group, group_id, None if actor.role == "system" else actor.site_id)
    if group.unassigned:
        raise ValidationError("the unassigned group has no schedule")
    return group


def _one_line(value: str, name: str) -> str:
    text = value.strip()
    if not text or len(text) > 200 or _CONTROL.search(text):
        raise ValidationError(f"{name} must be one line of 1-200 characters")
    return text
