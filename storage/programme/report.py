"""The programme report of one site: what happened in each group, and a site roll-up.

The evidence an operational lead sends to commissioners and the national team: families
enrolled and filmed at home visit 2, shared reviews held and how soon after filming,
reflective supervisions held against the three required, trainees' video reviews signed
off, and what is due. Built from metadata only: no footage is read and no family code
appears (groups are named by their code and name). Destroyed clips still count: the clip
row outlives its footage and its tombstone says why it went, so figures do not drop
when retention ends; uploads that never became footage (refused, abandoned, cancelled)
do not count as filmed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.db.governance import Tombstone
from storage.db.programme import (
    REQUIRED_SUPERVISIONS,
    TRAINING_BLOCKS,
    Family,
    Group,
    GroupFacilitator,
    GroupSession,
    SupervisionSession,
    TrainingBlock,
)

#: Tombstone reasons of uploads that never became footage: not "filmed".
UNFILMED_REASONS = frozenset({"upload-refused", "upload-abandoned", "upload-terminated"})
#: Clip states before footage exists, or after processing failed: not "filmed".
UNFILMED_STATES = frozenset({"receiving", "failed"})
#: Warn this long before a group ends if it is short of reflective supervisions.
SUPERVISION_WARNING = timedelta(days=28)


@dataclass(frozen=True)
class DayRange:
    """Median and range of whole days from filming to shared review (None: no reviews)."""

    median: float | None
    low: int | None
    high: int | None

    @classmethod
    def of(cls, days: Iterable[int]) -> DayRange:
        values = sorted(days)
        if not values:
            return cls(None, None, None)
        return cls(float(statistics.median(values)), values[0], values[-1])

    def text(self) -> str:
        """E.g. ``"6 (2-13)"``; empty when no review was held."""
        if self.median is None:
            return ""
        median = f"{self.median:g}"
        return median if self.low == self.high else f"{median} ({self.low}-{self.high})"


@dataclass(frozen=True)
class GroupFigures:
    """The counts of one group (no family codes)."""

    code: str
    name: str
    status: str
    programme_end: datetime | None
    families_enrolled: int
    #: Families whose home visit 2 date has passed (they are due to be filmed).
    families_due_home_visit_2: int
    families_filmed_home_visit_2: int
    home_visit_clips: int
    shared_reviews_held: int
    #: Whole days from filming to shared review, one per reviewed clip (sorted).
    review_day_values: tuple[int, ...]
    supervisions_held: int
    supervisions_required: int
    trainees: int
    trainee_reviews_filmed: int
    trainee_reviews_signed_off: int
    training_blocks_signed_off: int
    due: tuple[str, ...]

    @property
    def review_days(self) -> DayRange:
        return DayRange.of(self.review_day_values)

    @property
    def training_blocks_required(self) -> int:
        return self.trainees * len(TRAINING_BLOCKS)

    @property
    def clips_per_filmed_family(self) -> float | None:
        if not self.families_filmed_home_visit_2:
            return None
        return round(self.home_visit_clips / self.families_filmed_home_visit_2, 1)


@dataclass(frozen=True)
class SiteRollup:
    """The site's totals over its groups."""

    groups: int
    groups_running: int
    groups_ended: int
    families_enrolled: int
    families_due_home_visit_2: int
    families_filmed_home_visit_2: int
    shared_reviews_held: int
    review_days: DayRange
    supervisions_held: int
    #: Groups that have had at least the required number of reflective supervisions.
    groups_supervised_enough: int
    ended_groups_short_of_supervision: int
    trainee_reviews_signed_off: int
    training_blocks_signed_off: int
    training_blocks_required: int


@dataclass(frozen=True)
class ProgrammeReport:
    site_id: str
    generated_at: datetime
    groups: tuple[GroupFigures, ...]
    rollup: SiteRollup


def _filmed(clip: Clip, tomb_reason: str | None) -> bool:
    if clip.status == "destroyed":
        return tomb_reason is not None and tomb_reason not in UNFILMED_REASONS
    return clip.status not in UNFILMED_STATES


def _review_days(clip: Clip, filmed_at: datetime) -> int | None:
    if clip.shared_review_at is None:
        return None
    return max(0, (clip.shared_review_at - filmed_at).days)


def _site_clips(session: Session, site_id: str) -> list[tuple[Clip, Tombstone | None]]:
    """Every clip of the site that became footage, with its tombstone if destroyed."""
    rows = session.execute(
        select(Clip, Tombstone)
        .outerjoin(Tombstone, Tombstone.clip_id == Clip.id)
        .where(Clip.site_id == site_id)
    )
    return [
        (clip, tomb)
        for clip, tomb in rows
        if _filmed(clip, tomb.reason if tomb is not None else None)
    ]


def _session_date(row: GroupSession) -> datetime | None:
    return row.held_at or row.scheduled_at


