"""Destroying a clip by crypto-shredding, and the retention sweep that does it when due.

Destruction runs in four steps, each its own transaction, so a crash at any point leaves
a state the next run completes (every step checks whether it already happened):

1. **mark** — ``destroy_requested_at`` + reason, audited ``clip.destroy_request``. From
   here on the clip is gone for every use (purpose checks refuse it) and every later sweep
   resumes it, whatever its holds or ``delete_after`` say.
2. **shred** — the wrapped data key is destroyed, and every row that hangs off the clip
   (annotations, replies, revisions, links, moments, sign-off, uploads, and any other table
   with a foreign key to the clip) is deleted; audited ``clip.shred`` with the counts.
   After this commit no copy of any blob of the clip can be decrypted.
   The same commit sets status ``erasure-pending`` ("key destroyed, erasure pending") and
   records the key's erasure probe (storage.erasure.probe).
3. **delete blobs** — each blob: stored bytes first, then its row; then any stray object
   under the clip's prefix. A store error stops here; the clip stays marked for retry.
4. **verify erasure** — once per batch (storage.erasure): SQLite checkpoints and searches
   its files, PostgreSQL rewrites the key table and searches its file. A clip whose wrapped
   key may still be in a live file stays ``erasure-pending`` with the reason, is reported
   so, and the next sweep checks again.
5. **tombstone** — only once erasure is verified and no blob row or stored object remains:
   the tombstone (with when and how erasure was verified),
   ``clip.destroy`` audit entry (its seq/hash recorded on the tombstone), status destroyed,
   free-text fields of the clip row cleared — except, for a refused upload, the
   facilitator-facing ``failure_reason`` (fixed wording chosen by the pipeline, never
   anything of the upload), so the uploader still learns why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.clip_rows import delete_clip_rows
from storage.db.engine import Database
from storage.db.footage import Blob, Clip, DataKey
from storage.db.governance import Tombstone
from storage.destruction.tombstones import last_entry, make_tombstone
from storage.erasure import Verdict, probe_of, verify_erasure
from storage.errors import BlobStoreError, StorageError, ValidationError
from storage.holds import held_clip_ids, is_held
from storage.locking import lock_clip
from storage.retention import SitePolicyResult, apply_policies
from storage.vault import Vault

#: Called after each completed step with (step, clip id); tests use it to crash on purpose.
StepHook = Callable[[str, str], None]
STEPS = ("marked", "shredded", "blob-deleted", "blobs-deleted", "erasure-verified", "tombstoned")
#: The status of a clip whose key is destroyed but whose erasure is not yet verified.
ERASURE_PENDING = "erasure-pending"
REAPPEARED = "a data key reappeared and was destroyed; its erasure is checked at the next sweep"
# upload-abandoned/-terminated: footage that never fully arrived (ingest.reception.discard_clip);
# upload-refused: footage the pipeline refused as not plain video (ingest.outcomes.refuse).
UPLOAD_REFUSED = "upload-refused"
REASONS = (
    "retention-expired",
    "consent-withdrawn",
    "upload-abandoned",
    "upload-terminated",
    UPLOAD_REFUSED,
)
SWEEPER = Actor.system("retention-sweep")


@dataclass(frozen=True)
class Outcome:
    """How far the destruction of one clip got."""

    clip_id: str
    destroyed: bool
    error: str | None = None
    #: Why erasure is not yet verified (the key is destroyed; the next sweep checks again).
    erasure_pending: str | None = None


@dataclass
class SweepReport:
    at: datetime
    destroyed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    #: ``{"clip_id", "problem"}``: key destroyed, erasure not yet verified.
    erasure_pending: list[dict[str, str]] = field(default_factory=list)
    policies: list[SitePolicyResult] = field(default_factory=list)
    checkpoint_seq: int | None = None


def request_destruction(
    session: Session, audit: AuditLog, actor: Actor, clip: Clip, reason: str
) -> bool:
    """Step 1 in the caller's unit of work (lock the clip first). False if already begun.

    Raises ValidationError for an unknown reason.
    """
    if reason not in REASONS:
        raise ValidationError(f"unknown destruction reason {reason!r}; expected {REASONS}")
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        return False
    clip.destroy_requested_at = audit.clock.now()
    clip.destroy_reason = reason
    audit.append(
        session,
        actor,
        "clip.destroy_request",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={"reason": reason},
    )
    return True


class Destroyer:
    """Runs destructions and sweeps; each step commits on its own (see module docstring)."""

    def __init__(
        self, db: Database, vault: Vault, audit: AuditLog, on_step: StepHook | None = None
    ) -> None:
        self.db = db
        self.vault = vault
        self.audit = audit
        self.on_step = on_step

    def _step(self, step: str, clip_id: str) -> None:
        if self.on_step is not None:
            self.on_step(step, clip_id)

    # -- the retention sweep ----------------------------------------------------------
    def sweep(self, retention: Mapping[str, Any], actor: Actor = SWEEPER) -> SweepReport:
        """Apply the policy, then destroy every due clip without a hold and finish every
        destruction already begun. Per-clip failures are reported, not raised; the clip
        stays marked and the next sweep retries it. Raises ValidationError for a policy that
        does not cover the known kinds.
        """
        now = self.audit.clock.now()
        report = SweepReport(at=now)
        with self.db.session() as session:
            report.policies = apply_policies(session, self.audit, retention, actor)
        with self.db.session() as session:
            held = held_clip_ids(session)
            due = list(
                session.scalars(
                    select(Clip.id).where(
                        Clip.status != "destroyed",
                        Clip.destroy_requested_at.is_(None),
                        Clip.delete_after <= now,
                    )
                )
            )
        for clip_id in due:
            if clip_id in held or self._mark_due(clip_id, now, actor) == "held":
                report.held.append(clip_id)
        for outcome in self.destroy_many(self.pending(), actor):
            if outcome.destroyed:
                report.destroyed.append(outcome.clip_id)
            elif outcome.erasure_pending is not None:
                pending = {"clip_id": outcome.clip_id, "problem": outcome.erasure_pending}
                report.erasure_pending.append(pending)
            else:
                report.failed.append({"clip_id": outcome.clip_id, "error": outcome.error or ""})
        report.checkpoint_seq = self.checkpoint(now)
        return report

    def pending(self) -> list[str]:
        """Clips whose destruction has begun but not finished (oldest request first)."""
        with self.db.session() as session:
            query = (
                select(Clip.id)
                .where(Clip.destroy_requested_at.is_not(None), Clip.status != "destroyed")
                .order_by(Clip.destroy_requested_at, Clip.id)
            )
            return list(session.scalars(query))

    def checkpoint(self, at: datetime) -> int | None:
        """Checkpoint the committed chain head, if a checkpoint store is configured."""
        if self.audit.checkpoints is None:
            return None
        with self.db.session() as session:
            cp = self.audit.checkpoint_head(session, at)
        return cp.seq if cp is not None else None

    def _mark_due(self, clip_id: str, now: datetime, actor: Actor) -> str:
        """Step 1 for a due clip: "marked", "held", or "skipped" (no longer due)."""
        with self.db.session() as session:
            clip = lock_clip(session, clip_id)
            # Re-check under the lock: a hold may have been placed since the query.
            if clip is None or clip.delete_after is None or clip.delete_after > now:
                return "skipped"
            if is_held(session, clip_id):
                return "held"
            marked = request_destruction(session, self.audit, actor, clip, "retention-expired")
        if marked:
            self._step("marked", clip_id)
        return "marked" if marked else "skipped"

    # -- one clip -----------------------------------------------------------------------
    def destroy(self, clip_id: str, actor: Actor) -> Outcome:
        """Run steps 2-5 for one marked clip (see :meth:`destroy_many`)."""
        return self.destroy_many([clip_id], actor)[0]

    def destroy_many(self, clip_ids: list[str], actor: Actor) -> list[Outcome]:
        """Run steps 2-5 for marked clips, resuming wherever an earlier run stopped; one
        erasure check covers the batch. One outcome per clip, in order: destroyed, failed
        (storage error; the clip stays marked for retry) or erasure pending.

        Raises ValidationError for a clip that does not exist or was never marked.
        """
        outcomes: dict[str, Outcome] = {}
        shredded: list[str] = []
        for clip_id in clip_ids:
            try:
                if not self._shred(clip_id, actor):
                    outcomes[clip_id] = Outcome(clip_id, destroyed=True)
                    continue
                self._delete_blobs(clip_id, actor)
                shredded.append(clip_id)
            except StorageError as exc:
                if isinstance(exc, ValidationError):
                    raise
                outcomes[clip_id] = _failed(clip_id, exc)
        verdicts = self._verify_erasure(shredded)
        for clip_id in shredded:
            verdict = verdicts[clip_id]
            if not verdict.verified:
                error = f"key destroyed, erasure pending: {verdict.detail}"
                outcomes[clip_id] = Outcome(clip_id, False, error, verdict.detail)
                continue
            self._step("erasure-verified", clip_id)
            try:
                done = self._tombstone(clip_id, actor, verdict)
            except StorageError as exc:
                outcomes[clip_id] = _failed(clip_id, exc)
                continue
            pending = None if done else REAPPEARED
            outcomes[clip_id] = Outcome(
                clip_id, done, pending and f"erasure pending: {pending}", pending
            )
        return [outcomes[clip_id] for clip_id in clip_ids]

    def _verify_erasure(self, clip_ids: list[str]) -> dict[str, Verdict]:
        """Step 4 for a batch; records the check (and any reason it is pending) on each clip."""
        if not clip_ids:
            return {}
        with self.db.session() as session:
            clips = session.scalars(select(Clip).where(Clip.id.in_(clip_ids))).all()
            probes = {c.id: _probe(c.erasure_probe) for c in clips}
        verdicts = verify_erasure(self.db, probes)
        now = self.audit.clock.now()
        with self.db.session() as session:
            for clip in session.scalars(select(Clip).where(Clip.id.in_(clip_ids))):
                verdict = verdicts[clip.id]
                clip.erasure_checked_at = now
                clip.erasure_problem = None if verdict.verified else verdict.detail
        return verdicts

    def _shred(self, clip_id: str, actor: Actor) -> bool:
        """Step 2. Returns False if the clip is already fully destroyed."""
        with self.db.session() as session:
            clip = lock_clip(session, clip_id)
            if clip is None:
                raise ValidationError(f"no clip {clip_id}")
            if clip.status == "destroyed":
                return False
            if clip.destroy_requested_at is None:
                raise ValidationError(f"clip {clip_id} is not marked for destruction")
            clip.status = ERASURE_PENDING
            if last_entry(session, clip_id, "clip.shred") is not None:
                return True
            blobs = _blob_rows(session, clip_id)
            key = session.get(DataKey, clip_id)
            wrapped = key.wrapped if key is not None else None
            # Recorded in the shred's own commit, so a sweep after a crash can still search.
            clip.erasure_probe = probe_of(key.provider, wrapped).hex() if key and wrapped else ""
            key_destroyed = self.vault.shred_key(session, clip_id)
            deleted = delete_clip_rows(session, clip_id)
            self.audit.append(
                session,
                actor,
                "clip.shred",
                target_type="clip",
                target_id=clip_id,
                site_id=clip.site_id,
                details={
                    "key_destroyed": key_destroyed,
                    "blobs": blobs,
                    "annotations": deleted.get("annotations", 0),
                    "rows_deleted": deleted,
                },
            )
        self._step("shredded", clip_id)
        return True

    def _delete_blobs(self, clip_id: str, actor: Actor) -> None:
        """Step 3. Raises BlobStoreError (or BlobError) when the store fails."""
        with self.db.session() as session:
            clip = lock_clip(session, clip_id)
            assert clip is not None
            site_id = clip.site_id
            # A row written by a request that raced the shred may point at a blob.
            self._delete_late_rows(session, clip, actor)
            blob_ids = [b.id for b in self.vault.blobs_of(session, clip_id)]
        for blob_id in blob_ids:
            with self.db.session() as session:
                blob = session.get(Blob, blob_id)
                if blob is not None:
                    self.vault.delete_blob(session, blob)
            self._step("blob-deleted", clip_id)
        # Objects whose row never committed (a write cut short by a crash).
        for key in self.vault.blobs.keys(f"{site_id}/{clip_id}/"):
            self.vault.blobs.delete(key)
        self._step("blobs-deleted", clip_id)

    def _tombstone(self, clip_id: str, actor: Actor, erasure: Verdict) -> bool:
        """Step 5, after a verified erasure. False if a data key had reappeared: it is then
        destroyed and its erasure is left to the next check. Raises BlobStoreError if any
        bytes of the clip remain."""
        with self.db.session() as session:
            clip = lock_clip(session, clip_id)
            assert clip is not None
            if clip.status == "destroyed":
                return True
            rows = _blob_rows(session, clip_id)
            stored = self.vault.blobs.keys(f"{clip.site_id}/{clip_id}/")
            if rows or stored:
                raise BlobStoreError(f"clip {clip_id} still has {rows + len(stored)} blob(s)")
            key = session.get(DataKey, clip_id)
            if key is not None and key.wrapped is not None:  # reappeared (never expected)
                clip.erasure_probe = probe_of(key.provider, key.wrapped).hex()
                self.vault.shred_key(session, clip_id)
                clip.erasure_problem = REAPPEARED
                return False
            self._delete_late_rows(session, clip, actor)
            tomb = make_tombstone(session, clip, actor, self.audit.clock.now())
            tomb.erased_at, tomb.erasure_evidence = clip.erasure_checked_at, erasure.detail[:400]
            session.add(tomb)
            session.flush()
            shred = last_entry(session, clip_id, "clip.shred")
            entry = self.audit.append(
                session,
                actor,
                "clip.destroy",
                target_type="clip",
                target_id=clip_id,
                site_id=clip.site_id,
                details={
                    "reason": clip.destroy_reason,
                    "method": "crypto-shred",
                    "shred_seq": shred.seq if shred is not None else None,
                    "erasure": erasure.detail,
                },
            )
            tombstone = session.get(Tombstone, clip_id)
            assert tombstone is not None
            tombstone.audit_seq, tombstone.audit_hash = entry.seq, entry.hash
            clip.status = "destroyed"
            clip.title, clip.stage, clip.media = "", "", {}
            clip.erasure_probe, clip.erasure_problem = None, None
            if clip.destroy_reason != UPLOAD_REFUSED:
                clip.failure_reason = None
        self._step("tombstoned", clip_id)
        return True

    def _delete_late_rows(self, session: Session, clip: Clip, actor: Actor) -> None:
        """Rows that appeared after the shred (a concurrent request): delete and audit them."""
        deleted = {table: n for table, n in delete_clip_rows(session, clip.id).items() if n}
        if deleted:
            self.audit.append(
                session,
                actor,
                "clip.late_rows",
                target_type="clip",
                target_id=clip.id,
                site_id=clip.site_id,
                details={"annotations": deleted.get("annotations", 0), "rows_deleted": deleted},
            )


def _failed(clip_id: str, exc: StorageError) -> Outcome:
    return Outcome(clip_id, destroyed=False, error=f"{type(exc).__name__}: {exc}")


def _probe(hex_probe: str | None) -> bytes | None:
    return None if hex_probe is None else bytes.fromhex(hex_probe)


def _blob_rows(session: Session, clip_id: str) -> int:
    return session.scalar(select(func.count(Blob.id)).where(Blob.clip_id == clip_id)) or 0
