"""Helpers for review tests: sites, users and ready clips inserted directly with the ORM
(clips are ``ready``, 60 s at 25 fps), so the tests exercise review alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.taxonomy import TaxonomyRegistry
from storage.audit import Actor
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.tenancy import Site, User
from webapp.composition import Services

DURATION_MS = 60_000


@dataclass
class World:
    svc: Services
    registry: TaxonomyRegistry
    site_id: str
    other_site_id: str
    facilitator: Actor  # uploaded the home visit
    colleague: Actor  # a facilitator of the same site who did not
    trainee: Actor  # filmed in the group session
    supervisor: Actor
    supervisor2: Actor
    dpo: Actor
    outsider: Actor  # a supervisor of another site
    home_clip: str
    group_clip: str
    other_clip: str  # a clip of the other site


def add_site(session: Session, slug: str, svc: Services) -> Site:
    site = Site(slug=slug, name=slug.title(), created_at=svc.clock.now())
    session.add(site)
    session.flush()
    return site


def add_user(session: Session, site_id: str, name: str, role: str, svc: Services) -> Actor:
    user = User(
        site_id=site_id,
        email=f"{name}@example.org",
        display_name=name.title(),
        role=role,
        password_hash="not-a-hash",
        created_at=svc.clock.now(),
    )
    session.add(user)
    session.flush()
    return Actor(id=user.id, role=role, site_id=site_id)


def add_clip(
    session: Session,
    svc: Services,
    site_id: str,
    *,
    kind: str,
    uploaded_by: str | None,
    trainee_id: str | None = None,
    purposes: Sequence[str] = ("family-review", "supervision"),
    duration_ms: int | None = DURATION_MS,
    status: str = "ready",
    frame_rate: str = "25/1",
) -> Clip:
    now = svc.clock.now()
    consent = Consent(
        site_id=site_id,
        family_code="F-007",
        participants=["parent", "infant"],
        purposes=list(purposes),
        form_reference="form-7",
        taken_by="facilitator",
        taken_at=now,
        created_at=now,
    )
    session.add(consent)
    session.flush()
    clip = Clip(
        site_id=site_id,
        consent_id=consent.id,
        kind=kind,
        family_code="F-007",
        uploaded_by=uploaded_by,
        trainee_id=trainee_id,
        status=status,
        duration_ms=duration_ms,
        frame_rate=frame_rate,
        created_at=now,
        updated_at=now,
    )
    session.add(clip)
    session.flush()
    return clip


def audit_actions(svc: Services) -> list[str]:
    """Every audit action recorded so far, in order."""
    with svc.db.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
