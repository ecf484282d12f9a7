"""The account pages: password change, TOTP enrolment, details."""

from __future__ import annotations

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from storage.db.tenancy import User
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import PASSWORD, LoginAs, World, post
from webapp.composition import Services

NEW = "a much better passphrase"


def change(client: FlaskClient, current: str, new: str, confirm: str):  # type: ignore[no-untyped-def]
    return post(client, "/account/password", {"current": current, "new": new, "confirm": confirm})


def test_account_page_shows_who_you_are(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "supervisor")
    page = text(client.get("/account"))
    assert world.email("supervisor") in page and "Site A" in page and "Supervisor" in page


def test_bad_password_changes_change_nothing(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    assert change(client, "wrong current", NEW, NEW).status_code == 400
    assert change(client, PASSWORD, NEW, NEW + "x").status_code == 400
    short = change(client, PASSWORD, "short", "short")
    assert short.status_code == 400 and "at least 10" in text(short)
    fresh = app.test_client()
    login_as(fresh, "facilitator")  # the old password still works


def test_password_change_signs_out_other_devices_only(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    other = app.test_client()
    login_as(other, "facilitator")
    login_as(client, "facilitator")
    response = change(client, PASSWORD, NEW, NEW)
    assert response.status_code == 302
    assert client.get("/clips").status_code == 200  # this device stays signed in
    assert other.get("/clips").status_code == 302
    again = app.test_client()
    assert (
        post(again, "/login", {"email": world.email("facilitator"), "password": NEW}).status_code
        == 302
    )
    assert len(audit_actions(services, "user.password")) == 1


def test_guessing_the_current_password_is_throttled(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    for _ in range(services.settings.login_attempts):
        assert change(client, "a wrong guess", NEW, NEW).status_code == 400
    assert change(client, PASSWORD, NEW, NEW).status_code == 429


def _secret_from(page: str) -> str:
    start = page.index('id="totp-secret">') + len('id="totp-secret">')
    return page[start : page.index("</p>", start)].replace(" ", "")


def test_totp_enrolment(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "dpo")
    page = text(client.get("/account/totp"))
    secret = _secret_from(page)
    assert "otpauth://totp/" in page and "secret=" + secret in page.replace("&amp;", "&")
    assert _secret_from(text(client.get("/account/totp"))) == secret  # stable while enrolling
    cookie = client.get_cookie("verp")
    assert cookie is not None
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[attr-defined]
    assert secret not in str(session)  # the secret never travels in the cookie
    assert post(client, "/account/totp", {"code": "000000"}).status_code == 400
    code = pyotp.TOTP(secret).at(services.clock.now())
    assert post(client, "/account/totp", {"code": code}).status_code == 302
    with services.db.session() as db:
        user = db.get(User, uid)
        assert user is not None and user.totp_secret == secret
    assert "is on for your account" in text(client.get("/account/totp"))
    assert len(audit_actions(services, "user.totp_enrol")) == 1


def test_enrolment_secret_differs_per_session(app: Flask, login_as: LoginAs) -> None:
    one, two = app.test_client(), app.test_client()
    login_as(one, "dpo")
    login_as(two, "dpo")
    assert _secret_from(text(one.get("/account/totp"))) != _secret_from(
        text(two.get("/account/totp"))
    )
