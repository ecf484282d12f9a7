"""Export a clip's annotations as CSV, WebVTT, ELAN .eaf or JSON (audited).

An export holds exactly what the requester may see (shared annotations plus their own
drafts; the CLI sees shared ones only). Every export appends ``annotations.export`` to
the audit log with the format and the number of annotations, never their content.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.access import load_clip, require_reviewable, site_slug
from review.annotations import list_annotations
from review.eaf import render_eaf
from review.errors import ValidationError
from review.formats import ExportRow, to_csv, to_json, to_vtt
from review.links import links_of_clip
from review.taxonomy import Scheme, TaxonomyRegistry
from review.timeline import frame_at, frame_ms, last_frame_before, parse_frame_rate
from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.review import Annotation, Reply
from storage.db.tenancy import User

FORMATS = ("csv", "vtt", "eaf", "json")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "eaf": "application/xml; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class Export:
    """A rendered export: a suggested file name, its media type and the bytes."""

    filename: str
    content_type: str
    data: bytes
    count: int


def export_annotations(
    session: Session,
    audit: AuditLog,
    registry: TaxonomyRegistry,
    actor: Actor,
    clip_id: str,
    fmt: str,
    *,
    purpose: str | None = None,
    audited: bool = True,
) -> Export:
    """Render the clip's annotations visible to ``actor`` in ``fmt`` (one of FORMATS).

    ``purpose`` names the consent purpose of the export (e.g. ``training-events``);
    by default the role's ordinary purpose. Appends ``annotations.export`` unless
    ``audited`` is False: then the caller audits the access its own way (the web player's
    annotation track is audited once per playback session). Raises ValidationError
    (unknown format, clip not processed), NotFound, PermissionDenied, ConsentError
    (storage).
    """
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {', '.join(FORMATS)}")
    clip = load_clip(session, actor, clip_id, purpose=purpose)
    duration = require_reviewable(clip)
    rate = parse_frame_rate(clip.frame_rate)
    slug = site_slug(session, clip.site_id)
    annotations = list_annotations(session, actor, clip.id)
    schemes = {
        sid: registry.find(sid, slug)
        for sid in sorted({a.scheme_id for a in annotations if a.scheme_id})
    }
    names = _author_names(session, clip.site_id, {a.author_id for a in annotations})
    rows = [_row(a, schemes.get(a.scheme_id or ""), names, rate) for a in annotations]
    stem = f"clip-{clip.id}-annotations"
    if fmt == "csv":
        data = to_csv(rows).encode("utf-8")
    elif fmt == "vtt":
        data = to_vtt(rows, duration).encode("utf-8")
    elif fmt == "eaf":
        data = render_eaf(
            rows,
            schemes,
            duration_ms=duration,
            frame_ms=frame_ms(rate),
            media_name=f"clip-{clip.id}.mp4",
            created=audit.clock.now(),
        )
    else:
        data = _json(session, actor, clip, rows, schemes, names, annotations).encode("utf-8")
    if audited:
        audit.append(
            session,
            actor,
            "annotations.export",
            target_type="clip",
            target_id=clip.id,
            site_id=clip.site_id,
            details={"format": fmt, "count": len(rows), "purpose": purpose},
        )
    return Export(f"{stem}.{fmt}", CONTENT_TYPES[fmt], data, len(rows))


def _row(
    annotation: Annotation, scheme: Scheme | None, names: dict[str, str], rate: Fraction
) -> ExportRow:
    codes = tuple(annotation.codes)
    end = annotation.end_ms
    return ExportRow(
        id=annotation.id,
        start_ms=annotation.start_ms,
        end_ms=end,
        start_frame=frame_at(annotation.start_ms, rate),
        end_frame=last_frame_before(end, rate) if end is not None else None,
        subject=annotation.subject,
        scheme_id=annotation.scheme_id,
        scheme_version=annotation.scheme_version,
        codes=codes,
        labels=tuple(scheme.label(c) if scheme is not None else c for c in codes),
        text=annotation.text,
        author=names.get(annotation.author_id, annotation.author_id),
        author_id=annotation.author_id,
        author_role=annotation.author_role,
        visibility=annotation.visibility,
        resolved=annotation.resolved,
        created_at=annotation.created_at.isoformat(),
        updated_at=annotation.updated_at.isoformat(),
        shapes=tuple(annotation.shapes or ()),
    )


def _author_names(session: Session, site_id: str, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = select(User.id, User.display_name).where(User.id.in_(ids), User.site_id == site_id)
    return {uid: name or uid for uid, name in session.execute(query).all()}


def _json(
    session: Session,
    actor: Actor,
    clip: Clip,
    rows: list[ExportRow],
    schemes: dict[str, Scheme | None],
    names: dict[str, str],
    annotations: list[Annotation],
) -> str:
    ids = [a.id for a in annotations]
    replies: dict[str, list[dict[str, Any]]] = {}
    if ids:
        query = (
            select(Reply)
            .where(Reply.annotation_id.in_(ids), Reply.deleted_at.is_(None))
            .order_by(Reply.created_at, Reply.id)
        )
        extra = _author_names(session, clip.site_id, {r.author_id for r in session.scalars(query)})
        for reply in session.scalars(query):
            replies.setdefault(reply.annotation_id, []).append(
                {
                    "id": reply.id,
                    "author": extra.get(
                        reply.author_id, names.get(reply.author_id, reply.author_id)
                    ),
                    "author_role": reply.author_role,
                    "text": reply.text,
                    "created_at": reply.created_at.isoformat(),
                }
            )
    links = [
        {
            "id": link.id,
            "source_id": link.source_id,
            "target_id": link.target_id,
            "relation": link.relation,
        }
        for link in links_of_clip(session, actor, clip.id)
    ]
    clip_info = {
        "id": clip.id,
        "kind": clip.kind,
        "duration_ms": clip.duration_ms,
        "frame_rate": clip.frame_rate,
    }
    used = [
        {"id": sid, "version": s.version if s else None, "title": s.title if s else sid}
        for sid, s in schemes.items()
    ]
    return to_json(clip_info, rows, used, replies, links)
