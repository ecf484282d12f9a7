"""Verification of the audit chain against its HMAC key and its signed checkpoints.

Walks every entry in sequence order and recomputes the chain. The first entry that does
not check out is named:

* a gap in the sequence numbers — an entry was deleted (or the rows were renumbered);
* ``prev_hash`` not equal to the previous entry's hash — an entry was inserted, deleted
  or moved (reordered);
* a stored hash that the HMAC does not reproduce — the entry was modified;
* a checkpoint whose sequence number is beyond the end of the log — the tail was cut off;
* a checkpoint whose hash differs from the entry at its sequence number — the history up
  to that checkpoint was rewritten (even if the chain was recomputed without the key);
* a checkpoint whose signature does not verify — the checkpoint itself was forged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit.chain import GENESIS, chain_hash
from storage.audit.checkpoints import Checkpoint, CheckpointStore, read_checkpoint
from storage.db.governance import AuditEntry
from storage.errors import AuditIntegrityError


@dataclass
class VerifyResult:
    """The outcome of one verification; ``first_bad_seq`` names the first bad entry."""

    ok: bool
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    latest_checkpoint_seq: int | None = None
    checkpoint_problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(
    session: Session, audit_key: bytes, store: CheckpointStore | None, *, batch: int = 1000
) -> VerifyResult:
    """Verify the whole chain and every checkpoint; never raises for tampering.

    Store or database failures propagate (an unverifiable log is not a verified one).
    """
    checkpoints, forged = _load_checkpoints(store, audit_key)
    wanted = {cp.seq for cp in checkpoints}
    seen: dict[int, str] = {}
    result = VerifyResult(ok=True, checkpoints=len(checkpoints))
    if checkpoints:
        result.latest_checkpoint_seq = max(cp.seq for cp in checkpoints)
    expected_seq, prev = 1, GENESIS
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    for entry in session.scalars(query):
        problem = _check_entry(entry, expected_seq, prev, audit_key)
        if problem is not None:
            result.ok, result.first_bad_seq, result.problem = False, problem[0], problem[1]
            break
        if entry.seq in wanted:
            seen[entry.seq] = entry.hash
        result.entries += 1
        result.head_seq, result.head_hash = entry.seq, entry.hash
        expected_seq, prev = entry.seq + 1, entry.hash
        session.expunge(entry)  # keep memory flat on long logs
    if result.ok:
        _check_checkpoints(result, checkpoints, seen)
    if forged:
        result.checkpoint_problems.extend(forged)
        if result.ok:
            result.ok = False
            result.problem = forged[0]
    return result


def _check_entry(
    entry: AuditEntry, expected_seq: int, prev: str, key: bytes
) -> tuple[int, str] | None:
    if entry.seq != expected_seq:
        if entry.seq < expected_seq:
            return entry.seq, f"entry #{entry.seq} is out of order"
        return expected_seq, (
            f"entry #{expected_seq} is missing (deleted): the log jumps to #{entry.seq}"
        )
    if entry.prev_hash != prev:
        return entry.seq, (
            f"entry #{entry.seq} does not follow entry #{entry.seq - 1} "
            "(an entry was inserted, deleted or reordered)"
        )
    if entry.hash != chain_hash(key, prev, entry):
        return entry.seq, f"entry #{entry.seq} was modified or forged (its HMAC does not match)"
    return None


def _check_checkpoints(
    result: VerifyResult, checkpoints: list[Checkpoint], seen: dict[int, str]
) -> None:
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.seq > result.head_seq:
            result.ok = False
            result.first_bad_seq = result.head_seq + 1
            result.problem = (
                f"the log was truncated: entries #{result.head_seq + 1} to #{cp.seq} are "
                f"missing (checkpoint {cp.name} records #{cp.seq}; the log ends at "
                f"#{result.head_seq})"
            )
            return
        if seen.get(cp.seq) != cp.head_hash:
            result.ok = False
            result.first_bad_seq = cp.seq
            result.problem = (
                f"entry #{cp.seq} differs from checkpoint {cp.name} (history was rewritten)"
            )
            return


def _load_checkpoints(
    store: CheckpointStore | None, audit_key: bytes
) -> tuple[list[Checkpoint], list[str]]:
    if store is None:
        return [], []
    good: list[Checkpoint] = []
    bad: list[str] = []
    for name in store.names():
        try:
            good.append(read_checkpoint(store, audit_key, name))
        except AuditIntegrityError as exc:
            bad.append(str(exc))
    return good, bad
