"""Signing in and out: audit, safe redirects, throttling, idle expiry, revocation, TOTP."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta

import pyotp
import pytest
from flask.testing import FlaskClient

from storage.db.tenancy import User
from storage.db.web import LoginAttempt
from tests.unit.webapp.helpers import audit_actions, count_rows, text
from tests.webapp_fixtures import PASSWORD, LoginAs, World, post
from webapp.app import create_app
from webapp.composition import Services


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **kw: str):  # type: ignore[no-untyped-def]
    return post(client, "/login", {"email": email, "password": password, **kw})


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("facilitator", "/clips"),
        ("supervisor", "/clips"),
        ("dpo", "/dpo"),
        ("admin", "/admin/users"),
    ],
)
def test_login_goes_to_the_role_start_page_and_is_audited(
    client: FlaskClient, world: World, services: Services, role: str, home: str
) -> None:
    response = sign_in(client, world.email(role))
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert client.get(home).status_code == 200
    [entry] = audit_actions(services, "auth.login")
    assert entry.actor_id == world.sites["a"].users[role]
    assert entry.details == {"mfa": False, "enrol_required": False}


def test_wrong_password_is_refused_and_audited_with_ids_only(
    client: FlaskClient, world: World, services: Services
) -> None:
    response = sign_in(client, world.email("facilitator"), "not the password")
    assert response.status_code == 401
    assert "not right" in text(response)
    assert client.get("/clips").status_code == 302  # still signed out
    [entry] = audit_actions(services, "auth.login_failed")
    assert entry.target_id == world.sites["a"].users["facilitator"]
    assert entry.details == {"reason": "password"}
    assert "@" not in str(entry.details) and entry.actor_id == "anonymous"


def test_unknown_email_looks_like_a_wrong_password(client: FlaskClient, world: World) -> None:
    wrong = sign_in(client, world.email("facilitator"), "not the password")
    unknown = sign_in(client, "nobody@a.example.org", PASSWORD)
    assert unknown.status_code == wrong.status_code == 401

    def page(response: object, email: str) -> str:
        # The CSRF token embeds a timestamp, so it may differ between the two requests.
        return re.sub(r'(value|content)="[^"]*"', r'\1=""', text(response).replace(email, "X"))  # type: ignore[arg-type]

    assert page(unknown, "nobody@a.example.org") == page(wrong, world.email("facilitator"))


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_next_never_leaves_the_site(client: FlaskClient, world: World, target: str) -> None:
    response = sign_in(client, world.email("dpo"), next=target)
    assert response.headers["Location"] == "/dpo"


def test_next_returns_to_the_page_asked_for(client: FlaskClient, world: World) -> None:
    first = client.get("/dpo/holds")
    assert first.status_code == 302 and "next=/dpo/holds" in first.headers["Location"]
    response = sign_in(client, world.email("dpo"), next="/dpo/holds")
    assert response.headers["Location"] == "/dpo/holds"


def test_login_is_throttled_per_email_and_address(
    app, client: FlaskClient, world: World, services: Services, advance: Callable[[timedelta], None]
) -> None:  # type: ignore[no-untyped-def]
    limit = services.settings.login_attempts
    email = world.email("facilitator")
    for _ in range(limit):
        assert sign_in(client, email, "wrong password").status_code == 401
    locked = sign_in(client, email)  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert client.get("/clips").status_code == 302
    assert audit_actions(services, "auth.login_failed")[-1].details == {"reason": "throttled"}
    # another worker sees the same lock (it lives in the database)
    other_worker = create_app(services=services).test_client()
    assert sign_in(other_worker, email).status_code == 429
    # another address is not locked out by someone else's guessing
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in(elsewhere, email).status_code == 302
    advance(timedelta(seconds=services.settings.login_window_seconds + 1))
    assert sign_in(client, email).status_code == 302
    assert count_rows(services, LoginAttempt) == 0  # success clears the key's failures


def test_idle_session_expires(
    client: FlaskClient, login_as: LoginAs, services: Services, advance: Callable[[timedelta], None]
) -> None:
    login_as(client, "facilitator")
    minutes = services.settings.session_minutes
    advance(timedelta(minutes=minutes - 1))
    assert client.get("/clips").status_code == 200  # activity keeps it alive
    advance(timedelta(minutes=minutes - 1))
    assert client.get("/clips").status_code == 200
    advance(timedelta(minutes=minutes + 1))
    response = client.get("/clips")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/api/v1/clips/x").status_code == 401


def test_expired_session_says_why(
    client: FlaskClient, login_as: LoginAs, services: Services, advance: Callable[[timedelta], None]
) -> None:
    login_as(client, "facilitator")
    advance(timedelta(minutes=services.settings.session_minutes + 1))
    assert "not used for a while" in text(client.get("/login"))


def test_logout_ends_the_session_and_is_audited(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "supervisor")
    response = post(client, "/logout")
    assert response.status_code == 302
    assert client.get("/clips").status_code == 302
    [entry] = audit_actions(services, "auth.logout")
    assert entry.actor_id == uid


def test_log_out_everywhere_ends_other_browsers(app, login_as: LoginAs, services: Services) -> None:  # type: ignore[no-untyped-def]
    tablet, laptop = app.test_client(), app.test_client()
    login_as(tablet, "facilitator")
    login_as(laptop, "facilitator")
    assert post(laptop, "/account/logout-everywhere").status_code == 302
    assert tablet.get("/clips").status_code == 302
    assert laptop.get("/clips").status_code == 302
    assert "signed out" in text(tablet.get("/login"))
    assert len(audit_actions(services, "user.logout_everywhere")) == 1


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = login_as(client, "facilitator")
    with services.db.session() as db:
        user = db.get(User, uid)
        assert user is not None
        user.active = False
    assert client.get("/clips").status_code == 302
    assert sign_in(client, world.email("facilitator")).status_code == 401


def _enrol(services: Services, user_id: str) -> pyotp.TOTP:
    secret = pyotp.random_base32()
    with services.db.session() as db:
        user = db.get(User, user_id)
        assert user is not None
        user.totp_secret = secret
    return pyotp.TOTP(secret)


def test_enrolled_user_needs_a_code(
    app, client: FlaskClient, world: World, services: Services
) -> None:  # type: ignore[no-untyped-def]
    totp = _enrol(services, world.sites["a"].users["dpo"])
    response = sign_in(client, world.email("dpo"))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/code")
    assert client.get("/dpo").status_code == 302  # the password alone is not a session
    assert post(client, "/login/code", {"code": "000000"}).status_code == 401
    code = totp.at(services.clock.now())
    assert post(client, "/login/code", {"code": code}).status_code == 302
    assert client.get("/dpo").status_code == 200
    assert audit_actions(services, "auth.login")[-1].details == {"mfa": True}
    # the same code cannot be used again, not even from another browser
    again = app.test_client()
    sign_in(again, world.email("dpo"))
    assert post(again, "/login/code", {"code": code}).status_code == 401
    assert audit_actions(services, "auth.login_failed")[-1].details == {"reason": "totp"}


def test_the_code_step_times_out(
    client: FlaskClient, world: World, services: Services, advance: Callable[[timedelta], None]
) -> None:
    totp = _enrol(services, world.sites["a"].users["dpo"])
    sign_in(client, world.email("dpo"))
    advance(timedelta(minutes=6))
    response = post(client, "/login/code", {"code": totp.at(services.clock.now())})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/dpo").status_code == 302


def test_codes_are_throttled(client: FlaskClient, world: World, services: Services) -> None:
    totp = _enrol(services, world.sites["a"].users["dpo"])
    sign_in(client, world.email("dpo"))
    for _ in range(services.settings.login_attempts):
        assert post(client, "/login/code", {"code": "123456"}).status_code == 401
    right = totp.at(services.clock.now())
    assert post(client, "/login/code", {"code": right}).status_code == 429


def test_required_second_factor_must_be_set_up_first(world: World, services: Services) -> None:
    services.settings = dataclasses.replace(services.settings, totp_required=True)
    app = create_app(services=services)
    client = app.test_client()
    response = sign_in(client, world.email("dpo"))
    assert response.headers["Location"] == "/account/totp"
    assert client.get("/dpo").headers["Location"] == "/account/totp"
    assert client.get("/api/v1/clips/x").status_code == 403
    page = text(client.get("/account/totp"))
    assert "Your role needs two-step sign-in" in page
    assert 'href="/dpo"' not in page  # no navigation until enrolled
    # facilitators are not forced
    other = app.test_client()
    assert sign_in(other, world.email("facilitator")).headers["Location"] == "/clips"
