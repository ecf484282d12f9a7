"""Helpers for storage tests: a site, consent, clip and data key, and one stored blob."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.accounts import create_site
from storage.audit import Actor
from storage.db.footage import Blob, Clip, Consent
from storage.vault import Vault
from webapp.composition import Services

ACTOR = Actor.system("test")


def new_clip(session: Session, svc: Services, vault: Vault, slug: str = "north") -> Clip:
    site = create_site(session, svc.audit, ACTOR, slug, slug.title())
    now = svc.clock.now()
    consent = Consent(
        site_id=site.id,
        family_code="F-001",
        participants=["parent", "infant"],
        purposes=["supervision"],
        form_reference="form-1",
        taken_by="facilitator",
        taken_at=now,
        created_at=now,
    )
    session.add(consent)
    session.flush()
    clip = Clip(
        site_id=site.id,
        consent_id=consent.id,
        kind="home-visit",
        family_code="F-001",
        created_at=now,
        updated_at=now,
    )
    session.add(clip)
    session.flush()
    vault.create_key(session, site.id, clip.id)
    return clip


def store_blob(svc: Services, vault: Vault, data: bytes, slug: str = "north") -> Blob:
    with svc.db.session() as session:
        clip = new_clip(session, svc, vault, slug)
        with vault.writer(session, clip.site_id, clip.id, "original", "video/mp4") as out:
            for i in range(0, len(data), 1000):  # writes that straddle segment borders
                out.write(data[i : i + 1000])
        return out.row
