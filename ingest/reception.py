"""Arrival of a clip's source bytes, shared by ``verp ingest`` and the tus endpoint.

Staging convention (the processing pipeline relies on it): the uploaded file is stored
as one or more encrypted blobs of the clip named ``staging-000000``,
``staging-000001``, ... whose plaintexts, concatenated in index order, are the file.
Bytes are encrypted as they arrive, so a staging blob is ciphertext from byte 0.

A clip whose bytes never finish arriving is *discarded* through the governance
destruction path, so no half upload lingers and a DPO still sees what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.clips import UPLOAD_ROLES, register_clip, staging_rendition
from ingest.services import IngestServices
from storage.accounts import site_by_slug
from storage.audit import Actor, AuditLog
from storage.consent import ConsentInput, record_consent
from storage.db.footage import Blob, Clip, Upload
from storage.db.tenancy import User
from storage.destruction import Destroyer, request_destruction
from storage.errors import NotFound, ValidationError
from storage.locking import lock_clip
from storage.programme import placement_from_codes

log = logging.getLogger("verp.ingest")

READ_SIZE = 1024 * 1024


def stage_stream(
    services: IngestServices,
    clip: Clip,
    index: int,
    source: BinaryIO,
    on_progress: Callable[[int], None] | None = None,
) -> Blob:
    """Encrypt everything ``source`` yields into staging part ``index`` of ``clip``.

    Runs its own unit of work, and holds no write lock while it reads: the blob row is
    added only when the whole part is in the store. Memory stays at a few segments.
    Raises whatever the source or the store raise; the part is then discarded.
    """
    with services.db.session() as session:
        writer = services.vault.writer(
            session, clip.site_id, clip.id, staging_rendition(index), "application/octet-stream"
        )
        # End the read transaction: reading a large file can take minutes.
        session.commit()
        try:
            while chunk := source.read(READ_SIZE):
                writer.write(chunk)
                if on_progress is not None:
                    on_progress(len(chunk))
        except BaseException:
            writer.abort()
            raise
        return writer.commit()


def mark_received(
    session: Session, audit: AuditLog, actor: Actor, clip: Clip, size: int, parts: int
) -> None:
    """Every byte of ``clip`` is staged: queue it for processing (``clip.received``)."""
    clip.status = "queued"
    clip.stage = "queued"
    clip.progress = 0
    clip.source_size = size
    clip.updated_at = audit.clock.now()
    audit.append(
        session,
        actor,
        "clip.received",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={"bytes": size, "parts": parts},
    )
    session.flush()


def discard_clip(
    services: IngestServices, clip_id: str, *, actor: Actor, reason: str, idle_only: bool = False
) -> bool:
    """Destroy a clip whose footage never fully arrived; returns False if it had arrived
    (or, with ``idle_only``, if an upload for it has been started).

    ``reason`` is ``upload-abandoned`` or ``upload-terminated``. Uses the governance
    destruction path (storage.destruction): the key is crypto-shredded, the staging
    blobs and the upload rows deleted, and a tombstone records that the consent was
    taken but the footage was destroyed. Each step commits on its own; if the store
    fails part-way the clip stays marked and the retention sweep finishes the job.
    """
    with services.db.session() as session:
        clip = lock_clip(session, clip_id)
        if clip is None or clip.status != "receiving":
            return False
        if idle_only and _has_live_upload(session, clip_id):
            return False
        request_destruction(session, services.audit, actor, clip, reason)
    outcome = Destroyer(services.db, services.vault, services.audit).destroy(clip_id, actor)
    if not outcome.destroyed:
        log.warning(
            "clip %s: discard unfinished (%s); the sweep will retry", clip_id, outcome.error
        )
    return True


def _has_live_upload(session: Session, clip_id: str) -> bool:
    query = select(Upload.id).where(Upload.clip_id == clip_id, Upload.terminated.is_(False))
    return session.scalar(query.limit(1)) is not None


def check_size(size: int, services: IngestServices) -> None:
    """Refuse an empty file or one over the configured size cap (ValidationError)."""
    cap = services.settings.max_upload_bytes
    if size <= 0:
        raise ValidationError("the file is empty")
    if size > cap:
        raise ValidationError(
            f"the file is {_mib(size)} MiB; the largest accepted upload is {_mib(cap)} MiB"
        )


def receive_file(
    services: IngestServices,
    actor: Actor,
    path: Path,
    *,
    site_slug: str,
    kind: str,
    consent: ConsentInput,
    title: str = "",
    trainee_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    group: str | None = None,
    family: str | None = None,
    meeting: str | None = None,
    present: Sequence[str] = (),
    uploaded_by: str | None = None,
) -> str:
    """Register a clip under ``consent`` and stage the file at ``path``; returns its id.

    Everything that can be checked is checked before anything is stored (site, kind,
    consent, file readable, size cap). The clip ends ``queued`` (not yet handed to a
    worker: see :func:`ingest.jobs.enqueue_process`). If staging fails or is interrupted
    the clip is discarded and the error re-raised. ``group``, ``family``, ``meeting``
    (``antenatal:N``/``postnatal:N``) and ``present`` (family codes) place the clip in the
    programme (storage/programme/placement.py); ``uploaded_by`` (an email) names the
    practitioner an operator ingests for. Raises NotFound for an unknown site, group,
    family or uploader, ValidationError for a bad file, kind, title, trainee or placement.
    """
    try:
        size = path.stat().st_size
        source = path.open("rb")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    with source:
        if not path.is_file():
            raise ValidationError(f"{path} is not a regular file")
        check_size(size, services)
        with services.db.session() as session:
            site = site_by_slug(session, site_slug)
            where = placement_from_codes(
                session, site.id, group=group, family=family, meeting=meeting, present=present
            )
            owner = _uploader(session, site.id, uploaded_by) if uploaded_by else None
            row = record_consent(session, services.audit, actor, site.id, consent)
            clip = register_clip(
                session,
                services.vault,
                services.audit,
                services.settings,
                actor=actor,
                site=site,
                kind=kind,
                consent=row,
                uploaded_by=owner or (None if actor.role == "system" else actor.id),
                title=title,
                trainee_id=trainee_id,
                placement=where,
            )
        try:
            blob = stage_stream(services, clip, 0, source, on_progress)
            with services.db.session() as session:
                live = session.get(Clip, clip.id)
                assert live is not None
                mark_received(session, services.audit, actor, live, blob.plaintext_size, 1)
        except BaseException:
            log.warning("ingest of clip %s interrupted; discarding it", clip.id)
            discard_clip(services, clip.id, actor=actor, reason="upload-abandoned")
            raise
    return clip.id


def _uploader(session: Session, site_id: str, email: str) -> str:
    """The id of the active practitioner ``email`` at the site; NotFound otherwise."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.site_id != site_id or not user.active:
        raise NotFound(f"no active user {email!r} at this site")
    if user.role not in UPLOAD_ROLES:
        raise ValidationError(f"{email} is a {user.role}; footage is uploaded for practitioners")
    return user.id


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"
