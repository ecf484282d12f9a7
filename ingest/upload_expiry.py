"""Ending uploads that will never finish: termination by the client, expiry by the sweeper.

An upload expires ``ingest.upload_expiry_hours`` after its last received part (an
upload that keeps moving on a poor connection stays alive). The worker runs
:func:`expire_uploads` periodically; each abandoned arrival is discarded through the
governance destruction path (key shredded, staging parts deleted, tombstone left), so
no half upload lingers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from ingest.reception import discard_clip
from ingest.services import IngestServices
from storage.audit import Actor
from storage.db.footage import Clip, Upload
from storage.locking import lock_row

log = logging.getLogger("verp.ingest")

SWEEPER = Actor.system("upload-sweeper")


def upload_expiry(services: IngestServices) -> timedelta:
    """How long an upload may sit without receiving a part."""
    return timedelta(hours=services.settings.upload_expiry_hours)


def end_upload(
    services: IngestServices,
    actor: Actor,
    upload_id: str,
    *,
    reason: str,
    action: str,
    idle_since: datetime | None = None,
) -> bool:
    """Terminate an unfinished upload and discard its clip; False if nothing to end.

    The upload row is locked, so a PATCH finishing at the same moment either completes
    first (then nothing is ended) or finds the upload terminated (and discards its part).
    With ``idle_since``, only an upload that expired by then is ended. Audited as
    ``action`` (``upload.terminate`` or ``upload.expire``).
    """
    with services.db.session() as session:
        upload = lock_row(session, Upload, upload_id)
        if upload is None or upload.terminated or upload.completed_at is not None:
            return False
        if idle_since is not None and upload.expires_at > idle_since:
            return False  # a part arrived since the sweep looked
        upload.terminated = True
        clip_id = upload.clip_id
        services.audit.append(
            session,
            actor,
            action,
            target_type="clip",
            target_id=clip_id,
            site_id=upload.site_id,
            details={"upload_id": upload.id, "offset": upload.offset, "length": upload.length},
        )
    discard_clip(services, clip_id, actor=actor, reason=reason)
    return True


def expire_uploads(services: IngestServices) -> int:
    """Destroy abandoned arrivals; returns how many uploads and clips were ended.

    Abandoned: an unfinished upload past ``expires_at``, or a clip still ``receiving``
    with no live upload for longer than the expiry period (its upload never started,
    or ``verp ingest`` was killed). Each is ended on its own, so one failure does not
    stop the sweep (it is logged and retried next time).
    """
    now = services.clock.now()
    with services.db.session() as session:
        upload_ids = list(
            session.scalars(
                select(Upload.id).where(
                    Upload.completed_at.is_(None),
                    Upload.terminated.is_(False),
                    Upload.expires_at <= now,
                )
            )
        )
    ended = 0
    for upload_id in upload_ids:
        try:
            ended += end_upload(
                services,
                SWEEPER,
                upload_id,
                reason="upload-abandoned",
                action="upload.expire",
                idle_since=now,
            )
        except Exception:
            log.exception("could not expire upload %s; next sweep retries", upload_id)
    return ended + _expire_idle_clips(services, now - upload_expiry(services))


def _expire_idle_clips(services: IngestServices, cutoff: datetime) -> int:
    live_upload = (
        select(Upload.id).where(Upload.clip_id == Clip.id, Upload.terminated.is_(False)).exists()
    )
    with services.db.session() as session:
        clip_ids = list(
            session.scalars(
                select(Clip.id).where(
                    Clip.status == "receiving",
                    Clip.destroy_requested_at.is_(None),
                    Clip.updated_at <= cutoff,
                    ~live_upload,
                )
            )
        )
    ended = 0
    for clip_id in clip_ids:
        try:
            # idle_only: under the clip's lock, skip it if an upload began since we looked.
            ended += discard_clip(
                services, clip_id, actor=SWEEPER, reason="upload-abandoned", idle_only=True
            )
        except Exception:
            log.exception("could not discard idle clip %s; next sweep retries", clip_id)
    return ended
