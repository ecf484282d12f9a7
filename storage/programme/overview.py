"""What a group's page shows: its co-facilitators, schedule, families, clips per family and
per session, reflective supervisions, and what is due (read-only queries).

Unlike the programme report this is for the case team, so families appear by code.
Callers decide who may see the group (webapp/authz.py); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.db.programme import (
    SCHEDULE,
    Family,
    Group,
    GroupFacilitator,
    GroupSession,
    SupervisionAttendee,
    SupervisionSession,
)
from storage.db.tenancy import User
from storage.programme.report import GroupFigures, group_figures

_ORDER = {kind: i for i, (kind, _) in enumerate(SCHEDULE)}
_NAMES = {
    "home-visit-1": "Home visit 1",
    "antenatal": "Antenatal session",
    "home-visit-2": "Home visit 2",
    "postnatal": "Postnatal session",
}
#: Clip states shown on the group page (failed, refused and destroyed clips are not).
SHOWN_STATES = ("receiving", "queued", "processing", "ready")


def session_label(kind: str, number: int) -> str:
    """``"Antenatal session 3"``, ``"Home visit 2"`` (home visits carry no number)."""
    name = _NAMES.get(kind, kind)
    return name if kind.startswith("home-visit") else f"{name} {number}"


@dataclass(frozen=True)
class Facilitator:
    user_id: str
    name: str
    email: str
    discipline: str
    trainee: bool


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    kind: str
    number: int
    label: str
    scheduled_at: datetime | None
    held_at: datetime | None
    clips: tuple[Clip, ...]


@dataclass(frozen=True)
class FamilyRow:
    id: str
    code: str
    enrolled_at: datetime
    clips: tuple[Clip, ...]  # home-visit clips of the family
    reviewed: int  # of those, with the shared review held

    @property
    def filmed(self) -> bool:
        return bool(self.clips)


@dataclass(frozen=True)
class SupervisionRow:
    id: str
    held_at: datetime
    supervisor: str
    attendees: tuple[str, ...]
    notes: str
    held: bool


@dataclass(frozen=True)
class GroupOverview:
    group: Group
    facilitators: tuple[Facilitator, ...]
    schedule: tuple[ScheduleRow, ...]
    families: tuple[FamilyRow, ...]
    supervisions: tuple[SupervisionRow, ...]
    figures: GroupFigures
    #: Families whose home visit 2 has passed without a clip (case-team detail).
    unfilmed_families: tuple[str, ...]
    #: Home-visit clips still waiting for their shared review.
    awaiting_review: tuple[Clip, ...]


def sorted_schedule(sessions: list[GroupSession]) -> list[GroupSession]:
    """A group's sessions in programme order."""
    return sorted(sessions, key=lambda s: (_ORDER.get(s.kind, 99), s.number))


def group_overview(session: Session, group: Group, now: datetime) -> GroupOverview:
    """Everything the group page shows at ``now``. Raises nothing; reads only."""
    facilitators = session.execute(
        select(GroupFacilitator, User)
        .join(User, User.id == GroupFacilitator.user_id)
        .where(GroupFacilitator.group_id == group.id)
        .order_by(GroupFacilitator.discipline)
    )
    people = tuple(
        Facilitator(u.id, u.display_name or u.email, u.email, gf.discipline, gf.trainee)
        for gf, u in facilitators
    )
    families = list(
        session.scalars(select(Family).where(Family.group_id == group.id).order_by(Family.code))
    )
    family_ids = [f.id for f in families]
    clips = list(
        session.scalars(
            select(Clip)
            .where(
                Clip.site_id == group.site_id,
                Clip.status.in_(SHOWN_STATES),
                (Clip.group_id == group.id) | Clip.family_id.in_(family_ids),
            )
            .order_by(Clip.created_at)
        )
    )
    sessions = sorted_schedule(
        list(session.scalars(select(GroupSession).where(GroupSession.group_id == group.id)))
    )
    visit_1 = next((s.id for s in sessions if s.kind == "home-visit-1"), None)
    schedule = tuple(
        ScheduleRow(
            s.id, s.kind, s.number, session_label(s.kind, s.number), s.scheduled_at, s.held_at,
            tuple(c for c in clips if c.session_id == s.id),
        )
        for s in sessions
    )  # fmt: skip
    rows = []
    for f in families:
        visits = tuple(
            c
            for c in clips
            if c.family_id == f.id and c.kind == "home-visit" and c.session_id != visit_1
        )
        reviewed = sum(1 for c in visits if c.shared_review_at is not None)
        rows.append(FamilyRow(f.id, f.code, f.enrolled_at, visits, reviewed))
    figures = group_figures(session, group, now)
    unfilmed: tuple[str, ...] = ()
    if figures.families_due_home_visit_2:
        unfilmed = tuple(r.code for r in rows if not r.filmed)
    waiting = tuple(
        c for r in rows for c in r.clips if c.shared_review_at is None and c.status == "ready"
    )
    return GroupOverview(
        group=group,
        facilitators=people,
        schedule=schedule,
        families=tuple(rows),
        supervisions=_supervisions(session, group, now),
        figures=figures,
        unfilmed_families=unfilmed,
        awaiting_review=waiting,
    )


def _supervisions(session: Session, group: Group, now: datetime) -> tuple[SupervisionRow, ...]:
    rows = list(
        session.execute(
            select(SupervisionSession, User)
            .join(User, User.id == SupervisionSession.supervisor_id)
            .where(SupervisionSession.group_id == group.id)
            .order_by(SupervisionSession.held_at)
        )
    )
    ids = [s.id for s, _ in rows]
    names: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        attendees = session.execute(
            select(SupervisionAttendee.supervision_id, User.display_name, User.email)
            .join(User, User.id == SupervisionAttendee.user_id)
            .where(SupervisionAttendee.supervision_id.in_(ids))
            .order_by(User.display_name)
        )
        for supervision_id, name, email in attendees:
            names[supervision_id].append(name or email)
    return tuple(
        SupervisionRow(
            s.id, s.held_at, u.display_name or u.email, tuple(names[s.id]), s.notes,
            s.held_at <= now,
        )
        for s, u in rows
    )  # fmt: skip


def site_groups(session: Session, site_id: str, user_id: str | None = None) -> list[Group]:
    """The site's groups (without its 'unassigned' group), running first then by code;
    with ``user_id``, only the groups that user co-facilitates."""
    query = select(Group).where(Group.site_id == site_id, Group.unassigned.is_(False))
    if user_id is not None:
        mine = select(GroupFacilitator.group_id).where(GroupFacilitator.user_id == user_id)
        query = query.where(Group.id.in_(mine))
    order = {"running": 0, "planned": 1, "ended": 2}
    groups = list(session.scalars(query))
    return sorted(groups, key=lambda g: (order.get(g.status, 3), g.code))
