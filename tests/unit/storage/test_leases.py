"""Named leases: one holder at a time, renewal, lapse and takeover, release, racing takers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from storage.leases import holder_of, release, try_hold
from tests.conftest import START
from webapp.composition import Services

TTL = timedelta(seconds=150)


def test_first_taker_holds_and_others_are_refused(services: Services) -> None:
    db = services.db
    assert try_hold(db, "scheduler", "a", TTL, START)
    assert not try_hold(db, "scheduler", "b", TTL, START + timedelta(seconds=1))
    state = holder_of(db, "scheduler", START + timedelta(seconds=1))
    assert (state.holder, state.expires_at) == ("a", START + TTL)


def test_holder_renews_and_keeps_it_past_the_first_expiry(services: Services) -> None:
    db = services.db
    assert try_hold(db, "scheduler", "a", TTL, START)
    assert try_hold(db, "scheduler", "a", TTL, START + timedelta(seconds=60))
    later = START + TTL + timedelta(seconds=1)  # past the first expiry, before the renewed one
    assert not try_hold(db, "scheduler", "b", TTL, later)
    assert holder_of(db, "scheduler", later).holder == "a"


def test_lapsed_lease_is_taken_over_exactly_at_expiry(services: Services) -> None:
    db = services.db
    assert try_hold(db, "scheduler", "a", TTL, START)
    just_before = START + TTL - timedelta(microseconds=1)
    assert not try_hold(db, "scheduler", "b", TTL, just_before)
    assert try_hold(db, "scheduler", "b", TTL, START + TTL)
    assert holder_of(db, "scheduler", START + TTL).holder == "b"
    # The old holder coming back finds it taken.
    assert not try_hold(db, "scheduler", "a", TTL, START + TTL + timedelta(seconds=1))


def test_release_lets_another_take_it_at_once(services: Services) -> None:
    db = services.db
    assert try_hold(db, "scheduler", "a", TTL, START)
    assert not release(db, "scheduler", "b", START)  # not b's to release
    assert not try_hold(db, "scheduler", "b", TTL, START)
    assert release(db, "scheduler", "a", START)
    assert holder_of(db, "scheduler", START).holder is None
    assert try_hold(db, "scheduler", "b", TTL, START)


def test_leases_are_independent_by_name(services: Services) -> None:
    db = services.db
    assert try_hold(db, "scheduler", "a", TTL, START)
    assert try_hold(db, "other", "b", TTL, START)
    assert holder_of(db, "never-taken", START).holder is None


def test_a_non_positive_ttl_is_refused(services: Services) -> None:
    with pytest.raises(ValueError, match="positive"):
        try_hold(services.db, "scheduler", "a", timedelta(0), START)


def test_racing_first_takers_exactly_one_wins(services: Services) -> None:
    barrier = threading.Barrier(6)
    wins: list[str] = []

    def take(name: str) -> None:
        barrier.wait()
        if try_hold(services.db, "race", name, TTL, START):
            wins.append(name)

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert holder_of(services.db, "race", START).holder == wins[0]
