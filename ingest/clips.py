"""Clip records: registering a clip under a consent, finding clips, exporting a rendition.

A clip is registered before any byte of footage arrives: the row (status ``receiving``),
its wrapped data key and its ``delete_after`` exist first, so the first uploaded byte can
be encrypted under the clip's own key. Every lookup is scoped by site; a clip of another
site is reported as not found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from storage.audit import Actor, AuditLog
from storage.db.footage import KINDS, Blob, Clip, Consent
from storage.db.tenancy import Site, User
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import Placement, record_present_families, resolve_placement
from storage.purposes import default_purpose, require_clip_purpose
from storage.retention import compute_delete_after, recompute_clip
from storage.vault import Vault

STAGING_PREFIX = "staging-"
#: Roles that may upload footage; DPOs audit and never add footage.
UPLOAD_ROLES = ("facilitator", "supervisor")
#: Roles that may take decrypted footage out of the system. System actors (the CLI,
#: run by an operator who holds the key files) may too.
EXPORT_ROLES = ("facilitator", "supervisor")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def staging_rendition(index: int) -> str:
    """The rendition name of the ``index``-th part of an uploaded source file."""
    return f"{STAGING_PREFIX}{index:06d}"


def require_upload_role(actor: Actor) -> None:
    """Raise PermissionDenied unless ``actor`` may upload footage."""
    if actor.role != "system" and actor.role not in UPLOAD_ROLES:
        raise PermissionDenied(f"role {actor.role!r} may not upload footage")


def register_clip(
    session: Session,
    vault: Vault,
    audit: AuditLog,
    settings: Settings,
    *,
    actor: Actor,
    site: Site,
    kind: str,
    consent: Consent,
    uploaded_by: str | None,
    title: str = "",
    trainee_id: str | None = None,
    placement: Placement | None = None,
    training_block: int | None = None,
) -> Clip:
    """Create a clip (status ``receiving``), its data key and ``delete_after``.

    ``placement`` says where the clip belongs in the programme (group, and family or
    group session with the families present; storage/programme/placement.py); without
    one the clip goes to its consent's enrolled family's group, else to the site's
    "unassigned" group. ``training_block`` (1-3) marks a trainee's footage reviewed in
    that block. Audited as ``clip.register``; runs in the caller's unit of work. Raises
    PermissionDenied for a role that may not upload, NotFound for a group, family or
    session not at the site, ValidationError for an unknown kind, a consent of another
    site or without an active purpose, a bad title, a trainee who is not a user of the
    site, a training block without a trainee, or a placement that breaks the rules.
    """
    require_upload_role(actor)
    if actor.site_id is not None and actor.site_id != site.id:
        raise PermissionDenied("footage can only be uploaded to your own site")
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if consent.site_id != site.id:
        raise ValidationError("the consent belongs to another site")
    if not consent.active_purposes:
        raise ValidationError("the consent covers no purpose (it was withdrawn)")
    title = _title(title)
    if trainee_id is not None:
        trainee = session.get(User, trainee_id)
        if trainee is None or trainee.site_id != site.id:
            raise ValidationError("the trainee is not a user of this site")
    if training_block is not None and (trainee_id is None or training_block not in (1, 2, 3)):
        raise ValidationError("a training block (1-3) is given for a trainee's footage only")
    where = resolve_placement(session, site.id, consent, kind, placement)
    now = audit.clock.now()
    clip = Clip(
        site_id=site.id,
        consent_id=consent.id,
        kind=kind,
        family_code=consent.family_code,
        group_id=where.group.id,
        family_id=where.family.id if where.family is not None else None,
        session_id=where.meeting.id if where.meeting is not None else None,
        training_block=training_block,
        title=title,
        uploaded_by=uploaded_by,
        trainee_id=trainee_id,
        status="receiving",
        stage="receiving",
        progress=0,
        created_at=now,
        updated_at=now,
        delete_after=compute_delete_after(
            settings.retention,
            site_slug=site.slug,
            kind=kind,
            created_at=now,
            purposes=consent.active_purposes,
            programme_end=None if where.group.unassigned else where.group.programme_end,
        ),
    )
    session.add(clip)
    session.flush()
    if where.meeting is not None:
        record_present_families(session, clip, where.present)
        recompute_clip(session, settings.retention, clip, site.slug)
    vault.create_key(session, site.id, clip.id)
    audit.append(
        session,
        actor,
        "clip.register",
        target_type="clip",
        target_id=clip.id,
        site_id=site.id,
        details={
            "kind": kind,
            "consent_id": consent.id,
            "group_id": clip.group_id,
            "family_id": clip.family_id,
            "session_id": clip.session_id,
            "families_present": list(where.present),
        },
    )
    return clip


def list_clips(
    session: Session, site_id: str | None, *, status: str | None = None, limit: int = 500
) -> list[Clip]:
    """Clips of ``site_id``, newest first (destroyed ones excluded unless asked for).

    ``site_id=None`` lists every site: only for operator tools (the CLI), never for a
    web request.
    """
    query = select(Clip).order_by(Clip.created_at.desc(), Clip.id).limit(limit)
    if site_id is not None:
        query = query.where(Clip.site_id == site_id)
    if status is not None:
        query = query.where(Clip.status == status)
    else:
        query = query.where(Clip.status != "destroyed")
    return list(session.scalars(query))


def get_clip(session: Session, site_id: str | None, clip_id: str) -> Clip:
    """The clip ``clip_id`` of ``site_id``; raises NotFound for another site's or none.

    ``site_id=None`` looks across sites: only for operator tools (the CLI).
    """
    clip = session.get(Clip, clip_id)
    if clip is None or (site_id is not None and clip.site_id != site_id):
        raise NotFound(f"no clip {clip_id}")
    return clip


def clip_summary(session: Session, clip: Clip) -> dict[str, Any]:
    """Status, stage, progress, media facts, retention and failure reason of a clip."""
    site = session.get(Site, clip.site_id)
    renditions = sorted(
        {b.rendition for b in _blobs(session, clip.id) if not is_staging(b.rendition)}
    )
    return {
        "id": clip.id,
        "site": site.slug if site is not None else clip.site_id,
        "kind": clip.kind,
        "family": clip.family_code,
        "title": clip.title,
        "status": clip.status,
        "stage": clip.stage,
        "progress": clip.progress,
        "failure_reason": clip.failure_reason,
        "consent_id": clip.consent_id,
        "created_at": clip.created_at.isoformat(),
        "delete_after": clip.delete_after.isoformat() if clip.delete_after else None,
        "media": {
            "duration_ms": clip.duration_ms,
            "width": clip.width,
            "height": clip.height,
            "frame_rate": clip.frame_rate,
            "video_codec": clip.video_codec,
            "audio_codec": clip.audio_codec,
            "source_size": clip.source_size,
        },
        "renditions": renditions,
    }


def is_staging(rendition: str) -> bool:
    """True for the encrypted parts of the uploaded source (not a processed rendition)."""
    return rendition.startswith(STAGING_PREFIX)


def export_rendition(
    session: Session,
    vault: Vault,
    audit: AuditLog,
    actor: Actor,
    clip: Clip,
    rendition: str,
    write: Callable[[bytes], object],
    purpose: str | None = None,
) -> int:
    """Decrypt ``rendition`` of a ready clip into ``write``; audited as ``clip.export``.

    The clip's consent must cover ``purpose`` (for a user, default: the purpose of their
    ordinary use of the clip; for a system actor, only checked when given). The audit
    entry is appended in the caller's unit of work, so an export is recorded exactly
    when the caller commits it. Staging parts (the original upload, with the device's
    metadata) are never exported. Returns the bytes written. Raises PermissionDenied for
    a role that does not take footage out (dpo, admin), ConsentError when the consent
    does not cover the purpose, NotFound for a clip of another site, not ready, or
    without that rendition.
    """
    if actor.role != "system" and actor.role not in EXPORT_ROLES:
        raise PermissionDenied(f"role {actor.role!r} may not export footage")
    if actor.site_id is not None and actor.site_id != clip.site_id:
        raise NotFound(f"no clip {clip.id}")
    if is_staging(rendition):
        raise ValidationError("the original upload is not exportable; export a rendition")
    if clip.status != "ready" or clip.destroy_requested_at is not None:
        raise NotFound(f"clip {clip.id} is not ready (status {clip.status})")
    if purpose is None and actor.role != "system":
        purpose = default_purpose(clip.kind, actor.role)
    if purpose is not None:
        require_clip_purpose(session, clip, purpose)
    blob = _latest(session, clip.id, rendition)
    if blob is None:
        raise NotFound(f"clip {clip.id} has no {rendition!r} rendition")
    audit.append(
        session,
        actor,
        "clip.export",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={
            "rendition": rendition,
            "blob_id": blob.id,
            "bytes": blob.plaintext_size,
            "purpose": purpose,
        },
    )
    written = 0
    for chunk in vault.iter_plaintext(session, blob):
        write(chunk)
        written += len(chunk)
    return written


def _latest(session: Session, clip_id: str, rendition: str) -> Blob | None:
    query = (
        select(Blob)
        .where(Blob.clip_id == clip_id, Blob.rendition == rendition)
        .order_by(Blob.created_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def _blobs(session: Session, clip_id: str) -> list[Blob]:
    return list(session.scalars(select(Blob).where(Blob.clip_id == clip_id)))


def _title(title: str) -> str:
    title = title.strip()
    if len(title) > 200 or _CONTROL.search(title):
        raise ValidationError("title must be one line of at most 200 characters")
    return title
