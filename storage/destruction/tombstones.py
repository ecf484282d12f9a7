"""The tombstone a destroyed clip leaves: what it was, why and when it went, who asked,
which KEK wrapped its key (the shred horizon), and how many annotations and blobs went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import Actor
from storage.db.footage import Clip, Consent, DataKey
from storage.db.governance import AuditEntry, Tombstone


def make_tombstone(session: Session, clip: Clip, actor: Actor, now: datetime) -> Tombstone:
    """The tombstone of ``clip`` (not yet added): what was destroyed, when, why, by whom,
    from the clip, its consent, its shredded key row and its audit entries."""
    consent = session.get(Consent, clip.consent_id)
    key = session.get(DataKey, clip.id)
    shred = last_entry(session, clip.id, "clip.shred")
    request = last_entry(session, clip.id, "clip.destroy_request")
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
        destroyed_at=now,
        reason=clip.destroy_reason or "",
        destroyed_by=actor.id,
        requested_at=clip.destroy_requested_at,
        requested_by=request.actor_id if request is not None else None,
        key_destroyed_at=key.destroyed_at if key is not None else None,
        # The KEK that wrapped the key when it was shredded: its epoch's retirement is
        # the shred horizon for every copy (storage.kek.horizon).
        kek_provider=key.provider if key is not None else None,
        kek_version=key.kek_version if key is not None else None,
        method="crypto-shred",
        annotation_count=int(counts.get("annotations", 0)) + late_annotations,
        blob_count=int(counts.get("blobs", 0)),
    )


def last_entry(session: Session, clip_id: str, action: str) -> AuditEntry | None:
    """The newest audit entry ``action`` about the clip, or None."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.target_id == clip_id, AuditEntry.action == action)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return session.scalar(query)
