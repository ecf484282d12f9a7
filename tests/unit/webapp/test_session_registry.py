"""Server-side sessions: sign-out, "log out everywhere" and admin changes end a session for
every copy of its cookie; idle expiry on the server; a new session id at each sign-in."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from storage.db.tenancy import User
from storage.db.web import LoginSession
from storage.login_sessions import hash_id, purge_expired_sessions
from tests.unit.webapp.helpers import count_rows, text
from tests.webapp_fixtures import PASSWORD, LoginAs, World, post
from webapp import sessions
from webapp.composition import Services

COOKIE = "verp"  # the cookie's name without Secure cookies (plain-http tests)


def cookie_session(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """The (signed, readable) contents of the client's session cookie."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return dict(serializer.loads(cookie.value))


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s cookie (a stolen cookie)."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def rows(services: Services, user_id: str) -> list[LoginSession]:
    with services.db.session() as db:
        query = select(LoginSession).where(LoginSession.user_id == user_id)
        return list(db.scalars(query.order_by(LoginSession.created_at)))


def refused_page(client: FlaskClient) -> bool:
    response = client.get("/clips")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    page_thief, api_thief = copy_of(app, client), copy_of(app, client)
    api = f"/api/v1/clips/{world.sites['a'].clip}"
    assert page_thief.get("/clips").status_code == 200
    assert api_thief.get(api).status_code == 200
    assert post(client, "/logout").status_code == 302
    assert refused_page(page_thief)
    assert api_thief.get(api).status_code == 401
    assert "signed out" in text(page_thief.get("/login"))


def test_the_row_holds_only_a_hash_of_the_id(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "supervisor")
    sid = cookie_session(app, client)[sessions.SID]
    assert len(sid) >= 43  # 32 random bytes, url-safe base64
    [row] = rows(services, uid)
    assert row.id_hash == hashlib.sha256(sid.encode()).hexdigest() != sid
    assert row.site_id and row.revoked_at is None
    assert row.created_at == row.last_seen_at == services.clock.now()


def test_log_out_everywhere_kills_every_other_session(
    app: Flask, login_as: LoginAs, services: Services
) -> None:
    tablet, laptop = app.test_client(), app.test_client()
    uid = login_as(tablet, "facilitator")
    login_as(laptop, "facilitator")
    stolen = copy_of(app, tablet)
    assert post(laptop, "/account/logout-everywhere").status_code == 302
    assert all(refused_page(browser) for browser in (tablet, stolen, laptop))
    assert all(row.revoked_at is not None for row in rows(services, uid))


