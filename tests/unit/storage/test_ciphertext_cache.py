"""The ciphertext cache: aligned chunks, exact slices at every boundary, bounded in
bytes, aged out, dropped on request, one fetch for concurrent misses, nothing cached
from a short or failed fetch."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from storage.cache import CiphertextCache
from storage.clock import FixedClock

CHUNK = 100
BLOB = os.urandom(1050)  # ten whole chunks and a short eleventh


class Store:
    """A blob store's ranged read of BLOB, counting calls."""

    def __init__(self, data: bytes = BLOB) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def fetch(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        return self.data[offset : offset + length]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 2, tzinfo=UTC))


def make(clock: FixedClock, max_bytes: int = 10 * CHUNK) -> CiphertextCache:
    return CiphertextCache(clock, max_bytes=max_bytes, chunk_size=CHUNK, ttl=timedelta(minutes=1))


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (0, CHUNK),  # exactly one chunk
        (CHUNK - 1, 2),  # across a boundary
        (CHUNK, CHUNK),  # the second chunk exactly
        (50, 3 * CHUNK),  # four chunks
        (1000, 50),  # the short final chunk
        (1049, 1),  # the last byte
        (1000, 500),  # past the end: clamped
        (0, len(BLOB)),
    ],
)
def test_reads_give_the_stored_bytes(clock: FixedClock, offset: int, length: int) -> None:
    cache, store = make(clock, max_bytes=20 * CHUNK), Store()
    assert cache.read("b", len(BLOB), offset, length, store.fetch) == BLOB[offset : offset + length]
    # The same read again is served from memory.
    calls = len(store.calls)
    assert cache.read("b", len(BLOB), offset, length, store.fetch) == BLOB[offset : offset + length]
    assert len(store.calls) == calls


def test_a_miss_fetches_the_whole_aligned_chunk_once(clock: FixedClock) -> None:
    cache, store = make(clock), Store()
    cache.read("b", len(BLOB), 130, 10, store.fetch)
    assert store.calls == [(100, 100)]
    for offset in (100, 150, 199):
        cache.read("b", len(BLOB), offset, 1, store.fetch)
    assert store.calls == [(100, 100)]
    cache.read("b", len(BLOB), 1020, 100, store.fetch)  # the final chunk is 50 bytes
    assert store.calls[-1] == (1000, 50)


def test_empty_and_out_of_range_reads_fetch_nothing(clock: FixedClock) -> None:
    cache, store = make(clock), Store()
    assert cache.read("b", len(BLOB), 5, 0, store.fetch) == b""
    assert cache.read("b", len(BLOB), len(BLOB), 10, store.fetch) == b""
    assert store.calls == []
    with pytest.raises(ValueError):
        cache.read("b", len(BLOB), -1, 10, store.fetch)


def test_bounded_in_bytes_least_recently_used_goes_first(clock: FixedClock) -> None:
    cache, store = make(clock, max_bytes=3 * CHUNK), Store()
    for offset in (0, 100, 200):
        cache.read("b", len(BLOB), offset, 1, store.fetch)
    assert cache.size_bytes == 3 * CHUNK
    cache.read("b", len(BLOB), 0, 1, store.fetch)  # chunk 0 is now the most recent
    cache.read("b", len(BLOB), 300, 1, store.fetch)  # evicts chunk 1
    assert cache.size_bytes == 3 * CHUNK
    calls = len(store.calls)
    cache.read("b", len(BLOB), 0, 1, store.fetch)
    cache.read("b", len(BLOB), 200, 1, store.fetch)
    assert len(store.calls) == calls
    cache.read("b", len(BLOB), 100, 1, store.fetch)
    assert store.calls[-1] == (100, 100)


def test_chunks_expire(clock: FixedClock) -> None:
    cache, store = make(clock), Store()
    cache.read("b", len(BLOB), 0, 1, store.fetch)
    clock.advance(timedelta(seconds=59))
    cache.read("b", len(BLOB), 0, 1, store.fetch)
    assert len(store.calls) == 1
    clock.advance(timedelta(seconds=1))
    cache.read("b", len(BLOB), 0, 1, store.fetch)
    assert len(store.calls) == 2
    assert cache.size_bytes == CHUNK


def test_drop_forgets_one_blob_only(clock: FixedClock) -> None:
    cache, store = make(clock), Store()
    cache.read("b", len(BLOB), 0, 250, store.fetch)
    cache.read("other", len(BLOB), 0, 1, store.fetch)
    cache.drop("b")
    assert cache.size_bytes == CHUNK
    calls = len(store.calls)
    cache.read("other", len(BLOB), 0, 1, store.fetch)
    assert len(store.calls) == calls
    cache.read("b", len(BLOB), 0, 1, store.fetch)
    assert len(store.calls) == calls + 1
    cache.drop("never-seen")  # idempotent
    cache.clear()
    assert cache.size_bytes == 0


def test_a_short_fetch_is_returned_short_and_not_kept(clock: FixedClock) -> None:
    cache, store = make(clock), Store(BLOB[:150])  # the store lost the tail
    got = cache.read("b", len(BLOB), 50, 300, store.fetch)
    assert got == BLOB[50:150]  # stops at the short chunk, so the reader can tell
    assert store.calls == [(0, 100), (100, 100)]  # and asks for nothing after it
    assert cache.size_bytes == CHUNK  # only the whole first chunk is kept
    cache.read("b", len(BLOB), 120, 200, store.fetch)
    assert store.calls.count((100, 100)) == 2


def test_a_failed_fetch_is_not_kept_and_the_next_read_retries(clock: FixedClock) -> None:
    cache, store = make(clock), Store()

    def failing(offset: int, length: int) -> bytes:
        raise OSError("store down")

    with pytest.raises(OSError):
        cache.read("b", len(BLOB), 0, 10, failing)
    assert cache.size_bytes == 0
    assert cache.read("b", len(BLOB), 0, 10, store.fetch) == BLOB[:10]


def test_concurrent_misses_of_one_chunk_make_one_fetch(clock: FixedClock) -> None:
    cache, store = make(clock), Store()
    entered, release = threading.Event(), threading.Event()

    def slow(offset: int, length: int) -> bytes:
        entered.set()
        assert release.wait(5)
        return store.fetch(offset, length)

    results: list[bytes] = []
    first = threading.Thread(target=lambda: results.append(cache.read("b", 1050, 0, 10, slow)))
    first.start()
    assert entered.wait(5)
    others = [
        threading.Thread(target=lambda: results.append(cache.read("b", 1050, 5, 10, slow)))
        for _ in range(4)
    ]
    for thread in others:
        thread.start()
    release.set()
    for thread in (first, *others):
        thread.join(5)
    assert store.calls == [(0, 100)]
    assert sorted(results) == sorted([BLOB[:10]] + [BLOB[5:15]] * 4)


def test_needs_room_for_a_chunk_and_a_positive_ttl(clock: FixedClock) -> None:
    with pytest.raises(ValueError):
        CiphertextCache(clock, max_bytes=CHUNK - 1, chunk_size=CHUNK, ttl=timedelta(minutes=1))
    with pytest.raises(ValueError):
        CiphertextCache(clock, max_bytes=CHUNK, chunk_size=CHUNK, ttl=timedelta(0))
