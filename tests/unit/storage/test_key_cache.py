"""The per-process caches of playback: a data key is reused only against the very
wrapped bytes it came from; bounded, short-lived; headers are reused per blob."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.cache import DataKeyCache, HeaderCache
from storage.clock import FixedClock
from storage.db.footage import DataKey
from tests.conftest import START

TTL = timedelta(seconds=60)


def row(clip: str = "c1", wrapped: bytes | None = b"w" * 60, version: str = "1") -> DataKey:
    return DataKey(
        clip_id=clip,
        site_id="s1",
        provider="local",
        kek_version=version,
        wrapped=wrapped,
        created_at=START,
    )


@pytest.fixture
def cache(clock: FixedClock) -> DataKeyCache:
    return DataKeyCache(clock, TTL, max_entries=3)


def test_hit_only_for_the_same_wrapped_bytes(cache: DataKeyCache) -> None:
    cache.put(row(), b"K" * 32)
    assert cache.get(row()) == b"K" * 32
    assert cache.get(row(wrapped=b"x" * 60)) is None  # re-wrapped: another key row
    assert cache.get(row()) is None  # ... and the stale entry is gone


def test_a_shredded_row_never_hits_and_drops_the_entry(cache: DataKeyCache) -> None:
    cache.put(row(), b"K" * 32)
    assert cache.get(row(wrapped=None)) is None
    assert len(cache) == 0
    cache.put(row(wrapped=None), b"K" * 32)  # nothing to remember for a shredded row
    assert len(cache) == 0


def test_a_new_kek_version_misses(cache: DataKeyCache) -> None:
    cache.put(row(version="1"), b"K" * 32)
    assert cache.get(row(version="2")) is None


def test_entries_expire_at_the_ttl(cache: DataKeyCache, clock: FixedClock) -> None:
    cache.put(row(), b"K" * 32)
    clock.advance(TTL - timedelta(microseconds=1))
    assert cache.get(row()) == b"K" * 32
    clock.advance(timedelta(microseconds=1))
    assert cache.get(row()) is None


def test_bounded_least_recently_used_goes_first(cache: DataKeyCache) -> None:
    for name in ("a", "b", "c"):
        cache.put(row(name), name.encode() * 32)
    assert cache.get(row("a")) == b"a" * 32  # a is now the most recently used
    cache.put(row("d"), b"d" * 32)
    assert len(cache) == 3
    assert cache.get(row("b")) is None
    assert cache.get(row("a")) == b"a" * 32


def test_drop_forgets_a_clip(cache: DataKeyCache) -> None:
    cache.put(row(), b"K" * 32)
    cache.drop("c1")
    assert cache.get(row()) is None


def test_bad_sizes_are_refused(clock: FixedClock) -> None:
    with pytest.raises(ValueError):
        DataKeyCache(clock, timedelta(0), 1)
    with pytest.raises(ValueError):
        DataKeyCache(clock, TTL, 0)
    with pytest.raises(ValueError):
        HeaderCache(0)


def test_header_cache_is_bounded() -> None:
    headers = HeaderCache(2)
    headers.put("b1", b"h1")
    headers.put("b2", b"h2")
    assert headers.get("b1") == b"h1"
    headers.put("b3", b"h3")
    assert headers.get("b2") is None
    assert headers.get("b1") == b"h1"
    headers.drop("b1")
    assert headers.get("b1") is None
