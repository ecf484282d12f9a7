"""Sharing a clip for supervision with a named supervisor, possibly at another site (for
example the programme's national training team), for a fixed period.

A share is allowed only while the consent of everyone filmed covers ``supervision``. It
ends at ``expires_at``, when revoked, when consent for supervision is withdrawn by anyone
filmed, or when the clip's destruction begins (its share rows are then deleted with the
clip's other rows; ``share.create``/``share.end`` stay in the audit log); a revoked or
withdrawn share is kept with why it ended, for the DPO. The supervisor reaches only the
shared clip (webapp/authz.py), nothing else of the site.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.programme import ClipShare
from storage.db.tenancy import Site, User
from storage.errors import ConsentError, NotFound, ValidationError
from storage.programme.presence import effective_purposes
from storage.programme.scope import active_user, require_role, site_row

#: Who shares a clip: the site's supervisors (operational lead) and admins.
SHARE_ROLES = ("supervisor", "admin")
MAX_SHARE_DAYS = 90
MAX_REASON = 500
SHARE_PURPOSE = "supervision"
END_REASONS = ("revoked", "consent-withdrawn", "clip-destroyed")


def share_clip(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    clip_id: str,
    supervisor_id: str,
    days: int,
    reason: str,
    shared_by: str | None = None,
    receiving_sites: Collection[str] | None = None,
) -> ClipShare:
    """Share a clip with supervisor ``supervisor_id`` for ``days`` days; audited ``share.create``.

    Idempotent: an active share of the clip with that supervisor is returned unchanged
    (revoke it to change its period). A system actor (the CLI) names the supervisor or
    admin of the clip's site who decided the share with ``shared_by``. Raises
    PermissionDenied (role), NotFound (clip not at the actor's site or destroyed; unknown
    or inactive supervisor), ValidationError (days not 1-MAX_SHARE_DAYS, no reason, the
    recipient is not a supervisor, a group recording not placed in a group session with
    the families present) and ConsentError
    when the consent of anyone filmed does not cover supervision.

    ``receiving_sites``: slugs of the other sites whose supervisors may receive a share
    (setting ``sharing.receiving_sites``); a supervisor anywhere else is NotFound, as an
    unknown one is. None (operator tools) does not restrict.
    """
    require_role(actor, SHARE_ROLES, "share footage")
    clip = site_row(session, Clip, clip_id, None if actor.role == "system" else actor.site_id)
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        raise NotFound("no such clip")
    if not isinstance(days, int) or not 1 <= days <= MAX_SHARE_DAYS:
        raise ValidationError(f"a share lasts 1-{MAX_SHARE_DAYS} days")
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON or "\n" in text:
        raise ValidationError(f"a share needs a reason of one line, 1-{MAX_REASON} characters")
    supervisor = active_user(session, supervisor_id, None)
    if supervisor.role != "supervisor":
        raise ValidationError(f"clips are shared with supervisors; {supervisor.email} is not one")
    if not may_receive(session, supervisor, clip.site_id, receiving_sites):
        raise NotFound("no such supervisor")
    if clip.kind == "group-delivery" and clip.session_id is None:
        # Without the session we cannot know who was in the room, so not whose consent
        # a share needs (a recording from before groups, or placed nowhere).
        raise ValidationError(
            "record which group session this is and the families present before sharing it"
        )
    if SHARE_PURPOSE not in effective_purposes(session, clip):
        raise ConsentError("not everyone filmed has consented to supervision")
    decided_by = _decider(session, actor, clip.site_id, shared_by)
    now = audit.clock.now()
    current = active_share(session, clip.id, supervisor.id, now)
    if current is not None:
        return current
    share = ClipShare(
        site_id=clip.site_id,
        clip_id=clip.id,
        supervisor_id=supervisor.id,
        shared_by=decided_by,
        reason=text,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(share)
    session.flush()
    audit.append(
        session,
        actor,
        "share.create",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={
            "share_id": share.id,
            "supervisor_id": supervisor.id,
            "supervisor_site_id": supervisor.site_id,
            "expires_at": share.expires_at.isoformat(),
        },
    )
    return share


def may_receive(
    session: Session, supervisor: User, site_id: str, receiving_sites: Collection[str] | None
) -> bool:
    """Whether ``supervisor`` may receive a share of a clip of site ``site_id``: one of the
    site's own, or at a site listed in ``receiving_sites`` (None: any site)."""
    if receiving_sites is None or supervisor.site_id == site_id:
        return True
    slug = session.scalar(select(Site.slug).where(Site.id == supervisor.site_id))
    return slug is not None and slug in receiving_sites


