"""Put a file into a clip's staging blobs the way reception does, for pipeline tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from ingest.clips import register_clip
from ingest.reception import mark_received, stage_stream
from ingest.services import IngestServices
from storage.accounts import create_site
from storage.audit import Actor
from storage.consent import parse_consent, record_consent
from storage.db.footage import Blob, Clip
from storage.db.tenancy import Site

ACTOR = Actor.system("test")
CONSENT = {
    "family": "FAM-0042",
    "participants": ["parent-1", "infant"],
    "purposes": ["family-review", "supervision"],
    "form_reference": "CF-2026-0117",
    "taken_by": "facilitator-07",
    "taken_at": "2026-03-01T14:30:00Z",
}


def _site(services: IngestServices, slug: str) -> Site:
    with services.db.session() as session:
        site = session.scalar(select(Site).where(Site.slug == slug))
        if site is None:
            site = create_site(session, services.audit, ACTOR, slug, slug)
        return site


def stage_clip(
    services: IngestServices, source: Path | bytes, *, parts: int = 1, site: str = "north"
) -> str:
    """Register a clip and stage ``source`` as ``parts`` staging blobs (``parts=0`` stages
    nothing); the clip ends ``queued``. Returns its id."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    row = _site(services, site)
    consent = parse_consent(CONSENT, now=datetime(2026, 3, 2, tzinfo=UTC))
    with services.db.session() as session:
        stored = record_consent(session, services.audit, ACTOR, row.id, consent)
        clip = register_clip(
            session,
            services.vault,
            services.audit,
            services.settings,
            actor=ACTOR,
            site=row,
            kind="home-visit",
            consent=stored,
            uploaded_by=None,
        )
    step = -(-len(data) // parts) if parts else 0
    for index in range(parts):
        stage_stream(services, clip, index, io.BytesIO(data[index * step : (index + 1) * step]))
    with services.db.session() as session:
        live = session.get(Clip, clip.id)
        assert live is not None
        mark_received(session, services.audit, ACTOR, live, len(data), parts)
    return clip.id


def blobs_of(services: IngestServices, clip_id: str) -> dict[str, Blob]:
    """The clip's blob rows by rendition name."""
    with services.db.session() as session:
        return {b.rendition: b for b in services.vault.blobs_of(session, clip_id)}


def clip_row(services: IngestServices, clip_id: str) -> Clip:
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        return clip


def plaintext(services: IngestServices, blob: Blob) -> bytes:
    with services.db.session() as session:
        return b"".join(services.vault.iter_plaintext(session, blob))
