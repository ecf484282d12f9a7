"""Seeding shared by the benchmarks: a site, a facilitator, a consent and a ready clip
whose playback rendition is random bytes (also kept in plaintext, as the baseline)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def seed_playback_clip(
    settings: Any, plain: Path, size: int, *, slug: str, family: str, email: str, password: str
) -> str:
    """Initialise the installation of ``settings`` and store a ready home-visit clip whose
    ``playback`` rendition is ``size`` random bytes, also written to ``plain``; returns
    the clip id. The facilitator ``email`` signs in with ``password``."""
    from ingest.clips import register_clip
    from storage.accounts import add_user, create_site
    from storage.audit import Actor
    from storage.consent import ConsentInput, record_consent
    from storage.db.tenancy import Site
    from webapp.composition import build_services, initialize

    initialize(settings)
    svc = build_services(settings)
    setup = Actor.system(f"bench-{slug}")
    try:
        with svc.db.session() as db:
            site = create_site(db, svc.audit, setup, slug, f"{slug.title()} site")
            user = add_user(
                db, svc.audit, setup, site_id=site.id, email=email, role="facilitator",
                password=password, display_name=f"{slug.title()} Facilitator",
            )  # fmt: skip
            actor = Actor(user.id, "facilitator", site.id)
            consent = record_consent(
                db, svc.audit, actor, site.id,
                ConsentInput(
                    family=family, participants=("parent-1", "infant"),
                    purposes=("family-review", "supervision"), form_reference=f"CF-{slug}",
                    taken_by="Bench", taken_at=datetime.now(UTC),
                ),
            )  # fmt: skip
            row = db.get(Site, site.id)
            assert row is not None
            clip = register_clip(
                db, svc.vault, svc.audit, settings, actor=actor, site=row, kind="home-visit",
                consent=consent, uploaded_by=user.id, title=slug,
            )  # fmt: skip
            clip.status, clip.duration_ms, clip.frame_rate = "ready", 600_000, "25"
            clip_id = clip.id
        with (
            svc.db.session() as db,
            plain.open("wb") as out,
            svc.vault.writer(db, site.id, clip_id, "playback", "video/mp4") as writer,
        ):
            left = size
            while left:
                chunk = os.urandom(min(8 * MiB, left))
                writer.write(chunk)
                out.write(chunk)
                left -= len(chunk)
    finally:
        svc.close()
    return clip_id
