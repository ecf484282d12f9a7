"""Unwrapped data keys of recently used clips, so playback does not call the key
provider (a KMS ``Decrypt`` in scale-out) on every Range request.

An entry is only ever used against the clip's current ``data_keys`` row, which every
caller reads anyway (joined to the blob row): it must hold the very wrapped bytes the
entry was made from. So a key shredded in any process (``wrapped`` is NULL) or re-wrapped
under a new KEK (other bytes) misses at once — the cache cannot outlive a destruction or
a rotation. Withdrawal is refused earlier, by the purpose check of every request. Entries
also expire after a short time and the cache is bounded (least recently used goes first).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.clock import Clock
from storage.db.footage import DataKey


@dataclass(frozen=True)
class _Entry:
    fingerprint: bytes
    key: bytes
    expires_at: datetime


def fingerprint(row: DataKey) -> bytes | None:
    """What identifies the wrapped key in ``row`` (None once it is shredded)."""
    if row.wrapped is None:
        return None
    digest = hashlib.sha256()
    for part in (row.site_id, row.clip_id, row.provider, row.kek_version):
        digest.update(part.encode() + b"\x00")
    digest.update(row.wrapped)
    return digest.digest()


class DataKeyCache:
    """A bounded, short-lived, thread-safe map clip id -> unwrapped data key."""

    def __init__(self, clock: Clock, ttl: timedelta, max_entries: int) -> None:
        if ttl <= timedelta(0) or max_entries < 1:
            raise ValueError("a key cache needs a positive ttl and size")
        self.clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, row: DataKey) -> bytes | None:
        """The cached key for ``row`` if it was made from the same wrapped bytes and has
        not expired; otherwise None (and a stale entry is dropped)."""
        mark = fingerprint(row)
        with self._lock:
            entry = self._entries.get(row.clip_id)
            if entry is None:
                return None
            if mark is None or entry.fingerprint != mark or entry.expires_at <= self.clock.now():
                del self._entries[row.clip_id]
                return None
            self._entries.move_to_end(row.clip_id)
            return entry.key

    def put(self, row: DataKey, key: bytes) -> None:
        """Remember ``key`` as unwrapped from ``row`` (ignored for a shredded row)."""
        mark = fingerprint(row)
        if mark is None:
            return
        with self._lock:
            self._entries[row.clip_id] = _Entry(mark, key, self.clock.now() + self.ttl)
            self._entries.move_to_end(row.clip_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop(self, clip_id: str) -> None:
        """Forget the clip's key (its key is being shredded in this process)."""
        with self._lock:
            self._entries.pop(clip_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
