"""Process one uploaded clip: staging blobs in, encrypted renditions out.

Stages, recorded on the clip row as they happen (``stage`` and the overall
``progress`` 0-100, committed as it goes) so the uploader can watch::

    decrypting (0-10) → checking (10-12) → transcoding (12-88) → thumbnails (88-95)
    → encrypting (95-99) → ready (100)

Renditions (encrypted blobs of the clip; see ingest.outcomes.CONTENT_TYPES):

* ``playback``   video/mp4 — H.264/AAC, constant frame rate, no metadata, +faststart
* ``poster``     image/jpeg
* ``sprite``     image/jpeg — the thumbnail grid (from the rendition's keyframes,
  ingest.keyframes, when the interval is at least the keyframe distance)
* ``thumbnails`` text/vtt — cues point at :data:`SPRITE_URL` ``#xywh=x,y,w,h``, a URL
  *relative to the VTT's own URL*: the web app serves both from one directory, e.g.
  ``/clips/<id>/media/thumbnails.vtt`` and ``/clips/<id>/media/sprite.jpg``.

Plaintext exists only inside the job's 0700 workspace (ingest.workspace) and is gone
when this returns or raises. One worker at a time holds a clip (ingest.claims).
Outcomes (ingest.outcomes):

* success → ``ready``; renditions, media facts and status commit together, then the
  staging blobs are deleted;
* a refused upload (MediaRejected) → destroyed through the governance path (key
  shredded, every blob deleted, tombstone ``upload-refused``), keeping the
  facilitator-facing reason on the clip;
* a permanent fault that is not the upload's (the converter failed, ciphertext did not
  authenticate) → ``failed`` with a reason; the encrypted source stays, so an operator
  can retry (``ingest.jobs.retry_clip``) after a fix;
* anything else is temporary: the clip goes back to ``queued`` and
  :class:`TransientFailure` is raised for the queue to retry; after the last retry the
  queue calls :func:`give_up`. A clip claimed more than ``queue.retries + 1`` times
  (e.g. a file that crashes the worker every time) is given up as well.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import claims, keyframes, outcomes, workspace
from ingest.claims import Claim, ClaimLost
from ingest.clips import STAGING_PREFIX, is_staging
from ingest.errors import (
    IngestError,
    MediaRejected,
    RejectCategory,
    ThumbnailError,
    TranscodeError,
)
from ingest.probe import Caps, probe
from ingest.services import IngestServices
from ingest.thumbnails import Thumbnails, render_thumbnails, webvtt
from ingest.transcode import output_frame_rate, transcode
from storage.db.footage import Blob, Clip
from storage.errors import DecryptionError, KeyNotFound, loggable_cause

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int], None]

SPRITE_URL = "sprite.jpg"
#: Overall progress range of each stage.
STAGES: dict[str, tuple[int, int]] = {
    "decrypting": (0, 10),
    "checking": (10, 12),
    "transcoding": (12, 88),
    "thumbnails": (88, 95),
    "encrypting": (95, 99),
}
#: Seconds between progress writes within a stage (stage changes are written at once).
PROGRESS_WRITE_INTERVAL = 1.0

REASON_CONVERT = (
    "The video could not be converted for playback. The upload is kept safely; "
    "please tell your administrator, who can retry it."
)
REASON_UNREADABLE = (
    "The uploaded file could not be read back from secure storage. Please upload it again."
)
REASON_GAVE_UP = (
    "Processing stopped after several attempts because of a problem on the server. "
    "The upload is kept safely; please tell your administrator, who can retry it."
)


class TransientFailure(IngestError):
    """Processing hit a temporary problem; the clip is queued again for a retry."""


def caps_from(services: IngestServices) -> Caps:
    """The probe's limits, from settings."""
    s = services.settings
    return Caps(
        max_bytes=s.max_upload_bytes,
        max_duration_s=s.max_duration_seconds,
        max_width=s.max_width,
        max_height=s.max_height,
        max_streams=s.max_streams,
        max_frame_gap_s=s.max_frame_gap_seconds,
        max_interval_ratio=s.max_frame_interval_ratio,
    )


def max_attempts(services: IngestServices) -> int:
    """How many times a clip may be claimed before it is given up."""
    return services.settings.queue_retries + 1


