"""Fixtures for review tests: the shipped coding schemes and a small world of two sites,
users of every role and ready clips, on SQLite and PostgreSQL (via ``services``)."""

from __future__ import annotations

import pytest

from review.taxonomy import TaxonomyRegistry, load_registry
from tests.unit.review.helpers import World, add_clip, add_site, add_user
from webapp.composition import Services


@pytest.fixture(scope="session")
def registry() -> TaxonomyRegistry:
    return load_registry()


@pytest.fixture
def world(services: Services, registry: TaxonomyRegistry) -> World:
    with services.db.session() as session:
        site = add_site(session, "north", services)
        other = add_site(session, "south", services)
        facilitator = add_user(session, site.id, "fran", "facilitator", services)
        colleague = add_user(session, site.id, "cole", "facilitator", services)
        trainee = add_user(session, site.id, "tess", "facilitator", services)
        supervisor = add_user(session, site.id, "sam", "supervisor", services)
        supervisor2 = add_user(session, site.id, "sue", "supervisor", services)
        dpo = add_user(session, site.id, "dee", "dpo", services)
        outsider = add_user(session, other.id, "otto", "supervisor", services)
        home = add_clip(session, services, site.id, kind="home-visit", uploaded_by=facilitator.id)
        group = add_clip(
            session,
            services,
            site.id,
            kind="group-delivery",
            uploaded_by=supervisor.id,
            trainee_id=trainee.id,
        )
        foreign = add_clip(session, services, other.id, kind="home-visit", uploaded_by=outsider.id)
        return World(
            svc=services,
            registry=registry,
            site_id=site.id,
            other_site_id=other.id,
            facilitator=facilitator,
            colleague=colleague,
            trainee=trainee,
            supervisor=supervisor,
            supervisor2=supervisor2,
            dpo=dpo,
            outsider=outsider,
            home_clip=home.id,
            group_clip=group.id,
            other_clip=foreign.id,
        )
