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
3. **delete blobs** — each blob: stored bytes first, then its row; then any stray object
   under the clip's prefix. A store error stops here; the clip stays marked for retry.
4. **tombstone** — only once no blob row and no stored object remain: the tombstone,
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
from storage.audit.checkpoints import checkpoint_head
from storage.clip_rows import delete_clip_rows
from storage.db.engine import Database
from storage.db.footage import Blob, Clip, Consent, DataKey
from storage.db.governance import AuditEntry, Tombstone
from storage.errors import BlobStoreError, StorageError, ValidationError
from storage.holds import held_clip_ids, is_held
from storage.locking import lock_clip
from storage.retention import SitePolicyResult, apply_policies
from storage.vault import Vault

#: Called after each completed step with (step, clip id); tests use it to crash on purpose.
StepHook = Callable[[str, str], None]
STEPS = ("marked", "shredded", "blob-deleted", "blobs-deleted", "tombstoned")
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


@dataclass
class SweepReport:
    at: datetime
    destroyed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
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
        for clip_id in self.pending():
            outcome = self.destroy(clip_id, actor)
            if outcome.destroyed:
                report.destroyed.append(clip_id)
            else:
                report.failed.append({"clip_id": clip_id, "error": outcome.error or ""})
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
            cp = checkpoint_head(session, self.audit.checkpoints, self.audit.key, at)
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
        """Run steps 2-4 for a marked clip; resumes wherever an earlier run stopped.

        Storage failures are returned in the outcome (the clip stays marked for retry);
        a clip that was never marked is refused with ValidationError.
        """
        try:
            if not self._shred(clip_id, actor):
                return Outcome(clip_id, destroyed=True)
            self._flush_sqlite_wal()
            self._delete_blobs(clip_id, actor)
            self._tombstone(clip_id, actor)
        except StorageError as exc:
            if isinstance(exc, ValidationError):
                raise
            return Outcome(clip_id, destroyed=False, error=f"{type(exc).__name__}: {exc}")
        return Outcome(clip_id, destroyed=True)

    def _flush_sqlite_wal(self) -> None:
        """SQLite keeps the page that held the wrapped key in its write-ahead log until a
        checkpoint; checkpoint and truncate it now, so the key's bytes leave every file.
        Best effort: a busy reader only delays it to the next checkpoint."""
        self.db.checkpoint()

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
            if _last_entry(session, clip_id, "clip.shred") is not None:
                return True
            blobs = _blob_rows(session, clip_id)
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

    def _tombstone(self, clip_id: str, actor: Actor) -> None:
        """Step 4. Raises BlobStoreError if any bytes of the clip remain."""
        with self.db.session() as session:
            clip = lock_clip(session, clip_id)
            assert clip is not None
            if clip.status == "destroyed":
                return
            rows = _blob_rows(session, clip_id)
            stored = self.vault.blobs.keys(f"{clip.site_id}/{clip_id}/")
            if rows or stored:
                raise BlobStoreError(f"clip {clip_id} still has {rows + len(stored)} blob(s)")
            self.vault.shred_key(session, clip_id)  # in case a key reappeared (never expected)
            self._delete_late_rows(session, clip, actor)
            session.add(self._make_tombstone(session, clip, actor))
            session.flush()
            shred = _last_entry(session, clip_id, "clip.shred")
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
                },
            )
            tombstone = session.get(Tombstone, clip_id)
            assert tombstone is not None
            tombstone.audit_seq, tombstone.audit_hash = entry.seq, entry.hash
            clip.status = "destroyed"
            clip.title, clip.stage, clip.media = "", "", {}
            if clip.destroy_reason != UPLOAD_REFUSED:
                clip.failure_reason = None
        self._step("tombstoned", clip_id)

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

    def _make_tombstone(self, session: Session, clip: Clip, actor: Actor) -> Tombstone:
        consent = session.get(Consent, clip.consent_id)
        key = session.get(DataKey, clip.id)
        shred = _last_entry(session, clip.id, "clip.shred")
        request = _last_entry(session, clip.id, "clip.destroy_request")
        counts = shred.details if shred is not None else {}
        late = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.target_id == clip.id, AuditEntry.action == "clip.late_rows"
            )
        )
        late_annotations = sum(int(d.get("annotations", 0)) for d in late)
        return Tombstone(
            clip_id=clip.id,
            site_id=clip.site_id,
            kind=clip.kind,
            family_code=clip.family_code,
            consent_id=clip.consent_id,
            form_reference=consent.form_reference if consent is not None else "",
            purposes=list(consent.purposes) if consent is not None else [],
            withdrawn_purposes=list(consent.withdrawn_purposes) if consent is not None else [],
            clip_created_at=clip.created_at,
            delete_after=clip.delete_after,
            destroyed_at=self.audit.clock.now(),
            reason=clip.destroy_reason or "",
            destroyed_by=actor.id,
            requested_at=clip.destroy_requested_at,
            requested_by=request.actor_id if request is not None else None,
            key_destroyed_at=key.destroyed_at if key is not None else None,
            method="crypto-shred",
            annotation_count=int(counts.get("annotations", 0)) + late_annotations,
            blob_count=int(counts.get("blobs", 0)),
        )


def _blob_rows(session: Session, clip_id: str) -> int:
    return session.scalar(select(func.count(Blob.id)).where(Blob.clip_id == clip_id)) or 0


def _last_entry(session: Session, clip_id: str, action: str) -> AuditEntry | None:
    query = (
        select(AuditEntry)
        .where(AuditEntry.target_id == clip_id, AuditEntry.action == action)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return session.scalar(query)
