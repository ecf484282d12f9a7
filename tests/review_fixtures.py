"""Review objects for the web fixtures' world (called from tests.webapp_fixtures).

:func:`seed_review` gives a site's ready clip what the player needs — a frame rate, an
encrypted ``playback`` rendition (synthetic bytes: transport is what the web tests
check), a thumbnail sprite and track — plus a facilitator's coded annotation, a
supervisor's note, a reply, a link between the two, and a rendered still.
"""

from __future__ import annotations

import random
from typing import Any

from review.annotations import create_annotation
from review.links import link_annotations
from review.moments import add_still
from review.taxonomy import load_registry
from review.threads import add_reply
from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.review import Moment
from webapp.composition import Services

#: Synthetic playback size (odd, so ranges at the very end are exercised too).
PLAYBACK_SIZE = 200_003
SPRITE_BYTES = b"\xff\xd8\xff\xe0sprite-bytes-for-tests\xff\xd9"
STILL_BYTES = b"\xff\xd8\xff\xe0still-bytes-for-tests\xff\xd9"
THUMBNAILS_VTT = (
    "WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nsprite.jpg#xywh=0,0,160,90\n\n"
    "00:00:10.000 --> 00:00:20.000\nsprite.jpg#xywh=160,0,160,90\n"
)


def playback_bytes(seed: str, size: int = PLAYBACK_SIZE) -> bytes:
    """Deterministic pseudo-random bytes standing in for a rendition."""
    return random.Random(seed).randbytes(size)


def seed_review(svc: Services, site: Any) -> None:
    """Renditions and review objects for ``site.clip``; sets ``site.annotation``,
    ``site.reply``, ``site.link`` and ``site.moment``."""
    facilitator = Actor(site.users["facilitator"], "facilitator", site.id)
    supervisor = Actor(site.users["supervisor"], "supervisor", site.id)
    registry = load_registry(svc.settings.taxonomy_dir)
    with svc.db.session() as db:
        clip = db.get(Clip, site.clip)
        assert clip is not None
        clip.frame_rate, clip.width, clip.height = "25", 320, 180
        vault = svc.vault
        vault.put_bytes(db, site.id, clip.id, "playback", playback_bytes(site.slug), "video/mp4")
        vault.put_bytes(db, site.id, clip.id, "sprite", SPRITE_BYTES, "image/jpeg")
        vault.put_bytes(db, site.id, clip.id, "thumbnails", THUMBNAILS_VTT.encode(), "text/vtt")
    with svc.db.session() as db:
        cue = create_annotation(
            db, svc.audit, registry, facilitator, site.clip, start_ms=3000, end_ms=6000,
            subject="infant", scheme_id="infant-cues", codes=["smiling"], text="Baby smiles.",
        )  # fmt: skip
        note = create_annotation(
            db, svc.audit, registry, supervisor, site.clip, start_ms=6500,
            subject="parent", text="Mum waits.",
        )  # fmt: skip
        reply = add_reply(db, svc.audit, supervisor, cue.id, "Lovely moment.")
        link = link_annotations(db, svc.audit, facilitator, cue.id, note.id)
        still = add_still(db, svc.audit, facilitator, site.clip, at_ms=4000, caption="Look!")
        blob = svc.vault.put_bytes(
            db, site.id, site.clip, f"still-{still.id}", STILL_BYTES, "image/jpeg"
        )
        row = db.get(Moment, still.id)
        assert row is not None
        row.status, row.blob_id = "ready", blob.id
        site.annotation, site.reply, site.link, site.moment = cue.id, reply.id, link.id, still.id
