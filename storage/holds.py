"""Legal holds: they suspend destruction of a clip, and placing or lifting one is audited.

A hold has a reason and records who placed and who lifted it. While a clip has an active
hold, neither the retention sweep nor consent withdrawal destroys it; once the last hold is
lifted, the next sweep destroys the clip if it is due. A hold cannot be placed on a clip
whose destruction has already begun (its key may already be gone).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.governance import LegalHold
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.locking import lock_clip

#: Roles that may place and lift holds ("system" is the operator's command line).
HOLD_ROLES = ("dpo", "admin", "system")
MAX_REASON = 1000


def _authorise(actor: Actor, site_id: str) -> None:
    if actor.role not in HOLD_ROLES:
        raise PermissionDenied(f"role {actor.role!r} may not place or lift legal holds")
    if actor.role != "system" and actor.site_id != site_id:
        raise NotFound("no such clip")  # other sites' clips do not exist for this actor


def _who(actor: Actor, by: str | None) -> str:
    """The person or authority recorded on the hold: ``by`` if given, else the actor id."""
    name = (by or "").strip()
    if not name:
        return actor.id
    if len(name) > 64 or any(ord(ch) < 32 for ch in name):
        raise ValidationError("--by must be one line of at most 64 characters")
    return name


def place_hold(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    site_id: str,
    clip_id: str,
    reason: str,
    by: str | None = None,
) -> LegalHold:
    """Place a legal hold on a clip of ``site_id`` and audit ``hold.place``.

    Raises PermissionDenied for a role that may not hold, NotFound for a clip that is not at
    the site, ValidationError for an empty or overlong reason or a clip already destroyed or
    being destroyed. Runs in the caller's unit of work.
    """
    _authorise(actor, site_id)
    text = reason.strip()
    if not text:
        raise ValidationError("a legal hold needs a reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"the reason may be at most {MAX_REASON} characters")
    placed_by = _who(actor, by)
    clip = lock_clip(session, clip_id)
    if clip is None or clip.site_id != site_id:
        raise NotFound("no such clip")
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        raise ValidationError(f"clip {clip_id} is already destroyed or being destroyed")
    hold = LegalHold(
        clip_id=clip_id,
        site_id=site_id,
        reason=text,
        placed_by=placed_by,
        placed_at=audit.clock.now(),
    )
    session.add(hold)
    session.flush()
    audit.append(
        session,
        actor,
        "hold.place",
        target_type="clip",
        target_id=clip_id,
        site_id=site_id,
        details={"hold_id": hold.id},
    )
    return hold


def lift_hold(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    site_id: str,
    hold_id: str,
    by: str | None = None,
) -> LegalHold:
    """Lift an active hold and audit ``hold.lift``.

    Raises PermissionDenied, NotFound for a hold not at the site, ValidationError for a hold
    already lifted. Runs in the caller's unit of work.
    """
    _authorise(actor, site_id)
    lifted_by = _who(actor, by)
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.site_id != site_id:
        raise NotFound("no such legal hold")
    lock_clip(session, hold.clip_id)
    session.refresh(hold)
    if hold.lifted_at is not None:
        raise ValidationError(f"legal hold {hold_id} was already lifted")
    hold.lifted_at = audit.clock.now()
    hold.lifted_by = lifted_by
    session.flush()
    audit.append(
        session,
        actor,
        "hold.lift",
        target_type="clip",
        target_id=hold.clip_id,
        site_id=site_id,
        details={"hold_id": hold.id},
    )
    return hold


def list_holds(
    session: Session, *, site_id: str | None = None, active_only: bool = True
) -> list[LegalHold]:
    """Holds of one site (or all sites), newest first; only active ones by default."""
    query = select(LegalHold)
    if site_id is not None:
        query = query.where(LegalHold.site_id == site_id)
    if active_only:
        query = query.where(LegalHold.lifted_at.is_(None))
    return list(session.scalars(query.order_by(LegalHold.placed_at.desc(), LegalHold.id)))


def is_held(session: Session, clip_id: str) -> bool:
    """True while the clip has at least one active hold."""
    query = select(LegalHold.id).where(LegalHold.clip_id == clip_id, LegalHold.lifted_at.is_(None))
    return session.scalar(query.limit(1)) is not None


def held_clip_ids(session: Session, site_id: str | None = None) -> set[str]:
    """Ids of every clip with an active hold (of one site, or all)."""
    query = select(LegalHold.clip_id).where(LegalHold.lifted_at.is_(None))
    if site_id is not None:
        query = query.where(LegalHold.site_id == site_id)
    return set(session.scalars(query))
