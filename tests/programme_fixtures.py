"""The programme part of the web ``world`` (tests/webapp_fixtures.py): per site a group
co-facilitated by the site's facilitator (health) and its spare ``target`` facilitator
(children's services), the family of the site's consent enrolled in it, and a share of
the site's ready clip with the site's supervisor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from storage.audit import Actor
from storage.programme import create_group, enrol_family, share_clip
from webapp.composition import Services


def seed_programme(svc: Services, world: Any, family_code: str) -> None:
    """Fill ``world.group``, ``world.family`` and ``world.share`` (ids of site ``world``)."""
    admin = Actor(world.users["admin"], "admin", world.id)
    supervisor = Actor(world.users["supervisor"], "supervisor", world.id)
    with svc.db.session() as db:
        group = create_group(
            db, svc.audit, admin, site_id=world.id, code=f"GRP-{world.slug.upper()}1",
            name=f"Group of site {world.slug}",
            facilitators=[(world.users["facilitator"], "health", False),
                          (world.target_user, "childrens-services", True)],
            starts_on=svc.clock.now() - timedelta(days=60),
        )  # fmt: skip
        family = enrol_family(
            db, svc.audit, admin, site_id=world.id, group_id=group.id, code=family_code
        )
        share = share_clip(
            db, svc.audit, supervisor, clip_id=world.clip, supervisor_id=world.users["supervisor"],
            days=14, reason="matrix test",
        )  # fmt: skip
        world.group, world.family, world.share = group.id, family.id, share.id