def revoke_share(session: Session, audit: AuditLog, actor: Actor, share_id: str) -> ClipShare:
    """Revoke a share at once; audited ``share.end`` (reason ``revoked``).

    Revoking an ended share changes nothing. Raises PermissionDenied (role) and NotFound
    (no such share at the actor's site).
    """
    require_role(actor, SHARE_ROLES, "revoke shares")
    share = site_row(
        session, ClipShare, share_id, None if actor.role == "system" else actor.site_id
    )
    if share.revoked_at is None:
        _end(session, audit, actor, share, "revoked")
    return share


def active_share(session: Session, clip_id: str, user_id: str, now: datetime) -> ClipShare | None:
    """The share of ``clip_id`` with ``user_id`` in force at ``now``, or None (also None
    once the clip's destruction has begun)."""
    query = (
        select(ClipShare)
        .join(Clip, Clip.id == ClipShare.clip_id)
        .where(
            Clip.destroy_requested_at.is_(None),
            Clip.status != "destroyed",
            ClipShare.clip_id == clip_id,
            ClipShare.supervisor_id == user_id,
            ClipShare.revoked_at.is_(None),
            ClipShare.expires_at > now,
        )
        .order_by(ClipShare.expires_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def end_shares_for(
    session: Session, audit: AuditLog, actor: Actor, clip_id: str, reason: str
) -> int:
    """End every share of a clip still in force (withdrawal, destruction); each audited
    ``share.end``. Returns how many ended. Raises ValidationError for an unknown reason."""
    if reason not in END_REASONS:
        raise ValidationError(f"unknown reason {reason!r}; expected {END_REASONS}")
    now = audit.clock.now()
    shares = session.scalars(
        select(ClipShare).where(
            ClipShare.clip_id == clip_id,
            ClipShare.revoked_at.is_(None),
            ClipShare.expires_at > now,
        )
    ).all()
    for share in shares:
        _end(session, audit, actor, share, reason)
    return len(shares)


def list_shares(
    session: Session, site_id: str | None, *, active_at: datetime | None = None
) -> list[ClipShare]:
    """Shares of a site's clips (None: every site, operator tools), newest first; with
    ``active_at``, only those in force then."""
    query = select(ClipShare).order_by(ClipShare.created_at.desc(), ClipShare.id)
    if site_id is not None:
        query = query.where(ClipShare.site_id == site_id)
    if active_at is not None:
        query = query.where(ClipShare.revoked_at.is_(None), ClipShare.expires_at > active_at)
    return list(session.scalars(query))


def share_state(share: ClipShare, now: datetime) -> str:
    """``active``, ``expired`` or why it ended (``revoked``, ``consent-withdrawn``...)."""
    if share.revoked_at is not None:
        return share.ended_reason or "revoked"
    return "active" if share.expires_at > now else "expired"


def _end(session: Session, audit: AuditLog, actor: Actor, share: ClipShare, reason: str) -> None:
    share.revoked_at = audit.clock.now()
    share.revoked_by = _user_or_none(actor)
    share.ended_reason = reason
    session.flush()
    audit.append(
        session,
        actor,
        "share.end",
        target_type="clip",
        target_id=share.clip_id,
        site_id=share.site_id,
        details={"share_id": share.id, "supervisor_id": share.supervisor_id, "reason": reason},
    )


def _decider(session: Session, actor: Actor, site_id: str, shared_by: str | None) -> str:
    if actor.role != "system":
        return actor.id
    if not shared_by:
        raise ValidationError("name the supervisor or admin of the site who decided the share")
    user = active_user(session, shared_by, site_id)
    if user.role not in SHARE_ROLES:
        raise ValidationError(f"{user.email} may not share footage (supervisors, admins)")
    return user.id


def _user_or_none(actor: Actor) -> str | None:
    return None if actor.role == "system" else actor.id
