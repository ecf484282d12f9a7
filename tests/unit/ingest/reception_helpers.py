"""Helpers for reception tests: sites, users, consents and registered clips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.clips import register_clip
from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.consent import parse_consent, record_consent
from storage.db.footage import Blob, Clip, Consent, DataKey, Upload
from storage.db.governance import AuditEntry
from storage.db.tenancy import Site
from webapp.composition import Services

ADMIN = Actor.system("test")


def consent_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "family": "FAM-0042",
        "participants": ["parent-1", "infant"],
        "purposes": ["family-review", "supervision"],
        "form_reference": "CF-2026-0117",
        "taken_by": "facilitator-07",
        "taken_at": "2026-03-01T14:30:00Z",
    }
    data.update(changes)
    return data


@dataclass(frozen=True)
class Person:
    """A user as the web layer sees them (ids and role only)."""

    id: str
    role: str
    site_id: str
    site_slug: str

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.role, self.site_id)


def site(svc: Services, slug: str) -> Site:
    with svc.db.session() as session:
        return create_site(session, svc.audit, ADMIN, slug, slug.title())


def person(svc: Services, site_row: Site, role: str, name: str | None = None) -> Person:
    email = f"{name or role}@{site_row.slug}.example.org"
    with svc.db.session() as session:
        user = add_user(
            session,
            svc.audit,
            ADMIN,
            site_id=site_row.id,
            email=email,
            role=role,
            password="correct horse battery",
        )
        return Person(user.id, role, site_row.id, site_row.slug)


def consent(svc: Services, session: Session, site_row: Site, **changes: Any) -> Consent:
    parsed = parse_consent(consent_data(**changes), now=svc.clock.now())
    return record_consent(session, svc.audit, ADMIN, site_row.id, parsed)


def clip(
    svc: Services, site_row: Site, who: Person | None = None, kind: str = "home-visit"
) -> Clip:
    """A registered clip (status receiving) with its consent and key."""
    with svc.db.session() as session:
        row = consent(svc, session, site_row)
        return register_clip(
            session,
            svc.vault,
            svc.audit,
            svc.settings,
            actor=who.actor if who else ADMIN,
            site=site_row,
            kind=kind,
            consent=row,
            uploaded_by=who.id if who else None,
        )


def counts(svc: Services) -> dict[str, int]:
    """How many rows of each reception table exist, and how many blobs are stored."""
    with svc.db.session() as session:
        out = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Clip, Consent, Blob, DataKey, Upload)
        }
    out["stored_blobs"] = len(svc.blobs.keys())
    return out


def actions(svc: Services) -> list[str]:
    with svc.db.session() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
