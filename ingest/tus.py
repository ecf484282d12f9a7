"""Resumable uploads: the tus 1.0.0 protocol operations, free of any web framework.

Extensions: ``creation``, ``termination``, ``checksum`` (sha1, sha256, md5) and
``expiration``. Header parsing lives in :mod:`ingest.tus_headers`, expiry in
:mod:`ingest.upload_expiry`; the web adapter (``webapp/tus.py``) turns headers into
arguments and ``UploadError`` subclasses into status codes.

Each PATCH body is streamed into a new encrypted staging part of the clip (see
:mod:`ingest.reception`). A body cut short by a dropped connection is kept up to the last
byte received and the offset advances by exactly that much, which is what lets a client
resume with HEAD + PATCH. A body with an ``Upload-Checksum`` is all-or-nothing: if it
fails the checksum (or ends early) the part is discarded and the offset is unchanged.

Creation needs ``Upload-Length`` (deferred length is not offered) and ``Upload-Metadata``
naming either a ``clip`` registered beforehand by the web app, or ``kind`` plus a
``consent`` JSON document (optionally ``title``). File names sent by clients are
ignored: they often carry a family's name. A new upload for a clip whose earlier upload
is unfinished replaces it (the earlier parts are deleted), so a facilitator whose
browser lost the upload's URL can simply start again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ingest.clips import (
    get_clip,
    is_staging,
    register_clip,
    require_upload_role,
    staging_rendition,
)
from ingest.errors import (
    ChecksumMismatch,
    OffsetMismatch,
    UploadContentType,
    UploadExpired,
    UploadRequestInvalid,
    UploadTooLarge,
)
from ingest.reception import check_size, mark_received
from ingest.services import IngestServices
from ingest.tus_headers import (
    CHECKSUMS,
    OFFSET_CONTENT_TYPE,
    is_offset_stream,
    parse_checksum,
    parse_length,
    parse_offset,
)
from ingest.upload_expiry import end_upload, expire_uploads, upload_expiry
from storage.audit import Actor
from storage.consent import parse_consent, record_consent
from storage.db.footage import Clip, Upload
from storage.db.tenancy import Site
from storage.errors import NotFound, ValidationError
from storage.locking import lock_clip
from storage.programme import placement_from_codes

__all__ = [
    "UploadState",
    "append_chunk",
    "create_upload",
    "expire_uploads",
    "terminate_upload",
    "upload_status",
]

READ_SIZE = 256 * 1024
_MIME = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")


@dataclass(frozen=True)
class UploadState:
    """What a client learns about an upload (HEAD, and the answer to POST/PATCH)."""

    id: str
    clip_id: str
    offset: int
    length: int
    expires_at: datetime | None  # None once complete: a finished upload does not expire

    @property
    def complete(self) -> bool:
        return self.offset == self.length


def create_upload(
    services: IngestServices, actor: Actor, *, length: str | None, metadata: dict[str, str]
) -> UploadState:
    """tus creation: a new upload of ``length`` bytes for a clip of ``actor``'s site.

    Everything is validated before anything is stored. Raises PermissionDenied for a
    role that may not upload, UploadRequestInvalid for a missing/bad Upload-Length or
    metadata, UploadTooLarge over the size cap, ValidationError (ConsentInvalid) for a
    bad consent or kind or an empty upload, NotFound for an unknown clip.
    """
    require_upload_role(actor)
    size = parse_length(length)
    cap = services.settings.max_upload_bytes
    if size > cap:
        raise UploadTooLarge(f"Upload-Length {size} exceeds the cap of {cap} bytes")
    check_size(size, services)
    if actor.site_id is None:
        raise UploadRequestInvalid("uploads need a user of a site")
    with services.db.session() as session:
        if "clip" in metadata:
            clip = _preregistered(services, session, actor, metadata["clip"])
        else:
            clip = _register_from_metadata(services, session, actor, metadata)
        now = services.clock.now()
        filetype = metadata.get("filetype", "")
        upload = Upload(
            site_id=clip.site_id,
            clip_id=clip.id,
            user_id=None if actor.role == "system" else actor.id,
            length=size,
            offset=0,
            parts=0,
            meta={"filetype": filetype} if _MIME.match(filetype) else {},
            created_at=now,
            expires_at=now + upload_expiry(services),
        )
        session.add(upload)
        session.flush()
        services.audit.append(
            session,
            actor,
            "upload.create",
            target_type="clip",
            target_id=clip.id,
            site_id=clip.site_id,
            details={"upload_id": upload.id, "length": size},
        )
        return _state(upload)


def upload_status(services: IngestServices, actor: Actor, upload_id: str) -> UploadState:
    """tus HEAD: the upload's offset and length. Raises NotFound, UploadExpired."""
    with services.db.session() as session:
        return _state(_live_upload(services, session, actor, upload_id))


