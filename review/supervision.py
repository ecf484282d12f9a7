"""Supervision sign-off and the end of a home visit's shared review.

Both are retention events (storage.retention): training footage is kept until its
review is signed off plus a margin, a home-visit clip until its shared review with the
family (and the programme's end) plus a margin. So each records the event on the clip
and recomputes ``Clip.delete_after`` in the same unit of work.

Signing off locks the review: from then on annotations, replies, links and moments of
the clip raise Locked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from review.access import load_clip, require_reviewable, site_slug
from review.errors import Locked, PermissionDenied, ValidationError
from review.text import clean_text
from storage.audit import Actor, AuditLog
from storage.db.review import SignOff
from storage.retention import recompute_clip

SIGN_OFF_KINDS = ("group-delivery", "shared-review")
MAX_SUMMARY = 20_000


def sign_off(
    session: Session,
    audit: AuditLog,
    settings: Settings,
    actor: Actor,
    clip_id: str,
    *,
    summary: str,
) -> SignOff:
    """A supervisor signs off the review of a trainee's group-delivery/shared-review clip.

    Sets ``Clip.signed_off_at``, stores the summary, locks the review and recomputes
    retention. Raises PermissionDenied (not a supervisor, or signing off one's own
    footage), ValidationError (wrong kind of clip, not processed, empty summary),
    Locked (already signed off), NotFound, ConsentError (storage).
    """
    if actor.role != "supervisor":
        raise PermissionDenied("only a supervisor can sign off a review")
    clip = load_clip(session, actor, clip_id, write=True, lock="exclusive")
    if clip.kind not in SIGN_OFF_KINDS:
        raise ValidationError(f"only {' and '.join(SIGN_OFF_KINDS)} reviews are signed off")
    if clip.trainee_id == actor.id:
        raise PermissionDenied("a supervisor cannot sign off a review of their own practice")
    require_reviewable(clip)
    if clip.signed_off_at is not None or session.get(SignOff, clip.id) is not None:
        raise Locked("this review is already signed off")
    text = clean_text(summary, "summary", MAX_SUMMARY).strip()
    if not text:
        raise ValidationError("a sign-off needs a summary of the review")
    now = audit.clock.now()
    row = SignOff(
        clip_id=clip.id, site_id=clip.site_id, supervisor_id=actor.id, summary=text, signed_at=now
    )
    session.add(row)
    clip.signed_off_at = now
    clip.updated_at = now
    recompute_clip(session, settings.retention, clip, site_slug(session, clip.site_id))
    session.flush()
    audit.append(
        session,
        actor,
        "review.sign_off",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details=_retention(clip.delete_after),
    )
    return row


def get_sign_off(session: Session, actor: Actor, clip_id: str) -> SignOff | None:
    """The clip's sign-off (with the summary), or None if not signed off yet."""
    clip = load_clip(session, actor, clip_id)
    return session.get(SignOff, clip.id)


def mark_shared_review_done(
    session: Session, audit: AuditLog, settings: Settings, actor: Actor, clip_id: str
) -> str:
    """Record that a home visit's shared review with the family took place (now).

    Sets ``Clip.shared_review_at`` and recomputes retention; returns the new
    ``delete_after`` as ISO 8601. Raises PermissionDenied (not a reviewer),
    ValidationError (not a home-visit clip, already marked), NotFound, ConsentError.
    """
    clip = load_clip(session, actor, clip_id, write=True, lock="exclusive")
    if clip.kind != "home-visit":
        raise ValidationError("only a home-visit clip has a shared review with the family")
    if clip.shared_review_at is not None:
        raise ValidationError("the shared review of this clip is already recorded")
    now = audit.clock.now()
    clip.shared_review_at = now
    clip.updated_at = now
    recompute_clip(session, settings.retention, clip, site_slug(session, clip.site_id))
    session.flush()
    details = _retention(clip.delete_after)
    audit.append(
        session,
        actor,
        "review.shared_review_done",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details=details,
    )
    return str(details["delete_after"])


def is_locked(session: Session, actor: Actor, clip_id: str) -> bool:
    """Whether the clip's review is signed off (and so read-only)."""
    return load_clip(session, actor, clip_id).signed_off_at is not None


def _retention(delete_after: Any) -> dict[str, Any]:
    return {"delete_after": delete_after.isoformat() if delete_after is not None else None}
