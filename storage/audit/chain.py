"""The tamper-evident audit log: an HMAC-SHA256 hash chain over every entry.

``hash_n = HMAC(key, hash_{n-1} ‖ canonical(entry_n))``. The key lives in a 0600 file
outside the database, so someone who can edit rows cannot recompute the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from storage.audit.checkpoints import CheckpointStore, checkpoint_after_commit
from storage.clock import Clock
from storage.db.governance import AuditEntry

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: a user (id + role + site) or a system process."""

    id: str
    role: str
    site_id: str | None

    @classmethod
    def system(cls, name: str = "system", site_id: str | None = None) -> Actor:
        return cls(id=f"system:{name}", role="system", site_id=site_id)


def canonical(entry: AuditEntry) -> bytes:
    """The bytes the chain authenticates for one entry (everything but the hashes)."""
    fields = {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "site_id": entry.site_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def chain_hash(key: bytes, prev_hash: str, entry: AuditEntry) -> str:
    return hmac.new(key, prev_hash.encode() + canonical(entry), hashlib.sha256).hexdigest()


class AuditLog:
    """Appends entries to the chain. Use one per process; it is stateless between calls.

    With a checkpoint store, every ``checkpoint_every``-th entry is checkpointed once its
    transaction has committed (see storage/audit/checkpoints.py).
    """

    def __init__(
        self,
        key: bytes,
        clock: Clock,
        checkpoints: CheckpointStore | None = None,
        checkpoint_every: int = 0,
    ) -> None:
        if len(key) < 32:
            raise ValueError("audit HMAC key must be at least 32 bytes")
        self._key = key
        self.clock = clock
        self.checkpoints = checkpoints
        self.checkpoint_every = checkpoint_every

    @property
    def key(self) -> bytes:
        return self._key

    def append(
        self,
        session: Session,
        actor: Actor,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        site_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry in the caller's unit of work (it commits with the change)."""
        _lock_chain(session)
        head = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        entry = AuditEntry(
            seq=seq,
            at=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            site_id=site_id if site_id is not None else actor.site_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=dict(details or {}),
            prev_hash=prev,
            hash="",
        )
        entry.hash = chain_hash(self._key, prev, entry)
        session.add(entry)
        session.flush()
        every = self.checkpoint_every
        if self.checkpoints is not None and every > 0 and seq % every == 0:
            self._checkpoint_on_commit(session, entry, self.checkpoints)
        return entry

    def _checkpoint_on_commit(
        self, session: Session, entry: AuditEntry, store: CheckpointStore
    ) -> None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        seq, digest, at = entry.seq, entry.hash, entry.at

        def _after_commit(_session: Session) -> None:
            checkpoint_after_commit(engine, store, self._key, seq, digest, at)

        event.listen(session, "after_commit", _after_commit, once=True)


def _lock_chain(session: Session) -> None:
    """Serialise appends so two writers never fork the chain.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: take the write lock now
    (BEGIN IMMEDIATE semantics) by touching the table, so the head read is current.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7364827)"))
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_entries SET seq = seq WHERE 0"))