def append_chunk(
    services: IngestServices,
    actor: Actor,
    upload_id: str,
    *,
    offset: str | None,
    content_type: str | None,
    content_length: int | None,
    checksum: str | None,
    read: Callable[[int], bytes],
    on_complete: Callable[[str], None] | None = None,
) -> UploadState:
    """tus PATCH: stream a body into a new staging part and advance the offset.

    ``read(n)`` returns up to ``n`` bytes and ``b""`` at the end of the body or when the
    client went away. When the last byte arrives the clip is marked ``queued`` and, after
    the commit, ``on_complete(clip_id)`` hands it to the job queue. Raises
    UploadContentType, UploadRequestInvalid, ChecksumUnsupported, NotFound,
    UploadExpired, OffsetMismatch (also when a concurrent PATCH won), UploadTooLarge
    (past Upload-Length), ChecksumMismatch (part discarded).
    """
    if not is_offset_stream(content_type):
        raise UploadContentType(f"PATCH bodies must be sent as {OFFSET_CONTENT_TYPE}")
    client_offset = parse_offset(offset)
    expected = parse_checksum(checksum) if checksum else None
    state, completed = _append(
        services, actor, upload_id, client_offset, content_length, expected, read
    )
    if completed and on_complete is not None:
        on_complete(state.clip_id)
    return state


def terminate_upload(services: IngestServices, actor: Actor, upload_id: str) -> None:
    """tus termination: destroy the upload's parts and its clip; later requests get 404.

    A finished upload cannot be terminated (its clip is footage now). Raises NotFound.
    """
    with services.db.session() as session:
        _owned_upload(session, actor, upload_id)
    ended = end_upload(
        services, actor, upload_id, reason="upload-terminated", action="upload.terminate"
    )
    if not ended:
        raise NotFound(f"no upload {upload_id}")


