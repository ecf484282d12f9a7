"""Threads: replies under an annotation, and resolving/unresolving the thread.

Anyone who can see an annotation can reply to it and resolve or reopen its thread; only
a reply's author can delete the reply. All of it is audited and frozen by sign-off.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.access import confirm_unlocked, load_annotation, require_unlocked
from review.errors import NotFound, PermissionDenied, ValidationError
from review.text import clean_text
from storage.audit import Actor, AuditLog
from storage.db.review import Annotation, Reply

MAX_REPLY = 10_000


def add_reply(
    session: Session, audit: AuditLog, actor: Actor, annotation_id: str, text: str
) -> Reply:
    """Reply to an annotation the actor can see.

    Raises ValidationError (empty, too long, control characters), NotFound, Locked.
    """
    annotation, clip = load_annotation(session, actor, annotation_id, write=True)
    require_unlocked(clip)
    body = clean_text(text, "reply", MAX_REPLY)
    if not body.strip():
        raise ValidationError("a reply needs some text")
    reply = Reply(
        annotation_id=annotation.id,
        site_id=annotation.site_id,
        author_id=actor.id,
        author_role=actor.role,
        text=body,
        created_at=audit.clock.now(),
    )
    session.add(reply)
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.reply",
        target_type="reply",
        target_id=reply.id,
        site_id=annotation.site_id,
        details={"annotation_id": annotation.id, "clip_id": clip.id},
    )
    return reply


def list_replies(session: Session, actor: Actor, annotation_id: str) -> list[Reply]:
    """The thread of an annotation the actor can see, oldest first."""
    annotation, _ = load_annotation(session, actor, annotation_id)
    query = select(Reply).where(Reply.annotation_id == annotation.id, Reply.deleted_at.is_(None))
    return list(session.scalars(query.order_by(Reply.created_at, Reply.id)))


def delete_reply(session: Session, audit: AuditLog, actor: Actor, reply_id: str) -> None:
    """Delete the actor's own reply. Raises NotFound, PermissionDenied, Locked."""
    reply = session.get(Reply, reply_id) if reply_id else None
    if reply is None or reply.deleted_at is not None:
        raise NotFound(f"no reply {reply_id}")
    if actor.site_id is not None and reply.site_id != actor.site_id:
        raise NotFound(f"no reply {reply_id}")
    annotation, clip = load_annotation(session, actor, reply.annotation_id, write=True)
    if reply.author_id != actor.id:
        raise PermissionDenied("only the author can delete a reply")
    require_unlocked(clip)
    reply.deleted_at = audit.clock.now()
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.reply_delete",
        target_type="reply",
        target_id=reply.id,
        site_id=reply.site_id,
        details={"annotation_id": annotation.id, "clip_id": clip.id},
    )


def set_resolved(
    session: Session, audit: AuditLog, actor: Actor, annotation_id: str, resolved: bool
) -> Annotation:
    """Resolve (True) or reopen (False) an annotation's thread; repeating is a no-op.

    Raises NotFound, Locked.
    """
    annotation, clip = load_annotation(session, actor, annotation_id, write=True)
    require_unlocked(clip)
    if annotation.resolved == resolved:
        return annotation
    annotation.resolved = resolved
    annotation.resolved_by = actor.id if resolved else None
    annotation.resolved_at = audit.clock.now() if resolved else None
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.resolve" if resolved else "annotation.unresolve",
        target_type="annotation",
        target_id=annotation.id,
        site_id=annotation.site_id,
        details={"clip_id": clip.id},
    )
    return annotation
