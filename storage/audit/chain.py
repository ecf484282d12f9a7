"""The tamper-evident audit log: an HMAC-SHA256 hash chain over every entry.

``hash_n = HMAC(key, hash_{n-1} ‖ canonical(entry_n))``. The key lives in a 0600 file
outside the database, so someone who can edit rows cannot recompute the chain. Every
checkpoint written (storage/audit/checkpoints.py) is itself recorded in the chain as an
``audit.checkpoint`` entry, so verification knows which checkpoints must exist. The exact
bytes are specified in docs/format.md ("Audit log").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from storage.audit.checkpoints import Checkpoint, Checkpoints, format_time
from storage.clock import Clock
from storage.db.governance import AuditEntry
from storage.locking import holds_sqlite_write_lock

log = logging.getLogger(__name__)
GENESIS = "0" * 64
CHECKPOINT_ACTION = "audit.checkpoint"
CHECKPOINT_ACTOR_ID = "system:audit"
_INT_LIMIT = 2**63


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
    """The bytes the chain authenticates for one entry (everything but the hashes).

    Compact JSON, keys sorted, non-ASCII escaped as ``\\uXXXX``; ``at`` is Python's
    ``isoformat()`` of a UTC time. docs/format.md pins every byte down.
    """
    fields = {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(),
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "site_id": entry.site_id,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": entry.details,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(key: bytes, prev_hash: str, entry: AuditEntry) -> str:
    """One chain step: lowercase hex of HMAC-SHA256(key, ASCII(prev_hash) ‖ canonical)."""
    return hmac.new(key, prev_hash.encode() + canonical(entry), hashlib.sha256).hexdigest()


def plain_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check that ``details`` holds only values the canonical form spells one way.

    Allowed: str, int (|n| < 2**63), bool, None, lists and str-keyed objects of those.
    Raises ValueError for anything else (floats included: their decimal spelling differs
    between languages, so a second implementation could not reproduce the hash).
    """
    result = dict(details or {})
    _check_plain(result)
    return result


def _check_plain(value: Any) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise ValueError("audit details: integer out of range")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_plain(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("audit details: object keys must be strings")
            _check_plain(item)
        return
    raise ValueError(f"audit details: {type(value).__name__} values are not allowed")


class AuditLog:
    """Appends entries to the chain. Use one per process; it is stateless between calls.

    With checkpoints, every ``checkpoint_every``-th entry is checkpointed once its
    transaction has committed, and each checkpoint written is recorded in the chain.
    """

    def __init__(
        self,
        key: bytes,
        clock: Clock,
        checkpoints: Checkpoints | None = None,
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
        """Append one entry in the caller's unit of work (it commits with the change).

        Raises ValueError if ``details`` holds a value outside the canonical form.
        """
        plain = plain_details(details)
        _lock_chain(session)
        head = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        ).first()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        entry = AuditEntry(
            seq=seq,
            at=self.clock.now().astimezone(UTC),
            actor_id=actor.id,
            actor_role=actor.role,
            site_id=site_id if site_id is not None else actor.site_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=plain,
            prev_hash=prev,
            hash="",
        )
        entry.hash = chain_hash(self._key, prev, entry)
        session.add(entry)
        session.flush()
        every = self.checkpoint_every
        due = every > 0 and seq % every == 0 and action != CHECKPOINT_ACTION
        if self.checkpoints is not None and self.checkpoints.signer is not None and due:
            self._checkpoint_on_commit(session, entry)
        return entry

    def checkpoint_head(self, session: Session, at: datetime) -> Checkpoint | None:
        """Checkpoint the committed chain head and record that in the chain (same session).

        Returns None without checkpoints, for an empty log, or when the newest checkpoint
        already covers the head (the head is the newest checkpoint or its record).
        Raises AuditIntegrityError if the store refuses the checkpoint.
        """
        store = self.checkpoints
        if store is None or store.signer is None:
            return None
        _lock_chain(session)
        head = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        if head is None:
            return None
        latest = store.latest_seq()
        covered = head.seq if head.action != CHECKPOINT_ACTION else head.details.get("seq")
        if latest is not None and covered == latest:
            return None
        checkpoint = store.write(head.seq, head.hash, at)
        self._record(session, checkpoint)
        return checkpoint

    def _record(self, session: Session, checkpoint: Checkpoint) -> AuditEntry:
        return self.append(
            session,
            Actor(CHECKPOINT_ACTOR_ID, "system", None),
            CHECKPOINT_ACTION,
            target_type="audit_checkpoint",
            target_id=checkpoint.name,
            details={
                "seq": checkpoint.seq,
                "head_hash": checkpoint.head_hash,
                "at": format_time(checkpoint.at),
                "key_id": checkpoint.key_id,
            },
        )

    def _checkpoint_on_commit(self, session: Session, entry: AuditEntry) -> None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        seq, digest, at = entry.seq, entry.hash, entry.at

        def _after_commit(_session: Session) -> None:
            self._checkpoint_committed(engine, seq, digest, at)

        event.listen(session, "after_commit", _after_commit, once=True)

    def _checkpoint_committed(self, engine: Engine, seq: int, digest: str, at: datetime) -> None:
        """Checkpoint entry ``seq`` once its transaction committed, and record it.

        Re-reads the entry in a fresh session, because a session can roll back and commit
        again later; a checkpoint of an entry that never committed would look like
        truncation. A failure is logged, never raised: the caller's change has committed.
        A checkpoint written but not recorded (crash in between) is harmless: verification
        checks recorded checkpoints exist, and every checkpoint present against the log.
        """
        assert self.checkpoints is not None
        try:
            with Session(engine) as fresh, fresh.begin():
                stored = fresh.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq))
                if stored.scalar() == digest:
                    self._record(fresh, self.checkpoints.write(seq, digest, at))
        except Exception:  # a missed checkpoint must not fail an action that has committed
            log.warning("audit checkpoint at seq %d could not be written", seq, exc_info=True)


def _lock_chain(session: Session) -> None:
    """Serialise appends so two writers never fork the chain.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the database write lock, so
    the head read is current: a transaction that began by writing holds it already,
    others take it now (BEGIN IMMEDIATE semantics) by touching the table. Either lock is
    held until the caller commits, so callers append last, just before committing.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7364827)"))
    elif dialect == "sqlite" and not holds_sqlite_write_lock(session):
        session.execute(text("UPDATE audit_entries SET seq = seq WHERE 0"))
