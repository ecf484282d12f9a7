"""The job queue: huey over SQLite (embedded default), Redis (scale-out) or memory (tests).

``queue.url`` (``VERP_QUEUE_URL``) picks the backend:

* ``sqlite:///PATH`` (default ``<home>/queue.db``) — SqliteHuey, for one machine;
* ``redis://HOST:PORT/DB`` — RedisHuey, for N workers on N machines;
* ``memory://`` — MemoryHuey in *immediate* mode: a job runs inside ``enqueue`` (unit
  tests; call it after your transaction has committed).

Any of them may carry ``?name=QUEUE`` (default ``verp``) to keep several queues apart
on one Redis. The queue only carries ids; it is never trusted for correctness:

* a job takes a per-clip claim in the database (ingest.claims), so two workers never
  process one clip at once, and every job is idempotent;
* a job that dies with its worker (SIGKILL, OOM, lost machine) is gone from the queue,
  so a periodic ``recover_stalled`` job (every minute, and once at worker start)
  re-enqueues every clip that is waiting or whose claim's lease has run out, and every
  moment left pending well past the longest render (ingest.moments.stalled);
* temporary failures are retried ``queue.retries`` times, ``queue.retry_delay_seconds``
  apart; then the clip (or moment) is marked failed with a reason.

Periodic jobs: ``expire_uploads`` (ingest.upload_expiry, every 15 minutes),
``retention_sweep`` (storage.destruction, hourly), ``kek_epoch`` (storage.kek: a new
KEK epoch when due, hourly check), ``purge_sessions`` (ended sign-in
sessions, storage.login_sessions, every 15 minutes) and ``recover_stalled``; with several
workers only the holder of the scheduler lease queues them (ingest.scheduling). Nothing is
built at import time: ``Services.queue`` builds a :class:`JobQueue` on first use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.api import Task, TaskWrapper
from huey.consumer import Consumer

from ingest import claims, moments, outcomes, pipeline
from ingest.claims import ClaimLost
from ingest.clips import is_staging
from ingest.scheduling import SchedulerLease
from ingest.services import IngestServices, QueueServices
from storage.audit import Actor
from storage.db.engine import prepare_private_sqlite
from storage.db.footage import Clip
from storage.errors import NotFound, ValidationError

log = logging.getLogger(__name__)

DEFAULT_NAME = "verp"
PROCESS, MOMENT = "process_clip", "render_moment"


def make_huey(url: str) -> Huey:
    """Build the huey instance for a ``queue.url`` (see the module docstring)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    name = dict(query).get("name", DEFAULT_NAME)
    rest = urlencode([(k, v) for k, v in query if k != "name"])
    if parts.scheme == "memory":
        return MemoryHuey(name, immediate=True, results=False)
    if parts.scheme == "sqlite":
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        prepare_private_sqlite(path)  # 0600, and so are its -wal/-shm
        return SqliteHuey(name, filename=str(path), results=False)
    if parts.scheme in ("redis", "rediss"):
        return RedisHuey(name, url=urlunsplit(parts._replace(query=rest)), results=False)
    raise ValueError(f"unsupported queue url scheme {parts.scheme!r}")