def _append(
    services: IngestServices,
    actor: Actor,
    upload_id: str,
    client_offset: int,
    content_length: int | None,
    expected: tuple[str, bytes] | None,
    read: Callable[[int], bytes],
) -> tuple[UploadState, bool]:
    with services.db.session() as session:
        upload = _live_upload(services, session, actor, upload_id)
        start, index = upload.offset, upload.parts
        if client_offset != start:
            raise OffsetMismatch(f"Upload-Offset is {client_offset}; the server has {start}")
        remaining = upload.length - start
        if content_length is not None and content_length > remaining:
            raise UploadTooLarge(f"the body would pass Upload-Length ({remaining} bytes remain)")
        writer = services.vault.writer(
            session, upload.site_id, upload.clip_id, staging_rendition(index)
        )
        # End the read transaction: a body on a slow connection can take minutes, and
        # no writer should wait on this request's snapshot meanwhile.
        session.commit()
        hasher = CHECKSUMS[expected[0]]() if expected else None
        try:
            received = _pump(read, writer.write, hasher, remaining)
        except BaseException:
            writer.abort()
            raise
        if expected is not None and hasher is not None:
            ended_early = content_length is not None and received < content_length
            if ended_early or hasher.digest() != expected[1]:
                writer.abort()
                raise ChecksumMismatch("the body does not match Upload-Checksum; send it again")
        if received == 0:
            writer.abort()
            return _state(upload), False
        blob = writer.commit()
        # Optimistic concurrency: only the request that started from the current offset
        # and part count may move them; a racing duplicate PATCH loses and is discarded.
        moved = session.execute(
            update(Upload)
            .where(
                Upload.id == upload.id,
                Upload.offset == start,
                Upload.parts == index,
                Upload.terminated.is_(False),
            )
            .values(
                offset=start + received,
                parts=index + 1,
                expires_at=services.clock.now() + upload_expiry(services),
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(moved) != 1:
            services.blobs.delete(blob.store_key)
            raise OffsetMismatch("another request changed this upload; ask for its offset")
        session.refresh(upload)
        completed = upload.offset == upload.length
        if completed:
            upload.completed_at = services.clock.now()
            clip = session.get(Clip, upload.clip_id)
            if clip is None:
                raise NotFound(f"no clip {upload.clip_id}")
            mark_received(session, services.audit, actor, clip, upload.length, upload.parts)
        return _state(upload), completed


def _pump(
    read: Callable[[int], bytes],
    write: Callable[[bytes], int],
    hasher: Any,
    remaining: int,
) -> int:
    received = 0
    while chunk := read(READ_SIZE):
        if received + len(chunk) > remaining:
            raise UploadTooLarge("the body passes Upload-Length")
        write(chunk)
        if hasher is not None:
            hasher.update(chunk)
        received += len(chunk)
    return received


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _preregistered(services: IngestServices, session: Session, actor: Actor, clip_id: str) -> Clip:
    get_clip(session, actor.site_id, clip_id)
    clip = lock_clip(session, clip_id)  # serialise with other creations and the sweeper
    if clip is None or (actor.role != "admin" and clip.uploaded_by not in (None, actor.id)):
        raise NotFound(f"no clip {clip_id}")
    if clip.status != "receiving" or clip.destroy_requested_at is not None:
        raise UploadRequestInvalid("that clip is not waiting for its footage")
    for old in session.scalars(
        select(Upload).where(Upload.clip_id == clip.id, Upload.terminated.is_(False))
    ):
        _supersede(services, session, actor, old)
    return clip


def _supersede(services: IngestServices, session: Session, actor: Actor, old: Upload) -> None:
    """Start the clip's upload afresh: the browser lost the old upload's URL (another
    device, cleared storage), and the facilitator must not be stuck until it expires."""
    old.terminated = True
    for blob in services.vault.blobs_of(session, old.clip_id):
        if is_staging(blob.rendition):
            services.vault.delete_blob(session, blob)
    services.audit.append(
        session,
        actor,
        "upload.supersede",
        target_type="clip",
        target_id=old.clip_id,
        site_id=old.site_id,
        details={"upload_id": old.id, "offset": old.offset, "length": old.length},
    )


def _register_from_metadata(
    services: IngestServices, session: Session, actor: Actor, metadata: dict[str, str]
) -> Clip:
    if "kind" not in metadata or "consent" not in metadata:
        raise UploadRequestInvalid(
            "Upload-Metadata needs 'clip' (a registered clip id), or 'kind' and 'consent'"
        )
    try:
        consent_data = json.loads(metadata["consent"])
    except json.JSONDecodeError as exc:
        raise ValidationError(f"consent: not valid JSON ({exc.msg})") from None
    consent = parse_consent(consent_data, now=services.clock.now())
    family = metadata.get("family", "").strip().upper()
    if family and family != consent.family:
        raise ValidationError(f"family {family} does not match the consent's {consent.family}")
    site = session.get(Site, actor.site_id)
    if site is None:
        raise NotFound("no such site")
    # Where the clip belongs (codes, as on the command line); none given: the consent's
    # enrolled family's group, else the site's "unassigned" group (older clients).
    where = placement_from_codes(
        session,
        site.id,
        group=metadata.get("group") or None,
        family=metadata.get("family") or None,
        meeting=metadata.get("session") or None,
        present=[code for code in metadata.get("present", "").split(",") if code.strip()],
    )
    row = record_consent(session, services.audit, actor, site.id, consent, recorded_by=actor.id)
    return register_clip(
        session,
        services.vault,
        services.audit,
        services.settings,
        actor=actor,
        site=site,
        kind=metadata["kind"],
        consent=row,
        uploaded_by=actor.id,
        title=metadata.get("title", ""),
        placement=where,
    )


def _owned_upload(session: Session, actor: Actor, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    # Another user's upload, even at the same site, is reported as absent: its URL is
    # a capability of the person who started it (admins may clean up).
    if (
        upload is None
        or upload.site_id != actor.site_id
        or (actor.role != "admin" and upload.user_id != actor.id)
    ):
        raise NotFound(f"no upload {upload_id}")
    return upload


def _live_upload(
    services: IngestServices, session: Session, actor: Actor, upload_id: str
) -> Upload:
    upload = _owned_upload(session, actor, upload_id)
    if upload.terminated:
        raise NotFound(f"no upload {upload_id}")
    if upload.completed_at is None and upload.expires_at <= services.clock.now():
        raise UploadExpired("this upload expired; start it again")
    return upload


def _state(upload: Upload) -> UploadState:
    complete = upload.offset == upload.length
    return UploadState(
        id=upload.id,
        clip_id=upload.clip_id,
        offset=upload.offset,
        length=upload.length,
        expires_at=None if complete else upload.expires_at,
    )
