"""Builders for governance tests: sites, consents and clips with blobs and review rows.

Rows are written with the ORM directly (consent recording and review belong to other
packages); every clip gets a real data key and real encrypted blobs through the vault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from storage.accounts import create_site
from storage.audit import Actor
from storage.db.footage import Blob, Clip, Consent, DataKey, Upload
from storage.db.review import (
    Annotation,
    AnnotationLink,
    AnnotationRevision,
    Moment,
    Reply,
    SignOff,
)
from storage.db.tenancy import User
from storage.retention import recompute_clip
from webapp.composition import Services

ADMIN = Actor.system("test")


@dataclass(frozen=True)
class World:
    site_id: str
    site_slug: str
    user_id: str


def make_world(svc: Services, slug: str = "north") -> World:
    with svc.db.session() as session:
        site = create_site(session, svc.audit, ADMIN, slug, slug.title())
        user = User(
            site_id=site.id,
            email=f"sup@{slug}.example",
            role="supervisor",
            password_hash="x",
            created_at=svc.clock.now(),
        )
        session.add(user)
        session.flush()
        return World(site.id, slug, user.id)


def make_consent(
    svc: Services,
    world: World,
    purposes: tuple[str, ...] = ("family-review", "supervision"),
    form_reference: str = "CF-2026-0001",
) -> str:
    with svc.db.session() as session:
        consent = Consent(
            site_id=world.site_id,
            family_code="FAM-0042",
            participants=["parent-1", "infant"],
            purposes=list(purposes),
            form_reference=form_reference,
            taken_by="facilitator-07",
            taken_at=svc.clock.now(),
            created_at=svc.clock.now(),
        )
        session.add(consent)
        session.flush()
        svc.audit.append(
            session,
            ADMIN,
            "consent.record",
            target_type="consent",
            target_id=consent.id,
            site_id=world.site_id,
        )
        return consent.id


def make_clip(
    svc: Services,
    world: World,
    consent_id: str,
    *,
    kind: str = "home-visit",
    created_at: datetime | None = None,
    renditions: tuple[str, ...] = ("original", "poster", "thumbs"),
    review_rows: bool = True,
    **fields: Any,
) -> str:
    """A ready clip with encrypted blobs, 2 annotations (+reply, link, revision), a moment
    with its own blob, a sign-off and an upload row; ``delete_after`` from the policy."""
    now = created_at or svc.clock.now()
    with svc.db.session() as session:
        clip = Clip(
            site_id=world.site_id,
            consent_id=consent_id,
            kind=kind,
            family_code="FAM-0042",
            title="talk and listen time",
            status="ready",
            created_at=now,
            updated_at=now,
            **fields,
        )
        session.add(clip)
        session.flush()
        svc.vault.create_key(session, world.site_id, clip.id)
        for name in renditions:
            svc.vault.put_bytes(session, world.site_id, clip.id, name, b"frame " * 500)
        if review_rows:
            _review_rows(svc, session, world, clip.id, now)
        recompute_clip(session, svc.settings.retention, clip, world.site_slug)
        return clip.id


def _review_rows(svc: Services, session: Any, world: World, clip_id: str, now: datetime) -> None:
    notes = []
    for start in (1000, 5000):
        note = Annotation(
            clip_id=clip_id,
            site_id=world.site_id,
            author_id=world.user_id,
            author_role="supervisor",
            start_ms=start,
            subject="infant",
            codes=["smiling"],
            text="reaches toward parent",
            created_at=now,
            updated_at=now,
        )
        session.add(note)
        notes.append(note)
    session.flush()
    session.add(
        Reply(
            annotation_id=notes[0].id,
            site_id=world.site_id,
            author_id=world.user_id,
            author_role="supervisor",
            text="agreed",
            created_at=now,
        )
    )
    session.add(
        AnnotationRevision(
            annotation_id=notes[0].id,
            site_id=world.site_id,
            edited_by=world.user_id,
            edited_at=now,
            snapshot={"text": "old"},
        )
    )
    session.add(
        AnnotationLink(
            site_id=world.site_id,
            clip_id=clip_id,
            source_id=notes[0].id,
            target_id=notes[1].id,
            created_by=world.user_id,
            created_at=now,
        )
    )
    still = svc.vault.put_bytes(session, world.site_id, clip_id, "moment", b"still" * 100)
    session.add(
        Moment(
            clip_id=clip_id,
            site_id=world.site_id,
            kind="still",
            start_ms=1000,
            blob_id=still.id,
            status="ready",
            created_by=world.user_id,
            created_at=now,
        )
    )
    session.add(
        SignOff(
            clip_id=clip_id,
            site_id=world.site_id,
            supervisor_id=world.user_id,
            summary="good practice",
            signed_at=now,
        )
    )
    session.add(
        Upload(
            site_id=world.site_id,
            clip_id=clip_id,
            length=10,
            created_at=now,
            expires_at=now,
            meta={"filename": "x.mp4"},
        )
    )
    session.flush()


def rows_of(svc: Services, clip_id: str) -> dict[str, int]:
    """How many rows each clip-scoped table still holds for the clip."""
    counts: dict[str, int] = {}
    with svc.db.session() as session:
        for model in (Blob, Annotation, AnnotationLink, Moment, SignOff, Upload):
            n = session.scalar(
                select(func.count()).select_from(model).where(model.clip_id == clip_id)
            )
            counts[model.__tablename__] = int(n or 0)
        for model in (Reply, AnnotationRevision):
            n = session.scalar(
                select(func.count())
                .select_from(model)
                .where(
                    model.annotation_id.in_(
                        select(Annotation.id).where(Annotation.clip_id == clip_id)
                    )
                )
            )
            counts[model.__tablename__] = int(n or 0)
    return counts


def wrapped_key(svc: Services, clip_id: str) -> bytes | None:
    with svc.db.session() as session:
        row = session.get(DataKey, clip_id)
        return None if row is None else row.wrapped


def clip_row(svc: Services, clip_id: str) -> Clip:
    with svc.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        return clip


def hold(svc: Services, world: World, clip_id: str, reason: str = "court order 12/2026") -> str:
    """Place a legal hold on the clip (as ADMIN); returns the hold id."""
    from storage.holds import place_hold

    with svc.db.session() as session:
        return place_hold(
            session, svc.audit, ADMIN, site_id=world.site_id, clip_id=clip_id, reason=reason
        ).id
