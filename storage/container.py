"""The segmented AEAD container: streaming AES-256-GCM with random-access reads.

docs/format.md is the normative spec; this module implements it. Layout::

    header (48 bytes) = magic "VERP" | version u8 | segment_size u32be | salt[32] | prefix[7]
    segment i         = AES-256-GCM(subkey, nonce_i, plaintext_i, ad) (plaintext + 16-byte tag)
    subkey            = HKDF-SHA256(ikm=data_key, salt=salt, info="verp/segment-key/v1")
    nonce_i           = prefix[7] | i u32be | last u8 (1 for the final segment, else 0)
    ad                = header | "verp/binding/v1" | len-prefixed site, clip, rendition

Every failure while reading raises the single opaque :class:`DecryptionError`, with no
chained cause (``from None``): a logged traceback must not tell a failed tag from a
short read.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.errors import DecryptionError
from storage.pipeline import ReusedBuffer, SegmentOutput, WriteBehind

MAGIC = b"VERP"
VERSION = 1
HEADER_SIZE = 48
TAG_SIZE = 16
SALT_SIZE = 32
PREFIX_SIZE = 7
KEY_SIZE = 32
DEFAULT_SEGMENT_SIZE = 256 * 1024
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 64 * 1024 * 1024
MAX_SEGMENTS = 2**32
#: encrypt_stream/decrypt_stream write on a second thread from this segment size up;
#: below it, a thread hand-off per segment would cost more than it saves.
PIPELINE_MIN_SEGMENT = 64 * 1024
_HEADER = struct.Struct(">4sBI32s7s")
_SUBKEY_INFO = b"verp/segment-key/v1"
_BINDING_LABEL = b"verp/binding/v1"


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


@dataclass(frozen=True)
class Binding:
    """What a blob belongs to; authenticated with every segment, never stored in clear."""

    site_id: str
    clip_id: str
    rendition: str

    def encode(self) -> bytes:
        out = bytearray(_BINDING_LABEL)
        for part in (self.site_id, self.clip_id, self.rendition):
            raw = part.encode("utf-8")
            if len(raw) > 0xFFFF:
                raise ValueError("binding field longer than 65535 bytes")
            out += struct.pack(">H", len(raw)) + raw
        return bytes(out)


@dataclass(frozen=True)
class Header:
    version: int
    segment_size: int
    salt: bytes
    nonce_prefix: bytes

    def encode(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.segment_size, self.salt, self.nonce_prefix)

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        """Parse a header; raises DecryptionError for anything that is not a v1 header."""
        if len(raw) != HEADER_SIZE:
            raise DecryptionError()
        magic, version, segment_size, salt, prefix = _HEADER.unpack(raw)
        if magic != MAGIC or version != VERSION:
            raise DecryptionError()
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise DecryptionError()
        return cls(version, segment_size, salt, prefix)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _cipher(data_key: bytes, header: Header) -> AESGCM:
    if len(data_key) != KEY_SIZE:
        raise DecryptionError()
    subkey = HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=header.salt, info=_SUBKEY_INFO
    ).derive(data_key)
    return AESGCM(subkey)


def segment_count(plaintext_size: int, segment_size: int) -> int:
    """Number of segments for a plaintext: at least one (an empty final segment)."""
    return max(1, -(-plaintext_size // segment_size))


def ciphertext_size(plaintext_size: int, segment_size: int) -> int:
    """Exact size of the container for a plaintext of ``plaintext_size`` bytes."""
    return HEADER_SIZE + plaintext_size + TAG_SIZE * segment_count(plaintext_size, segment_size)


def plaintext_size(ciphertext_len: int, segment_size: int) -> int:
    """Plaintext size of a container.

    Raises:
        DecryptionError: no plaintext fits the size, or it would take more than
            :data:`MAX_SEGMENTS` segments (the nonce's counter has 32 bits).
    """
    body = ciphertext_len - HEADER_SIZE
    if body < TAG_SIZE:
        raise DecryptionError()
    full = segment_size + TAG_SIZE
    count = -(-body // full)
    last = body - (count - 1) * full
    if last < TAG_SIZE or (last == TAG_SIZE and count > 1) or count > MAX_SEGMENTS:
        raise DecryptionError()
    return body - TAG_SIZE * count


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
        self._aead = _cipher(data_key, self._header)
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
        nonce = _nonce(self._header.nonce_prefix, self._index, last)
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
            filled = _read_exact(source, bufs[current])
            while True:
                ahead = 1 - current
                next_filled = _read_exact(source, bufs[ahead]) if filled == self._size else 0
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


def _readinto(source: BinaryIO, view: memoryview) -> int:
    """One ``readinto`` on ``source``; falls back to ``read`` for streams without it."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


def _read_exact(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; returns the byte count, short only at end of stream."""
    got = 0
    while got < len(view):
        n = _readinto(source, view[got:])
        if not n:
            break
        got += n
    return got


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
    got = _read_exact(source, memoryview(raw_header))
    header = Header.decode(bytes(raw_header[:got]))
    aead = _cipher(data_key, header)
    ad = header.encode() + binding.encode()
    full = header.segment_size + TAG_SIZE
    # Read one segment ahead so we know which one is last without knowing the size.
    bufs = (bytearray(full), bytearray(full))
    current = 0
    filled = _read_exact(source, memoryview(bufs[0]))
    index = 0
    while True:
        ahead = 1 - current
        next_filled = _read_exact(source, memoryview(bufs[ahead])) if filled == full else 0
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
                _nonce(header.nonce_prefix, index, last),
                memoryview(bufs[current])[:filled],
                ad,
                out,
            )
        except (InvalidTag, ValueError):
            _wipe(out)
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
        self._aead = _cipher(data_key, self._header)
        self._ad = self._header.encode() + binding.encode()
        self.segment_size = self._header.segment_size
        self.size = plaintext_size(ciphertext_len, self.segment_size)
        self._segments = segment_count(self.size, self.segment_size)
        if self.size == 0:
            # Reads of an empty plaintext touch no segment; verify the lone final one now
            # so a blob cut to its empty-looking size is still detected.
            tag = fetch(HEADER_SIZE, TAG_SIZE)
            try:
                self._aead.decrypt(_nonce(self._header.nonce_prefix, 0, True), tag, self._ad)
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
            nonce = _nonce(self._header.nonce_prefix, index, last)
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
                    _wipe(target)
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


def _wipe(buf: memoryview | bytearray) -> None:
    """Zero ``buf``: a failed decrypt_into leaves unverified plaintext in its output."""
    buf[:] = bytes(len(buf))
