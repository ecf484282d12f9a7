"""`verp demo` seeding: a demo site, one user per role, a processed clip with annotations.

Everything goes through the real services: the clip is generated with ffmpeg, received
and encrypted by ingest (consent recorded first), processed by the real pipeline and
annotated through the review services. A second, unprocessed clip is destroyed by a
consent withdrawal so the DPO pages show a tombstone and its certificate.

Idempotent: a second run finds the site, users and clips and changes nothing. The demo
passwords are fixed and documented (README) — for a laptop demo on 127.0.0.1 only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from ingest import ffmpeg_tool, pipeline
from ingest.reception import receive_file
from review.annotations import create_annotation
from review.links import link_annotations
from review.taxonomy import load_registry
from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.consent import ConsentInput
from storage.db.footage import Clip
from storage.db.governance import Tombstone
from storage.db.tenancy import ROLES, Site, User
from storage.destruction import Destroyer
from storage.errors import NotFound
from storage.withdrawal import withdraw_consent
from webapp.composition import Services

SITE_SLUG = "demo"
SITE_NAME = "Riverside Family Service (demo)"
DEMO_ACTOR = Actor.system("demo")
#: Fixed, documented demo credentials (README). Never use them outside a local demo.
PASSWORDS = {
    "facilitator": "demo-facilitator-pass",
    "supervisor": "demo-supervisor-pass",
    "dpo": "demo-dpo-pass-2026",
    "admin": "demo-admin-pass-2026",
}
NAMES = {
    "facilitator": "Sam Facilitator",
    "supervisor": "Alex Supervisor",
    "dpo": "Jo Data-Protection",
    "admin": "Kim Site-Admin",
}
CLIP_TITLE = "Second home visit: play on the mat"
CLIP_FAMILY = "FAM-0042"
WITHDRAWN_TITLE = "Home visit (consent later withdrawn)"
WITHDRAWN_FAMILY = "FAM-0107"
CLIP_SECONDS = 20

Say = Callable[[str], None]


def email(role: str) -> str:
    """The demo login of a role."""
    return f"{role}@demo.verp.example"


@dataclass
class DemoSeed:
    site_id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> id
    clip_id: str | None = None
    created: list[str] = field(default_factory=list)


def seed(svc: Services, *, with_media: bool = True, say: Say = print) -> DemoSeed:
    """Create whatever of the demo data is missing; returns ids and what was created.

    ``with_media=False`` skips generating and processing video (fast, for tests of the
    accounts). Raises the ingest/review errors of the real services if they fail.
    """
    result = _site_and_users(svc)
    if with_media:
        result.clip_id = _demo_clip(svc, result, say)
        _withdrawn_clip(svc, result, say)
    return result


def _site_and_users(svc: Services) -> DemoSeed:
    with svc.db.session() as db:
        site = db.scalar(select(Site).where(Site.slug == SITE_SLUG))
        created: list[str] = []
        if site is None:
            site = create_site(db, svc.audit, DEMO_ACTOR, SITE_SLUG, SITE_NAME)
            created.append(f"site {SITE_SLUG}")
        result = DemoSeed(site_id=site.id, created=created)
        for role in ROLES:
            user = db.scalar(select(User).where(User.email == email(role)))
            if user is None:
                user = add_user(
                    db,
                    svc.audit,
                    DEMO_ACTOR,
                    site_id=site.id,
                    email=email(role),
                    role=role,
                    password=PASSWORDS[role],
                    display_name=NAMES[role],
                )
                created.append(f"user {email(role)}")
            result.users[role] = user.id
    return result


def _find_clip(svc: Services, site_id: str, family: str) -> Clip | None:
    """The demo clip of ``family`` that is not failed or destroyed, if any."""
    with svc.db.session() as db:
        return db.scalar(
            select(Clip)
            .where(
                Clip.site_id == site_id,
                Clip.family_code == family,
                Clip.status.not_in(("failed", "destroyed")),
            )
            .limit(1)
        )


def _destroyed(svc: Services, site_id: str, family: str) -> bool:
    with svc.db.session() as db:
        query = select(Tombstone.clip_id).where(
            Tombstone.site_id == site_id, Tombstone.family_code == family
        )
        return db.scalar(query.limit(1)) is not None


def make_video(path: Path, seconds: int = CLIP_SECONDS) -> None:
    """Write a synthetic H.264/AAC MP4 (moving test pattern and a soft tone) to ``path``.

    Raises ingest's ToolMissing/TranscodeError if ffmpeg is missing or fails.
    """
    argv = ffmpeg_tool.command(
        "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=960x540:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-filter:a", "volume=0.2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart",
        str(path),
    )  # fmt: skip
    result = ffmpeg_tool.run(argv, timeout_s=120)
    if result.returncode != 0:
        raise ffmpeg_tool.failure("generating the demo clip", result)


def _consent(family: str, purposes: tuple[str, ...], days_ago: int, svc: Services) -> ConsentInput:
    return ConsentInput(
        family=family,
        participants=("parent-1", "infant"),
        purposes=purposes,
        form_reference=f"CF-DEMO-{family[-4:]}",
        taken_by=NAMES["facilitator"],
        taken_at=svc.clock.now() - timedelta(days=days_ago),
    )


def _receive(svc: Services, seed_: DemoSeed, consent: ConsentInput, title: str) -> str:
    facilitator = Actor(seed_.users["facilitator"], "facilitator", seed_.site_id)
    svc.settings.workspace_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=svc.settings.workspace_dir) as tmp:
        video = Path(tmp) / "demo.mp4"
        make_video(video)
        return receive_file(
            svc, facilitator, video, site_slug=SITE_SLUG, kind="home-visit",
            consent=consent, title=title,
        )  # fmt: skip


def _demo_clip(svc: Services, seed_: DemoSeed, say: Say) -> str:
    existing = _find_clip(svc, seed_.site_id, CLIP_FAMILY)
    if existing is not None and existing.status == "ready":
        return existing.id
    if existing is not None:
        clip_id = existing.id  # a previous run stopped half way: finish processing
    else:
        say("generating and ingesting the demo clip (about a minute)...")
        consent = _consent(CLIP_FAMILY, ("family-review", "supervision"), 0, svc)
        clip_id = _receive(svc, seed_, consent, CLIP_TITLE)
        seed_.created.append("demo clip")
    pipeline.process_clip(svc, clip_id, progress=lambda stage, pct: None)
    _annotate(svc, seed_, clip_id)
    return clip_id


def _annotate(svc: Services, seed_: DemoSeed, clip_id: str) -> None:
    """A cue and the parent's response, linked, plus a supervisor's note."""
    registry = load_registry(svc.settings.taxonomy_dir)
    facilitator = Actor(seed_.users["facilitator"], "facilitator", seed_.site_id)
    supervisor = Actor(seed_.users["supervisor"], "supervisor", seed_.site_id)
    with svc.db.session() as db:
        cue = create_annotation(
            db, svc.audit, registry, facilitator, clip_id, start_ms=3000, end_ms=6000,
            subject="infant", scheme_id="infant-cues", codes=["smiling", "mutual-gaze"],
            text="Baby smiles and holds Mum's gaze.",
        )  # fmt: skip
        response = create_annotation(
            db, svc.audit, registry, facilitator, clip_id, start_ms=6000, end_ms=9000,
            subject="parent", scheme_id="adult-responses", codes=["waiting"],
            text="Mum waits and lets baby lead.",
        )  # fmt: skip
        link_annotations(db, svc.audit, facilitator, cue.id, response.id)
        create_annotation(
            db, svc.audit, registry, supervisor, clip_id, start_ms=12000,
            subject="parent", text="A lovely moment to show in the shared review.",
        )  # fmt: skip


def _withdrawn_clip(svc: Services, seed_: DemoSeed, say: Say) -> None:
    """A clip whose family withdrew all consent: destroyed, leaving a tombstone."""
    if _destroyed(svc, seed_.site_id, WITHDRAWN_FAMILY):
        return
    leftover = _find_clip(svc, seed_.site_id, WITHDRAWN_FAMILY)
    say("adding a clip whose consent is withdrawn (for the DPO pages)...")
    if leftover is not None:
        clip_id = leftover.id  # a previous run stopped before the withdrawal
    else:
        consent = _consent(WITHDRAWN_FAMILY, ("family-review",), 2, svc)
        clip_id = _receive(svc, seed_, consent, WITHDRAWN_TITLE)
    with svc.db.session() as db:
        clip = db.get(Clip, clip_id)
        if clip is None:
            raise NotFound(f"clip {clip_id}")
        consent_id = clip.consent_id
    dpo = Actor(seed_.users["dpo"], "dpo", seed_.site_id)
    withdraw_consent(
        Destroyer(svc.db, svc.vault, svc.audit), svc.settings.retention, dpo,
        site_id=seed_.site_id, consent_id=consent_id, purposes=None,
        reason="Parent phoned the facilitator (demo)",
    )  # fmt: skip
    seed_.created.append("withdrawn clip")
