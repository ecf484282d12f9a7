"""Moments and stills chosen for a shared review with the parent, and their playlist.

A facilitator picks a few short "better than usual" moments (intervals of at most
``settings.max_moment_seconds``, at most ``settings.max_moments`` per clip) and still
frames, each with a caption or question for the parent. This module only records the
choice: a new or re-timed moment has ``status = "pending"`` and no blob; the caller then
asks the worker to cut it (``ingest.jobs.enqueue_render_moment(services, moment.id)``),
which stores an encrypted blob of the clip — so it is shredded with the clip. The
playlist is the clip's moments and stills ordered by ``position``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config import Settings
from review.access import load_clip, require_reviewable, require_unlocked
from review.errors import NotFound, ValidationError
from review.text import clean_text
from storage.audit import Actor, AuditLog
from storage.db.footage import Blob, Clip
from storage.db.review import Moment
from storage.vault import Vault

DEFAULT_QUESTION = "What is your baby telling you here?"
MAX_CAPTION = 500
#: Stills have no setting of their own; this bounds the render work one clip can cause.
MAX_STILLS = 12


def add_moment(
    session: Session,
    audit: AuditLog,
    settings: Settings,
    actor: Actor,
    clip_id: str,
    *,
    start_ms: int,
    end_ms: int,
    caption: str | None = None,
) -> Moment:
    """Choose an interval of the clip as a moment (pending render), last in the playlist.

    ``caption`` defaults to DEFAULT_QUESTION. Raises ValidationError (outside the clip,
    too long, one moment too many, bad caption), NotFound, PermissionDenied, Locked.
    """
    clip = load_clip(session, actor, clip_id, write=True, lock="exclusive")
    require_unlocked(clip)
    _check_interval(clip, start_ms, end_ms, settings.max_moment_seconds)
    if _count(session, clip.id, "moment") >= settings.max_moments:
        raise ValidationError(f"a clip can have at most {settings.max_moments} moments")
    return _add(session, audit, actor, clip, "moment", start_ms, end_ms, caption)


def add_still(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    clip_id: str,
    *,
    at_ms: int,
    caption: str | None = None,
) -> Moment:
    """Choose the frame at ``at_ms`` as a still (pending render), last in the playlist.

    Raises ValidationError (outside the clip, too many stills), NotFound,
    PermissionDenied, Locked.
    """
    clip = load_clip(session, actor, clip_id, write=True, lock="exclusive")
    require_unlocked(clip)
    duration = require_reviewable(clip)
    if not _is_int(at_ms) or not 0 <= at_ms < duration:
        raise ValidationError(f"at_ms must be a whole number from 0 to {duration - 1}")
    if _count(session, clip.id, "still") >= MAX_STILLS:
        raise ValidationError(f"a clip can have at most {MAX_STILLS} stills")
    return _add(session, audit, actor, clip, "still", at_ms, None, caption)


def update_moment(
    session: Session,
    audit: AuditLog,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    moment_id: str,
    *,
    caption: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Moment:
    """Change a moment's caption and/or times (a still's time is ``start_ms``).

    New times put it back to ``pending`` and delete the old cut, so the caller must
    enqueue a render again when the returned moment is pending. Raises ValidationError,
    NotFound, PermissionDenied, Locked.
    """
    moment, clip = _load(session, actor, moment_id)
    require_unlocked(clip)
    changed: list[str] = []
    new_caption = moment.caption if caption is None else _caption(caption)
    start = moment.start_ms if start_ms is None else start_ms
    end = moment.end_ms if end_ms is None or moment.kind == "still" else end_ms
    if moment.kind == "moment":
        assert end is not None  # a moment always has an end
        _check_interval(clip, start, end, settings.max_moment_seconds)
    elif not _is_int(start) or not 0 <= start < require_reviewable(clip):
        raise ValidationError("a still must be inside the clip")
    if new_caption != moment.caption:
        moment.caption = new_caption
        changed.append("caption")
    if (start, end) != (moment.start_ms, moment.end_ms):
        moment.start_ms, moment.end_ms = start, end
        _drop_media(session, vault, moment)
        changed.append("times")
    if not changed:
        return moment
    moment.updated_at = audit.clock.now()
    session.flush()
    _audit(session, audit, actor, "moment.update", moment, {"fields": changed})
    return moment


def reorder_moments(
    session: Session, audit: AuditLog, actor: Actor, clip_id: str, moment_ids: Sequence[str]
) -> list[Moment]:
    """Set the playlist order: ``moment_ids`` must list every moment and still once.

    Raises ValidationError (missing, extra or repeated ids), NotFound, Locked.
    """
    clip = load_clip(session, actor, clip_id, write=True, lock="exclusive")
    require_unlocked(clip)
    current = {m.id: m for m in _of_clip(session, clip.id)}
    if sorted(moment_ids) != sorted(current) or len(set(moment_ids)) != len(moment_ids):
        raise ValidationError("the new order must list each moment and still of the clip once")
    for position, moment_id in enumerate(moment_ids):
        current[moment_id].position = position
    session.flush()
    audit.append(
        session,
        actor,
        "moment.reorder",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={"order": list(moment_ids)},
    )
    return playlist(session, actor, clip.id)


def delete_moment(
    session: Session, audit: AuditLog, vault: Vault, actor: Actor, moment_id: str
) -> None:
    """Remove a moment or still and destroy its encrypted cut. Raises NotFound, Locked."""
    moment, clip = _load(session, actor, moment_id)
    require_unlocked(clip)
    _drop_media(session, vault, moment)
    _audit(session, audit, actor, "moment.delete", moment, {})
    session.delete(moment)
    session.flush()


def playlist(session: Session, actor: Actor, clip_id: str) -> list[Moment]:
    """The shared-review playlist: the clip's moments and stills in order."""
    clip = load_clip(session, actor, clip_id)
    return _of_clip(session, clip.id)