def process_clip(
    services: IngestServices, clip_id: str, *, progress: ProgressCallback | None = None
) -> None:
    """Turn the staging blobs of a queued clip into encrypted renditions (idempotent).

    A ready clip is left as it is (only leftover staging blobs are removed); a clip held
    by another live worker, failed or destroyed is skipped; a half-done one starts over.
    ``progress(stage, percent)`` is called whenever the progress moves.

    Raises:
        TransientFailure: a temporary problem (storage, database, ffmpeg killed...);
            the clip is queued again. ClaimLost: another worker took the clip over.
    """
    claim = claims.take(services, clip_id)
    if claim is None:
        finish_leftovers(services, clip_id)
        return
    if claim.attempt > max_attempts(services):
        outcomes.fail(services, claim, "gave-up", REASON_GAVE_UP)
        return
    reporter = _Reporter(services, claim, progress)
    try:
        with (
            claims.heartbeat(services, claim),
            workspace.job_workspace(services.settings.workspace_dir, "clip") as ws,
        ):
            _run(services, claim, ws, reporter)
    except ClaimLost:
        log.info("clip %s: claim lost to another worker; stopping", clip_id)
        raise
    except MediaRejected as exc:
        log.info("clip %s: upload refused (%s)", clip_id, exc.category.value)
        outcomes.refuse(services, claim, exc)
        return
    except (DecryptionError, KeyNotFound) as exc:
        log.warning("clip %s: source unreadable (%s)", clip_id, type(exc).__name__)
        outcomes.fail(services, claim, "unreadable", REASON_UNREADABLE)
        return
    except (TranscodeError, ThumbnailError) as exc:
        if not (isinstance(exc, TranscodeError) and exc.transient):
            log.warning("clip %s: conversion failed (%s)", clip_id, type(exc).__name__)
            outcomes.fail(services, claim, "convert", REASON_CONVERT)
            return
        outcomes.defer(services, claim)
        raise TransientFailure(f"clip {clip_id}: {type(exc).__name__}") from exc
    except Exception as exc:
        # Storage, KMS, database, disk: worth another try; never leave the clip claimed.
        log.warning("clip %s: temporary failure (%s)", clip_id, type(exc).__name__)
        outcomes.defer(services, claim)
        cause = loggable_cause(exc)  # the queue logs this with a traceback
        raise TransientFailure(f"clip {clip_id}: {type(exc).__name__}") from cause
    outcomes.delete_blobs(services, clip_id, staging_only=True)


def give_up(services: IngestServices, clip_id: str) -> bool:
    """Mark a clip whose retries are used up as failed, unless a worker holds it now.

    Returns whether the clip was marked.
    """
    now = services.clock.now()
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.status not in claims.CLAIMABLE or clip.claimed_by is not None:
            return False
        clip.status, clip.failure_reason, clip.updated_at = "failed", REASON_GAVE_UP, now
        outcomes.audit_failed(services, session, clip.site_id, clip_id, "gave-up")
    return True


def finish_leftovers(services: IngestServices, clip_id: str) -> None:
    """Finish the cleanup a crashed worker left: staging blobs of a ready clip, and any
    blob of a clip whose key is already shredded."""
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        if clip is None:
            return
        shredded = outcomes.key_shredded(session, clip_id)
        for blob in services.vault.blobs_of(session, clip_id):
            if shredded or (clip.status == "ready" and is_staging(blob.rendition)):
                services.vault.delete_blob(session, blob)


def _run(services: IngestServices, claim: Claim, ws: Path, reporter: _Reporter) -> None:
    settings = services.settings
    reporter.stage("decrypting")
    outcomes.remove_previous_attempt(services, claim)
    source = ws / "source"
    _decrypt_source(services, claim, source, reporter)

    reporter.stage("checking")
    info = probe(source, caps=caps_from(services))

    reporter.stage("transcoding")
    playback = workspace.reserve(ws / "playback.mp4")
    transcode(
        source,
        playback,
        info,
        preset=settings.video_preset,
        crf=settings.video_crf,
        audio_bitrate=settings.audio_bitrate,
        max_frame_rate=settings.max_frame_rate,
        progress=reporter.update,
        max_duration_s=settings.max_duration_seconds,
        stall_s=settings.ffmpeg_stall_seconds,
        cpu_per_megapixel_frame=settings.ffmpeg_cpu_seconds_per_megapixel_frame,
    )
    source.unlink()  # the original, with the device's metadata, is no longer needed

    reporter.stage("thumbnails")
    # Our own output passes the same checks; its facts are what the player will show.
    rendition = probe(playback, caps=caps_from(services))
    thumbs = _thumbnails(services, ws, playback, rendition.duration_ms)

    reporter.stage("encrypting")
    files = {
        "playback": playback,
        "poster": thumbs.poster_path,
        "sprite": thumbs.sprite_path,
        "thumbnails": thumbs.vtt_path,
    }
    rate = output_frame_rate(info, settings.max_frame_rate)
    done = outcomes.Outputs(info, rendition, rate, thumbs, files)
    outcomes.register_ready(services, claim, done, reporter.notify_only)
    reporter.finished()


