"""Web-app fixtures (a pytest plugin listed in tests/conftest.py).

* ``world`` — two sites, ``a`` and ``b``, each with one user per role plus a spare
  ``target`` user, a consent, a ready clip with an encrypted poster and a legal hold, a
  clip waiting for its upload (with a live tus upload) and a destroyed clip (tombstone);
* ``app`` / ``client`` — the real app built from the ``services`` fixture (SQLite and
  PostgreSQL), CSRF protection ON;
* ``login_as(client, role, site="a")`` — signs a test client in through the login form;
* ``csrf_token(client)`` — the real token from the page's ``<meta name="csrf-token">``;
* ``post(client, url, data=None, **kw)`` — a form POST carrying that token.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ingest.clips import register_clip
from ingest.tus import create_upload
from storage import accounts
from storage.accounts import create_site
from storage.audit import Actor
from storage.consent import ConsentInput, record_consent
from storage.db.footage import PURPOSES, Clip
from storage.db.tenancy import ROLES, Site, User
from storage.destruction import Destroyer, request_destruction
from storage.holds import place_hold
from tests.programme_fixtures import seed_programme
from tests.review_fixtures import seed_review
from webapp.app import create_app
from webapp.composition import Services

PASSWORD = "correct horse battery staple"
SITES = ("a", "b")
SETUP = Actor.system("test-setup")
#: The smallest valid JPEG header bytes are irrelevant here: the poster is served as stored.
POSTER_BYTES = b"\xff\xd8\xff\xe0poster-bytes-for-tests\xff\xd9"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


#: Argon2id with test-sized costs: real hashing is deliberately slow (~0.5 s per login on
#: a busy CI machine), and the web tests sign in hundreds of times.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@functools.cache
def password_hash() -> str:
    """One Argon2 hash shared by every test user."""
    return FAST_HASHER.hash(PASSWORD)


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make storage.accounts hash and verify with test-sized Argon2 costs."""
    monkeypatch.setattr(accounts, "_HASHER", FAST_HASHER)


@dataclass
class SiteWorld:
    """Ids of one site's fixtures."""

    slug: str
    id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> user id
    emails: dict[str, str] = field(default_factory=dict)  # role -> email
    target_user: str = ""
    consent: str = ""
    clip: str = ""  # ready, with a poster, on legal hold
    receiving_clip: str = ""
    upload: str = ""
    destroyed_clip: str = ""
    hold: str = ""
    # Review objects on ``clip`` (tests.review_fixtures): annotation, reply, link, still.
    annotation: str = ""
    reply: str = ""
    link: str = ""
    moment: str = ""
    scheme: str = "infant-cues"  # a coding scheme every site has
    # The programme (tests.programme_fixtures): a group, its enrolled family, a clip share.
    group: str = ""
    family: str = ""
    share: str = ""


@dataclass
class World:
    sites: dict[str, SiteWorld]

    def email(self, role: str, site: str = "a") -> str:
        return self.sites[site].emails[role]


def _consent(family: str) -> ConsentInput:
    from datetime import UTC, datetime

    return ConsentInput(
        family=family,
        participants=("parent-1", "infant"),
        purposes=PURPOSES,
        form_reference=f"CF-{family}",
        taken_by="facilitator",
        taken_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def _make_site(svc: Services, slug: str) -> SiteWorld:
    with svc.db.session() as db:
        site = create_site(db, svc.audit, SETUP, slug, f"Site {slug.upper()}")
        world = SiteWorld(slug=slug, id=site.id)
        now = svc.clock.now()
        for role in (*ROLES, "target"):
            email = f"{role}@{slug}.example.org"
            user = User(
                site_id=site.id,
                email=email,
                display_name=f"{role.title()} {slug.upper()}",
                role="facilitator" if role == "target" else role,
                password_hash=password_hash(),
                created_at=now,
            )
            db.add(user)
            db.flush()
            if role == "target":
                world.target_user = user.id
            else:
                world.users[role] = user.id
                world.emails[role] = email
    facilitator = Actor(world.users["facilitator"], "facilitator", world.id)
    with svc.db.session() as db:
        site_row = db.get(Site, world.id)
        assert site_row is not None
        consent = record_consent(
            db, svc.audit, facilitator, world.id, _consent(f"FAM-{slug.upper()}01")
        )
        world.consent = consent.id
        clips = []
        for title in ("ready", "receiving", "doomed"):
            clip = register_clip(
                db,
                svc.vault,
                svc.audit,
                svc.settings,
                actor=facilitator,
                site=site_row,
                kind="home-visit",
                consent=consent,
                uploaded_by=facilitator.id,
                title=f"{title} clip {slug}",
            )
            clips.append(clip)
        ready, receiving, doomed = clips
        ready.status, ready.stage, ready.progress, ready.duration_ms = "ready", "ready", 100, 20000
        svc.vault.put_bytes(db, world.id, ready.id, "poster", POSTER_BYTES, "image/jpeg")
        world.clip, world.receiving_clip, world.destroyed_clip = ready.id, receiving.id, doomed.id
        hold = place_hold(
            db, svc.audit, SETUP, site_id=world.id, clip_id=ready.id, reason="test hold"
        )
        world.hold = hold.id
        request_destruction(db, svc.audit, SETUP, doomed, "retention-expired")
    Destroyer(svc.db, svc.vault, svc.audit).destroy(world.destroyed_clip, SETUP)
    seed_review(svc, world)
    seed_programme(svc, world, f"FAM-{slug.upper()}01")
    state = create_upload(svc, facilitator, length="1000", metadata={"clip": world.receiving_clip})
    world.upload = state.id
    return world


@pytest.fixture
def world(services: Services, fast_passwords: None) -> World:
    """Two sites with one user per role and a few clips each (see module docstring)."""
    return World(sites={slug: _make_site(services, slug) for slug in SITES})


@pytest.fixture
def app(services: Services, world: World) -> Flask:
    """The real app on the test services (CSRF on, cookies not Secure: plain http)."""
    flask_app = create_app(services=services)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def token_from(html: str) -> str:
    """The CSRF token in a rendered page."""
    found = _META.search(html)
    assert found, "page has no csrf-token meta tag"
    return found.group(1)


def csrf_token(client: FlaskClient) -> str:
    """The real CSRF token of this client's session (read from a rendered page)."""
    response = client.get("/account", follow_redirects=True)
    return token_from(response.get_data(as_text=True))


def post(
    client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kwargs: Any
) -> TestResponse:
    """A form POST with the session's CSRF token."""
    body = {"csrf_token": csrf_token(client), **(data or {})}
    return client.post(url, data=body, **kwargs)


LoginAs = Callable[..., str]


@pytest.fixture
def login_as(world: World) -> LoginAs:
    """``login_as(client, role, site="a")`` signs in through the form; returns the user id."""

    def sign_in(client: FlaskClient, role: str, site: str = "a") -> str:
        response = post(client, "/login", {"email": world.email(role, site), "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return world.sites[site].users[role]

    return sign_in


@pytest.fixture
def advance(services: Services) -> Callable[[timedelta], None]:
    """Move the services' fixed clock forward."""

    def move(delta: timedelta) -> None:
        services.clock.advance(delta)  # type: ignore[attr-defined]

    return move


@pytest.fixture
def clip_row(services: Services) -> Callable[[str], Clip]:
    """Read a clip row (for assertions)."""

    def read(clip_id: str) -> Clip:
        with services.db.session() as db:
            row = db.get(Clip, clip_id)
            assert row is not None
            return row

    return read
