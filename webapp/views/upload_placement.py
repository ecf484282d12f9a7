"""Where an upload belongs in the programme, as chosen on the upload page.

The page first asks for the group (a facilitator's own groups, a supervisor's site's),
then either the family filmed (a home visit or shared review: the family's consent is
recorded on the same form) or the group session and the families present (their
consents are already on record; the recording may be used only for what every present
family's consent covers, which the page shows). Checks and registration are the services'
(:func:`ingest.clips.register_clip` with a :class:`storage.programme.Placement`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import PURPOSES, Consent
from storage.db.programme import Family, Group, GroupSession
from storage.errors import ValidationError
from storage.programme import Placement, family_consent
from storage.programme.overview import session_label, site_groups, sorted_schedule
from storage.programme.placement import GROUP_MEETINGS
from webapp.context import CurrentUser

#: The form's value for "this clip is not part of a group" (the site's unassigned group).
NO_GROUP = "none"
#: Footage of one family (its consent is recorded on the form); else a group session.
FAMILY_KINDS = ("home-visit", "shared-review")
SESSION_KIND = "group-delivery"


@dataclass(frozen=True)
class FamilyChoice:
    id: str
    code: str
    #: The purposes the family's consent on record covers now (empty: none on record).
    purposes: tuple[str, ...]
    has_consent: bool


@dataclass(frozen=True)
class MeetingChoice:
    id: str
    label: str


@dataclass(frozen=True)
class GroupChoice:
    """What the upload form offers once a group is chosen."""

    group: Group
    families: tuple[FamilyChoice, ...]
    meetings: tuple[MeetingChoice, ...]


def upload_groups(db: Session, user: CurrentUser) -> list[Group]:
    """The groups ``user`` may upload to: a facilitator's own, a supervisor's whole site."""
    mine = user.id if user.role == "facilitator" else None
    return [g for g in site_groups(db, user.site_id, mine) if g.status != "ended"]


def group_choice(db: Session, group: Group) -> GroupChoice:
    """The families (with their consent's purposes) and group sessions of ``group``."""
    families = []
    for family in db.scalars(
        select(Family).where(Family.group_id == group.id).order_by(Family.code)
    ):
        consent = family_consent(db, family.id)
        purposes = _ordered(consent.active_purposes) if consent is not None else ()
        families.append(FamilyChoice(family.id, family.code, purposes, consent is not None))
    meetings = tuple(
        MeetingChoice(m.id, session_label(m.kind, m.number))
        for m in sorted_schedule(
            list(db.scalars(select(GroupSession).where(GroupSession.group_id == group.id)))
        )
        if m.kind in GROUP_MEETINGS
    )
    return GroupChoice(group, tuple(families), meetings)


def _ordered(purposes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in PURPOSES if p in purposes)


def allowed_purposes(choice: GroupChoice, present: list[str]) -> tuple[str, ...]:
    """What a recording of the families ``present`` (ids) may be used for: the purposes
    every present family's consent covers (empty when none is present)."""
    chosen = [f for f in choice.families if f.id in present]
    if not chosen:
        return ()
    allowed = set(PURPOSES)
    for family in chosen:
        allowed &= set(family.purposes)
    return _ordered(tuple(allowed))


def session_placement(
    db: Session, choice: GroupChoice, meeting_id: str, present: list[str]
) -> tuple[Placement, Consent]:
    """The placement of a group-session recording and the consent it is registered under
    (the first present family's, in the order of the group's families).

    Raises ValidationError when no session or no family is chosen, a family chosen is
    not in the group, or a present family has no consent on record.
    """
    if meeting_id not in {m.id for m in choice.meetings}:
        raise ValidationError("Choose the group session that was recorded.")
    known = {f.id: f for f in choice.families}
    if not present:
        raise ValidationError("Tick the families who were in the room.")
    if any(family_id not in known for family_id in present):
        raise ValidationError("Only families of this group can be ticked.")
    ordered = [f for f in choice.families if f.id in present]
    missing = [f.code for f in ordered if not f.has_consent]
    if missing:
        raise ValidationError(
            "No consent is on record for " + ", ".join(missing) + ". Record the family's "
            "consent with a home-visit upload first, or untick them and do not film them."
        )
    consent = family_consent(db, ordered[0].id)
    assert consent is not None  # has_consent was checked above
    placement = Placement(
        group_id=choice.group.id,
        session_id=meeting_id,
        present_family_ids=tuple(f.id for f in ordered),
    )
    return placement, consent


def family_placement(choice: GroupChoice, family_id: str) -> tuple[Placement, FamilyChoice]:
    """The placement of a family's footage. Raises ValidationError when no family of the
    group is chosen."""
    family = next((f for f in choice.families if f.id == family_id), None)
    if family is None:
        raise ValidationError("Choose the family who was filmed.")
    return Placement(group_id=choice.group.id, family_id=family.id), family
