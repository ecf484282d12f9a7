"""Sequential decryption of a whole container."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from storage.container.layout import (
    HEADER_SIZE,
    MAX_SEGMENTS,
    PIPELINE_MIN_SEGMENT,
    TAG_SIZE,
    Binding,
    Header,
    Writable,
    read_exact,
    segment_cipher,
    segment_nonce,
    wipe,
)
from storage.errors import DecryptionError
from storage.pipeline import ReusedBuffer, SegmentOutput


def iter_decrypt(source: BinaryIO, data_key: bytes, binding: Binding) -> Iterator[memoryview]:
    """Yield the plaintext of a container read sequentially from ``source``.

    Each yielded view is valid only until the next iteration (buffers are reused).
    Raises DecryptionError on any failure, before yielding the failed segment.
    """
    return _decrypt_segments(source, data_key, binding, ReusedBuffer())


def _decrypt_segments(
    source: BinaryIO,
    data_key: bytes,
    binding: Binding,
    acquire: Callable[[int], memoryview],
) -> Iterator[memoryview]:
    """``iter_decrypt``, decrypting each segment into ``acquire(segment_size)``."""
    raw_header = bytearray(HEADER_SIZE)
    got = read_exact(source, memoryview(raw_header))
    header = Header.decode(bytes(raw_header[:got]))
    aead = segment_cipher(data_key, header)
    ad = header.encode() + binding.encode()
    full = header.segment_size + TAG_SIZE
    # Read one segment ahead so we know which one is last without knowing the size.
    bufs = (bytearray(full), bytearray(full))
    current = 0
    filled = read_exact(source, memoryview(bufs[0]))
    index = 0
    while True:
        ahead = 1 - current
        next_filled = read_exact(source, memoryview(bufs[ahead])) if filled == full else 0
        last = next_filled == 0
        if (
            filled < TAG_SIZE
            or (last and filled == TAG_SIZE and index > 0)
            or index >= MAX_SEGMENTS
        ):
            raise DecryptionError()
        out = acquire(header.segment_size)[: filled - TAG_SIZE]
        try:
            aead.decrypt_into(
                segment_nonce(header.nonce_prefix, index, last),
                memoryview(bufs[current])[:filled],
                ad,
                out,
            )
        except (InvalidTag, ValueError):
            wipe(out)
            raise DecryptionError() from None
        yield out
        if last:
            return
        index += 1
        current, filled = ahead, next_filled


def decrypt_stream(source: BinaryIO, sink: Writable, data_key: bytes, binding: Binding) -> int:
    """Decrypt a whole container into ``sink``; returns the plaintext size.

    Verified segments reach ``sink`` in order; for segments of
    :data:`PIPELINE_MIN_SEGMENT` bytes or more they are written on a second thread
    while the next one is read and decrypted. Raises DecryptionError on any failure
    (what was verified before it has been written), or what ``sink.write`` raised.
    """
    pool = SegmentOutput(sink, PIPELINE_MIN_SEGMENT)
    total = 0
    try:
        for chunk in _decrypt_segments(source, data_key, binding, pool):
            total += len(chunk)  # before emit: the view is handed to another thread
            pool.emit(chunk)
    except BaseException:
        pool.abort()
        raise
    pool.close()
    return total
