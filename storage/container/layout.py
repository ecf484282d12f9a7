"""The container's layout (docs/format.md): sizes, header, binding, nonces, subkeys."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.errors import DecryptionError

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


def segment_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def segment_cipher(data_key: bytes, header: Header) -> AESGCM:
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


def _readinto(source: BinaryIO, view: memoryview) -> int:
    """One ``readinto`` on ``source``; falls back to ``read`` for streams without it."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


def read_exact(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``source``; returns the byte count, short only at end of stream."""
    got = 0
    while got < len(view):
        n = _readinto(source, view[got:])
        if not n:
            break
        got += n
    return got


def wipe(buf: memoryview | bytearray) -> None:
    """Zero ``buf``: a failed decrypt_into leaves unverified plaintext in its output."""
    buf[:] = bytes(len(buf))