class JobQueue:
    """A huey queue whose tasks run against one set of services."""

    def __init__(self, services: IngestServices) -> None:
        self.services = services
        settings = services.settings
        self.huey = make_huey(settings.queue_url)
        retry = {"retries": settings.queue_retries, "retry_delay": settings.queue_retry_delay}
        task = self.huey.task
        self._process: TaskWrapper = task(context=True, name=PROCESS, **retry)(self._run_process)
        self._moment: TaskWrapper = task(context=True, name=MOMENT, **retry)(self._run_moment)
        # Only the worker holding the scheduler lease queues periodic jobs (once per cluster).
        self.scheduler_lease = SchedulerLease(services)
        gate, periodic = self.scheduler_lease.gate, self.huey.periodic_task
        periodic(gate(crontab(minute="*/15")), name="expire_uploads")(self._expire_uploads)
        periodic(gate(crontab(minute="7")), name="retention_sweep")(self._retention_sweep)
        periodic(gate(crontab(minute="*/15")), name="purge_sessions")(self._purge_sessions)
        periodic(gate(crontab()), name="recover_stalled")(self.recover)
        periodic(gate(crontab(minute="37")), name="kek_epoch")(self._kek_epoch)

    # -- producing ---------------------------------------------------------------------
    def enqueue_process(self, clip_id: str) -> None:
        """Queue the processing of a clip (status ``queued``)."""
        self._process(clip_id)

    def enqueue_render_moment(self, moment_id: str) -> None:
        """Queue the rendering of a moment or still."""
        self._moment(moment_id)

    def recover(self) -> list[str]:
        """Re-enqueue clips that are waiting but not in the queue (see ingest.claims.stalled),
        then moments whose render was lost (:meth:`recover_moments`).

        Returns the clips' ids.
        """
        waiting = self._queued_ids(PROCESS)
        lost = [clip_id for clip_id in claims.stalled(self.services) if clip_id not in waiting]
        for clip_id in lost:
            self.enqueue_process(clip_id)
        if lost:
            log.info("re-enqueued %d clip(s) whose job was lost", len(lost))
        self.recover_moments()
        return lost

    def recover_moments(self) -> list[str]:
        """Re-enqueue moments still pending long after their last render began (see
        ingest.moments.stalled) that are not in the queue. Returns their ids."""
        waiting = self._queued_ids(MOMENT)
        lost = [m for m in moments.stalled(self.services) if m not in waiting]
        for moment_id in lost:
            self.enqueue_render_moment(moment_id)
        if lost:
            log.info("re-enqueued %d moment(s) whose render was lost", len(lost))
        return lost

    def _queued_ids(self, name: str) -> set[str]:
        """The first argument (a clip or moment id) of each waiting ``name`` task."""
        found: set[str] = set()
        for task in [*self.huey.pending(), *self.huey.scheduled()]:
            if type(task).__name__ == name and task.args:
                found.add(str(task.args[0]))
        return found

    # -- consuming ---------------------------------------------------------------------
    def consumer(self, workers: int = 1) -> Consumer:
        """A huey consumer with ``workers`` threads and the periodic scheduler."""
        return self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=True, max_delay=2.0
        )

    def run_once(self) -> int:
        """Run every job that is queued (or scheduled and due) now, then return how many.

        Retries scheduled for later are left for a running worker.
        """
        count = 0
        while True:
            for due in self.huey.read_schedule():
                self.huey.enqueue(due)
            job = self.huey.dequeue()
            if job is None:
                return count
            self.huey.execute(job)
            count += 1

    def close(self) -> None:
        """Close the queue's connections (SQLite file handle, Redis pool)."""
        storage: Any = self.huey.storage
        if hasattr(storage, "pool"):
            storage.pool.disconnect()
        elif hasattr(storage, "close"):
            storage.close()

    # -- the task bodies -----------------------------------------------------------------
    def _run_process(self, clip_id: str, task: Task | None = None) -> None:
        try:
            pipeline.process_clip(self.services, clip_id)
        except ClaimLost:
            return  # the worker that holds it now finishes it
        except pipeline.TransientFailure:
            if task is not None and task.retries > 0:
                raise  # huey schedules the retry
            log.warning("clip %s: retries used up; giving up", clip_id)
            pipeline.give_up(self.services, clip_id)

    def _run_moment(self, moment_id: str, task: Task | None = None) -> None:
        try:
            moments.render_moment(self.services, moment_id)
        except moments.MomentFailed:
            if task is not None and task.retries > 0:
                raise
            log.warning("moment %s: retries used up; giving up", moment_id)
            moments.mark_failed(self.services, moment_id)

    def _expire_uploads(self) -> None:
        from ingest.upload_expiry import expire_uploads

        expire_uploads(self.services)

    def _purge_sessions(self) -> None:
        from storage.login_sessions import purge_expired_sessions

        purge_expired_sessions(self.services)

    def _kek_epoch(self) -> None:
        """Hourly: start the next KEK epoch when one is due, or finish an unfinished one."""
        from storage.kek import EpochPolicy, run_due_rotation

        services = self.services
        policy = EpochPolicy.from_settings(services.settings)
        report = run_due_rotation(
            services.db, services.vault.keys, services.audit, services.clock, policy
        )
        if report is not None:
            log.info(
                "KEK epoch %s: %d data keys re-wrapped, retired %s, waiting %s",
                report.epoch,
                report.rewrapped,
                report.retired or "none",
                report.still_in_use + report.in_grace or "none",
            )

    def _retention_sweep(self) -> None:
        from storage.destruction import Destroyer

        services = self.services
        report = Destroyer(services.db, services.vault, services.audit).sweep(
            services.settings.retention
        )
        log.info(
            "retention sweep: %d destroyed, %d failed, %d held, %d erasure pending",
            len(report.destroyed),
            len(report.failed),
            len(report.held),
            len(report.erasure_pending),
        )
        if report.erasure_pending:
            # Keys are destroyed but not yet verified gone from every database file (ids only).
            log.warning(
                "erasure pending for %d clip(s); the next sweep checks again: %s",
                len(report.erasure_pending),
                ", ".join(p["clip_id"] for p in report.erasure_pending),
            )


def enqueue_process(services: QueueServices, clip_id: str) -> None:
    """Queue the processing of ``clip_id`` (after the transaction that queued it)."""
    services.queue.enqueue_process(clip_id)


def enqueue_render_moment(services: QueueServices, moment_id: str) -> None:
    """Queue the rendering of ``moment_id`` (after the transaction that created it)."""
    services.queue.enqueue_render_moment(moment_id)


def retry_clip(services: QueueServices, clip_id: str, actor: Actor) -> None:
    """Queue a failed clip again (an operator, after fixing the cause). Audited as
    ``clip.retry``.

    Raises:
        NotFound: no such clip (or of another site than a site-bound actor's).
        ValidationError: the clip is not failed, or its source is gone (a refused
            upload is destroyed, or being destroyed, and cannot be retried).
    """
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        if clip is None or (actor.site_id is not None and clip.site_id != actor.site_id):
            raise NotFound(f"no clip {clip_id}")
        if clip.destroy_requested_at is not None or clip.status == "destroyed":
            raise ValidationError("the upload of this clip is gone; it must be uploaded again")
        if clip.status != "failed":
            raise ValidationError(f"only a failed clip can be retried (it is {clip.status})")
        blobs = services.vault.blobs_of(session, clip_id)
        if outcomes.key_shredded(session, clip_id) or not any(
            is_staging(b.rendition) for b in blobs
        ):
            raise ValidationError("the upload of this clip is gone; it must be uploaded again")
        clip.status, clip.stage, clip.progress = "queued", "queued", 0
        clip.failure_reason, clip.attempts = None, 0
        clip.updated_at = services.clock.now()
        services.audit.append(
            session,
            actor,
            "clip.retry",
            target_type="clip",
            target_id=clip_id,
            site_id=clip.site_id,
        )
    enqueue_process(services, clip_id)
