"""Render the media of a review moment from a ready clip's playback rendition.

* kind ``moment``: the interval ``[start_ms, end_ms)``, cut frame-accurately (decoded
  and re-encoded, not stream-copied from the nearest keyframe) into H.264/AAC MP4 with
  no metadata; stored as the clip's blob ``moment-<moment id>`` (video/mp4);
* kind ``still``: one frame as a JPEG written by Pillow from raw pixels (no EXIF, no
  comment); stored as ``still-<moment id>`` (image/jpeg).

Frame accuracy: times come from the player rounded to milliseconds, so a time is
taken to mean the frame whose timestamp is *nearest* to it. A still is the frame
nearest ``start_ms``; a moment holds the frames nearest to a time in
``[start_ms, end_ms)`` — e.g. on 30000/1001 footage ``[500, 1502)`` is frames 15-44.

The playback rendition is decrypted into a 0700 job workspace first; nothing else
touches a disk in plaintext. On success ``moments.blob_id`` points at the new blob and
``status`` is ``ready``; a moment that cannot be rendered is ``failed``. Rendering a
ready moment again is a no-op; a moment reset to ``pending`` gets a fresh blob and its
old one is deleted. A moment re-timed during its render stays ``pending`` (the stale cut
is dropped). A render stamps ``updated_at`` as it starts; :func:`stalled` lists moments
still pending long after that (lost jobs) for the queue's periodic recovery.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ingest import claims, ffmpeg_tool, outcomes, workspace
from ingest.errors import IngestError, TranscodeError
from ingest.services import IngestServices
from storage.db.footage import Blob, Clip
from storage.db.review import Moment
from storage.errors import DecryptionError, KeyNotFound, loggable_cause

log = logging.getLogger(__name__)

#: Moment kind → (blob rendition prefix, content type).
KINDS = {"moment": ("moment", "video/mp4"), "still": ("still", "image/jpeg")}
STILL_QUALITY = 90
#: Time a render may take beyond ffmpeg's own limit (decrypting, encrypting, storing).
RENDER_MARGIN = timedelta(minutes=3)


class MomentInvalid(IngestError):
    """The moment cannot be rendered as recorded (times outside the clip, too long...)."""


class MomentFailed(IngestError):
    """A temporary problem stopped the rendering; the queue may retry."""


@dataclass(frozen=True)
class _Job:
    moment_id: str
    kind: str
    site_id: str
    clip_id: str
    start_ms: int
    end_ms: int | None
    playback: Blob
    frame_rate: Fraction
    #: ``end_ms`` as the row had it (``end_ms`` is clipped to the clip's duration).
    recorded_end_ms: int | None

    def seek_seconds(self) -> float:
        """Where to start decoding: half a frame before ``start_ms``, so the first frame
        kept is the one whose time is *nearest* to ``start_ms`` (a time read off the
        player, rounded to milliseconds, may fall just before or after its frame)."""
        half = 1 / (2 * self.frame_rate) if self.frame_rate > 0 else 0
        return max(0.0, self.start_ms / 1000 - float(half))

    @property
    def rendition(self) -> str:
        return f"{KINDS[self.kind][0]}-{self.moment_id}"


def rendition_name(kind: str, moment_id: str) -> str:
    """The blob rendition of a moment's media: ``moment-<id>`` or ``still-<id>``."""
    return f"{KINDS[kind][0]}-{moment_id}"


def stalled_after(services: IngestServices) -> timedelta:
    """When a pending moment counts as lost: longer than the longest render may take, so
    recovery never starts a second render beside a running one."""
    longest_ms = services.settings.max_moment_seconds * 1000
    return timedelta(seconds=_cut_timeout_s(longest_ms)) + RENDER_MARGIN


def stalled(services: IngestServices, limit: int = 500) -> list[str]:
    """Pending moments whose render job is lost, oldest first: untouched (created,
    re-timed, or a render started) for :func:`stalled_after`, of a ready clip that is
    not being destroyed."""
    cutoff = services.clock.now() - stalled_after(services)
    with services.db.session() as session:
        rows = session.scalars(
            select(Moment.id)
            .join(Clip, Clip.id == Moment.clip_id)
            .where(
                Moment.status == "pending",
                func.coalesce(Moment.updated_at, Moment.created_at) < cutoff,
                Clip.site_id == Moment.site_id,
                Clip.status == "ready",
                Clip.destroy_requested_at.is_(None),
            )
            .order_by(Moment.created_at, Moment.id)
            .limit(limit)
        )
        return list(rows)


