"""Per-clip processing claims: at most one worker processes a clip at any time.

A worker *claims* a clip with one conditional UPDATE (the database decides the race,
on SQLite and PostgreSQL alike): the clip must be ``queued`` or ``processing``, not
being destroyed, and either unclaimed or held under an expired lease. The claim is a
random token in ``clips.claimed_by`` plus a lease in ``clips.claim_expires_at``; a
heartbeat thread renews the lease while the job runs. Every later write of the job
(progress, the final registration) is conditional on still holding the token, so a
worker that lost its claim (it stalled past its lease and another worker took over)
can change nothing. A worker that dies simply stops renewing; once the lease has run
out, :func:`stalled` lists the clip and the queue re-enqueues it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, exists, or_, select, update
from sqlalchemy.orm import Session

from ingest.clips import STAGING_PREFIX
from ingest.errors import IngestError
from ingest.services import IngestServices
from storage.db.footage import Blob, Clip, DataKey

log = logging.getLogger(__name__)

CLAIMABLE = ("queued", "processing")


class ClaimLost(IngestError):
    """Another worker holds the clip now (our lease ran out); stop without writing."""


@dataclass
class Claim:
    """A held claim: the clip, our token, the attempt number, and a flag the heartbeat
    sets when the lease could not be renewed."""

    clip_id: str
    site_id: str
    token: str
    attempt: int
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise ClaimLost if the heartbeat found the claim gone."""
        if self.lost.is_set():
            raise ClaimLost(self.clip_id)


def worker_token() -> str:
    """A claim token: host and pid (for operators reading the table) plus a random part."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def _lease(services: IngestServices) -> timedelta:
    return timedelta(seconds=services.settings.queue_lease_seconds)


def rowcount(result: Any) -> int:
    """Rows an UPDATE matched (SQLAlchemy types execute() results loosely)."""
    return int(cast(CursorResult[Any], result).rowcount)


def take(services: IngestServices, clip_id: str) -> Claim | None:
    """Claim ``clip_id`` for this worker; None if it is not claimable right now
    (ready, failed, destroyed, being destroyed, or held by a live worker)."""
    now = services.clock.now()
    token = worker_token()
    with services.db.session() as session:
        result = session.execute(
            update(Clip)
            .where(
                Clip.id == clip_id,
                Clip.status.in_(CLAIMABLE),
                Clip.destroy_requested_at.is_(None),
                or_(Clip.claimed_by.is_(None), Clip.claim_expires_at < now),
            )
            .values(
                status="processing",
                claimed_by=token,
                claim_expires_at=now + _lease(services),
                attempts=Clip.attempts + 1,
                stage="starting",
                progress=0,
                failure_reason=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            return None
        site_id, attempt = session.execute(
            select(Clip.site_id, Clip.attempts).where(Clip.id == clip_id)
        ).one()
    return Claim(clip_id=clip_id, site_id=site_id, token=token, attempt=attempt)


def update_held(session: Session, claim: Claim, values: Mapping[str, Any]) -> None:
    """UPDATE the claimed clip with ``values`` in the caller's unit of work.

    Raises:
        ClaimLost: the claim is no longer ours, or the clip is being destroyed (nothing
            is written).
    """
    result = session.execute(
        update(Clip)
        .where(
            Clip.id == claim.clip_id,
            Clip.claimed_by == claim.token,
            # Once destruction has begun (consent withdrawn), the job must write nothing.
            Clip.destroy_requested_at.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        claim.lost.set()
        raise ClaimLost(claim.clip_id)


def record(services: IngestServices, claim: Claim, **values: Any) -> None:
    """Commit ``values`` on the claimed clip at once (and renew the lease).

    Raises:
        ClaimLost: as :func:`update_held`.
    """
    now = services.clock.now()
    with services.db.session() as session:
        update_held(
            session,
            claim,
            {**values, "claim_expires_at": now + _lease(services), "updated_at": now},
        )


def release(session: Session, claim: Claim, now: datetime, **values: Any) -> None:
    """Drop the claim while writing ``values`` (in the caller's unit of work)."""
    update_held(
        session,
        claim,
        {**values, "claimed_by": None, "claim_expires_at": None, "updated_at": now},
    )


def release_own(services: IngestServices) -> list[str]:
    """Hand back every clip this process holds (``queued``, stage ``retrying``).

    For a worker or ``verp ingest --wait`` that is stopping (SIGTERM/SIGINT): the next
    worker resumes the clip at once instead of waiting for the lease to run out. The
    interrupted attempt is not counted against the clip. Returns the clips' ids; a job
    of this process that still runs notices the lost claim at its next write.
    """
    prefix = worker_token().rsplit(":", 1)[0] + ":"
    held = Clip.claimed_by.startswith(prefix, autoescape=True)
    now = services.clock.now()
    with services.db.session() as session:
        ids = list(session.scalars(select(Clip.id).where(held, Clip.status == "processing")))
        if ids:
            session.execute(
                update(Clip)
                .where(Clip.id.in_(ids), held)
                .values(
                    status="queued",
                    stage="retrying",
                    progress=0,
                    attempts=Clip.attempts - 1,
                    claimed_by=None,
                    claim_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
    return ids


@contextmanager
def heartbeat(services: IngestServices, claim: Claim) -> Iterator[None]:
    """Renew the claim's lease every third of a lease while the block runs.

    If renewal keeps failing (database unreachable) until the lease has run out, or the
    claim turns out to be someone else's, ``claim.lost`` is set; the job notices at its
    next progress report and stops.
    """
    lease = services.settings.queue_lease_seconds
    stop = threading.Event()

    def beat() -> None:
        deadline = services.clock.now() + _lease(services)
        while not stop.wait(lease / 3):
            try:
                record(services, claim)
                deadline = services.clock.now() + _lease(services)
            except ClaimLost:
                return
            except Exception:  # the database may be back before the lease ends
                log.warning("clip %s: lease renewal failed", claim.clip_id, exc_info=True)
                if services.clock.now() >= deadline:
                    claim.lost.set()
                    return

    thread = threading.Thread(target=beat, name=f"lease-{claim.clip_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def stalled(services: IngestServices, limit: int = 500) -> list[str]:
    """Clips whose job is not running anywhere and must be (re-)enqueued.

    That is: ``processing`` under an expired lease (the worker died), ``queued`` ones
    (a lost or never-sent job; duplicates are harmless), ``ready`` ones that still have
    staging blobs and ``failed`` ones with a shredded key that still have blobs (the
    worker died between the decisive commit and deleting blobs).
    """
    now = services.clock.now()
    has_staging = exists().where(Blob.clip_id == Clip.id, Blob.rendition.startswith(STAGING_PREFIX))
    has_blobs = exists().where(Blob.clip_id == Clip.id)
    shredded = exists().where(DataKey.clip_id == Clip.id, DataKey.wrapped.is_(None))
    with services.db.session() as session:
        rows = session.scalars(
            select(Clip.id)
            .where(
                Clip.destroy_requested_at.is_(None),
                or_(
                    and_(
                        Clip.status == "processing",
                        or_(Clip.claimed_by.is_(None), Clip.claim_expires_at < now),
                    ),
                    Clip.status == "queued",
                    and_(Clip.status == "ready", has_staging),
                    and_(Clip.status == "failed", has_blobs, shredded),
                ),
            )
            .order_by(Clip.updated_at)
            .limit(limit)
        )
        return list(rows)
