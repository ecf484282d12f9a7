"""Where a new clip belongs in the programme: its group, and the family filmed (home
visit, shared review) or the group session recorded with the families present.

Rules (checked before anything is stored):

* Nothing given: the clip goes to the group of the enrolled family its consent names
  (as that family's footage), else to the site's "unassigned" group.
* ``family``: must be the family the consent names; its group is the clip's group.
* ``session`` (``antenatal:N`` or ``postnatal:N``) needs the group; the consent's family
  is listed first among the families present (``clips.consent_id`` is its consent) and
  every family present must be enrolled in the group and have a consent on record.
* A home-visit clip is never tied to a session; group-delivery footage never to a family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Consent
from storage.db.programme import MAX_FAMILIES, SCHEDULE, Family, Group, GroupSession
from storage.errors import ValidationError
from storage.programme.families import get_family, link_consent
from storage.programme.groups import get_group, unassigned_group
from storage.programme.schedule import group_session
from storage.programme.scope import site_row

#: Meetings that are group sessions (recorded with the families present).
GROUP_MEETINGS = ("antenatal", "postnatal")


@dataclass(frozen=True)
class Placement:
    """What the uploader chose (ids); all empty means "infer" (see the module rules)."""

    group_id: str | None = None
    family_id: str | None = None
    session_id: str | None = None
    present_family_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """A checked placement: the group, and the family or the meeting with families present."""

    group: Group
    family: Family | None
    meeting: GroupSession | None
    present: tuple[str, ...]


def parse_meeting(value: str) -> tuple[str, int]:
    """``"antenatal:3"`` -> ``("antenatal", 3)``; ValidationError for anything else."""
    kind, _, number = (value or "").strip().lower().partition(":")
    limits = dict(SCHEDULE)
    if kind not in GROUP_MEETINGS or not number.isdigit() or not 1 <= int(number) <= limits[kind]:
        raise ValidationError(
            "a group session is antenatal:1-6 or postnatal:1-3 (home visits take --family)"
        )
    return kind, int(number)


def placement_from_codes(
    session: Session,
    site_id: str,
    *,
    group: str | None = None,
    family: str | None = None,
    meeting: str | None = None,
    present: Sequence[str] = (),
) -> Placement:
    """A :class:`Placement` from codes as typed on the command line or sent as tus
    metadata (group code, family code, ``KIND:N``, family codes present).

    A family code alone (no group, no session) that is not enrolled names no placement:
    the clip goes where its consent's family belongs (calls from before groups existed).
    Raises NotFound for a group or family not at the site, ValidationError for a session
    without a group or a malformed session.
    """
    if family and not group and not meeting and not present:
        enrolled = session.scalar(
            select(Family).where(Family.site_id == site_id, Family.code == family.strip().upper())
        )
        if enrolled is None:
            return Placement()
    group_row = get_group(session, site_id, group) if group else None
    family_row = get_family(session, site_id, family) if family else None
    session_id = None
    if meeting:
        if group_row is None:
            raise ValidationError("a group session needs its group (--group)")
        kind, number = parse_meeting(meeting)
        session_id = group_session(session, group_row.id, kind, number).id
    present_ids = tuple(get_family(session, site_id, code).id for code in present if code.strip())
    return Placement(
        group_id=group_row.id if group_row else None,
        family_id=family_row.id if family_row else None,
        session_id=session_id,
        present_family_ids=present_ids,
    )


def resolve_placement(
    session: Session, site_id: str, consent: Consent, kind: str, placement: Placement | None
) -> Resolved:
    """Check ``placement`` for a clip of ``kind`` under ``consent`` at ``site_id`` and link
    the consent to its enrolled family. Raises NotFound (group, family or session not at
    the site) and ValidationError (the rules in the module docstring)."""
    chosen = placement or Placement()
    own = link_consent(session, consent)
    group = site_row(session, Group, chosen.group_id, site_id) if chosen.group_id else None
    if chosen.family_id and chosen.session_id:
        raise ValidationError("a clip is of a family (home visit) or of a group session, not both")
    if chosen.present_family_ids and not chosen.session_id:
        raise ValidationError("families present are named for a group session only")
    if chosen.session_id:
        return _session_placement(session, site_id, consent, kind, chosen, group, own)
    family = site_row(session, Family, chosen.family_id, site_id) if chosen.family_id else None
    if family is not None and family.code != consent.family_code:
        raise ValidationError(f"the consent is for family {consent.family_code}, not {family.code}")
    inferred = own is not None and (group is None or own.group_id == group.id)
    if family is None and kind != "group-delivery" and inferred:
        family = own
    if family is not None and kind == "group-delivery":
        raise ValidationError("group-delivery footage belongs to a group session, not a family")
    if family is not None and group is not None and family.group_id != group.id:
        raise ValidationError(f"family {family.code} is not enrolled in group {group.code}")
    if group is None:
        group = (
            site_row(session, Group, family.group_id, site_id)
            if family is not None
            else unassigned_group(session, site_id)
        )
    return Resolved(group=group, family=family, meeting=None, present=())


def _session_placement(
    session: Session,
    site_id: str,
    consent: Consent,
    kind: str,
    chosen: Placement,
    group: Group | None,
    own: Family | None,
) -> Resolved:
    if kind == "home-visit":
        raise ValidationError("home-visit footage belongs to a family, not a group session")
    meeting = site_row(session, GroupSession, chosen.session_id, site_id)
    if meeting.kind not in GROUP_MEETINGS:
        raise ValidationError("home visits are footage of a family (--family), not a session")
    if group is not None and meeting.group_id != group.id:
        raise ValidationError("that session belongs to another group")
    group = site_row(session, Group, meeting.group_id, site_id)
    if own is None or own.group_id != group.id:
        raise ValidationError(
            f"the consent's family {consent.family_code} must be enrolled in group {group.code}"
        )
    present = (own.id, *[f for f in chosen.present_family_ids if f != own.id])
    present = tuple(dict.fromkeys(present))
    if len(present) > MAX_FAMILIES:
        raise ValidationError(f"a group has at most {MAX_FAMILIES} families")
    enrolled = set(session.scalars(select(Family.id).where(Family.group_id == group.id)))
    if any(family_id not in enrolled for family_id in present):
        raise ValidationError(f"every family present must be enrolled in group {group.code}")
    return Resolved(group=group, family=None, meeting=meeting, present=present)
