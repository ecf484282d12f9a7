"""The erasure probe: a short, non-secret slice of a wrapped data key, and the search for it.

The probe is recorded in the same transaction that shreds the key, so any later sweep —
also one started after a crash, when the wrapped key is no longer in memory — can search
the database files for it. Its absence proves the whole wrapped key is absent, since the
probe is a contiguous part of it and a small value is never split across pages.

- ``local`` provider: the 12-byte random AES-GCM nonce that begins the wrapped key
  (docs/format.md). It is public by construction and reveals nothing about the key.
- any other provider (an opaque KMS ciphertext blob): its last 12 bytes. Even to someone
  who could later use the KEK, that leaves at least 160 bits of the 256-bit data key
  unknown. The probe is cleared when erasure is verified.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

PROBE_SIZE = 12
_CHUNK = 1 << 20


def probe_of(provider: str, wrapped: bytes) -> bytes:
    """The probe of a wrapped key (see the module docstring). Raises ValueError for a
    wrapped key too short to hold one."""
    if len(wrapped) < 2 * PROBE_SIZE:
        raise ValueError("a wrapped data key must be at least 24 bytes long")
    return wrapped[:PROBE_SIZE] if provider == "local" else wrapped[-PROBE_SIZE:]


def probes_in(data: bytes, probes: Collection[bytes]) -> set[bytes]:
    """The probes that occur in ``data``."""
    return {probe for probe in probes if probe and probe in data}


def probes_in_file(path: Path, probes: Collection[bytes]) -> set[bytes]:
    """The probes that occur anywhere in the file (read in chunks that overlap by one probe
    length, so a probe across a chunk boundary is found). A missing file holds none;
    raises OSError if the file exists but cannot be read."""
    wanted = {p for p in probes if p}
    if not wanted:
        return set()
    overlap = max(len(p) for p in wanted) - 1
    found: set[bytes] = set()
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return found
    with fh:
        tail = b""
        while chunk := fh.read(_CHUNK):
            window = tail + chunk
            found |= probes_in(window, wanted - found)
            tail = window[-overlap:] if overlap else b""
    return found
