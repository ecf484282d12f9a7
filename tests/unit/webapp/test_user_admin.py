"""Account administration services: guards and their audit (no Flask)."""

from __future__ import annotations

import pytest

from storage.audit import Actor
from storage.db.tenancy import User
from storage.errors import NotFound, ValidationError
from tests.unit.webapp.helpers import audit_actions
from tests.webapp_fixtures import World
from webapp import user_admin
from webapp.composition import Services


def admin_actor(world: World, site: str = "a") -> Actor:
    return Actor(world.sites[site].users["admin"], "admin", world.sites[site].id)


def test_the_last_active_admin_stays(services: Services, world: World) -> None:
    site = world.sites["a"]
    operator = Actor.system("cli", site_id=site.id)
    with services.db.session() as db, pytest.raises(ValidationError, match="at least one"):
        user_admin.change_role(db, services.audit, operator, site.id, site.users["admin"], "dpo")
    with services.db.session() as db, pytest.raises(ValidationError, match="at least one"):
        user_admin.set_active(db, services.audit, operator, site.id, site.users["admin"], False)
    with services.db.session() as db:
        user = db.get(User, site.users["admin"])
        assert user is not None and user.role == "admin" and user.active


def test_a_second_admin_may_be_demoted(services: Services, world: World) -> None:
    site = world.sites["a"]
    with services.db.session() as db:
        user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "admin"
        )
        demoted = user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "dpo"
        )
        assert demoted.role == "dpo" and demoted.session_epoch == 2
    assert len(audit_actions(services, "user.role")) == 2


def test_unchanged_role_is_not_audited(services: Services, world: World) -> None:
    site = world.sites["a"]
    with services.db.session() as db:
        user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "dpo"
        )
    assert audit_actions(services, "user.role") == []


def test_users_of_other_sites_are_not_found(services: Services, world: World) -> None:
    other = world.sites["b"].users["dpo"]
    with services.db.session() as db, pytest.raises(NotFound):
        user_admin.log_out_everywhere(
            db, services.audit, admin_actor(world), world.sites["a"].id, other
        )


def test_site_users_lists_active_first(services: Services, world: World) -> None:
    site = world.sites["a"]
    with services.db.session() as db:
        user_admin.set_active(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], False
        )
        users = user_admin.site_users(db, site.id)
    assert users[-1].id == site.users["dpo"]
    assert {u.site_id for u in users} == {site.id}
