"""The throttle and one-time-code helpers on their own (database-backed, no Flask)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp

from storage.db.web import LoginAttempt
from tests.unit.webapp.helpers import count_rows
from tests.webapp_fixtures import World
from webapp import throttle, totp
from webapp.composition import Services

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_keys_hide_what_they_stand_for() -> None:
    key = throttle.throttle_key("login", "Someone@Example.org", "192.0.2.1")
    assert key == throttle.throttle_key("login", "someone@example.org ", "192.0.2.1")
    assert "someone" not in key and len(key) == 64
    assert key != throttle.throttle_key("login", "someone@example.org", "192.0.2.2")


def test_lock_and_unlock(services: Services) -> None:
    key = throttle.throttle_key("k")
    with services.db.session() as db:
        for minute in range(3):
            assert throttle.retry_after(db, key, now=NOW, limit=3, window=300) == 0
            throttle.record_failure(db, key, now=NOW + timedelta(minutes=minute), window=300)
        later = NOW + timedelta(minutes=2)
        assert throttle.retry_after(db, key, now=later, limit=3, window=300) == 180
        assert (
            throttle.retry_after(db, key, now=NOW + timedelta(seconds=301), limit=3, window=300)
            == 0
        )
        assert throttle.retry_after(db, "other", now=later, limit=3, window=300) == 0


def test_old_failures_are_pruned_and_success_clears(services: Services) -> None:
    with services.db.session() as db:
        throttle.record_failure(db, "a", now=NOW, window=60)
        throttle.record_failure(db, "b", now=NOW, window=60)
        throttle.record_failure(db, "c", now=NOW + timedelta(seconds=61), window=60)
    assert count_rows(services, LoginAttempt) == 1
    with services.db.session() as db:
        throttle.clear(db, "c")
    assert count_rows(services, LoginAttempt) == 0


def test_codes_match_within_one_step_of_drift() -> None:
    secret = totp.new_secret()
    otp = pyotp.TOTP(secret)
    assert totp.matching_step(secret, otp.at(NOW), NOW) == int(NOW.timestamp()) // 30
    assert totp.matching_step(secret, otp.at(NOW - timedelta(seconds=30)), NOW) is not None
    assert totp.matching_step(secret, otp.at(NOW - timedelta(seconds=90)), NOW) is None
    code = otp.at(NOW)
    assert totp.matching_step(secret, f"{code[:3]} {code[3:]}", NOW) is not None
    for bad in ("", "12345", "1234567", "abcdef"):
        assert totp.matching_step(secret, bad, NOW) is None


def test_a_code_is_accepted_once(services: Services, world: World) -> None:
    uid = world.sites["a"].users["dpo"]
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(NOW)
    with services.db.session() as db:
        assert totp.verify(db, uid, secret, code, NOW)
        assert not totp.verify(db, uid, secret, code, NOW)
        older = pyotp.TOTP(secret).at(NOW - timedelta(seconds=30))
        assert not totp.verify(db, uid, secret, older, NOW)  # steps only move forward
        newer = pyotp.TOTP(secret).at(NOW + timedelta(seconds=30))
        assert totp.verify(db, uid, secret, newer, NOW + timedelta(seconds=30))


def test_setup_text() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and totp.grouped(secret).replace(" ", "") == secret
    uri = totp.provisioning_uri(secret, "dpo@a.example.org", "Site A")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
