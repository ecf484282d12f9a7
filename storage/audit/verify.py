"""Verification of the audit chain against its HMAC key, its signed checkpoints and receipts.

Walks every entry in sequence order and recomputes the chain. The first problem found is
named:

* a gap in the sequence numbers — an entry was deleted (or the rows were renumbered);
* ``prev_hash`` not equal to the previous entry's hash — an entry was inserted, deleted
  or moved (reordered);
* a stored hash that the HMAC does not reproduce — the entry was modified;
* a checkpoint or receipt whose sequence number is beyond the end of the log — the tail
  was cut off;
* a checkpoint or receipt whose hash differs from the entry at its sequence number — the
  history up to it was rewritten (even if the chain was recomputed with the key);
* an ``audit.checkpoint`` entry naming a checkpoint that is not in the store, or differs
  from it — checkpoints were deleted (to hide a cut tail);
* a checkpoint whose Ed25519 signature does not verify — the checkpoint itself was forged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit.chain import CHECKPOINT_ACTION, GENESIS, chain_hash
from storage.audit.checkpoints import Checkpoint, Checkpoints
from storage.db.governance import AuditEntry


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
    recorded_checkpoints: int = 0
    receipts: int = 0
    checkpoint_problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fail(self, seq: int | None, problem: str) -> None:
        """Record a problem; the first one recorded is the one reported."""
        if self.ok:
            self.ok, self.first_bad_seq, self.problem = False, seq, problem


@dataclass(frozen=True)
class _Record:
    """An ``audit.checkpoint`` entry: entry ``entry_seq`` says checkpoint ``name`` exists."""

    entry_seq: int
    name: str
    seq: Any
    head_hash: Any


def verify_chain(
    session: Session,
    audit_key: bytes,
    checkpoints: Checkpoints | None,
    *,
    receipts: Sequence[Checkpoint] = (),
    batch: int = 1000,
) -> VerifyResult:
    """Verify the whole chain, every checkpoint and each given (already authenticated)
    receipt; never raises for tampering.

    Store or database failures propagate (an unverifiable log is not a verified one).
    """
    found, forged = checkpoints.load() if checkpoints is not None else ([], [])
    wanted = {cp.seq for cp in found} | {r.seq for r in receipts}
    seen: dict[int, str] = {}
    records: list[_Record] = []
    result = VerifyResult(ok=True, checkpoints=len(found), receipts=len(receipts))
    if found:
        result.latest_checkpoint_seq = max(cp.seq for cp in found)
    expected_seq, prev = 1, GENESIS
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    for entry in session.scalars(query):
        problem = _check_entry(entry, expected_seq, prev, audit_key)
        if problem is not None:
            result.fail(*problem)
            break
        if entry.seq in wanted:
            seen[entry.seq] = entry.hash
        if entry.action == CHECKPOINT_ACTION:
            details = entry.details or {}
            records.append(
                _Record(
                    entry.seq, str(entry.target_id), details.get("seq"), details.get("head_hash")
                )
            )
        result.entries += 1
        result.head_seq, result.head_hash = entry.seq, entry.hash
        expected_seq, prev = entry.seq + 1, entry.hash
        session.expunge(entry)  # keep memory flat on long logs
    result.recorded_checkpoints = len(records)
    if result.ok:
        _check_known_heads(result, [("receipt", r) for r in receipts], seen)
        _check_known_heads(result, [("checkpoint", cp) for cp in found], seen)
    result.checkpoint_problems.extend(forged)
    if forged:  # before the records: a forged checkpoint is reported as forged, not missing
        result.fail(None, forged[0])
    if result.ok:
        _check_records(result, records, found, checkpoints is not None)
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


def _check_known_heads(
    result: VerifyResult, known: list[tuple[str, Checkpoint]], seen: dict[int, str]
) -> None:
    """Each signed head (receipt or checkpoint) must be in the log, unchanged."""
    for kind, cp in sorted(known, key=lambda k: k[1].seq, reverse=True):
        if cp.seq > result.head_seq:
            result.fail(
                result.head_seq + 1,
                f"the log was truncated: entries #{result.head_seq + 1} to #{cp.seq} are "
                f"missing ({kind} {cp.name} records #{cp.seq}; the log ends at "
                f"#{result.head_seq})",
            )
        elif seen.get(cp.seq) != cp.head_hash:
            result.fail(
                cp.seq, f"entry #{cp.seq} differs from {kind} {cp.name} (history was rewritten)"
            )


def _check_records(
    result: VerifyResult, records: list[_Record], found: list[Checkpoint], have_store: bool
) -> None:
    """Every checkpoint the chain says was written must still be in the store."""
    by_name = {cp.name: cp for cp in found}
    for record in records:
        cp = by_name.get(record.name)
        if not have_store:
            problem = f"entry #{record.entry_seq} records checkpoint {record.name}, but no "
            result.fail(record.entry_seq, problem + "checkpoint store was given")
        elif cp is None:
            result.fail(
                record.entry_seq,
                f"checkpoint {record.name} (of entry #{record.seq}), recorded by entry "
                f"#{record.entry_seq}, is missing from the checkpoint store (deleted; "
                "the end of the log may have been cut off with it)",
            )
        elif (cp.seq, cp.head_hash) != (record.seq, record.head_hash):
            result.fail(
                record.entry_seq,
                f"checkpoint {record.name} differs from its record in entry #{record.entry_seq}",
            )
