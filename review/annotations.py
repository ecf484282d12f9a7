"""Annotations: a point or interval on a clip's timeline, a subject, codes and a note.

Times are whole milliseconds on the rendition's timeline (``start_ms`` alone is a
point; ``end_ms`` is exclusive). Codes come from one coding scheme; the annotation
records that scheme's id and version. Every edit stores the previous state as an
AnnotationRevision and bumps ``revision``; creates, edits and deletes are audited
(ids only, never the text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.access import (
    confirm_unlocked,
    load_annotation,
    load_clip,
    require_reviewable,
    require_unlocked,
    site_slug,
)
from review.errors import Conflict, PermissionDenied, ValidationError
from review.shapes import clean_shapes
from review.taxonomy import Scheme, TaxonomyRegistry
from review.text import clean_text
from review.timeline import frame_at, last_frame_before, parse_frame_rate
from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.review import SUBJECTS, Annotation, AnnotationRevision

VISIBILITIES = ("draft", "shared")
EDITABLE = ("start_ms", "end_ms", "subject", "scheme_id", "codes", "text", "visibility", "shapes")
MAX_TEXT = 10_000
MAX_CODES = 50


def create_annotation(
    session: Session,
    audit: AuditLog,
    registry: TaxonomyRegistry,
    actor: Actor,
    clip_id: str,
    *,
    start_ms: int,
    end_ms: int | None = None,
    subject: str,
    codes: Sequence[str] = (),
    scheme_id: str | None = None,
    text: str = "",
    visibility: str = "shared",
    shapes: Any = None,
) -> Annotation:
    """Add an annotation to a clip the actor reviews (``shapes``: see review.shapes).

    Raises ValidationError (times outside the clip, end not after start, unknown subject,
    scheme or code, retired code, no codes and no text...), PermissionDenied, NotFound,
    Locked (signed-off review), ConsentError (storage) — and then stores nothing.
    """
    clip = load_clip(session, actor, clip_id, write=True)
    require_unlocked(clip)
    values = _validate(
        session,
        registry,
        clip,
        {
            "start_ms": start_ms,
            "end_ms": end_ms,
            "subject": subject,
            "scheme_id": scheme_id,
            "codes": codes,
            "text": text,
            "visibility": visibility,
            "shapes": shapes,
        },
        previous=None,
    )
    now = audit.clock.now()
    annotation = Annotation(
        clip_id=clip.id,
        site_id=clip.site_id,
        author_id=actor.id,
        author_role=actor.role,
        created_at=now,
        updated_at=now,
        revision=1,
        **values,
    )
    session.add(annotation)
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.create",
        target_type="annotation",
        target_id=annotation.id,
        site_id=clip.site_id,
        details={"clip_id": clip.id, "visibility": annotation.visibility},
    )
    return annotation


def update_annotation(
    session: Session,
    audit: AuditLog,
    registry: TaxonomyRegistry,
    actor: Actor,
    annotation_id: str,
    changes: Mapping[str, Any],
    *,
    expected_revision: int | None = None,
) -> Annotation:
    """Change some of EDITABLE on the actor's own annotation, keeping the old state.

    ``expected_revision`` (the revision the caller displayed) turns a concurrent edit
    into Conflict instead of a silent overwrite. Codes already on the annotation may
    stay even if their code was retired since; newly added codes must be active.
    Raises ValidationError (unknown field, bad value), PermissionDenied (not the author),
    NotFound, Locked, Conflict; nothing changes when it raises.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"cannot change {', '.join(unknown)}; editable: {EDITABLE}")
    annotation, clip = load_annotation(session, actor, annotation_id, write=True)
    if annotation.author_id != actor.id:
        raise PermissionDenied("only the author can edit an annotation")
    require_unlocked(clip)
    if expected_revision is not None and expected_revision != annotation.revision:
        raise Conflict("this annotation was changed meanwhile; reload it and try again")
    merged = {name: getattr(annotation, name) for name in EDITABLE}
    merged.update(changes)
    values = _validate(session, registry, clip, merged, previous=annotation)
    changed = [
        name for name in (*EDITABLE, "scheme_version") if values[name] != getattr(annotation, name)
    ]
    if not changed:
        return annotation
    now = audit.clock.now()
    session.add(
        AnnotationRevision(
            annotation_id=annotation.id,
            site_id=annotation.site_id,
            edited_by=actor.id,
            edited_at=now,
            snapshot=snapshot(annotation),
        )
    )
    for name, value in values.items():
        setattr(annotation, name, value)
    annotation.revision += 1
    annotation.updated_at = now
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.update",
        target_type="annotation",
        target_id=annotation.id,
        site_id=annotation.site_id,
        details={"clip_id": clip.id, "fields": changed, "revision": annotation.revision},
    )
    return annotation


