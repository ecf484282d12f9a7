"""Container headers of recently read blobs, so a Range request is one ranged read.

A blob's header never changes (blobs are written once under a fresh random id), so a
header can be kept for as long as memory allows. It is no key material: the nonce
prefix and segment size. A cached header is only used after the data key was obtained
for the current request, which fails once the clip is destroyed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class HeaderCache:
    """A bounded, thread-safe map blob id -> header bytes (least recently used first out)."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("a header cache needs a positive size")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, blob_id: str) -> bytes | None:
        with self._lock:
            header = self._entries.get(blob_id)
            if header is not None:
                self._entries.move_to_end(blob_id)
            return header

    def put(self, blob_id: str, header: bytes) -> None:
        with self._lock:
            self._entries[blob_id] = header
            self._entries.move_to_end(blob_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop(self, blob_id: str) -> None:
        with self._lock:
            self._entries.pop(blob_id, None)
