"""`verp demo` seeding: a demo site, one user per role, processed clips with annotations.

Everything goes through the real services: each clip is generated with ffmpeg, received
and encrypted by ingest (consent recorded first), processed by the real pipeline and
annotated through the review services. A home visit carries a few annotations; a group
session in which the demo facilitator is the trainee is coded by both the trainee and
the supervisor (partly agreeing, so the supervision comparison shows a real kappa and
the windows where they differ) and waits, not signed off, in the supervision queue.
A further, unprocessed clip is destroyed by a consent withdrawal so the DPO pages show
a tombstone and its certificate.

The programme part (:mod:`webapp.demo_programme`) adds two groups with co-facilitators of
both disciplines, their families and supervisions; the home visit belongs to a family of
group A (both its co-facilitators see it, group B's do not), the coded group session was
recorded with two families of group A present, and a second group session includes a
family that did not consent to supervision, so it cannot be shared; the home visit is
shared with a supervisor of the national team.

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

from ingest import pipeline
from ingest.reception import receive_file
from review.annotations import create_annotation
from review.links import link_annotations
from review.supervision import mark_shared_review_done
from review.taxonomy import load_registry
from review.threads import add_reply
from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.consent import ConsentInput
from storage.db.footage import Clip
from storage.db.governance import Tombstone
from storage.db.programme import ClipShare
from storage.db.review import Annotation
from storage.db.tenancy import ROLES, Site, User
from storage.destruction import Destroyer
from storage.errors import NotFound
from storage.programme import share_clip
from storage.withdrawal import withdraw_consent
from webapp.composition import Services
from webapp.demo_media import CLIP_SECONDS, CLIP_SIZE, find_titled, make_video, receive_session
from webapp.demo_programme import DemoProgramme, seed_programme

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
GROUP_TITLE = "Antenatal group, session 3"
#: The coded group session: group A's third antenatal session, these families present.
GROUP_MEETING = ("antenatal", 3)
GROUP_PRESENT = ("FAM-0043", "FAM-0042")
#: A later session with a family that did not consent to supervision: not shareable.
UNSHARED_TITLE = "Antenatal group, session 5"
UNSHARED_MEETING = ("antenatal", 5)
UNSHARED_PRESENT = ("FAM-0043", "FAM-0042", "FAM-0044")
SHARE_REASON = "National team review of the talk and listen time filming (demo)"
GROUP_SCHEME = "group-facilitation"
#: (coder role, start ms, end ms, code). Over 1 s windows the two codings agree in most
#: windows but not all: the trainee holds two codes a second longer, starts one a second
#: earlier and reads 15-18 s as managing the group where the supervisor saw a link to
#: infant development. Pooled kappa about 0.62 (see tests/unit/webapp/test_demo_cli.py).
GROUP_CODING = (
    ("facilitator", 0, 4000, "models-safe-base"),
    ("facilitator", 5000, 9000, "invites-reflection"),
    ("facilitator", 10000, 14000, "core-content"),
    ("facilitator", 15000, 18000, "manages-group-process"),
    ("supervisor", 0, 3000, "models-safe-base"),
    ("supervisor", 6000, 9000, "invites-reflection"),
    ("supervisor", 10000, 13000, "core-content"),
    ("supervisor", 15000, 18000, "links-infant-development"),
)

Say = Callable[[str], None]


def email(role: str) -> str:
    """The demo login of a role."""
    return f"{role}@demo.verp.example"


@dataclass
class DemoSeed:
    site_id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> id
    clip_id: str | None = None
    group_clip_id: str | None = None
    unshared_clip_id: str | None = None
    created: list[str] = field(default_factory=list)
    programme: DemoProgramme = field(default_factory=DemoProgramme)


def seed(svc: Services, *, with_media: bool = True, say: Say = print) -> DemoSeed:
    """Create whatever of the demo data is missing; returns ids and what was created.

    ``with_media=False`` skips generating and processing video (fast, for tests of the
    accounts). Raises the ingest/review errors of the real services if they fail.
    """
    result = _site_and_users(svc)
    result.programme = seed_programme(svc, result.site_id, result.users, DEMO_ACTOR)
    result.created += result.programme.created
    if with_media:
        result.clip_id = _demo_clip(svc, result, say)
        result.group_clip_id = _group_clip(svc, result, say)
        result.unshared_clip_id = _unshared_clip(svc, result, say)
        _withdrawn_clip(svc, result, say)
        _review_and_share(svc, result)
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


def _consent(
    family: str,
    purposes: tuple[str, ...],
    days_ago: int,
    svc: Services,
    participants: tuple[str, ...] = ("parent-1", "infant"),
) -> ConsentInput:
    return ConsentInput(
        family=family,
        participants=participants,
        purposes=purposes,
        form_reference=f"CF-DEMO-{family[-4:]}",
        taken_by=NAMES["facilitator"],
        taken_at=svc.clock.now() - timedelta(days=days_ago),
    )


def _receive(
    svc: Services,
    seed_: DemoSeed,
    consent: ConsentInput,
    title: str,
    *,
    kind: str = "home-visit",
    size: str = CLIP_SIZE,
    trainee_id: str | None = None,
) -> str:
    """Generate a video and hand it to ingest as the facilitator; returns the clip id."""
    facilitator = Actor(seed_.users["facilitator"], "facilitator", seed_.site_id)
    svc.settings.workspace_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=svc.settings.workspace_dir) as tmp:
        video = Path(tmp) / "demo.mp4"
        make_video(video, CLIP_SECONDS, size)
        return receive_file(
            svc, facilitator, video, site_slug=SITE_SLUG, kind=kind,
            consent=consent, title=title, trainee_id=trainee_id,
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


def _session(
    svc: Services, seed_: DemoSeed, title: str, meeting: tuple[str, int], present: tuple[str, ...]
) -> str:
    """A group session of group A filmed with the facilitator as the trainee."""
    facilitator = Actor(seed_.users["facilitator"], "facilitator", seed_.site_id)
    families = tuple(seed_.programme.families[code] for code in present)
    group_id = seed_.programme.groups["GRP-A"]
    return receive_session(svc, facilitator, group_id, title, meeting, families)


def _group_clip(svc: Services, seed_: DemoSeed, say: Say) -> str:
    """The facilitator's filmed group session, coded by them and by the supervisor."""
    existing = find_titled(svc, seed_.site_id, GROUP_TITLE)
    if existing is not None and existing.status == "ready":
        clip_id = existing.id
    else:
        if existing is not None:
            clip_id = existing.id  # a previous run stopped half way: finish processing
        else:
            say("generating and ingesting a group session for supervision...")
            clip_id = _session(svc, seed_, GROUP_TITLE, GROUP_MEETING, GROUP_PRESENT)
            seed_.created.append("group session clip")
        pipeline.process_clip(svc, clip_id, progress=lambda stage, pct: None)
    if not _has_annotations(svc, clip_id):  # also after a run that stopped before coding
        _code_group_session(svc, seed_, clip_id)
        seed_.created.append("group session coding")
    return clip_id


