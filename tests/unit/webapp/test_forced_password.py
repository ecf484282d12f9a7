"""A password an admin set (a new account) or reset must be replaced by the user at
their next sign-in: until then every page leads to the "choose your password" form."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db.tenancy import User
from storage.db.web import LoginSession
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import PASSWORD, LoginAs, World, post
from webapp.composition import Services

NEW = "a long new passphrase of mine"
FORM = "/account/new-password"


def temporary_from(response_text: str) -> str:
    found = re.search(r'<p class="secret">([^<]+)</p>', response_text)
    assert found is not None
    return found.group(1)


def flag(services: Services, user_id: str) -> bool:
    with services.db.session() as db:
        row = db.get(User, user_id)
        assert row is not None
        return row.must_change_password


def add_and_sign_in(app: Flask, client: FlaskClient, login_as: LoginAs) -> tuple[FlaskClient, str]:
    """An admin adds a facilitator; the newcomer signs in with the temporary password."""
    login_as(client, "admin")
    added = post(client, "/admin/users", {"email": "new@a.example.org", "role": "facilitator"})
    temporary = temporary_from(text(added))
    newcomer = app.test_client()
    login = post(newcomer, "/login", {"email": "new@a.example.org", "password": temporary})
    assert login.status_code == 302
    return newcomer, temporary


def test_new_user_must_choose_a_password_before_anything_else(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    newcomer, temporary = add_and_sign_in(app, client, login_as)
    for page in ("/clips", "/upload", "/account", "/notices"):
        response = newcomer.get(page)
        assert response.status_code == 302 and response.headers["Location"].endswith(FORM), page
    api = newcomer.get("/api/v1/clips", headers={"Accept": "application/json"})
    assert api.status_code == 403
    form = text(newcomer.get(FORM))
    assert "Choose your own password" in form
    assert 'class="mainnav"' not in form  # no navigation until it is done
    wrong = post(newcomer, FORM, {"current": "not it", "new": NEW, "confirm": NEW})
    assert wrong.status_code == 400 and "not right" in text(wrong)
    same = post(newcomer, FORM, {"current": temporary, "new": temporary, "confirm": temporary})
    assert same.status_code == 400 and "not the one you have now" in text(same)
    done = post(newcomer, FORM, {"current": temporary, "new": NEW, "confirm": NEW})
    assert done.status_code == 302
    with services.db.session() as db:
        row = db.scalar(select(User).where(User.email == "new@a.example.org"))
        assert row is not None and not row.must_change_password
    page = text(newcomer.get("/clips"))
    assert "Your password was changed" in page and 'class="mainnav"' in page
    # Once done, the form sends the user on.
    assert newcomer.get(FORM).status_code == 302


def test_admin_reset_signs_the_user_out_and_forces_a_change(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services, world: World
) -> None:
    site = world.sites["a"]
    victim = app.test_client()
    login_as(victim, "dpo")
    login_as(client, "admin")
    reset = post(client, f"/admin/users/{site.users['dpo']}/reset-password")
    assert reset.status_code == 200
    page = text(reset)
    assert f"The password of <strong>{site.emails['dpo']}</strong> was reset" in page
    temporary = temporary_from(page)
    assert temporary not in text(client.get("/admin/users"))  # shown once
    assert flag(services, site.users["dpo"])
    assert "Must choose a password" in text(client.get("/admin/users"))
    assert victim.get("/dpo").status_code == 302  # their session ended
    with services.db.session() as db:
        live = db.scalars(
            select(LoginSession).where(
                LoginSession.user_id == site.users["dpo"], LoginSession.revoked_at.is_(None)
            )
        ).all()
        assert live == []
    old = post(app.test_client(), "/login", {"email": site.emails["dpo"], "password": PASSWORD})
    assert old.status_code == 401
    fresh = app.test_client()
    post(fresh, "/login", {"email": site.emails["dpo"], "password": temporary})
    assert fresh.get("/dpo").headers["Location"].endswith(FORM)
    assert [e.target_id for e in audit_actions(services, "user.password_reset")] == [
        site.users["dpo"]
    ]


def test_reset_refuses_self_other_sites_and_requests_without_csrf(
    client: FlaskClient, login_as: LoginAs, services: Services, world: World
) -> None:
    login_as(client, "admin")
    own = post(client, f"/admin/users/{world.sites['a'].users['admin']}/reset-password")
    assert own.status_code == 400 and "your account page" in text(own)
    assert not flag(services, world.sites["a"].users["admin"])
    other = post(client, f"/admin/users/{world.sites['b'].users['dpo']}/reset-password")
    assert other.status_code == 404
    assert not flag(services, world.sites["b"].users["dpo"])
    forged = client.post(f"/admin/users/{world.sites['a'].users['dpo']}/reset-password")
    assert forged.status_code == 400
    assert not flag(services, world.sites["a"].users["dpo"])
    assert audit_actions(services, "user.password_reset") == []


def test_new_password_form_needs_csrf(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    newcomer, temporary = add_and_sign_in(app, client, login_as)
    forged = newcomer.post(FORM, data={"current": temporary, "new": NEW, "confirm": NEW})
    assert forged.status_code == 400
    with services.db.session() as db:
        row = db.scalar(select(User).where(User.email == "new@a.example.org"))
        assert row is not None and row.must_change_password


def test_people_who_chose_their_own_password_are_not_asked(
    client: FlaskClient, login_as: LoginAs
) -> None:
    login_as(client, "facilitator")
    assert client.get("/clips").status_code == 200
    assert client.get(FORM).headers["Location"].endswith("/account")


def test_duplicate_user_from_the_command_line_reads_as_a_sentence(
    services: Services, world: World
) -> None:
    import pytest

    from storage.accounts import add_user
    from storage.audit import Actor
    from storage.errors import ValidationError

    with services.db.session() as db, pytest.raises(ValidationError) as refused:
        add_user(
            db, services.audit, Actor.system("cli"), site_id=world.sites["a"].id,
            email=world.sites["a"].emails["dpo"], role="dpo", password="x" * 12,
        )  # fmt: skip
    message = str(refused.value)
    assert message[0].isupper() and message.endswith(".")
    assert "already exists" in message
