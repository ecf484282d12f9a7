"""Random-access reads of a stored container, decrypting only the covering segments."""

from __future__ import annotations

import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from storage.container.layout import (
    HEADER_SIZE,
    TAG_SIZE,
    Binding,
    Header,
    plaintext_size,
    segment_cipher,
    segment_count,
    segment_nonce,
    wipe,
)
from storage.errors import DecryptionError

Fetch = Callable[[int, int], bytes]
"""fetch(offset, length) -> exactly those ciphertext bytes (e.g. one ranged GET)."""


class RangeDecryptor:
    """Random-access reads of a stored container, decrypting only covering segments."""

    def __init__(
        self,
        fetch: Fetch,
        ciphertext_len: int,
        data_key: bytes,
        binding: Binding,
        *,
        header: bytes | None = None,
    ) -> None:
        """``header``: the blob's header bytes if already known (a cache), else fetched.
        A wrong header fails every read's authentication, like a tampered one."""
        if header is None:
            header = fetch(0, HEADER_SIZE) if ciphertext_len >= HEADER_SIZE else b""
        self._header = Header.decode(header)
        self.header_bytes = bytes(header)
        self._fetch = fetch
        self._ct_len = ciphertext_len
        self._aead = segment_cipher(data_key, self._header)
        self._ad = self._header.encode() + binding.encode()
        self.segment_size = self._header.segment_size
        self.size = plaintext_size(ciphertext_len, self.segment_size)
        self._segments = segment_count(self.size, self.segment_size)
        if self.size == 0:
            # Reads of an empty plaintext touch no segment; verify the lone final one now
            # so a blob cut to its empty-looking size is still detected.
            tag = fetch(HEADER_SIZE, TAG_SIZE)
            try:
                self._aead.decrypt(segment_nonce(self._header.nonce_prefix, 0, True), tag, self._ad)
            except (InvalidTag, ValueError):
                raise DecryptionError() from None

    def read(self, start: int, stop: int) -> bytes:
        """Plaintext bytes ``[start, stop)``, clamped to the plaintext size."""
        stop = min(stop, self.size)
        if start < 0 or start >= stop:
            return b""
        size = self.segment_size
        first, final = start // size, (stop - 1) // size
        full = size + TAG_SIZE
        ct_start = HEADER_SIZE + first * full
        ct_stop = min(HEADER_SIZE + (final + 1) * full, self._ct_len)
        blob = memoryview(self._fetch(ct_start, ct_stop - ct_start))
        if len(blob) != ct_stop - ct_start:
            raise DecryptionError()
        # Partly covered segments (only the first and the final one can be) decrypt into
        # per-thread scratch buffers; fully covered ones into fresh bytes. The result is
        # built only after every covering segment has verified.
        scratch: tuple[memoryview, memoryview] | None = None
        pieces: list[bytes | memoryview] = []
        for index in range(first, final + 1):
            seg = blob[(index - first) * full : (index - first + 1) * full]
            n = len(seg) - TAG_SIZE
            last = index == self._segments - 1
            nonce = segment_nonce(self._header.nonce_prefix, index, last)
            lo = start - index * size if index == first else 0
            hi = stop - index * size if index == final else n
            target: memoryview | None = None
            try:
                if lo == 0 and hi == n:
                    pieces.append(self._aead.decrypt(nonce, seg, self._ad))
                    continue
                if scratch is None:
                    scratch = _scratch_pair(size)
                target = scratch[0 if index == first else 1][:n]
                self._aead.decrypt_into(nonce, seg, self._ad, target)
            except (InvalidTag, ValueError):
                if target is not None:
                    wipe(target)
                raise DecryptionError() from None
            pieces.append(target[lo:hi])
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)


# Fresh segment-sized buffers cost a page fault per 4 KiB on first touch, more than
# decrypting into them; range reads therefore reuse two scratch buffers per thread.
_SCRATCH_MAX = 4 * 1024 * 1024
_scratch = threading.local()


def _scratch_pair(segment_size: int) -> tuple[memoryview, memoryview]:
    """Two buffers of at least ``segment_size`` bytes for this thread's range reads.

    Kept per thread for segments up to ``_SCRATCH_MAX`` bytes, allocated per call above.
    """
    if segment_size > _SCRATCH_MAX:
        return memoryview(bytearray(segment_size)), memoryview(bytearray(segment_size))
    pair: tuple[memoryview, memoryview] | None = getattr(_scratch, "pair", None)
    if pair is None or len(pair[0]) < segment_size:
        pair = (memoryview(bytearray(segment_size)), memoryview(bytearray(segment_size)))
        _scratch.pair = pair
    return pair