def group_figures(
    session: Session,
    group: Group,
    now: datetime,
    clips: list[tuple[Clip, Tombstone | None]] | None = None,
) -> GroupFigures:
    """The figures of one group at ``now`` (``clips``: the site's filmed clips, if known)."""
    if clips is None:
        clips = _site_clips(session, group.site_id)
    families = list(session.scalars(select(Family).where(Family.group_id == group.id)))
    family_ids = {f.id for f in families}
    sessions = {
        (s.kind, s.number): s
        for s in session.scalars(select(GroupSession).where(GroupSession.group_id == group.id))
    }
    visit_1 = sessions.get(("home-visit-1", 1))
    visit_2 = sessions.get(("home-visit-2", 1))
    visit_2_at = _session_date(visit_2) if visit_2 else None
    home_visits = [
        (clip, tomb)
        for clip, tomb in clips
        if clip.kind == "home-visit"
        and clip.family_id in family_ids
        and (visit_1 is None or clip.session_id != visit_1.id)
    ]
    filmed_families = {clip.family_id for clip, _ in home_visits}
    days = [
        d
        for clip, tomb in home_visits
        if (d := _review_days(clip, tomb.clip_created_at if tomb else clip.created_at)) is not None
    ]
    held = session.scalars(
        select(SupervisionSession.id).where(
            SupervisionSession.group_id == group.id, SupervisionSession.held_at <= now
        )
    )
    supervisions = len(list(held))
    trainee_ids = set(
        session.scalars(
            select(GroupFacilitator.user_id).where(
                GroupFacilitator.group_id == group.id, GroupFacilitator.trainee
            )
        )
    )
    reviews = [
        clip
        for clip, _ in clips
        if clip.group_id == group.id
        and clip.kind == "group-delivery"
        and clip.trainee_id is not None
    ]
    blocks = 0
    if trainee_ids:
        blocks = len(
            list(
                session.scalars(
                    select(TrainingBlock.id).where(
                        TrainingBlock.trainee_id.in_(trainee_ids),
                        TrainingBlock.signed_off_at.is_not(None),
                    )
                )
            )
        )
    due_hv2 = len(families) if visit_2_at is not None and visit_2_at <= now else 0
    figures = GroupFigures(
        code=group.code,
        name=group.name,
        status=group.status,
        programme_end=group.programme_end,
        families_enrolled=len(families),
        families_due_home_visit_2=due_hv2,
        families_filmed_home_visit_2=len(filmed_families),
        home_visit_clips=len(home_visits),
        shared_reviews_held=len(days),
        review_day_values=tuple(sorted(days)),
        supervisions_held=supervisions,
        supervisions_required=REQUIRED_SUPERVISIONS,
        trainees=len(trainee_ids),
        trainee_reviews_filmed=len(reviews),
        trainee_reviews_signed_off=sum(1 for c in reviews if c.signed_off_at is not None),
        training_blocks_signed_off=blocks,
        due=(),
    )
    return _with_due(figures, now)


def _with_due(f: GroupFigures, now: datetime) -> GroupFigures:
    """``f`` with its list of what is due, in plain words and without family codes."""
    due: list[str] = []
    unfilmed = f.families_due_home_visit_2 - f.families_filmed_home_visit_2
    if unfilmed > 0:
        due.append(f"Home visit 2: {_n(unfilmed, 'family', 'families')} not filmed yet")
    waiting = f.home_visit_clips - f.shared_reviews_held
    if waiting > 0:
        due.append(f"Shared review not held yet for {_n(waiting, 'home-visit clip')}")
    short = f.supervisions_required - f.supervisions_held
    end = f.programme_end
    if short > 0 and end is not None and end <= now:
        due.append(
            f"Ended with {f.supervisions_held} of {f.supervisions_required} reflective supervisions"
        )
    elif short > 0 and f.status != "ended":
        when = f" before the group ends on {end:%d %b %Y}" if end is not None else ""
        soon = end is not None and end - now <= SUPERVISION_WARNING
        prefix = "Soon: " if soon else ""
        due.append(f"{prefix}{_n(short, 'more reflective supervision')} needed{when}")
    blocks_left = f.training_blocks_required - f.training_blocks_signed_off
    if blocks_left > 0:
        due.append(f"Training: {_n(blocks_left, 'block')} not signed off yet")
    return GroupFigures(**{**f.__dict__, "due": tuple(due)})


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def programme_report(session: Session, site_id: str, now: datetime) -> ProgrammeReport:
    """Figures of every group of the site (except its 'unassigned' group) and their roll-up.

    Reads metadata only; raises nothing for a site without groups (all counts zero).
    """
    groups = list(
        session.scalars(
            select(Group)
            .where(Group.site_id == site_id, Group.unassigned.is_(False))
            .order_by(Group.code)
        )
    )
    clips = _site_clips(session, site_id)
    figures = tuple(group_figures(session, g, now, clips) for g in groups)
    return ProgrammeReport(site_id, now, figures, _rollup(figures, now))


def _rollup(groups: tuple[GroupFigures, ...], now: datetime) -> SiteRollup:
    ended = [g for g in groups if g.status == "ended" or _past(g.programme_end, now)]
    return SiteRollup(
        groups=len(groups),
        groups_running=sum(1 for g in groups if g.status == "running"),
        groups_ended=len(ended),
        families_enrolled=sum(g.families_enrolled for g in groups),
        families_due_home_visit_2=sum(g.families_due_home_visit_2 for g in groups),
        families_filmed_home_visit_2=sum(g.families_filmed_home_visit_2 for g in groups),
        shared_reviews_held=sum(g.shared_reviews_held for g in groups),
        review_days=DayRange.of(d for g in groups for d in g.review_day_values),
        supervisions_held=sum(g.supervisions_held for g in groups),
        groups_supervised_enough=sum(
            1 for g in groups if g.supervisions_held >= g.supervisions_required
        ),
        ended_groups_short_of_supervision=sum(
            1 for g in ended if g.supervisions_held < g.supervisions_required
        ),
        trainee_reviews_signed_off=sum(g.trainee_reviews_signed_off for g in groups),
        training_blocks_signed_off=sum(g.training_blocks_signed_off for g in groups),
        training_blocks_required=sum(g.training_blocks_required for g in groups),
    )


def _past(when: datetime | None, now: datetime) -> bool:
    return when is not None and when <= now