def delete_annotation(session: Session, audit: AuditLog, actor: Actor, annotation_id: str) -> None:
    """Delete the actor's own annotation (kept as deleted, with its history, until the
    clip is destroyed). Raises PermissionDenied, NotFound, Locked."""
    annotation, clip = load_annotation(session, actor, annotation_id, write=True)
    if annotation.author_id != actor.id:
        raise PermissionDenied("only the author can delete an annotation")
    require_unlocked(clip)
    annotation.deleted_at = audit.clock.now()
    session.flush()
    confirm_unlocked(session, clip.id)  # before the audit: see review.access
    audit.append(
        session,
        actor,
        "annotation.delete",
        target_type="annotation",
        target_id=annotation.id,
        site_id=annotation.site_id,
        details={"clip_id": clip.id},
    )


def get_annotation(session: Session, actor: Actor, annotation_id: str) -> Annotation:
    """One annotation the actor may see; raises NotFound otherwise."""
    return load_annotation(session, actor, annotation_id)[0]


def list_annotations(
    session: Session,
    actor: Actor,
    clip_id: str,
    *,
    subject: str | None = None,
    author_id: str | None = None,
) -> list[Annotation]:
    """The clip's annotations the actor may see, in timeline order.

    Raises NotFound / PermissionDenied as :func:`review.access.load_clip`.
    """
    clip = load_clip(session, actor, clip_id)
    query = select(Annotation).where(
        Annotation.clip_id == clip.id,
        Annotation.site_id == clip.site_id,
        Annotation.deleted_at.is_(None),
    )
    if actor.role == "system":
        query = query.where(Annotation.visibility == "shared")
    else:
        query = query.where(
            (Annotation.visibility == "shared") | (Annotation.author_id == actor.id)
        )
    if subject is not None:
        query = query.where(Annotation.subject == subject)
    if author_id is not None:
        query = query.where(Annotation.author_id == author_id)
    order = (Annotation.start_ms, Annotation.end_ms, Annotation.created_at, Annotation.id)
    return list(session.scalars(query.order_by(*order)))


def annotation_views(
    session: Session, registry: TaxonomyRegistry, actor: Actor, clip_id: str
) -> list[dict[str, Any]]:
    """:func:`list_annotations` as plain dicts (see :func:`as_dict`) for the player."""
    clip = load_clip(session, actor, clip_id)
    slug = site_slug(session, clip.site_id)
    rate = parse_frame_rate(clip.frame_rate) if clip.frame_rate else None
    return [
        as_dict(a, registry.find(a.scheme_id, slug) if a.scheme_id else None, rate)
        for a in list_annotations(session, actor, clip.id)
    ]


def annotation_history(
    session: Session, actor: Actor, annotation_id: str
) -> list[AnnotationRevision]:
    """Earlier states of an annotation the actor may see, oldest first."""
    annotation = get_annotation(session, actor, annotation_id)
    query = select(AnnotationRevision).where(AnnotationRevision.annotation_id == annotation.id)
    return list(
        session.scalars(query.order_by(AnnotationRevision.edited_at, AnnotationRevision.id))
    )


def snapshot(annotation: Annotation) -> dict[str, Any]:
    """The editable state of an annotation as plain JSON values."""
    state: dict[str, Any] = {name: getattr(annotation, name) for name in EDITABLE}
    state["codes"] = list(annotation.codes)
    state["shapes"] = list(annotation.shapes or [])
    state["scheme_version"] = annotation.scheme_version
    state["revision"] = annotation.revision
    state["updated_at"] = annotation.updated_at.isoformat()
    return state


