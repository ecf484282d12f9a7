"""Periodic jobs once per cluster: only the worker holding the scheduler lease queues them.

Every ``verp worker`` runs huey's scheduler, which each minute asks every periodic task
whether it is due. :class:`SchedulerLease` wraps those checks: a worker that does not
hold the lease answers "not due", so with N workers each periodic job is queued once,
by the holder, and any worker may then run it. The holder renews the lease at every
minute's check; if it dies, the lease lapses after ``queue.scheduler_lease_seconds``
and the next worker to check takes it over (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from ingest.services import IngestServices
from storage.leases import release, try_hold

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"


def worker_identity() -> str:
    """A name for this worker process, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class SchedulerLease:
    """Decides, once per scheduler minute, whether this worker queues periodic jobs."""

    def __init__(self, services: IngestServices, holder: str | None = None) -> None:
        self.services = services
        self.holder = holder or worker_identity()
        self.ttl = timedelta(seconds=services.settings.scheduler_lease_seconds)
        self._minute: datetime | None = None
        self._held = False

    def held(self, at: datetime) -> bool:
        """Whether this worker holds the lease for the scheduler minute ``at``.

        The first check of a minute takes or renews the lease; later checks of the same
        minute reuse the answer. A database error counts as "not held" (another worker,
        or the next minute, will run the job).
        """
        minute = at.replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute = minute
            was = self._held
            try:
                self._held = try_hold(
                    self.services.db, LEASE_NAME, self.holder, self.ttl, self.services.clock.now()
                )
            except Exception:  # the scheduler thread must survive a database outage
                log.warning("scheduler lease could not be checked", exc_info=True)
                self._held = False
            if self._held != was:
                log.info("scheduler lease %s by %s", "taken" if self._held else "lost", self.holder)
        return self._held

    def gate(self, due: Callable[[datetime], bool]) -> Callable[[datetime], bool]:
        """A huey ``validate_datetime`` that is true only when ``due`` is and we hold the
        lease (the lease is checked every minute, due or not, so it is renewed)."""

        def validate(at: datetime) -> bool:
            return self.held(at) and due(at)

        return validate

    def release(self) -> None:
        """Give the lease up at a clean shutdown, so another worker takes over at once."""
        if self._held:
            release(self.services.db, LEASE_NAME, self.holder, self.services.clock.now())
            self._held = False
