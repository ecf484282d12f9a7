"""Generate the known-answer vectors of docs/format.md (test_vectors.json beside this
file): the container (``vectors``) and the local key file's wrapping (``key_wrap``).

Run ``python -m tests.unit.storage.make_vectors`` (or this file by path) from the
project root; ``--check`` compares instead of writing and exits 1 on a difference.
The container ciphertext comes from ``EncryptingWriter`` through its explicit
``salt=`` / ``nonce_prefix=`` seam; the intermediate ``subkey`` and
``associated_data`` are computed here from docs/format.md with raw primitives. The
key-wrap vectors are computed with raw AES-GCM only; the tests check that
storage.keys unwraps them and that what it wraps opens the same way. Every input is
fixed, so the output is deterministic: regenerating must leave the file unchanged unless the
format changed on purpose.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import struct
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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
    (
        "stored-playback-binding",
        "a binding as storage.vault writes it: UUID site and clip ids, and the rendition "
        "field '<rendition>-<blob id>' (here playback-<uuid>), 150 bytes at S = 64",
        64,
        150,
        (
            "5b0c2f8e-3f1d-4c55-9a57-6f2b1d0e8a41",
            "c3e1a9d2-7b64-4f08-8e1f-2a9d5c7b3e60",
            "playback-0f6e2d4c-9a8b-4c7d-b1e2-3f4a5b6c7d8e",
        ),
        7,
    ),
]

# name, description, KEK version, site id, clip id, seed — key-wrap vectors (local key file).
_WRAP_CASES: list[tuple[str, str, str, str, str, int]] = [
    (
        "local-wrap-uuid-ids",
        "a data key wrapped under KEK version 1 for UUID site and clip ids",
        "1",
        "5b0c2f8e-3f1d-4c55-9a57-6f2b1d0e8a41",
        "c3e1a9d2-7b64-4f08-8e1f-2a9d5c7b3e60",
        11,
    ),
    (
        "local-wrap-non-ascii-ids",
        "KEK version 7; ids with non-ASCII characters and a quote, encoded as JSON escapes",
        "7",
        'Säugling "A"',
        "clip-ü/4",
        12,
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


def key_context(site: str, clip: str) -> bytes:
    """The associated data of a locally wrapped data key, per docs/format.md section 14."""
    return json.dumps({"clip": clip, "site": site}, separators=(",", ":")).encode("ascii")


def build_wrap_vectors() -> list[dict[str, Any]]:
    """Key-wrap vectors: AES-256-GCM(KEK, nonce, data key, key context), from raw primitives."""
    vectors = []
    for index, (name, description, version, site, clip, seed) in enumerate(_WRAP_CASES):
        kek = _pattern(32, 0x21 * index + seed)
        data_key = _pattern(32, 0x35 * index + seed + 1)
        nonce = _pattern(12, 0x49 * index + seed + 2)
        context = key_context(site, clip)
        wrapped = nonce + AESGCM(kek).encrypt(nonce, data_key, context)
        vectors.append(
            {
                "name": name,
                "description": description,
                "kek": kek.hex(),
                "kek_base64": base64.b64encode(kek).decode("ascii"),
                "kek_version": version,
                "site": site,
                "clip": clip,
                "data_key": data_key.hex(),
                "nonce": nonce.hex(),
                "associated_data": context.hex(),
                "wrapped": wrapped.hex(),
            }
        )
    return vectors


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
        "site, clip and rendition as text (UTF-8 in the associated data); key_wrap: "
        "kek also as kek_base64 (as in the key file), kek_version, site and clip as text",
        "vectors": build_vectors(),
        "key_wrap": build_wrap_vectors(),
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
