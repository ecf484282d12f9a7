"""How a processing attempt ends, written to the clip row, the vault and the audit log.

* :func:`register_ready` — every rendition encrypted, media facts, ``ready``: one
  transaction, conditional on the claim (a clip is never half registered);
* :func:`refuse` — not plain video: destroyed through the governance path (key
  shredded, every blob deleted, tombstone ``upload-refused``), the reason kept;
* :func:`fail` — a permanent fault that is not the upload's: ``failed``, source kept;
* :func:`defer` — a temporary fault: back to ``queued`` for the queue to retry.

Audit details carry ids, categories and numbers only — never file names or tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ingest import claims
from ingest.claims import Claim
from ingest.clips import is_staging
from ingest.errors import MediaRejected
from ingest.probe import MediaInfo
from ingest.services import IngestServices
from ingest.thumbnails import Thumbnails
from storage.audit import Actor
from storage.db.footage import DataKey
from storage.destruction import UPLOAD_REFUSED, Destroyer, request_destruction
from storage.locking import lock_clip

log = logging.getLogger(__name__)

WORKER = "worker"
CONTENT_TYPES = {
    "playback": "video/mp4",
    "poster": "image/jpeg",
    "sprite": "image/jpeg",
    "thumbnails": "text/vtt",
}


def actor(site_id: str) -> Actor:
    """The audit actor of the processing worker."""
    return Actor.system(WORKER, site_id=site_id)


@dataclass(frozen=True)
class Outputs:
    """What a successful attempt produced: facts of source and rendition, and the files
    (rendition name → path in the workspace) to encrypt."""

    source: MediaInfo
    playback: MediaInfo
    frame_rate: Fraction
    thumbs: Thumbnails
    files: Mapping[str, Path]


def register_ready(
    services: IngestServices,
    claim: Claim,
    outputs: Outputs,
    on_fraction: Callable[[float], None],
) -> dict[str, str]:
    """Encrypt the renditions and mark the clip ready, in one transaction.

    ``on_fraction`` sees the share of bytes encrypted; it must not write to the
    database (this transaction holds the write lock on SQLite). Returns rendition →
    blob id. Raises ClaimLost (nothing is registered; blobs already written are
    orphans the next attempt removes) and whatever the vault or store raise.
    """
    now = services.clock.now()
    vault = services.vault
    total = sum(p.stat().st_size for p in outputs.files.values()) or 1
    done = 0
    sizes: dict[str, int] = {}
    ids: dict[str, str] = {}
    with services.db.session() as session:
        for name, path in outputs.files.items():
            writer = vault.writer(session, claim.site_id, claim.clip_id, name, CONTENT_TYPES[name])
            with writer, path.open("rb") as source:
                while chunk := source.read(vault.segment_size):
                    writer.write(chunk)
                    done += len(chunk)
                    on_fraction(done / total)
            ids[name], sizes[name] = writer.row.id, writer.row.plaintext_size
        claims.release(
            session,
            claim,
            now,
            status="ready",
            stage="ready",
            progress=100,
            failure_reason=None,
            **_columns(outputs),
            media=media_facts(outputs, sizes),
        )
        services.audit.append(
            session,
            actor(claim.site_id),
            "clip.processed",
            target_type="clip",
            target_id=claim.clip_id,
            site_id=claim.site_id,
            details={"duration_ms": outputs.playback.duration_ms, "blobs": ids},
        )
    return ids


def _rate(rate: Fraction) -> str:
    return str(rate)  # "30", "30000/1001": exact, and what the player needs


def _columns(outputs: Outputs) -> dict[str, Any]:
    playback, source = outputs.playback, outputs.source
    return {
        "duration_ms": playback.duration_ms,
        "width": playback.display_width,
        "height": playback.display_height,
        "frame_rate": _rate(outputs.frame_rate),
        "video_codec": source.video_codec,
        "audio_codec": source.audio_codec,
        "source_size": source.size_bytes,
    }


def media_facts(outputs: Outputs, sizes: Mapping[str, int]) -> dict[str, Any]:
    """The ``clips.media`` JSON: source facts (incl. its original frame timing),
    playback facts, rendition sizes and the thumbnail geometry. Numbers and codec
    names only — no tags of the upload."""
    src, out, thumbs = outputs.source, outputs.playback, outputs.thumbs
    return {
        "source": {
            "container": src.container,
            "size": src.size_bytes,
            "duration_ms": src.duration_ms,
            "video_codec": src.video_codec,
            "audio_codec": src.audio_codec,
            "audio_sample_rate": src.audio_sample_rate,
            "width": src.width,
            "height": src.height,
            "rotation": src.rotation,
            "frame_rate": _rate(src.frame_rate),
            "avg_frame_rate": _rate(src.avg_frame_rate),
            "variable_frame_rate": src.variable_frame_rate,
            "frame_count": src.frame_count,
            "pix_fmt": src.pix_fmt,
            "hdr": src.is_hdr,
        },
        "playback": {
            "video_codec": out.video_codec,
            "audio_codec": out.audio_codec,
            "width": out.display_width,
            "height": out.display_height,
            "frame_rate": _rate(outputs.frame_rate),
            "duration_ms": out.duration_ms,
            "frame_count": out.frame_count,
        },
        "renditions": {
            name: {"content_type": CONTENT_TYPES[name], "size": size}
            for name, size in sizes.items()
        },
        "thumbnails": {
            "interval_s": thumbs.interval_s,
            "count": thumbs.count,
            "columns": thumbs.columns,
            "rows": thumbs.rows,
            "width": thumbs.thumb_width,
            "height": thumbs.thumb_height,
            "poster_time_s": thumbs.poster_time_s,
        },
    }


def refuse(services: IngestServices, claim: Claim, exc: MediaRejected) -> None:
    """Refuse an upload that is not plain video and destroy it like any other footage.

    One transaction records the facilitator-facing reason (``failed``; the reason stays
    on the clip row after destruction), audits ``clip.failed`` and marks the clip for
    destruction (``upload-refused``); then storage.destruction shreds the key, deletes
    every blob and writes the tombstone a DPO sees. If that stops part-way (the store
    failed), the clip stays marked and the retention sweep finishes it.

    Raises:
        ClaimLost: the claim is no longer ours (nothing is written).
    """
    now = services.clock.now()
    worker = actor(claim.site_id)
    with services.db.session() as session:
        claims.release(session, claim, now, status="failed", progress=0, failure_reason=exc.reason)
        clip = lock_clip(session, claim.clip_id)
        assert clip is not None  # release() just updated it
        audit_failed(
            services, session, claim.site_id, claim.clip_id, exc.category.value, destroyed=True
        )
        request_destruction(session, services.audit, worker, clip, UPLOAD_REFUSED)
    outcome = Destroyer(services.db, services.vault, services.audit).destroy(claim.clip_id, worker)
    if not outcome.destroyed:
        log.warning("clip %s: refused upload not yet destroyed (%s)", claim.clip_id, outcome.error)


def fail(services: IngestServices, claim: Claim, category: str, reason: str) -> None:
    """Mark the clip failed with ``reason``; its encrypted source stays for a retry."""
    now = services.clock.now()
    with services.db.session() as session:
        claims.release(session, claim, now, status="failed", failure_reason=reason)
        audit_failed(services, session, claim.site_id, claim.clip_id, category)


def defer(services: IngestServices, claim: Claim) -> None:
    """Hand the clip back to the queue (``queued``, stage ``retrying``).

    Best effort: if even this write fails, the lease runs out and the clip is picked
    up again all the same.
    """
    try:
        with services.db.session() as session:
            claims.release(
                session, claim, services.clock.now(), status="queued", stage="retrying", progress=0
            )
    except Exception:
        log.warning("clip %s: could not hand back the claim", claim.clip_id, exc_info=True)


def audit_failed(
    services: IngestServices,
    session: Session,
    site_id: str,
    clip_id: str,
    category: str,
    *,
    destroyed: bool = False,
) -> None:
    """Append ``clip.failed`` (category, whether the footage was destroyed)."""
    services.audit.append(
        session,
        actor(site_id),
        "clip.failed",
        target_type="clip",
        target_id=clip_id,
        site_id=site_id,
        details={"category": category, "destroyed": destroyed},
    )


def delete_blobs(services: IngestServices, clip_id: str, *, staging_only: bool) -> int:
    """Delete the clip's staging blobs (or all its blobs): object first, then row, so a
    crash in between leaves a row the next run deletes again. Returns how many."""
    count = 0
    with services.db.session() as session:
        for blob in services.vault.blobs_of(session, clip_id):
            if not staging_only or is_staging(blob.rendition):
                services.vault.delete_blob(session, blob)
                count += 1
    return count


def key_shredded(session: Session, clip_id: str) -> bool:
    """Whether the clip's data key is gone (never created or crypto-shredded)."""
    key = session.get(DataKey, clip_id)
    return key is None or key.wrapped is None


def remove_previous_attempt(services: IngestServices, claim: Claim) -> None:
    """Delete renditions a previous attempt of this clip left behind: registered rows
    (with their objects) and orphaned objects of a transaction that never committed."""
    prefix = f"{claim.site_id}/{claim.clip_id}/"
    with services.db.session() as session:
        rows = services.vault.blobs_of(session, claim.clip_id)
        known = {blob.store_key for blob in rows}
        for blob in rows:
            if blob.rendition in CONTENT_TYPES:
                services.vault.delete_blob(session, blob)
    for key in services.blobs.keys(prefix):
        rendition = key.rsplit("/", 1)[-1].split("-", 1)[0]
        if key not in known and rendition in CONTENT_TYPES:
            services.blobs.delete(key)