def as_dict(annotation: Annotation, scheme: Scheme | None, rate: Fraction | None) -> dict[str, Any]:
    """An annotation as plain values for JSON, with code labels/colours and frame numbers."""
    codes = []
    for code_id in annotation.codes:
        code = scheme.code(code_id) if scheme is not None else None
        codes.append(
            {
                "id": code_id,
                "label": code.label if code else code_id,
                "colour": code.colour if code else None,
                "retired": code.retired if code else None,
            }
        )
    end = annotation.end_ms
    return {
        "id": annotation.id,
        "clip_id": annotation.clip_id,
        "start_ms": annotation.start_ms,
        "end_ms": end,
        "start_frame": frame_at(annotation.start_ms, rate) if rate else None,
        "end_frame": last_frame_before(end, rate) if rate and end is not None else None,
        "subject": annotation.subject,
        "scheme_id": annotation.scheme_id,
        "scheme_version": annotation.scheme_version,
        "codes": codes,
        "text": annotation.text,
        "shapes": list(annotation.shapes or []),
        "visibility": annotation.visibility,
        "resolved": annotation.resolved,
        "author_id": annotation.author_id,
        "author_role": annotation.author_role,
        "revision": annotation.revision,
        "created_at": annotation.created_at.isoformat(),
        "updated_at": annotation.updated_at.isoformat(),
    }


def _validate(
    session: Session,
    registry: TaxonomyRegistry,
    clip: Clip,
    fields: Mapping[str, Any],
    *,
    previous: Annotation | None,
) -> dict[str, Any]:
    """Check every field against the clip and the site's schemes; return clean values."""
    duration = require_reviewable(clip)
    start, end = fields["start_ms"], fields["end_ms"]
    if not _is_int(start) or start < 0 or start >= duration:
        raise ValidationError(f"start_ms must be a whole number from 0 to {duration - 1}")
    if end is not None and (not _is_int(end) or end <= start or end > duration):
        raise ValidationError(f"end_ms must be after start_ms and at most {duration}")
    subject = fields["subject"]
    if subject not in SUBJECTS:
        raise ValidationError(f"subject must be one of {', '.join(SUBJECTS)}")
    visibility = fields["visibility"]
    if visibility not in VISIBILITIES:
        raise ValidationError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    text = clean_text(fields["text"], "text", MAX_TEXT)
    shapes = clean_shapes(fields.get("shapes"))
    codes = _codes(fields["codes"])
    scheme_id = fields["scheme_id"]
    version = previous.scheme_version if previous is not None else None
    coding_changed = previous is None or (
        scheme_id != previous.scheme_id
        or codes != list(previous.codes)
        or subject != previous.subject
    )
    if scheme_id is None:
        if codes:
            raise ValidationError("codes need a scheme_id (the coding scheme they come from)")
        version = None
    elif coding_changed:
        scheme = (
            registry.find(scheme_id, site_slug(session, clip.site_id))
            if isinstance(scheme_id, str)
            else None
        )
        if scheme is None:
            raise ValidationError(f"unknown coding scheme {scheme_id!r}")
        if not scheme.applies(clip.kind, subject):
            raise ValidationError(
                f"scheme {scheme.id!r} is not used for {subject} on {clip.kind} footage"
            )
        kept = (
            set(previous.codes)
            if previous is not None and previous.scheme_id == scheme_id
            else set()
        )
        _check_codes(scheme, codes, kept)
        if previous is None or codes != list(previous.codes) or scheme_id != previous.scheme_id:
            version = scheme.version
    if not codes and not text.strip() and not shapes:
        raise ValidationError("an annotation needs at least one code, some text or a drawing")
    return {
        "start_ms": start,
        "end_ms": end,
        "subject": subject,
        "scheme_id": scheme_id,
        "scheme_version": version,
        "codes": codes,
        "text": text,
        "visibility": visibility,
        "shapes": shapes,
    }


def _check_codes(scheme: Scheme, codes: Iterable[str], kept: set[str]) -> None:
    for code_id in codes:
        code = scheme.code(code_id)
        if code is None:
            raise ValidationError(f"{code_id!r} is not a code of scheme {scheme.id!r}")
        if code.retired and code_id not in kept:
            raise ValidationError(f"code {code_id!r} is retired in version {scheme.version}")


def _codes(value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError("codes must be a list of code ids")
    codes: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError("codes must be a list of code ids")
        if item not in codes:  # a cluster lists each cue once
            codes.append(item)
    if len(codes) > MAX_CODES:
        raise ValidationError(f"at most {MAX_CODES} codes per annotation")
    return codes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
