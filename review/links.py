"""Links between two annotations of one clip, e.g. an infant initiative -> the response.

A link is directed (``source`` -> ``target``) and typed by ``relation``:

* ``received`` — the target (an adult response) receives the source (an initiative);
* ``not-received`` — the target is what happened instead of receiving it;
* ``related`` — any other connection worth keeping.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.access import can_see, confirm_unlocked, load_annotation, load_clip, require_unlocked
from review.errors import NotFound, PermissionDenied, ValidationError
from storage.audit import Actor, AuditLog
from storage.db.review import Annotation, AnnotationLink

RELATIONS = ("received", "not-received", "related")


def link_annotations(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    source_id: str,
    target_id: str,
    relation: str = "received",
) -> AnnotationLink:
    """Link two annotations the actor can see on the same clip.

    Raises ValidationError (self-link, different clips, unknown relation, duplicate),
    NotFound, Locked.
    """
    if relation not in RELATIONS:
        raise ValidationError(f"relation must be one of {', '.join(RELATIONS)}")
    if source_id == target_id:
        raise ValidationError("an annotation cannot be linked to itself")
    source, clip = load_annotation(session, actor, source_id, write=True)
    target, _ = load_annotation(session, actor, target_id)
    if target.clip_id != source.clip_id:
        raise ValidationError("linked annotations must belong to the same clip")
    require_unlocked(clip)
    existing = session.scalar(
        select(AnnotationLink).where(
            AnnotationLink.source_id == source.id, AnnotationLink.target_id == target.id
        )
    )
    if existing is not None:
        raise ValidationError("these annotations are already linked")
    link = AnnotationLink(
        site_id=clip.site_id,
        clip_id=clip.id,
        source_id=source.id,
        target_id=target.id,
        relation=relation,
        created_by=actor.id,
        created_at=audit.clock.now(),
    )
    session.add(link)
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.link",
        target_type="annotation_link",
        target_id=link.id,
        site_id=clip.site_id,
        details={"clip_id": clip.id, "source_id": source.id, "target_id": target.id},
    )
    return link


def unlink(session: Session, audit: AuditLog, actor: Actor, link_id: str) -> None:
    """Remove a link; allowed to its creator and to the authors of either end.

    Raises NotFound, PermissionDenied, Locked.
    """
    link = session.get(AnnotationLink, link_id) if link_id else None
    if link is None or (actor.site_id is not None and link.site_id != actor.site_id):
        raise NotFound(f"no link {link_id}")
    source, clip = load_annotation(session, actor, link.source_id, write=True)
    target, _ = load_annotation(session, actor, link.target_id)
    if actor.id not in (link.created_by, source.author_id, target.author_id):
        raise PermissionDenied("only the link's creator or an author of its annotations")
    require_unlocked(clip)
    session.delete(link)
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.unlink",
        target_type="annotation_link",
        target_id=link_id,
        site_id=clip.site_id,
        details={"clip_id": clip.id},
    )


def links_of_clip(session: Session, actor: Actor, clip_id: str) -> list[AnnotationLink]:
    """The clip's links whose both ends the actor can see (and are not deleted)."""
    clip = load_clip(session, actor, clip_id)
    links = list(
        session.scalars(
            select(AnnotationLink)
            .where(AnnotationLink.clip_id == clip.id, AnnotationLink.site_id == clip.site_id)
            .order_by(AnnotationLink.created_at, AnnotationLink.id)
        )
    )
    ids = {i for link in links for i in (link.source_id, link.target_id)}
    rows: list[Annotation] = (
        list(session.scalars(select(Annotation).where(Annotation.id.in_(ids)))) if ids else []
    )
    visible = {a.id for a in rows if can_see(session, actor, clip, a)}
    return [link for link in links if link.source_id in visible and link.target_id in visible]