def _thumbnails(services: IngestServices, ws: Path, playback: Path, duration_ms: int) -> Thumbnails:
    """Poster, sprite and VTT track; from a keyframe proxy when the interval allows
    (ingest.keyframes: a few dozen decoded frames instead of every one)."""
    settings = services.settings
    interval = keyframes.interval_for(settings.thumbnail_interval_seconds, duration_ms)
    source = playback
    if keyframes.usable(interval):
        source = workspace.reserve(ws / "keyframes.mov")
        keyframes.keyframe_proxy(playback, source, interval_s=interval, duration_ms=duration_ms)
    thumbs = render_thumbnails(
        source,
        ws / "thumbs",
        interval_s=interval,
        thumb_width=settings.thumbnail_width,
        sprite_url=SPRITE_URL,
        max_thumbnails=keyframes.MAX_THUMBNAILS,
    )
    if source == playback:
        return thumbs
    # The proxy ends on a whole interval; the track must end where the rendition does.
    duration_s = duration_ms / 1000
    size = (thumbs.thumb_width, thumbs.thumb_height)
    vtt = webvtt(thumbs.count, thumbs.interval_s, duration_s, thumbs.columns, size, SPRITE_URL)
    workspace.write_private(thumbs.vtt_path, vtt.encode("utf-8"))
    return replace(thumbs, vtt=vtt, duration_s=duration_s)


def _decrypt_source(
    services: IngestServices, claim: Claim, target: Path, reporter: _Reporter
) -> None:
    """Write the concatenated plaintext of the staging blobs to ``target`` (mode 0600)."""
    with services.db.session() as session:
        parts = _staging_parts(session, claim.clip_id)
        total = sum(p.plaintext_size for p in parts) or 1
        done = 0
        with os.fdopen(workspace.private_file(target), "wb") as out:
            for part in parts:
                for chunk in services.vault.iter_plaintext(session, part):
                    out.write(chunk)
                    done += len(chunk)
                    reporter.update(done / total)


def _staging_parts(session: Session, clip_id: str) -> list[Blob]:
    """The clip's staging blobs in index order.

    Raises:
        MediaRejected: there are none (EMPTY), or one is missing (TRUNCATED): a gap
            would silently splice the file, so nothing is guessed.
    """
    rows = session.scalars(
        select(Blob).where(Blob.clip_id == clip_id, Blob.rendition.startswith(STAGING_PREFIX))
    )
    parts = sorted(rows, key=lambda b: b.rendition)
    if not parts:
        raise MediaRejected(RejectCategory.EMPTY, detail="no staging blobs")
    expected = [f"{STAGING_PREFIX}{i:06d}" for i in range(len(parts))]
    if [p.rendition for p in parts] != expected:
        raise MediaRejected(RejectCategory.TRUNCATED, detail="staging parts not contiguous")
    return parts


class _Reporter:
    """Turns per-stage fractions into the overall percent, writes it to the clip row
    (throttled) and the caller's callback, and stops the job once the claim is lost."""

    def __init__(
        self, services: IngestServices, claim: Claim, callback: ProgressCallback | None
    ) -> None:
        self._services, self._claim, self._callback = services, claim, callback
        self._stage = ""
        self._percent = -1
        self._written_at = 0.0

    def stage(self, name: str) -> None:
        """Enter stage ``name`` (written at once)."""
        self._stage = name
        self._emit(0.0, persist=True, force=True)

    def update(self, fraction: float) -> None:
        """Progress within the current stage; may raise ClaimLost (that stops ffmpeg)."""
        self._emit(fraction, persist=True, force=False)

    def notify_only(self, fraction: float) -> None:
        """Progress that only reaches the callback (the caller holds a DB write lock)."""
        self._emit(fraction, persist=False, force=False)

    def finished(self) -> None:
        if self._callback is not None:
            self._callback("ready", 100)

    def _emit(self, fraction: float, *, persist: bool, force: bool) -> None:
        self._claim.check()
        low, high = STAGES[self._stage]
        percent = low + int((high - low) * min(max(fraction, 0.0), 1.0))
        if percent <= self._percent and not force:
            return
        self._percent = max(percent, self._percent)
        now = time.monotonic()
        if persist and (force or now - self._written_at >= PROGRESS_WRITE_INTERVAL):
            claims.record(self._services, self._claim, stage=self._stage, progress=self._percent)
            self._written_at = now
        if self._callback is not None:
            self._callback(self._stage, self._percent)
