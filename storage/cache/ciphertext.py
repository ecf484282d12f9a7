"""Ciphertext of recently played blobs, kept in process memory in aligned chunks, so
seeking in a clip on a remote store (S3) is mostly served without a remote call.

What is kept is the stored container bytes, still encrypted and authenticated: nothing
here can be read without the clip's data key, and every read path obtains that key for
the current request first (storage.vault), which fails at once when the clip is
destroyed in any process. A destruction in this process also drops the blob's chunks
(:meth:`CiphertextCache.drop`); in another process they are evicted by age or size.

A miss fetches the whole aligned chunk (``chunk_size`` bytes, several segments) that
covers the requested bytes — one ranged GET per missing chunk — so the next seeks nearby
and sequential playback hit. Concurrent misses of the
same chunk wait for one fetch instead of each making their own. The cache is bounded in
bytes; the least recently used chunk goes first; entries older than ``ttl`` are refetched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.clock import Clock

#: ``fetch(offset, length) -> bytes`` of one stored blob (a ranged read of the store).
Fetch = Callable[[int, int], bytes]

_ChunkId = tuple[str, int]


@dataclass(frozen=True)
class _Chunk:
    data: bytes
    expires_at: datetime


class CiphertextCache:
    """A bounded, thread-safe map (blob id, chunk index) -> stored bytes of that chunk."""

    def __init__(self, clock: Clock, *, max_bytes: int, chunk_size: int, ttl: timedelta) -> None:
        if max_bytes < chunk_size or chunk_size < 1 or ttl <= timedelta(0):
            raise ValueError("a ciphertext cache needs room for one chunk and a positive ttl")
        self.clock = clock
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self.ttl = ttl
        self._chunks: OrderedDict[_ChunkId, _Chunk] = OrderedDict()
        self._bytes = 0
        self._in_flight: dict[_ChunkId, threading.Event] = {}
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        """Bytes held now (the sum of the cached chunks' lengths)."""
        with self._lock:
            return self._bytes

    def read(self, blob_id: str, blob_size: int, offset: int, length: int, fetch: Fetch) -> bytes:
        """Bytes ``[offset, offset + length)`` of the blob (clamped to ``blob_size``),
        from the cache where present, the missing chunks fetched with ``fetch``.

        A short or failed fetch caches nothing and is passed on (a short result is
        returned short, as the store gave it, so the reader's checks still apply).
        """
        stop = min(offset + length, blob_size)
        if offset < 0 or length < 0:
            raise ValueError(f"invalid range {offset}+{length}")
        if offset >= stop:
            return b""
        first, final = offset // self.chunk_size, (stop - 1) // self.chunk_size
        pieces: list[bytes] = []
        for index in range(first, final + 1):
            chunk = self._chunk(blob_id, blob_size, index, fetch)
            base = index * self.chunk_size
            lo = max(offset - base, 0)
            hi = min(stop - base, len(chunk))
            pieces.append(chunk[lo:hi])
            if len(chunk) < min(self.chunk_size, blob_size - base):
                break  # the store gave less than the blob holds: stop here
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def drop(self, blob_id: str) -> None:
        """Forget every chunk of the blob (it is being deleted or its clip destroyed)."""
        with self._lock:
            for chunk_id in [c for c in self._chunks if c[0] == blob_id]:
                self._bytes -= len(self._chunks.pop(chunk_id).data)

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._bytes = 0

    # -- internals -------------------------------------------------------
    def _chunk(self, blob_id: str, blob_size: int, index: int, fetch: Fetch) -> bytes:
        chunk_id = (blob_id, index)
        while True:
            with self._lock:
                cached = self._fresh(chunk_id)
                if cached is not None:
                    return cached
                waiting = self._in_flight.get(chunk_id)
                if waiting is None:
                    done = self._in_flight[chunk_id] = threading.Event()
                    break
            waiting.wait()  # another thread is fetching it; then look again
        try:
            base = index * self.chunk_size
            expected = min(self.chunk_size, blob_size - base)
            data = fetch(base, expected)
            if len(data) == expected:
                self._put(chunk_id, data)
            return data
        finally:
            with self._lock:
                del self._in_flight[chunk_id]
            done.set()

    def _fresh(self, chunk_id: _ChunkId) -> bytes | None:
        chunk = self._chunks.get(chunk_id)
        if chunk is None:
            return None
        if chunk.expires_at <= self.clock.now():
            self._bytes -= len(self._chunks.pop(chunk_id).data)
            return None
        self._chunks.move_to_end(chunk_id)
        return chunk.data

    def _put(self, chunk_id: _ChunkId, data: bytes) -> None:
        with self._lock:
            old = self._chunks.pop(chunk_id, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._chunks[chunk_id] = _Chunk(bytes(data), self.clock.now() + self.ttl)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, evicted = self._chunks.popitem(last=False)
                self._bytes -= len(evicted.data)
