"""Encryption into the container: a chunked writer and a whole-stream helper."""

from __future__ import annotations

import os
from typing import BinaryIO

from storage.container.layout import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    MIN_SEGMENT_SIZE,
    PIPELINE_MIN_SEGMENT,
    PREFIX_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    VERSION,
    Binding,
    Header,
    Writable,
    read_exact,
    segment_cipher,
    segment_nonce,
)
from storage.pipeline import WriteBehind


class EncryptingWriter:
    """Encrypts a plaintext that arrives in chunks of any size into ``sink``.

    Memory is bounded by two segment buffers, reused for every segment. ``close()``
    writes the final segment with the last-segment flag; a writer that is never
    closed leaves a container that readers reject as truncated.
    """

    def __init__(
        self,
        sink: Writable,
        data_key: bytes,
        binding: Binding,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        *,
        salt: bytes | None = None,
        nonce_prefix: bytes | None = None,
    ) -> None:
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError(f"segment_size must be {MIN_SEGMENT_SIZE}..{MAX_SEGMENT_SIZE}")
        if len(data_key) != KEY_SIZE:
            raise ValueError("data key must be 32 bytes")
        # Salt and prefix are parameters only so known-answer vectors can be produced;
        # production callers leave them None and get fresh random values.
        self._header = Header(
            VERSION,
            segment_size,
            salt if salt is not None else os.urandom(SALT_SIZE),
            nonce_prefix if nonce_prefix is not None else os.urandom(PREFIX_SIZE),
        )
        if len(self._header.salt) != SALT_SIZE or len(self._header.nonce_prefix) != PREFIX_SIZE:
            raise ValueError("salt must be 32 bytes and nonce prefix 7 bytes")
        header_bytes = self._header.encode()
        self._ad = header_bytes + binding.encode()
        self._aead = segment_cipher(data_key, self._header)
        self._sink = sink
        self._size = segment_size
        self._plain = bytearray(segment_size)
        self._out: bytearray | None = None  # allocated on first inline seal
        self._fill = 0
        self._index = 0
        self._closed = False
        self.plaintext_size = 0
        self.ciphertext_size = HEADER_SIZE
        sink.write(header_bytes)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        taken = 0
        while taken < len(view):
            if self._fill == self._size:
                # A full buffer is only sealed once more data proves it is not the last.
                self._seal(last=False)
            room = self._size - self._fill
            chunk = view[taken : taken + room]
            self._plain[self._fill : self._fill + len(chunk)] = chunk
            self._fill += len(chunk)
            taken += len(chunk)
        self.plaintext_size += taken
        return taken

    def close(self) -> None:
        if not self._closed:
            self._seal(last=True)
            self._closed = True

    def _seal(
        self, *, last: bool, plain: memoryview | None = None, behind: WriteBehind | None = None
    ) -> None:
        """Encrypt and emit one segment: ``plain``, or else the buffered plaintext;
        through ``behind`` (written on its thread) if given, else straight to the sink."""
        if self._index >= MAX_SEGMENTS:
            raise ValueError("plaintext too large for one container")
        if plain is None:
            plain = memoryview(self._plain)[: self._fill]
        n = len(plain)
        if behind is not None:
            buf = behind.acquire()
        else:
            if self._out is None:
                self._out = bytearray(self._size + TAG_SIZE)
            buf = memoryview(self._out)
        out = buf[: n + TAG_SIZE]
        nonce = segment_nonce(self._header.nonce_prefix, self._index, last)
        self._aead.encrypt_into(nonce, plain, self._ad, out)
        if behind is None:
            self._sink.write(out)
        else:
            behind.submit(out)
        self.ciphertext_size += n + TAG_SIZE
        self._index += 1
        self._fill = 0

    def _encrypt_all(self, source: BinaryIO) -> None:
        """Encrypt everything ``source`` holds and close: ``encrypt_stream``'s fast path.

        Reads whole segments straight into two alternating buffers (the writer's own
        and one more) and encrypts from them, saving ``write``'s copy per segment. A
        segment is sealed once the next read shows whether it is the last one. Segments
        of :data:`PIPELINE_MIN_SEGMENT` bytes or more are written to the sink on a
        second thread (:class:`WriteBehind`) while the next one is read and encrypted.
        """
        if self._closed or self._fill or self._index:
            raise ValueError("_encrypt_all needs a fresh EncryptingWriter")
        behind = (
            WriteBehind(self._sink, self._size + TAG_SIZE)
            if self._size >= PIPELINE_MIN_SEGMENT
            else None
        )
        try:
            bufs = (memoryview(self._plain), memoryview(bytearray(self._size)))
            current = 0
            filled = read_exact(source, bufs[current])
            while True:
                ahead = 1 - current
                next_filled = read_exact(source, bufs[ahead]) if filled == self._size else 0
                self.plaintext_size += filled
                self._seal(last=next_filled == 0, plain=bufs[current][:filled], behind=behind)
                if next_filled == 0:
                    break
                current, filled = ahead, next_filled
        except BaseException:
            if behind is not None:
                behind.abort()
            raise
        if behind is not None:
            behind.close()
        self._closed = True

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()


def encrypt_stream(
    source: BinaryIO,
    sink: Writable,
    data_key: bytes,
    binding: Binding,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> int:
    """Encrypt all of ``source`` into ``sink``; returns the ciphertext size."""
    writer = EncryptingWriter(sink, data_key, binding, segment_size)
    writer._encrypt_all(source)
    return writer.ciphertext_size
