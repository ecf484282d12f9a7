"""Generate the container's known-answer vectors (tests/unit/storage/test_vectors.json).

Run ``python -m tests.unit.storage.make_vectors`` (or this file by path) from the
project root; ``--check`` compares instead of writing and exits 1 on a difference.
The ciphertext comes from ``EncryptingWriter`` through its explicit ``salt=`` /
``nonce_prefix=`` seam; the intermediate ``subkey`` and ``associated_data`` are
computed here from docs/format.md with raw primitives. Every input is fixed, so the
output is deterministic: regenerating must leave the file unchanged unless the
format changed on purpose.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.container import Binding, EncryptingWriter

VECTORS_PATH = Path(__file__).with_name("test_vectors.json")


def _pattern(n: int, seed: int) -> bytes:
    """``n`` reproducible, non-repeating-looking bytes (not random, not secret)."""
    return bytes((seed + 31 * i + (i * i >> 3)) & 0xFF for i in range(n))


# name, description, segment_size, plaintext length, (site, clip, rendition), seed
_CASES: list[tuple[str, str, int, int, tuple[str, str, str], int]] = [
    (
        "empty",
        "empty plaintext: one empty final segment (tag only)",
        16,
        0,
        ("site-1", "clip-1", "original"),
        1,
    ),
    (
        "one-byte",
        "one plaintext byte: one short final segment",
        16,
        1,
        ("site-1", "clip-1", "original"),
        2,
    ),
    (
        "exactly-one-segment",
        "plaintext of exactly S bytes: one full segment, flagged last",
        16,
        16,
        ("site-1", "clip-2", "proxy"),
        3,
    ),
    (
        "one-segment-plus-one",
        "S + 1 bytes: a full segment then a 1-byte final segment",
        16,
        17,
        ("site-1", "clip-2", "proxy"),
        4,
    ),
    (
        "several-segments",
        "200 bytes at S = 64: three full segments and an 8-byte final one",
        64,
        200,
        ("site-2", "clip-3", "review-720p"),
        5,
    ),
    (
        "full-segments-utf8-binding",
        "48 bytes at S = 16: three full segments, the last flagged; non-ASCII binding",
        16,
        48,
        ("Säugling-Station", "clip-ü/4", "poster"),
        6,
    ),
]


def subkey(data_key: bytes, salt: bytes) -> bytes:
    """The segment subkey, per docs/format.md section 3."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"verp/segment-key/v1")
    return hkdf.derive(data_key)


def associated_data(header: bytes, site: str, clip: str, rendition: str) -> bytes:
    """The associated data of every segment, per docs/format.md section 5."""
    out = header + b"verp/binding/v1"
    for part in (site, clip, rendition):
        raw = part.encode("utf-8")
        out += struct.pack(">H", len(raw)) + raw
    return out


def build_vectors() -> list[dict[str, Any]]:
    """All vectors, as JSON-ready dicts."""
    vectors = []
    for index, case in enumerate(_CASES):
        name, description, seg, length, (site, clip, rendition), seed = case
        data_key = _pattern(32, 0x10 * index + 7)
        salt = _pattern(32, 0x10 * index + 0x80)
        prefix = _pattern(7, 0x10 * index + 0xC0)
        plaintext = _pattern(length, seed * 17)
        sink = io.BytesIO()
        writer = EncryptingWriter(
            sink, data_key, Binding(site, clip, rendition), seg, salt=salt, nonce_prefix=prefix
        )
        writer.write(plaintext)
        writer.close()
        ciphertext = sink.getvalue()
        vectors.append(
            {
                "name": name,
                "description": description,
                "data_key": data_key.hex(),
                "salt": salt.hex(),
                "nonce_prefix": prefix.hex(),
                "segment_size": seg,
                "site": site,
                "clip": clip,
                "rendition": rendition,
                "plaintext": plaintext.hex(),
                "subkey": subkey(data_key, salt).hex(),
                "associated_data": associated_data(ciphertext[:48], site, clip, rendition).hex(),
                "ciphertext": ciphertext.hex(),
            }
        )
    return vectors


def render() -> str:
    """The vectors file's exact text."""
    doc = {
        "format": "VERP container version 1 (docs/format.md)",
        "generator": "python -m tests.unit.storage.make_vectors",
        "encoding": "byte fields in lowercase hex; segment_size an integer; "
        "site, clip and rendition as text (UTF-8 in the associated data)",
        "vectors": build_vectors(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the vectors file; returns the exit status."""
    parser = argparse.ArgumentParser(description="Generate the container test vectors.")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = VECTORS_PATH.read_text(encoding="utf-8") == text
        print("vectors up to date" if same else f"{VECTORS_PATH} differs from the generator")
        return 0 if same else 1
    VECTORS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {len(build_vectors())} vectors to {VECTORS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
