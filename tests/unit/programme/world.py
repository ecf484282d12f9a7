"""A site running two groups, built through the real services, for programme tests.

Group A (``G-A``) is co-facilitated by ``hv_a`` (health) and ``cs_a`` (children's services,
a trainee); group B by ``hv_b`` and ``cs_b``. Families ``FAM-A1``..``FAM-A3`` are in A and
``FAM-B1`` in B. Another site ``south`` has a supervisor (the national team's reviewer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from ingest.clips import register_clip
from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.consent import ConsentInput, record_consent
from storage.db.footage import Clip
from storage.db.programme import Family, Group
from storage.db.tenancy import Site, User
from storage.programme import Placement, create_group, enrol_family, placement_from_codes
from webapp.composition import Services

OPERATOR = Actor.system("test")
STARTS = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@dataclass
class Programme:
    site_id: str
    slug: str
    users: dict[str, str] = field(default_factory=dict)  # name -> user id
    groups: dict[str, str] = field(default_factory=dict)  # code -> group id
    families: dict[str, str] = field(default_factory=dict)  # code -> family id
    other_site_id: str = ""

    def actor(self, name: str) -> Actor:
        """The user ``name`` as an actor of their site and role."""
        site = self.other_site_id if name.startswith("south") else self.site_id
        return Actor(self.users[name], ROLE_OF[name], site)


ROLE_OF = {
    "hv_a": "facilitator",
    "cs_a": "facilitator",
    "hv_b": "facilitator",
    "cs_b": "facilitator",
    "supervisor": "supervisor",
    "admin": "admin",
    "dpo": "dpo",
    "south_supervisor": "supervisor",
    "south_facilitator": "facilitator",
}
DISCIPLINE = {
    "hv_a": "health",
    "hv_b": "health",
    "cs_a": "childrens-services",
    "cs_b": "childrens-services",
}


def build(svc: Services, slug: str = "north") -> Programme:
    """Two sites, users of every role, two groups and four enrolled families."""
    with svc.db.session() as session:
        site = create_site(session, svc.audit, OPERATOR, slug, slug.title())
        south = create_site(session, svc.audit, OPERATOR, f"{slug}-south", "South")
        prog = Programme(site_id=site.id, slug=slug, other_site_id=south.id)
        for name, role in ROLE_OF.items():
            where = south.id if name.startswith("south") else site.id
            user = add_user(
                session,
                svc.audit,
                OPERATOR,
                site_id=where,
                email=f"{name.replace('_', '-')}@{slug}.example",
                role=role,
                password=PASSWORD,
            )
            user.discipline = DISCIPLINE.get(name)
            prog.users[name] = user.id
        for code, health, children, trainee in (
            ("G-A", "hv_a", "cs_a", True),
            ("G-B", "hv_b", "cs_b", False),
        ):
            group = create_group(
                session,
                svc.audit,
                OPERATOR,
                site_id=site.id,
                code=code,
                name=f"Group {code}",
                facilitators=[
                    (prog.users[health], "health", False),
                    (prog.users[children], "childrens-services", trainee),
                ],
                starts_on=STARTS,
            )
            prog.groups[code] = group.id
        for code, group in (
            ("FAM-A1", "G-A"),
            ("FAM-A2", "G-A"),
            ("FAM-A3", "G-A"),
            ("FAM-B1", "G-B"),
        ):
            family = enrol_family(
                session,
                svc.audit,
                OPERATOR,
                site_id=site.id,
                group_id=prog.groups[group],
                code=code,
            )
            prog.families[code] = family.id
    return prog


def consent_input(
    family: str, purposes: Sequence[str] = ("family-review", "supervision", "training-events")
) -> ConsentInput:
    return ConsentInput(
        family=family,
        participants=("parent-1", "infant"),
        purposes=tuple(purposes),
        form_reference="CF-2026-0001",
        taken_by="facilitator-07",
        taken_at=STARTS,
    )


def consent(
    svc: Services, prog: Programme, family: str, purposes: Sequence[str] | None = None
) -> str:
    """Record (and link) a consent of ``family`` at the programme's site."""
    from storage.programme import link_consent

    with svc.db.session() as session:
        row = record_consent(
            session,
            svc.audit,
            OPERATOR,
            prog.site_id,
            consent_input(family, purposes or ("family-review", "supervision", "training-events")),
        )
        link_consent(session, row)
        return row.id


def clip(
    svc: Services,
    prog: Programme,
    consent_id: str,
    *,
    by: str = "hv_a",
    kind: str = "home-visit",
    group: str | None = None,
    family: str | None = None,
    meeting: str | None = None,
    present: Sequence[str] = (),
    placement: Placement | None = None,
    trainee: str | None = None,
    training_block: int | None = None,
    ready: bool = True,
) -> str:
    """Register a clip through ingest.clips.register_clip (codes resolved like the CLI)."""
    from storage.db.footage import Consent

    with svc.db.session() as session:
        site = session.get(Site, prog.site_id)
        row = session.get(Consent, consent_id)
        assert site is not None and row is not None
        chosen = placement or placement_from_codes(
            session, prog.site_id, group=group, family=family, meeting=meeting, present=present
        )
        made = register_clip(
            session,
            svc.vault,
            svc.audit,
            svc.settings,
            actor=prog.actor(by),
            site=site,
            kind=kind,
            consent=row,
            uploaded_by=prog.users[by],
            placement=chosen,
            trainee_id=prog.users[trainee] if trainee else None,
            training_block=training_block,
        )
        if ready:
            made.status = "ready"
        return made.id


def get(svc: Services, model: type, row_id: str) -> object:
    with svc.db.session() as session:
        row = session.get(model, row_id)
        session.expunge(row)
        return row


__all__ = ["Clip", "Family", "Group", "User", "select"]
