"""Footage bytes: the playback rendition, thumbnails and moments, decrypted on the fly.

Every route here sends footage-derived bytes, so each is limited to the footage roles
(``requires(..., footage=True)``: DPOs and admins get 403) and checks through
:func:`webapp.authz.load_clip` that the consent covers the viewer's purpose
(a facilitator on a home visit: family-review; otherwise supervision), which also makes
another site's clip, or one outside a facilitator's own, a 404.

Video bytes are served with HTTP Range (webapp.byteranges): only the segments that
cover the requested bytes are fetched and decrypted, batch by batch. Watching is
audited once per playback session (webapp.playback), not per request:
``clip.play``, ``clip.thumbnails`` and ``moment.play``.

The thumbnails track (``thumbnails.vtt``) refers to its sprite by the relative URL
``sprite.jpg`` (ingest.pipeline.SPRITE_URL), so both are served from one directory.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Response, request
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from ingest.pipeline import SPRITE_URL
from review.errors import Conflict
from review.moments import get_moment
from storage.db.footage import Blob, Clip, DataKey
from storage.errors import NotFound
from storage.vault import Vault
from webapp.authz import FOOTAGE_ROLES, load_clip, requires, user_or_401
from webapp.byteranges import Entity, etag_for, ranged_response
from webapp.context import services, unit_of_work
from webapp.playback import record_viewing

bp = Blueprint("media", __name__, url_prefix="/api/v1")

PLAYBACK, SPRITE, THUMBNAILS = "playback", "sprite", "thumbnails"


@functools.cache
def _latest_blob_query() -> Select[Blob, DataKey]:
    """The newest blob of a rendition with its clip's DataKey row, by the bound
    parameters ``clip_id``, ``site_id`` and ``rendition``.

    Built once: building the expression costs more than running it, on every request.
    """
    return (
        select(Blob, DataKey)
        .outerjoin(DataKey, DataKey.clip_id == Blob.clip_id)
        .where(
            Blob.clip_id == bindparam("clip_id"),
            Blob.site_id == bindparam("site_id"),
            Blob.rendition == bindparam("rendition"),
        )
        .order_by(Blob.created_at.desc(), Blob.id)
        .limit(1)
    )


def latest_blob(db: Session, clip: Clip, rendition: str) -> tuple[Blob, DataKey | None]:
    """The newest blob of a rendition of ``clip`` and the clip's DataKey row (None if it
    has none), in one query, to be handed to the vault (one round trip less per request).

    Raises NotFound if the clip has no such blob.
    """
    params = {"clip_id": clip.id, "site_id": clip.site_id, "rendition": rendition}
    row = db.execute(_latest_blob_query(), params).first()
    if row is None:
        raise NotFound(f"clip {clip.id} has no {rendition}")
    blob, key_row = row
    return blob, key_row


def _serve_ranged(
    db: Session, vault: Vault, blob: Blob, content_type: str, key_row: DataKey | None = None
) -> Response:
    """A Range-capable response for ``blob``; the key is unwrapped inside ``db``'s unit
    of work, the body is decrypted after it (the generator holds no connection)."""
    reader = vault.range_reader(db, blob, key_row=key_row)
    entity = Entity(
        size=reader.size,
        etag=etag_for(blob.id),
        content_type=content_type,
        segment_size=reader.segment_size,
    )
    return ranged_response(request, entity, reader.read)


@bp.get("/clips/<clip_id>/media")
@requires(*FOOTAGE_ROLES, footage=True)
def clip_media(clip_id: str) -> Response:
    """The clip's playback rendition (H.264/AAC MP4) with Range support."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id, footage=True)
        blob, key_row = latest_blob(db, clip, PLAYBACK)
        content_type = blob.content_type or "video/mp4"
        response = _serve_ranged(db, svc.vault, blob, content_type, key_row)
    if response.status_code in (200, 206):
        record_viewing(user, clip, PLAYBACK, "clip.play", details={"rendition": PLAYBACK})
    return response


def _small_rendition(clip_id: str, rendition: str, content_type: str) -> Response:
    """A whole small footage-derived file (sprite, thumbnail track), decrypted in memory."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id, footage=True)
        blob, key_row = latest_blob(db, clip, rendition)
        data = b"".join(svc.vault.iter_plaintext(db, blob, key_row=key_row))
    record_viewing(user, clip, THUMBNAILS, "clip.thumbnails")
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/clips/<clip_id>/thumbnails.vtt")
@requires(*FOOTAGE_ROLES, footage=True)
def thumbnails(clip_id: str) -> Response:
    """The WebVTT thumbnail track; its cues point at ``sprite.jpg#xywh=...`` beside it."""
    return _small_rendition(clip_id, THUMBNAILS, "text/vtt")


@bp.get(f"/clips/<clip_id>/{SPRITE_URL}")
@requires(*FOOTAGE_ROLES, footage=True)
def sprite(clip_id: str) -> Response:
    """The thumbnail sprite (a JPEG grid) the thumbnails track refers to."""
    return _small_rendition(clip_id, SPRITE, "image/jpeg")


@bp.get("/moments/<moment_id>/media")
@requires(*FOOTAGE_ROLES, footage=True)
def moment_media(moment_id: str) -> Response:
    """A rendered moment (MP4, with Range) or still (JPEG) of a shared review.

    409 while the moment is still being cut (or failed); 404 for other sites' moments.
    """
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        moment = get_moment(db, user.actor, moment_id)
        clip = load_clip(db, moment.clip_id, footage=True)
        blob = db.get(Blob, moment.blob_id) if moment.blob_id else None
        if moment.status != "ready" or blob is None or blob.clip_id != clip.id:
            raise Conflict("this moment is still being prepared; try again in a moment")
        response = _serve_ranged(db, svc.vault, blob, blob.content_type)
        kind = moment.kind
    if response.status_code in (200, 206):
        record_viewing(
            user,
            clip,
            f"moment:{moment_id}",
            "moment.play",
            target_type="moment",
            target_id=moment_id,
            details={"kind": kind},
        )
    return response
