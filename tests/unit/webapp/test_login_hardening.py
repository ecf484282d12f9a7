"""Signing in against a hostile client: the ``next`` redirect, timing by account state,
and throttling per address as well as per account."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import accounts
from storage.db.tenancy import User
from tests.unit.webapp.helpers import audit_actions
from tests.webapp_fixtures import FAST_HASHER, PASSWORD, World, post
from webapp.composition import Services
from webapp.redirects import safe_next


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **kw: str) -> Any:
    return post(client, "/login", {"email": email, "password": password, **kw})


# -- next ------------------------------------------------------------------------------

HOSTILE = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example/",  # browsers drop the tab: //evil.example/
    "/%09/evil.example/",  # the same, percent-encoded
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",  # encoded twice
    "/\r\n/x",
    "/x\r\nSet-Cookie: a=b",
    "/x\x00y",
    "/x\x7fy",
    "/\u2028x",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example/x",
    " /clips",
    "",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_refuses_anything_but_a_plain_path(target: str) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize(
    "target", ["/dpo/holds", "/clips?kind=home-visit&status=ready", "/clips/abc#top", "/%7Euser"]
)
def test_safe_next_keeps_a_path_of_this_site(target: str) -> None:
    assert safe_next(target) == target


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_whatever_is_kept_is_a_same_site_path(raw: str) -> None:
    kept = safe_next(raw)
    if kept is None:
        return
    assert kept.startswith("/") and not kept.startswith(("//", "/\\"))
    assert all(0x20 < ord(c) != 0x7F for c in kept if ord(c) < 0x80)
    assert "\\" not in kept


@pytest.mark.parametrize("target", HOSTILE)
def test_login_with_a_hostile_next_goes_home_never_a_500(
    client: FlaskClient, world: World, target: str
) -> None:
    response = sign_in(client, world.email("dpo"), next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dpo"


def test_the_login_form_does_not_echo_a_hostile_next(client: FlaskClient, world: World) -> None:
    page = client.get("/login", query_string={"next": "/%09/evil.example/"})
    assert page.status_code == 200
    assert "evil.example" not in page.get_data(as_text=True)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(target=st.text(max_size=24))
def test_any_next_with_valid_credentials_redirects_on_site(
    app: Flask, world: World, target: str
) -> None:
    response = sign_in(app.test_client(), world.email("dpo"), next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


# -- the same work for every account state --------------------------------------------


class CountingHasher(PasswordHasher):
    """The fast test hasher, counting verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher()
    monkeypatch.setattr(accounts, "_HASHER", hasher)
    # The dummy hash of unknown accounts must cost what a real one costs.
    accounts._dummy_hash.cache_clear()
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: FAST_HASHER.hash("padding"))
    return hasher


def _deactivate(services: Services, user_id: str) -> None:
    with services.db.session() as db:
        user = db.get(User, user_id)
        assert user is not None
        user.active = False


@pytest.mark.parametrize(
    ("state", "password", "status"),
    [
        ("active", PASSWORD, 302),
        ("active", "wrong password", 401),
        ("deactivated", PASSWORD, 401),
        ("deactivated", "wrong password", 401),
        ("unknown", PASSWORD, 401),
    ],
)
def test_every_account_state_costs_one_argon2_verification(
    client: FlaskClient,
    world: World,
    services: Services,
    counting: CountingHasher,
    state: str,
    password: str,
    status: int,
) -> None:
    email = world.email("supervisor")
    if state == "deactivated":
        _deactivate(services, world.sites["a"].users["supervisor"])
    if state == "unknown":
        email = "nobody@a.example.org"
    counting.verified = 0
    response = sign_in(client, email, password)
    assert response.status_code == status
    assert counting.verified == 1


def test_a_deactivated_account_looks_like_a_wrong_password(
    client: FlaskClient, world: World, services: Services
) -> None:
    _deactivate(services, world.sites["a"].users["supervisor"])
    deactivated = sign_in(client, world.email("supervisor"), PASSWORD)
    wrong = sign_in(client, world.email("facilitator"), "wrong password")
    assert deactivated.status_code == wrong.status_code == 401
    assert [e.details for e in audit_actions(services, "auth.login_failed")] == [
        {"reason": "password"},
        {"reason": "password"},
    ]


# -- throttling per address ------------------------------------------------------------


def test_one_address_trying_many_emails_is_throttled(
    app: Flask, world: World, services: Services, advance: Callable[[timedelta], None]
) -> None:
    limit = services.settings.login_address_attempts
    assert limit > services.settings.login_attempts  # an office behind one address
    client = app.test_client()
    for n in range(limit):
        assert sign_in(client, f"guess{n}@a.example.org", "wrong password").status_code == 401
    locked = sign_in(client, world.email("facilitator"))  # a new email, the right password
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert audit_actions(services, "auth.login_failed")[-1].details == {"reason": "throttled"}
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    assert sign_in(elsewhere, world.email("facilitator")).status_code == 302
    advance(timedelta(seconds=services.settings.login_window_seconds + 1))
    assert sign_in(client, world.email("facilitator")).status_code == 302


def test_a_success_does_not_reset_the_address_count(
    app: Flask, world: World, services: Services
) -> None:
    """An attacker with one valid account cannot launder guesses by signing in."""
    limit = services.settings.login_address_attempts
    client = app.test_client()
    for n in range(limit - 1):
        assert sign_in(client, f"guess{n}@a.example.org", "wrong password").status_code == 401
    assert sign_in(app.test_client(), world.email("dpo")).status_code == 302
    assert sign_in(client, "one-more@a.example.org", "wrong password").status_code == 401
    assert sign_in(client, "and-another@a.example.org", "wrong password").status_code == 429