def render_moment(services: IngestServices, moment_id: str) -> None:
    """Render moment ``moment_id`` into an encrypted blob and mark it ready.

    A missing or already ready moment is left alone; an invalid one, or one whose clip
    is not ready or cannot be decrypted, is marked failed. If the moment's times (or
    kind) changed while it was rendered, the cut is discarded and it stays pending.

    Raises:
        MomentFailed: a temporary problem (storage, ffmpeg killed...); retry later.
    """
    try:
        with services.db.session() as session:
            job = _load(services, session, moment_id)
    except MomentInvalid as exc:
        log.info("moment %s: cannot render (%s)", moment_id, exc)
        mark_failed(services, moment_id)
        return
    if job is None:
        return
    try:
        _delete_orphans(services, job)
        with workspace.job_workspace(services.settings.workspace_dir, "moment") as ws:
            source = ws / "playback.mp4"
            _decrypt(services, job.playback, source)
            if job.kind == "moment":
                target = workspace.reserve(ws / "moment.mp4")
                _cut(services, source, target, job)
            else:
                target = ws / "still.jpg"
                still = workspace.reserve(ws / "still.png")
                _still(source, still, target, job.seek_seconds())
            _register(services, job, target)
    except (DecryptionError, KeyNotFound) as exc:
        log.warning("moment %s: playback unreadable (%s)", moment_id, type(exc).__name__)
        mark_failed(services, moment_id)
    except TranscodeError as exc:
        if exc.transient:
            raise MomentFailed(f"moment {moment_id}: {type(exc).__name__}") from exc
        log.warning("moment %s: ffmpeg failed (%s)", moment_id, exc)
        mark_failed(services, moment_id)
    except Exception as exc:
        cause = loggable_cause(exc)  # the queue logs this with a traceback
        raise MomentFailed(f"moment {moment_id}: {type(exc).__name__}") from cause


def mark_failed(services: IngestServices, moment_id: str) -> None:
    """Mark a moment failed unless it is ready (the queue also calls this when the
    retries are used up)."""
    with services.db.session() as session:
        session.execute(
            update(Moment)
            .where(Moment.id == moment_id, Moment.status != "ready")
            .values(status="failed")
            .execution_options(synchronize_session=False)
        )


def _load(services: IngestServices, session: Session, moment_id: str) -> _Job | None:
    moment = session.get(Moment, moment_id)
    if moment is None or (moment.status == "ready" and moment.blob_id is not None):
        return None
    if moment.kind not in KINDS:
        raise MomentInvalid(f"unknown kind {moment.kind!r}")
    clip = session.get(Clip, moment.clip_id)
    if clip is None or clip.site_id != moment.site_id or clip.status != "ready":
        raise MomentInvalid("the clip is not ready")
    playback = session.scalar(
        select(Blob)
        .where(Blob.clip_id == clip.id, Blob.rendition == "playback")
        .order_by(Blob.created_at.desc())
        .limit(1)
    )
    if playback is None:
        raise MomentInvalid("the clip has no playback rendition")
    start, end, duration = moment.start_ms, moment.end_ms, clip.duration_ms
    if start < 0 or (duration is not None and start >= duration):
        raise MomentInvalid("the start lies outside the clip")
    if moment.kind == "moment":
        if end is None or end <= start:
            raise MomentInvalid("a moment needs an end after its start")
        if end - start > services.settings.max_moment_seconds * 1000:
            raise MomentInvalid("the moment is longer than allowed")
        if duration is not None:
            end = min(end, duration)
    rate = _fraction(clip.frame_rate)
    moment.updated_at = services.clock.now()  # a render starts: see stalled()
    return _Job(
        moment.id, moment.kind, clip.site_id, clip.id, start, end, playback, rate, moment.end_ms
    )


def _fraction(text: str | None) -> Fraction:
    try:
        return Fraction(text) if text else Fraction(0)
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def _decrypt(services: IngestServices, blob: Blob, target: Path) -> None:
    with services.db.session() as session, os.fdopen(workspace.private_file(target), "wb") as out:
        for chunk in services.vault.iter_plaintext(session, blob):
            out.write(chunk)


def _input(source: Path, seek_s: float) -> list[str]:
    # Our own MP4, but still: forced demuxer and file-only protocol. -ss before -i with
    # decoding is frame-accurate (frames before the point are decoded and dropped).
    return [
        "-ss",
        f"{seek_s:.6f}",
        "-f",
        "mov",
        "-protocol_whitelist",
        "file",
        "-enable_drefs",
        "0",
        "-i",
        f"file:{source.resolve()}",
    ]


