"""The session registry without the web layer: hashing, deadlines, revocation, purging."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from storage import login_sessions
from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.db.web import LoginSession
from webapp.composition import Services

IDLE = timedelta(minutes=30)
SETUP = Actor.system("test-setup")


@pytest.fixture
def people(services: Services, fast_passwords: None) -> tuple[str, str, str]:
    """A site id and two of its user ids."""
    with services.db.session() as db:
        site = create_site(db, services.audit, SETUP, "s", "Site S")
        ids = [
            add_user(
                db,
                services.audit,
                SETUP,
                site_id=site.id,
                email=f"{name}@s.example.org",
                role="facilitator",
                password="a long enough password",
            ).id
            for name in ("ann", "bob")
        ]
        return site.id, ids[0], ids[1]


def start(services: Services, site_id: str, user_id: str) -> str:
    with services.db.session() as db:
        return login_sessions.start(
            db, user_id=user_id, site_id=site_id, now=services.clock.now(), idle=IDLE
        )


def row(services: Services, session_id: str) -> LoginSession | None:
    with services.db.session() as db:
        return db.get(LoginSession, login_sessions.hash_id(session_id))


def test_ids_are_random_and_stored_hashed(services: Services, people: tuple[str, str, str]) -> None:
    site, ann, _ = people
    first, second = start(services, site, ann), start(services, site, ann)
    assert first != second and len(first) >= 43
    stored = row(services, first)
    assert stored is not None
    assert stored.id_hash == hashlib.sha256(first.encode()).hexdigest()
    with services.db.session() as db:
        assert first not in set(db.scalars(select(LoginSession.id_hash)))


def test_a_non_positive_idle_limit_is_refused_and_stores_nothing(
    services: Services, people: tuple[str, str, str]
) -> None:
    site, ann, _ = people
    with services.db.session() as db, pytest.raises(ValueError, match="positive"):
        login_sessions.start(
            db, user_id=ann, site_id=site, now=services.clock.now(), idle=timedelta(0)
        )
    with services.db.session() as db:
        assert list(db.scalars(select(LoginSession))) == []


def test_deadline_touch_and_purge(services: Services, people: tuple[str, str, str]) -> None:
    site, ann, _ = people
    sid = start(services, site, ann)
    signed_in = services.clock.now()
    with services.db.session() as db:
        live = db.get(LoginSession, login_sessions.hash_id(sid))
        assert live is not None
        assert login_sessions.ended(live, signed_in + IDLE) is None
        assert login_sessions.ended(live, signed_in + IDLE + timedelta(minutes=2)) == "expired"
        assert not login_sessions.touch(live, signed_in + timedelta(seconds=30), IDLE)
        assert login_sessions.touch(live, signed_in + timedelta(minutes=5), IDLE)
        assert login_sessions.ended(live, signed_in + IDLE + timedelta(minutes=2)) is None
    services.clock.advance(IDLE + timedelta(minutes=5))  # type: ignore[attr-defined]
    assert login_sessions.purge_expired_sessions(services) == 0  # touched: still alive
    services.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    assert login_sessions.purge_expired_sessions(services) == 1
    assert row(services, sid) is None


def test_revoking_one_or_all(services: Services, people: tuple[str, str, str]) -> None:
    site, ann, bob = people
    ann_1, ann_2, bob_1 = (
        start(services, site, ann),
        start(services, site, ann),
        start(services, site, bob),
    )
    now = services.clock.now()
    with services.db.session() as db:
        assert login_sessions.revoke(db, ann_1, now)
        assert not login_sessions.revoke(db, ann_1, now)  # already revoked
        assert not login_sessions.revoke(db, "no such session", now)
        assert login_sessions.revoke_all(db, ann, now) == 1  # only ann_2 was still live
    for sid, gone in ((ann_1, True), (ann_2, True), (bob_1, False)):
        stored = row(services, sid)
        assert stored is not None
        assert (login_sessions.ended(stored, now) == "revoked") is gone


def test_the_worker_purges_ended_sessions_periodically(
    services: Services, people: tuple[str, str, str]
) -> None:
    site, ann, _ = people
    sid = start(services, site, ann)
    services.clock.advance(IDLE + timedelta(minutes=2))  # type: ignore[attr-defined]
    huey = services.queue.huey
    quarter_hour = datetime(2026, 3, 2, 10, 15)  # huey's schedule is naive UTC
    [job] = [task for task in huey.read_periodic(quarter_hour) if task.name == "purge_sessions"]
    huey.execute(job)
    assert row(services, sid) is None
