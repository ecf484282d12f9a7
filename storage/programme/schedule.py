"""A group's schedule: the default 11 meetings from home visit 1, finding one meeting,
and the programme end (the last postnatal meeting, held or scheduled).

Default schedule from ``starts_on`` (home visit 1, in the seventh month of pregnancy):
six weekly antenatal sessions from a week later, home visit 2 five weeks after the last
antenatal session (after the birth), then three weekly postnatal sessions from a week
after home visit 2. The programme ends at the last postnatal session (about 15 weeks).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.programme import SCHEDULE, GroupSession
from storage.errors import NotFound

_WEEK = 7
HOME_VISIT_2_AFTER_ANTENATAL = 5 * _WEEK


def default_schedule(starts_on: datetime) -> list[tuple[str, int, datetime]]:
    """The 11 meetings of a group starting with home visit 1 at ``starts_on``."""
    rows: list[tuple[str, int, datetime]] = [("home-visit-1", 1, starts_on)]
    antenatal = [starts_on + timedelta(days=_WEEK * n) for n in range(1, 7)]
    rows += [("antenatal", n, at) for n, at in enumerate(antenatal, start=1)]
    visit_2 = antenatal[-1] + timedelta(days=HOME_VISIT_2_AFTER_ANTENATAL)
    rows.append(("home-visit-2", 1, visit_2))
    rows += [("postnatal", n, visit_2 + timedelta(days=_WEEK * n)) for n in range(1, 4)]
    return rows


def programme_end_of(session: Session, group_id: str) -> datetime | None:
    """The last postnatal meeting of a group (held, else scheduled), or None."""
    rows = session.scalars(
        select(GroupSession).where(
            GroupSession.group_id == group_id, GroupSession.kind == "postnatal"
        )
    )
    dates = [row.held_at or row.scheduled_at for row in rows]
    known = [at for at in dates if at is not None]
    return max(known) if known else None


def group_session(session: Session, group_id: str, kind: str, number: int) -> GroupSession:
    """The meeting ``kind`` ``number`` of a group; NotFound if the schedule has none."""
    row = session.scalar(
        select(GroupSession).where(
            GroupSession.group_id == group_id,
            GroupSession.kind == kind,
            GroupSession.number == number,
        )
    )
    if row is None:
        kinds = ", ".join(f"{k} (1-{n})" for k, n in SCHEDULE)
        raise NotFound(f"no meeting {kind} {number} in the schedule; meetings: {kinds}")
    return row
