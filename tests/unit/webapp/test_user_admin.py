"""Account administration services: guards, their audit and the sessions they end
(no Flask)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from storage import login_sessions
from storage.audit import Actor
from storage.db.tenancy import User
from storage.db.web import LoginSession
from storage.errors import NotFound, ValidationError
from tests.unit.webapp.helpers import audit_actions
from tests.webapp_fixtures import PASSWORD, SiteWorld, World
from webapp import user_admin
from webapp.composition import Services


def admin_actor(world: World, site: str = "a") -> Actor:
    return admin_of(world.sites[site])


def admin_of(site: SiteWorld) -> Actor:
    return Actor(site.users["admin"], "admin", site.id)


def start_session(services: Services, world: World, role: str = "facilitator") -> str:
    """A signed-in session of a site-A user, as the login page would start it."""
    site = world.sites["a"]
    with services.db.session() as db:
        return login_sessions.start(
            db,
            user_id=site.users[role],
            site_id=site.id,
            now=services.clock.now(),
            idle=timedelta(minutes=30),
        )


def revoked(services: Services, session_id: str) -> bool:
    with services.db.session() as db:
        row = db.get(LoginSession, login_sessions.hash_id(session_id))
        assert row is not None
        return row.revoked_at is not None


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
    sid = start_session(services, world, "dpo")
    with services.db.session() as db:
        user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "admin"
        )
        demoted = user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "dpo"
        )
        assert demoted.role == "dpo"
    assert revoked(services, sid)
    assert len(audit_actions(services, "user.role")) == 2


def test_unchanged_role_is_not_audited(services: Services, world: World) -> None:
    site = world.sites["a"]
    sid = start_session(services, world, "dpo")
    with services.db.session() as db:
        user_admin.change_role(
            db, services.audit, admin_actor(world), site.id, site.users["dpo"], "dpo"
        )
    assert audit_actions(services, "user.role") == []
    assert not revoked(services, sid)  # nothing changed, so the session lives on


def _own_password(db: Session, services: Services, site: SiteWorld, uid: str) -> object:
    actor = Actor(uid, "facilitator", site.id)
    new = "a much better passphrase"
    return user_admin.change_password(db, services.audit, actor, site.id, uid, PASSWORD, new, new)


#: Changes that end every session of the user they change.
ENDING: dict[str, Callable[[Session, Services, SiteWorld, str], object]] = {
    "role": lambda db, svc, site, uid: user_admin.change_role(
        db, svc.audit, admin_of(site), site.id, uid, "supervisor"
    ),
    "deactivate": lambda db, svc, site, uid: user_admin.set_active(
        db, svc.audit, admin_of(site), site.id, uid, False
    ),
    "totp_reset": lambda db, svc, site, uid: user_admin.reset_totp(
        db, svc.audit, admin_of(site), site.id, uid
    ),
    "logout_everywhere": lambda db, svc, site, uid: user_admin.log_out_everywhere(
        db, svc.audit, admin_of(site), site.id, uid
    ),
    "password": _own_password,
}


@pytest.mark.parametrize("change", sorted(ENDING))
def test_changes_end_every_session_of_that_user_only(
    services: Services, world: World, change: str
) -> None:
    site = world.sites["a"]
    uid = site.users["facilitator"]
    tablet, laptop = start_session(services, world), start_session(services, world)
    bystander = start_session(services, world, "supervisor")
    with services.db.session() as db:
        ENDING[change](db, services, site, uid)
    assert revoked(services, tablet) and revoked(services, laptop)
    assert not revoked(services, bystander)


def test_refused_changes_leave_sessions_alive(services: Services, world: World) -> None:
    site = world.sites["a"]
    uid = site.users["facilitator"]
    sid = start_session(services, world)
    with services.db.session() as db, pytest.raises(ValidationError):
        user_admin.change_role(db, services.audit, admin_actor(world), site.id, uid, "root")
    with services.db.session() as db, pytest.raises(user_admin.WrongPassword):
        user_admin.change_password(
            db, services.audit, Actor(uid, "facilitator", site.id), site.id, uid, "x", "y", "y"
        )
    with services.db.session() as db, pytest.raises(NotFound):
        user_admin.log_out_everywhere(
            db, services.audit, admin_actor(world, "b"), world.sites["b"].id, uid
        )
    assert not revoked(services, sid)


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