def get_moment(session: Session, actor: Actor, moment_id: str) -> Moment:
    """One moment or still of a clip the actor reviews; raises NotFound."""
    return _load(session, actor, moment_id, write=False)[0]


def as_dict(moment: Moment) -> dict[str, Any]:
    return {
        "id": moment.id,
        "clip_id": moment.clip_id,
        "kind": moment.kind,
        "start_ms": moment.start_ms,
        "end_ms": moment.end_ms,
        "caption": moment.caption,
        "position": moment.position,
        "status": moment.status,
        "blob_id": moment.blob_id,
    }


def _add(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    clip: Clip,
    kind: str,
    start_ms: int,
    end_ms: int | None,
    caption: str | None,
) -> Moment:
    last = session.scalar(select(func.max(Moment.position)).where(Moment.clip_id == clip.id))
    now = audit.clock.now()
    moment = Moment(
        clip_id=clip.id,
        site_id=clip.site_id,
        kind=kind,
        start_ms=start_ms,
        end_ms=end_ms,
        caption=DEFAULT_QUESTION if caption is None else _caption(caption),
        position=0 if last is None else last + 1,
        status="pending",
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(moment)
    session.flush()
    _audit(session, audit, actor, f"{kind}.create", moment, {})
    return moment


def _load(
    session: Session, actor: Actor, moment_id: str, write: bool = True
) -> tuple[Moment, Clip]:
    moment = session.get(Moment, moment_id) if moment_id else None
    if moment is None or (actor.site_id is not None and moment.site_id != actor.site_id):
        raise NotFound(f"no moment {moment_id}")
    return moment, load_clip(
        session, actor, moment.clip_id, write=write, lock="exclusive" if write else "none"
    )


def _of_clip(session: Session, clip_id: str) -> list[Moment]:
    query = select(Moment).where(Moment.clip_id == clip_id)
    return list(session.scalars(query.order_by(Moment.position, Moment.created_at, Moment.id)))


def _count(session: Session, clip_id: str, kind: str) -> int:
    query = select(func.count()).where(Moment.clip_id == clip_id, Moment.kind == kind)
    return int(session.scalar(query) or 0)


def _check_interval(clip: Clip, start_ms: Any, end_ms: Any, max_seconds: int) -> None:
    duration = require_reviewable(clip)
    if not (_is_int(start_ms) and _is_int(end_ms)):
        raise ValidationError("start_ms and end_ms must be whole numbers of milliseconds")
    if not 0 <= start_ms < end_ms <= duration:
        raise ValidationError(
            f"a moment must lie within the clip (0 to {duration} ms), end after start"
        )
    if end_ms - start_ms > max_seconds * 1000:
        raise ValidationError(f"a moment can be at most {max_seconds} seconds long")


def _caption(value: Any) -> str:
    caption = clean_text(value, "caption", MAX_CAPTION).strip()
    if not caption:
        raise ValidationError("a moment needs a caption or a question for the parent")
    return caption


def _drop_media(session: Session, vault: Vault, moment: Moment) -> None:
    """Forget a moment's rendered cut and destroy its encrypted blob."""
    blob = session.get(Blob, moment.blob_id) if moment.blob_id else None
    moment.blob_id = None
    moment.status = "pending"
    moment.failure_reason = None
    session.flush()
    if blob is not None:
        vault.delete_blob(session, blob)


def _audit(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    action: str,
    moment: Moment,
    details: dict[str, Any],
) -> None:
    audit.append(
        session,
        actor,
        action,
        target_type="moment",
        target_id=moment.id,
        site_id=moment.site_id,
        details={"clip_id": moment.clip_id, "kind": moment.kind, **details},
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