def _unshared_clip(svc: Services, seed_: DemoSeed, say: Say) -> str:
    """A group session with a family present that did not consent to supervision."""
    existing = find_titled(svc, seed_.site_id, UNSHARED_TITLE)
    if existing is not None and existing.status == "ready":
        return existing.id
    if existing is not None:
        clip_id = existing.id
    else:
        say("generating a group session one family did not agree to show in supervision...")
        clip_id = _session(svc, seed_, UNSHARED_TITLE, UNSHARED_MEETING, UNSHARED_PRESENT)
        seed_.created.append("unshareable group session clip")
    pipeline.process_clip(svc, clip_id, progress=lambda stage, pct: None)
    return clip_id


def _review_and_share(svc: Services, seed_: DemoSeed) -> None:
    """The home visit's shared review is held; the clip is shared with the national team."""
    assert seed_.clip_id is not None
    facilitator = Actor(seed_.users["facilitator"], "facilitator", seed_.site_id)
    supervisor = Actor(seed_.users["supervisor"], "supervisor", seed_.site_id)
    with svc.db.session() as db:
        clip = db.get(Clip, seed_.clip_id)
        if clip is not None and clip.shared_review_at is None:
            mark_shared_review_done(db, svc.audit, svc.settings, facilitator, clip.id)
        shared = db.scalar(select(ClipShare.id).where(ClipShare.clip_id == seed_.clip_id))
        if shared is None:
            share_clip(
                db, svc.audit, supervisor, clip_id=seed_.clip_id,
                supervisor_id=seed_.programme.people["national"], days=14, reason=SHARE_REASON,
            )  # fmt: skip
            seed_.created.append("share with the national team")


def _has_annotations(svc: Services, clip_id: str) -> bool:
    with svc.db.session() as db:
        query = select(Annotation.id).where(Annotation.clip_id == clip_id).limit(1)
        return db.scalar(query) is not None


def _code_group_session(svc: Services, seed_: DemoSeed, clip_id: str) -> None:
    """Both coders' codes, then a supervisor's comment and the trainee's reply (one unit)."""
    registry = load_registry(svc.settings.taxonomy_dir)
    actors = {
        role: Actor(seed_.users[role], role, seed_.site_id)
        for role in ("facilitator", "supervisor")
    }
    with svc.db.session() as db:
        for role, start, end, code in GROUP_CODING:
            create_annotation(
                db, svc.audit, registry, actors[role], clip_id, start_ms=start, end_ms=end,
                subject="facilitator", scheme_id=GROUP_SCHEME, codes=[code],
            )  # fmt: skip
        comment = create_annotation(
            db, svc.audit, registry, actors["supervisor"], clip_id, start_ms=15000,
            end_ms=18000, subject="facilitator",
            text="You tied the question back to how babies communicate. Say that link out "
            "loud for the group, and check in with the quieter parents here.",
        )  # fmt: skip
        add_reply(
            db, svc.audit, actors["facilitator"], comment.id,
            "I saw it as keeping the group going. I'll try naming the link next session.",
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
