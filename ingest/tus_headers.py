"""The tus 1.0.0 request headers: version, lengths, offsets, metadata and checksums.

Pure parsing, no I/O. Every function raises an :mod:`ingest.errors` ``UploadError``
subclass whose message says what was wrong with the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

from ingest.errors import ChecksumUnsupported, TusVersionUnsupported, UploadRequestInvalid

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "checksum", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: Upload-Checksum algorithms offered (tus names them in lower case).
CHECKSUMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}
_META_KEY = re.compile(r"^[^\s,]+$")


def check_version(header: str | None) -> None:
    """Raise TusVersionUnsupported unless ``Tus-Resumable`` is exactly ``1.0.0``."""
    if header is None or header.strip() != TUS_VERSION:
        raise TusVersionUnsupported(f"Tus-Resumable must be {TUS_VERSION}")


def is_offset_stream(content_type: str | None) -> bool:
    """True if a PATCH ``Content-Type`` is ``application/offset+octet-stream``."""
    return (content_type or "").split(";")[0].strip().lower() == OFFSET_CONTENT_TYPE


def parse_length(value: str | None) -> int:
    """``Upload-Length`` as an int. Raises UploadRequestInvalid if absent or malformed."""
    if value is None:
        raise UploadRequestInvalid("Upload-Length is required (deferred length is not offered)")
    return _whole(value, "Upload-Length")


def parse_offset(value: str | None) -> int:
    """``Upload-Offset`` as an int. Raises UploadRequestInvalid if absent or malformed."""
    if value is None:
        raise UploadRequestInvalid("Upload-Offset is required")
    return _whole(value, "Upload-Offset")


def parse_metadata(header: str | None) -> dict[str, str]:
    """Decode ``Upload-Metadata`` (comma-separated ``key base64value`` pairs).

    A key without a value maps to ``""``. Raises UploadRequestInvalid for a duplicate or
    malformed key, bad base64 or a value that is not UTF-8.
    """
    found: dict[str, str] = {}
    if not header or not header.strip():
        return found
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or not _META_KEY.match(key) or key in found:
            raise UploadRequestInvalid(f"Upload-Metadata: malformed or repeated key {key!r}")
        try:
            raw = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
            found[key] = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UploadRequestInvalid(
                f"Upload-Metadata: value of {key!r} is not base64 UTF-8"
            ) from None
    return found


def parse_checksum(header: str) -> tuple[str, bytes]:
    """Split ``Upload-Checksum: <algorithm> <base64 digest>``.

    Raises ChecksumUnsupported for an algorithm not in :data:`CHECKSUMS`,
    UploadRequestInvalid for a malformed header.
    """
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise UploadRequestInvalid("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUMS:
        raise ChecksumUnsupported(
            f"Upload-Checksum: {parts[0]!r} is not supported; use {', '.join(CHECKSUMS)}"
        )
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise UploadRequestInvalid("Upload-Checksum: the digest is not base64") from None
    return algorithm, digest


def _whole(value: str, name: str) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 19:
        raise UploadRequestInvalid(f"{name} must be a non-negative whole number")
    return int(text)
