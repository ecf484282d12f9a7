"""What the ingest package needs from the composition root.

``webapp.composition.Services`` satisfies these Protocols structurally; ingest never
imports webapp (the dependency points the other way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from config import Settings
from storage.audit import AuditLog
from storage.blobs import BlobStore
from storage.clock import Clock
from storage.db.engine import Database
from storage.vault import Vault

if TYPE_CHECKING:
    from ingest.jobs import JobQueue


class IngestServices(Protocol):
    """Settings, clock, metadata database, blob store, vault and audit log."""

    settings: Settings
    clock: Clock
    db: Database
    blobs: BlobStore
    vault: Vault
    audit: AuditLog


class QueueServices(IngestServices, Protocol):
    """IngestServices plus the job queue built for them (``Services.queue``)."""

    @property
    def queue(self) -> JobQueue: ...
