"""Families: enrolling a family (by pseudonymous code) in a group, moving it to another
group, and the consents that belong to it.

A family is enrolled in one group at a time, at most ``MAX_FAMILIES`` per group. Its
code follows the consent rule (letters, digits, hyphens, at least one digit; never a
name). Moving a family takes its home-visit clips along (the new group's co-facilitators
now work with it) and recomputes their retention from the new group's programme end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.consent import ConsentInvalid, check_family_code
from storage.db.footage import Clip, Consent
from storage.db.programme import MAX_FAMILIES, Family, Group
from storage.db.tenancy import Site
from storage.errors import NotFound, ValidationError
from storage.locking import lock_row
from storage.programme.errors import GroupFull
from storage.programme.scope import MANAGE_ROLES, require_role, require_site, site_row
from storage.retention import recompute_clip


def family_code(value: str) -> str:
    """A family code normalised (upper case); ValidationError naming the rule otherwise."""
    try:
        return check_family_code(value.strip() if isinstance(value, str) else value)
    except ConsentInvalid as exc:
        raise ValidationError(str(exc).removeprefix("consent: ")) from None


def enrol_family(
    session: Session, audit: AuditLog, actor: Actor, *, site_id: str, group_id: str, code: str
) -> Family:
    """Enrol the family ``code`` in a group of ``site_id``; audited ``family.enrol``.

    Consents already recorded at the site under that code become the family's.
    Idempotent: the family already in that group is returned unchanged. Raises
    PermissionDenied (role), NotFound (site or group not at the site), GroupFull (the
    group has ``MAX_FAMILIES`` families), ValidationError (bad code, the unassigned group,
    or a family already enrolled in another group: move it instead).
    """
    require_role(actor, MANAGE_ROLES, "enrol families")
    require_site(actor, site_id)
    site_row(session, Site, site_id, None)
    group = _target_group(session, group_id, site_id)
    code = family_code(code)
    existing = session.scalar(select(Family).where(Family.site_id == site_id, Family.code == code))
    if existing is not None:
        if existing.group_id == group.id:
            return existing
        raise ValidationError(f"family {code} is enrolled in another group; move it instead")
    _check_room(session, group)
    family = Family(site_id=site_id, group_id=group.id, code=code, enrolled_at=audit.clock.now())
    session.add(family)
    session.flush()
    linked = 0
    for consent in session.scalars(
        select(Consent).where(
            Consent.site_id == site_id, Consent.family_code == code, Consent.family_id.is_(None)
        )
    ):
        consent.family_id = family.id
        linked += 1
    audit.append(
        session,
        actor,
        "family.enrol",
        target_type="family",
        target_id=family.id,
        site_id=site_id,
        details={"group_id": group.id, "consents_linked": linked},
    )
    return family


def move_family(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    family_id: str,
    group_id: str,
    *,
    retention: Mapping[str, Any],
) -> Family:
    """Move a family to another group of its site; audited ``family.move``.

    Its home-visit clips (clips of the family not tied to a group session) move too and
    their ``delete_after`` is recomputed (each change audited). Moving to the group it is
    in changes nothing. Raises PermissionDenied, NotFound (family or group not at the
    actor's site), GroupFull and ValidationError (the unassigned group).
    """
    require_role(actor, MANAGE_ROLES, "move families")
    scope = None if actor.role == "system" else actor.site_id
    family = site_row(session, Family, family_id, scope)
    group = _target_group(session, group_id, family.site_id)
    if family.group_id == group.id:
        return family
    _check_room(session, group)
    old = family.group_id
    family.group_id = group.id
    site = site_row(session, Site, family.site_id, None)
    moved = list(
        session.scalars(
            select(Clip).where(
                Clip.family_id == family.id,
                Clip.session_id.is_(None),
                Clip.status != "destroyed",
            )
        )
    )
    changes = []
    for clip in moved:
        clip.group_id = group.id
        before = clip.delete_after
        recompute_clip(session, retention, clip, site.slug)
        if clip.delete_after != before:
            changes.append((clip, before))
    session.flush()
    audit.append(
        session,
        actor,
        "family.move",
        target_type="family",
        target_id=family.id,
        site_id=family.site_id,
        details={"from_group": old, "to_group": group.id, "clips_moved": len(moved)},
    )
    for clip, before in changes:
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
                "cause": "family-move",
            },
        )
    return family


def get_family(session: Session, site_id: str | None, ref: str) -> Family:
    """A family of ``site_id`` (None: any site, operator tools) by id or code; NotFound."""
    family = session.get(Family, ref)
    if family is None and site_id is not None and isinstance(ref, str):
        query = select(Family).where(Family.site_id == site_id, Family.code == ref.strip().upper())
        family = session.scalar(query)
    if family is None or (site_id is not None and family.site_id != site_id):
        raise NotFound(f"no family {ref!r}")
    return family


def list_families(session: Session, group_id: str) -> list[Family]:
    """The families enrolled in a group, by code."""
    query = select(Family).where(Family.group_id == group_id).order_by(Family.code)
    return list(session.scalars(query))


def family_consent(session: Session, family_id: str) -> Consent | None:
    """The family's most recently recorded consent (the one that covers new footage)."""
    query = (
        select(Consent)
        .where(Consent.family_id == family_id)
        .order_by(Consent.created_at.desc(), Consent.taken_at.desc(), Consent.id)
        .limit(1)
    )
    return session.scalar(query)


def link_consent(session: Session, consent: Consent) -> Family | None:
    """Make ``consent`` belong to the enrolled family with its code, if there is one."""
    family = session.scalar(
        select(Family).where(Family.site_id == consent.site_id, Family.code == consent.family_code)
    )
    if family is not None and consent.family_id != family.id:
        consent.family_id = family.id
        session.flush()
    return family


def _target_group(session: Session, group_id: str, site_id: str) -> Group:
    group = site_row(session, Group, group_id, site_id)
    if group.unassigned:
        raise ValidationError("families are enrolled in a real group, not 'unassigned'")
    return group


def _check_room(session: Session, group: Group) -> None:
    # Lock the group so two enrolments at once cannot both take the last place.
    lock_row(session, Group, group.id)
    count = session.scalar(select(func.count(Family.id)).where(Family.group_id == group.id)) or 0
    if count >= MAX_FAMILIES:
        raise GroupFull(f"group {group.code} already has {MAX_FAMILIES} families")