def _cut(services: IngestServices, source: Path, target: Path, job: _Job) -> None:
    assert job.end_ms is not None
    settings = services.settings
    length_ms = job.end_ms - job.start_ms
    argv = ffmpeg_tool.command(
        "-v",
        "error",
        *_input(source, job.seek_seconds()),
        "-t",
        f"{length_ms / 1000:.3f}",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c:v",
        "libx264",
        "-preset",
        settings.video_preset,
        "-crf",
        str(settings.video_crf),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        settings.audio_bitrate,
        "-bsf:v",
        "filter_units=remove_types=6",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-metadata:s:v:0",
        "encoder=",
        "-metadata:s:a:0",
        "encoder=",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",
        f"file:{target.resolve()}",
    )
    result = ffmpeg_tool.run(argv, timeout_s=_cut_timeout_s(length_ms))
    if result.returncode != 0:
        raise ffmpeg_tool.failure("moment cut", result)


def _cut_timeout_s(length_ms: int) -> float:
    """How long ffmpeg may take to cut ``length_ms`` of video."""
    return 300 + 8 * length_ms / 1000


def _still(source: Path, png: Path, target: Path, seek_s: float) -> None:
    argv = ffmpeg_tool.command(
        "-v",
        "error",
        *_input(source, seek_s),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-pix_fmt",
        "rgb24",
        "-c:v",
        "png",
        "-f",
        "image2",
        "-update",
        "1",
        "-y",
        f"file:{png.resolve()}",
    )
    result = ffmpeg_tool.run(argv, timeout_s=300)
    if result.returncode != 0 or not png.is_file():
        raise ffmpeg_tool.failure("still frame", result)
    with Image.open(png) as decoded:
        rgb = decoded.convert("RGB")
    # A fresh image from raw pixels: nothing of the PNG's chunks can reach the JPEG.
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    fd = workspace.private_file(target)
    with os.fdopen(fd, "wb") as out:
        clean.save(out, format="JPEG", quality=STILL_QUALITY)


def _delete_orphans(services: IngestServices, job: _Job) -> None:
    """Objects of this moment's rendition that no row references (a crashed attempt)."""
    with services.db.session() as session:
        known = set(session.scalars(select(Blob.store_key).where(Blob.clip_id == job.clip_id)))
    for key in services.blobs.keys(f"{job.site_id}/{job.clip_id}/{job.rendition}-"):
        if key not in known:
            services.blobs.delete(key)


def _register(services: IngestServices, job: _Job, target: Path) -> None:
    """Store the new blob, point the moment at it and drop its previous blobs, in one
    transaction; the old objects are deleted once that has committed.

    Only a moment still pending with the kind and times that were cut takes the blob;
    otherwise (rendered meanwhile, or re-timed: its new times are queued) ours is dropped.
    """
    content_type = KINDS[job.kind][1]
    with services.db.session() as session:
        old = [
            blob
            for blob in services.vault.blobs_of(session, job.clip_id)
            if blob.rendition == job.rendition
        ]
        with target.open("rb") as source:
            blob = services.vault.put_file(
                session, job.site_id, job.clip_id, job.rendition, source, content_type
            )
        recorded_end = (
            Moment.end_ms.is_(None)
            if job.recorded_end_ms is None
            else Moment.end_ms == job.recorded_end_ms
        )
        result = session.execute(
            update(Moment)
            .where(
                Moment.id == job.moment_id,
                Moment.status != "ready",
                Moment.kind == job.kind,
                Moment.start_ms == job.start_ms,
                recorded_end,
            )
            .values(blob_id=blob.id, status="ready")
            .execution_options(synchronize_session=False)
        )
        if claims.rowcount(result) != 1:
            # Rendered meanwhile by another worker (keep theirs), or re-timed, deleted or
            # reset while we cut: our cut is of times nobody wants now.
            log.info("moment %s: changed while rendering; cut discarded", job.moment_id)
            ours = blob.store_key
            session.rollback()
            services.blobs.delete(ours)
            return
        for stale in old:
            session.delete(stale)
        services.audit.append(
            session,
            outcomes.actor(job.site_id),
            "moment.rendered",
            target_type="moment",
            target_id=job.moment_id,
            site_id=job.site_id,
            details={"clip_id": job.clip_id, "kind": job.kind, "blob_id": blob.id},
        )
    for stale in old:
        services.blobs.delete(stale.store_key)
