"""Signed checkpoints of the audit chain, kept where the database cannot rewrite them.

A checkpoint records the sequence number and hash of the chain head at a moment, signed
with a key derived from the audit HMAC key. Each checkpoint is a new object that is never
overwritten: a file (mode 0600) in ``audit.checkpoint_dir``, or, in the scale-out profile,
an S3 object under Object Lock (:mod:`storage.audit.s3_checkpoints`). ``verp audit verify``
compares the log with every checkpoint, which is what detects a truncated tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from storage.db.governance import AuditEntry
from storage.errors import AuditIntegrityError

log = logging.getLogger(__name__)
VERSION = "verp-audit-checkpoint/1"


class CheckpointStore(Protocol):
    """Write-once storage for checkpoint documents."""

    def put(self, name: str, data: bytes) -> None:
        """Store a new document; raises AuditIntegrityError if ``name`` already exists."""
        ...

    def names(self) -> list[str]: ...

    def get(self, name: str) -> bytes: ...


class LocalCheckpointStore:
    """One 0600 file per checkpoint in a 0700 directory; files are created exclusively."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise AuditIntegrityError(f"checkpoint {name} already exists") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name.endswith(".json"))

    def get(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


@dataclass(frozen=True)
class Checkpoint:
    name: str
    seq: int
    head_hash: str
    at: datetime
    signature: str


def _signing_key(audit_key: bytes) -> bytes:
    # A separate key for checkpoints, so a checkpoint can never pass as a chain link.
    return hmac.new(audit_key, b"verp audit checkpoint signing key", hashlib.sha256).digest()


def _signature(audit_key: bytes, seq: int, head_hash: str, at: datetime) -> str:
    message = f"{VERSION}\n{seq}\n{head_hash}\n{at.isoformat()}".encode()
    return hmac.new(_signing_key(audit_key), message, hashlib.sha256).hexdigest()


def write_checkpoint(
    store: CheckpointStore, audit_key: bytes, seq: int, head_hash: str, at: datetime
) -> Checkpoint:
    """Sign and store a checkpoint of the chain head. Raises what the store raises."""
    signature = _signature(audit_key, seq, head_hash, at)
    name = f"checkpoint-{seq:012d}-{at:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.json"
    body = {
        "version": VERSION,
        "seq": seq,
        "head_hash": head_hash,
        "at": at.isoformat(),
        "signature": signature,
    }
    store.put(name, json.dumps(body, sort_keys=True).encode())
    return Checkpoint(name, seq, head_hash, at, signature)


def read_checkpoint(store: CheckpointStore, audit_key: bytes, name: str) -> Checkpoint:
    """Parse and authenticate one checkpoint; raises AuditIntegrityError if it is not genuine."""
    try:
        body = json.loads(store.get(name))
        checkpoint = Checkpoint(
            name=name,
            seq=int(body["seq"]),
            head_hash=str(body["head_hash"]),
            at=datetime.fromisoformat(body["at"]),
            signature=str(body["signature"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AuditIntegrityError(f"checkpoint {name} cannot be read") from exc
    expected = _signature(audit_key, checkpoint.seq, checkpoint.head_hash, checkpoint.at)
    if body.get("version") != VERSION or not hmac.compare_digest(expected, checkpoint.signature):
        raise AuditIntegrityError(f"checkpoint {name} has an invalid signature")
    return checkpoint


def latest_seq(store: CheckpointStore) -> int | None:
    """The highest sequence number named by a checkpoint in the store (unauthenticated)."""
    parts = [name.split("-") for name in store.names()]
    return max((int(p[1]) for p in parts if len(p) >= 4 and p[1].isdigit()), default=None)


def checkpoint_head(
    session: Session, store: CheckpointStore, audit_key: bytes, at: datetime
) -> Checkpoint | None:
    """Checkpoint the committed head of the chain.

    Returns None when the log is empty or the newest checkpoint already covers the head.
    """
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    if head is None or latest_seq(store) == int(head[0]):
        return None
    return write_checkpoint(store, audit_key, int(head[0]), str(head[1]), at)


def checkpoint_after_commit(
    engine: Engine, store: CheckpointStore, audit_key: bytes, seq: int, head_hash: str, at: datetime
) -> None:
    """Called once an append's transaction committed: checkpoint it if it is still the entry.

    Re-reads the entry through a fresh connection, because a session can roll back and commit
    again later; a checkpoint of an entry that never committed would look like truncation.
    A failure is logged, never raised: the caller's change has already committed.
    """
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(AuditEntry.hash).where(AuditEntry.seq == seq)).scalar()
        if stored == head_hash:
            write_checkpoint(store, audit_key, seq, head_hash, at)
    except Exception:  # a missed checkpoint must not fail an action that has committed
        log.warning("audit checkpoint at seq %d could not be written", seq, exc_info=True)