def test_admin_deactivation_kills_sessions_for_good(
    app: Flask, client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    target = app.test_client()
    uid = login_as(target, "dpo")
    stolen = copy_of(app, target)
    login_as(client, "admin")
    assert post(client, f"/admin/users/{uid}/deactivate").status_code == 302
    assert [row.revoked_at for row in rows(services, uid)] == [services.clock.now()]
    # reactivating lets the user sign in again, but not the old cookie back in
    assert post(client, f"/admin/users/{uid}/activate").status_code == 302
    assert stolen.get("/dpo").status_code == 302
    assert target.get("/dpo").status_code == 302
    login_as(target, "dpo")
    assert target.get("/dpo").status_code == 200


def test_a_role_change_kills_sessions_even_after_changing_back(
    app: Flask, client: FlaskClient, login_as: LoginAs
) -> None:
    target = app.test_client()
    uid = login_as(target, "facilitator")
    login_as(client, "admin")
    post(client, f"/admin/users/{uid}/role", {"role": "supervisor"})
    post(client, f"/admin/users/{uid}/role", {"role": "facilitator"})
    assert refused_page(target)


def test_idle_expiry_is_enforced_by_the_server(
    app: Flask,
    client: FlaskClient,
    login_as: LoginAs,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    uid = login_as(client, "facilitator")
    idle = timedelta(minutes=services.settings.session_minutes)
    advance(idle + timedelta(minutes=2))
    # A cookie whose own last-use stamp looks fresh (e.g. a copy kept alive elsewhere)
    # does not help: the row's deadline has passed.
    with client.session_transaction() as cookie:
        cookie[sessions.SEEN] = int(services.clock.now().timestamp())
    assert refused_page(client)
    assert "not used for a while" in text(client.get("/login"))
    assert len(rows(services, uid)) == 1
    assert purge_expired_sessions(services) == 1
    assert rows(services, uid) == []


def test_an_idle_browser_ends_the_session_for_its_copies_too(
    app: Flask,
    client: FlaskClient,
    login_as: LoginAs,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    uid = login_as(client, "facilitator")
    stolen = copy_of(app, client)
    advance(timedelta(minutes=services.settings.session_minutes, seconds=1))
    with stolen.session_transaction() as cookie:
        cookie[sessions.SEEN] = int(services.clock.now().timestamp())
    assert refused_page(client)  # its own stamp is too old: the session is revoked
    assert refused_page(stolen)
    assert rows(services, uid)[0].revoked_at == services.clock.now()


def test_use_is_recorded_at_most_once_a_minute(
    client: FlaskClient,
    login_as: LoginAs,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    uid = login_as(client, "facilitator")
    signed_in = services.clock.now()
    idle = timedelta(minutes=services.settings.session_minutes)
    advance(timedelta(seconds=59))
    assert client.get("/clips").status_code == 200
    [row] = rows(services, uid)
    assert row.last_seen_at == signed_in  # no write for this request
    advance(timedelta(seconds=1))
    assert client.get("/clips").status_code == 200
    [row] = rows(services, uid)
    assert row.last_seen_at == services.clock.now()
    assert row.expires_at > services.clock.now() + idle  # never ends a session early
    # steady use keeps a session alive far past one idle period
    for _ in range(3):
        advance(idle - timedelta(minutes=1))
        assert client.get("/clips").status_code == 200


def test_signing_in_purges_ended_sessions(
    app: Flask, login_as: LoginAs, services: Services, advance: Callable[[timedelta], None]
) -> None:
    first = app.test_client()
    uid = login_as(first, "facilitator")
    advance(timedelta(minutes=services.settings.session_minutes + 2))
    login_as(app.test_client(), "supervisor")
    assert rows(services, uid) == []
    assert count_rows(services, LoginSession) == 1


def test_the_session_id_changes_at_sign_in(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    uid = login_as(client, "facilitator")
    before = cookie_session(app, client)[sessions.SID]
    planted = copy_of(app, client)  # e.g. a cookie someone knew before this sign-in
    login_as(client, "facilitator")
    after = cookie_session(app, client)[sessions.SID]
    assert after != before
    assert refused_page(planted)
    assert client.get("/clips").status_code == 200
    live = {row.id_hash: row.revoked_at is None for row in rows(services, uid)}
    assert live == {hash_id(before): False, hash_id(after): True}


def test_the_session_starts_only_after_the_one_time_code(
    app: Flask, client: FlaskClient, world: World, services: Services
) -> None:
    uid = world.sites["a"].users["dpo"]
    secret = pyotp.random_base32()
    with services.db.session() as db:
        user = db.get(User, uid)
        assert user is not None
        user.totp_secret = secret
    post(client, "/login", {"email": world.email("dpo"), "password": PASSWORD})
    waiting = copy_of(app, client)
    assert sessions.SID not in cookie_session(app, client)
    assert rows(services, uid) == []
    code = pyotp.TOTP(secret).at(services.clock.now())
    assert post(client, "/login/code", {"code": code}).status_code == 302
    assert sessions.SID in cookie_session(app, client)
    assert client.get("/dpo").status_code == 200
    assert waiting.get("/dpo").status_code == 302  # the pre-code cookie is no session


def _secret_from(page: str) -> str:
    start = page.index('id="totp-secret">') + len('id="totp-secret">')
    return page[start : page.index("</p>", start)].replace(" ", "")


def test_setting_up_a_second_factor_moves_the_session_to_a_new_id(
    app: Flask, client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "dpo")
    before = cookie_session(app, client)[sessions.SID]
    secret = _secret_from(text(client.get("/account/totp")))
    earlier = copy_of(app, client)
    code = pyotp.TOTP(secret).at(services.clock.now())
    assert post(client, "/account/totp", {"code": code}).status_code == 302
    assert cookie_session(app, client)[sessions.SID] != before
    assert client.get("/account").status_code == 200
    assert earlier.get("/account").status_code == 302


def test_a_forged_or_unknown_session_id_is_refused(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "facilitator")
    with client.session_transaction() as cookie:
        cookie[sessions.SID] = "not-a-session-id"
    assert refused_page(client)
    assert count_rows(services, LoginSession) == 1  # nothing was created or changed
