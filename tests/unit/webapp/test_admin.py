"""Site admin pages: the site's users, adding them, roles, deactivation, resets."""

from __future__ import annotations

import re

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db.tenancy import User
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services


def user(services: Services, user_id: str) -> User:
    with services.db.session() as db:
        row = db.get(User, user_id)
        assert row is not None
        return row


def test_users_page_lists_only_this_site(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "admin")
    page = text(client.get("/admin/users"))
    assert world.email("dpo", "a") in page
    assert world.email("dpo", "b") not in page


def test_add_user_shows_a_temporary_password_once(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "admin")
    response = post(
        client,
        "/admin/users",
        {"email": "New.Person@a.example.org", "role": "supervisor", "name": "New"},
    )
    assert response.status_code == 201
    password = re.search(r'<p class="secret">([^<]+)</p>', text(response))
    assert password is not None
    assert password.group(1) not in text(client.get("/admin/users"))  # shown once
    newcomer = app.test_client()
    login = post(
        newcomer, "/login", {"email": "new.person@a.example.org", "password": password.group(1)}
    )
    assert login.status_code == 302
    with services.db.session() as db:
        row = db.scalar(select(User).where(User.email == "new.person@a.example.org"))
        assert row is not None and row.site_id == world.sites["a"].id and row.role == "supervisor"
    assert audit_actions(services, "user.create")[-1].target_id == row.id


def test_add_user_rejects_bad_input_and_stores_nothing(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "admin")
    before = len(audit_actions(services, "user.create"))
    for form in (
        {"email": "not-an-email", "role": "dpo"},
        {"email": "x@a.example.org", "role": "superuser"},
        {"email": world.email("dpo", "b"), "role": "dpo"},  # taken (at another site)
    ):
        response = post(client, "/admin/users", form)
        assert response.status_code == 400
        assert 'class="secret"' not in text(response)
    assert len(audit_actions(services, "user.create")) == before


def test_change_role_ends_the_users_sessions(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    target = app.test_client()
    uid = login_as(target, "facilitator")
    login_as(client, "admin")
    response = post(client, f"/admin/users/{uid}/role", {"role": "supervisor"})
    assert response.status_code == 302
    assert user(services, uid).role == "supervisor"
    assert target.get("/clips").status_code == 302
    assert audit_actions(services, "user.role")[-1].details == {
        "old": "facilitator",
        "new": "supervisor",
    }


def test_admin_cannot_change_their_own_role(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "admin")
    response = post(
        client, f"/admin/users/{uid}/role", {"role": "facilitator"}, follow_redirects=True
    )
    assert "cannot change your own role" in text(response)
    assert user(services, uid).role == "admin"
    assert post(client, f"/admin/users/{uid}/deactivate").status_code == 302
    assert user(services, uid).active


def test_invalid_role_changes_nothing(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "admin")
    uid = world.sites["a"].users["dpo"]
    response = post(client, f"/admin/users/{uid}/role", {"role": "root"}, follow_redirects=True)
    assert "Choose a role" in text(response)
    assert user(services, uid).role == "dpo"


def test_deactivate_and_reactivate(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    target = app.test_client()
    uid = login_as(target, "dpo")
    login_as(client, "admin")
    assert post(client, f"/admin/users/{uid}/deactivate").status_code == 302
    assert target.get("/dpo").status_code == 302
    assert not user(services, uid).active
    assert "Deactivated" in text(client.get("/admin/users"))
    assert post(client, f"/admin/users/{uid}/activate").status_code == 302
    login_as(app.test_client(), "dpo")


def test_reset_totp_and_log_out_everywhere(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = world.sites["a"].users["supervisor"]
    with services.db.session() as db:
        row = db.get(User, uid)
        assert row is not None
        row.totp_secret = pyotp.random_base32()
    login_as(client, "admin")
    assert "Reset two-step" in text(client.get("/admin/users"))
    assert post(client, f"/admin/users/{uid}/reset-totp").status_code == 302
    assert user(services, uid).totp_secret is None
    target = app.test_client()
    login_as(target, "supervisor")  # no code needed any more
    assert post(client, f"/admin/users/{uid}/logout-everywhere").status_code == 302
    assert target.get("/clips").status_code == 302
    assert audit_actions(services, "user.totp_reset") and audit_actions(
        services, "user.logout_everywhere"
    )


def test_other_sites_users_are_untouchable(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    elsewhere = app.test_client()
    other = login_as(elsewhere, "facilitator", site="b")
    login_as(client, "admin")
    for action in ("deactivate", "reset-totp", "logout-everywhere"):
        assert post(client, f"/admin/users/{other}/{action}").status_code == 404
    assert post(client, f"/admin/users/{other}/role", {"role": "admin"}).status_code == 404
    row = user(services, other)
    assert row.active and row.role == "facilitator"
    assert elsewhere.get("/clips").status_code == 200  # their session was not ended
