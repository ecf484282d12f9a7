"""Known-answer tests for the container.

The implementation must reproduce tests/unit/storage/test_vectors.json byte for byte
and decrypt it back; and segments recomputed by hand with raw HKDF and AES-GCM, as
docs/format.md describes them, must equal what the implementation writes, so that the
spec and the code cannot drift apart.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage import container
from storage.container import Binding, EncryptingWriter, RangeDecryptor
from storage.container import writer as container_writer
from storage.errors import DecryptionError
from storage.vault import Vault
from tests.unit.storage import make_vectors
from tests.unit.storage.vault_helpers import new_clip
from webapp.composition import Services

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
VECTORS: list[dict[str, Any]] = json.loads(make_vectors.VECTORS_PATH.read_text("utf-8"))["vectors"]


@pytest.fixture(params=VECTORS, ids=[v["name"] for v in VECTORS])
def vec(request: pytest.FixtureRequest) -> dict[str, Any]:
    vector: dict[str, Any] = request.param
    return vector


def _b(vector: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(vector[field])


def _binding(vector: dict[str, Any]) -> Binding:
    return Binding(vector["site"], vector["clip"], vector["rendition"])


def _fetcher(blob: bytes) -> container.Fetch:
    def fetch(offset: int, length: int) -> bytes:
        return blob[offset : offset + length]

    return fetch


# --- the spec, by hand (docs/format.md sections 2-7), with raw primitives only ---------


def spec_subkey(data_key: bytes, salt: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"verp/segment-key/v1")
    return hkdf.derive(data_key)


def spec_header(segment_size: int, salt: bytes, prefix: bytes) -> bytes:
    return b"VERP" + bytes([1]) + segment_size.to_bytes(4, "big") + salt + prefix


def spec_ad(header: bytes, site: str, clip: str, rendition: str) -> bytes:
    ad = header + b"verp/binding/v1"
    for part in (site, clip, rendition):
        raw = part.encode("utf-8")
        ad += len(raw).to_bytes(2, "big") + raw
    return ad


def spec_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def spec_segments(plaintext: bytes, segment_size: int) -> Iterator[tuple[int, bytes, bool]]:
    """(index, plaintext slice, last) for every segment, per the last-segment rule."""
    count = max(1, -(-len(plaintext) // segment_size))
    for k in range(count):
        yield k, plaintext[k * segment_size : (k + 1) * segment_size], k == count - 1


def spec_encrypt(
    data_key: bytes,
    salt: bytes,
    prefix: bytes,
    segment_size: int,
    site: str,
    clip: str,
    rendition: str,
    plaintext: bytes,
) -> bytes:
    header = spec_header(segment_size, salt, prefix)
    aead = AESGCM(spec_subkey(data_key, salt))
    ad = spec_ad(header, site, clip, rendition)
    body = b"".join(
        aead.encrypt(spec_nonce(prefix, k, last), chunk, ad)
        for k, chunk, last in spec_segments(plaintext, segment_size)
    )
    return header + body


# --- the vectors --------------------------------------------------------------------


def test_vectors_cover_the_edge_cases() -> None:
    shapes = {(len(bytes.fromhex(v["plaintext"])), v["segment_size"]) for v in VECTORS}
    assert (0, 16) in shapes  # empty
    assert (1, 16) in shapes  # one byte
    assert (16, 16) in shapes  # exactly one full segment
    assert (17, 16) in shapes  # one segment + 1
    assert any(n > 2 * s for n, s in shapes)  # several segments
    assert make_vectors.render() == make_vectors.VECTORS_PATH.read_text("utf-8"), (
        "test_vectors.json is stale: run python -m tests.unit.storage.make_vectors"
    )


def test_writer_reproduces_vector(vec: dict[str, Any]) -> None:
    plaintext = _b(vec, "plaintext")
    for step in (max(1, len(plaintext)), 1, 7):
        sink = io.BytesIO()
        writer = EncryptingWriter(
            sink,
            _b(vec, "data_key"),
            _binding(vec),
            vec["segment_size"],
            salt=_b(vec, "salt"),
            nonce_prefix=_b(vec, "nonce_prefix"),
        )
        for i in range(0, len(plaintext), step):
            writer.write(plaintext[i : i + step])
        writer.close()
        assert sink.getvalue() == _b(vec, "ciphertext"), f"write size {step}"
        assert writer.plaintext_size == len(plaintext)
        assert writer.ciphertext_size == len(_b(vec, "ciphertext"))


def test_encrypt_stream_reproduces_vector(
    vec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # encrypt_stream has no seam for salt and prefix: serve them as its "random" bytes.
    supply = [_b(vec, "salt"), _b(vec, "nonce_prefix")]

    def urandom(n: int) -> bytes:
        value = supply.pop(0)
        assert len(value) == n
        return value

    monkeypatch.setattr(container_writer, "os", SimpleNamespace(urandom=urandom))
    sink = io.BytesIO()
    size = container.encrypt_stream(
        io.BytesIO(_b(vec, "plaintext")),
        sink,
        _b(vec, "data_key"),
        _binding(vec),
        vec["segment_size"],
    )
    assert sink.getvalue() == _b(vec, "ciphertext")
    assert size == len(_b(vec, "ciphertext"))
    assert supply == []


def test_stream_decryption_returns_vector_plaintext(vec: dict[str, Any]) -> None:
    sink = io.BytesIO()
    n = container.decrypt_stream(
        io.BytesIO(_b(vec, "ciphertext")), sink, _b(vec, "data_key"), _binding(vec)
    )
    assert sink.getvalue() == _b(vec, "plaintext")
    assert n == len(_b(vec, "plaintext"))


def test_range_decryption_returns_vector_plaintext(vec: dict[str, Any]) -> None:
    blob, plaintext = _b(vec, "ciphertext"), _b(vec, "plaintext")
    reader = RangeDecryptor(_fetcher(blob), len(blob), _b(vec, "data_key"), _binding(vec))
    assert reader.size == len(plaintext)
    assert reader.segment_size == vec["segment_size"]
    assert reader.read(0, len(plaintext)) == plaintext
    for start in range(len(plaintext)):
        for stop in range(start + 1, len(plaintext) + 2, 3):
            assert reader.read(start, stop) == plaintext[start:stop], (start, stop)


def test_vector_matches_the_spec_computed_by_hand(vec: dict[str, Any]) -> None:
    data_key, salt, prefix = _b(vec, "data_key"), _b(vec, "salt"), _b(vec, "nonce_prefix")
    seg, plaintext, blob = vec["segment_size"], _b(vec, "plaintext"), _b(vec, "ciphertext")
    # Header byte table (section 2).
    assert blob[0:4] == b"VERP"
    assert blob[4] == 1
    assert struct.unpack(">I", blob[5:9])[0] == seg
    assert blob[9:41] == salt
    assert blob[41:48] == prefix
    # Intermediates (sections 3 and 5).
    assert spec_subkey(data_key, salt) == _b(vec, "subkey")
    assert spec_ad(blob[:48], vec["site"], vec["clip"], vec["rendition"]) == _b(
        vec, "associated_data"
    )
    # Sizes (section 7) and the whole container (sections 4-6).
    count = max(1, -(-len(plaintext) // seg))
    assert len(blob) == 48 + len(plaintext) + 16 * count
    assert container.plaintext_size(len(blob), seg) == len(plaintext)
    expected = spec_encrypt(
        data_key, salt, prefix, seg, vec["site"], vec["clip"], vec["rendition"], plaintext
    )
    assert blob == expected


def test_vector_fails_with_another_binding(vec: dict[str, Any]) -> None:
    blob = _b(vec, "ciphertext")
    other = Binding(vec["site"], vec["clip"], vec["rendition"] + "x")
    with pytest.raises(DecryptionError):
        container.decrypt_stream(io.BytesIO(blob), io.BytesIO(), _b(vec, "data_key"), other)


# --- independent of the vectors file ------------------------------------------------


def test_segments_recomputed_by_hand_from_the_spec() -> None:
    """Fresh random inputs; segments rebuilt with raw HKDF + AES-GCM per docs/format.md."""
    data_key, salt, prefix = os.urandom(32), os.urandom(32), os.urandom(7)
    seg = 64
    site, clip, rendition = "site-9", "clip-é", "original"
    plaintext = os.urandom(3 * seg + 21)  # three full segments and a short final one
    sink = io.BytesIO()
    with EncryptingWriter(
        sink, data_key, Binding(site, clip, rendition), seg, salt=salt, nonce_prefix=prefix
    ) as writer:
        writer.write(plaintext)
    blob = sink.getvalue()

    header = spec_header(seg, salt, prefix)
    assert blob[:48] == header
    aead = AESGCM(spec_subkey(data_key, salt))
    ad = spec_ad(header, site, clip, rendition)
    full = seg + 16

    # A middle segment: index 2, not last, at 48 + 2 * (S + 16).
    k = 2
    middle = aead.encrypt(spec_nonce(prefix, k, False), plaintext[k * seg : (k + 1) * seg], ad)
    assert blob[48 + k * full : 48 + (k + 1) * full] == middle

    # The final segment: index 3, last flag set, 21 + 16 bytes.
    k = 3
    final = aead.encrypt(spec_nonce(prefix, k, True), plaintext[k * seg :], ad)
    assert blob[48 + k * full :] == final
    assert len(final) == 21 + 16
    # ... and the same bytes with the flag cleared do not match (the flag is bound).
    assert aead.encrypt(spec_nonce(prefix, k, False), plaintext[k * seg :], ad) != final

    # Decrypting segment 1 by hand gives the plaintext slice.
    k = 1
    seg1 = blob[48 + k * full : 48 + (k + 1) * full]
    assert aead.decrypt(spec_nonce(prefix, k, False), seg1, ad) == plaintext[seg : 2 * seg]

    # The whole container equals the by-hand construction.
    assert blob == spec_encrypt(data_key, salt, prefix, seg, site, clip, rendition, plaintext)


# --- a real stored blob's binding (docs/format.md section 5) ----------------------------


def test_vectors_include_a_stored_blob_binding() -> None:
    stored = [v for v in VECTORS if re.fullmatch(rf"[a-z]+-{_UUID}", v["rendition"])]
    assert stored, "a vector must bind '<rendition>-<blob id>' as stored blobs do"
    assert all(re.fullmatch(_UUID, v["site"]) and re.fullmatch(_UUID, v["clip"]) for v in stored)


def test_a_stored_blob_binds_rendition_dash_blob_id(services: Services) -> None:
    """A blob written by the vault opens by hand only with the binding the spec names."""
    vault = Vault(blobs=services.blobs, keys=services.keys, clock=services.clock, segment_size=64)
    data = os.urandom(64 * 3 + 5)
    with services.db.session() as session:
        clip = new_clip(session, services, vault)
        with vault.writer(session, clip.site_id, clip.id, "playback", "video/mp4") as out:
            out.write(data)
        blob = out.row
        data_key = vault.data_key(session, clip.site_id, clip.id)
    stored = b"".join(services.blobs.open(blob.store_key))
    assert re.fullmatch(_UUID, blob.id)
    site, clip_id = blob.site_id, blob.clip_id
    salt, prefix = stored[9:41], stored[41:48]
    expected = spec_encrypt(data_key, salt, prefix, 64, site, clip_id, f"playback-{blob.id}", data)
    assert stored == expected
    # The bare rendition name, as the spec once said, does not open it.
    aead = AESGCM(spec_subkey(data_key, salt))
    with pytest.raises(InvalidTag):
        aead.decrypt(
            spec_nonce(prefix, 0, False),
            stored[48 : 48 + 80],
            spec_ad(stored[:48], site, clip_id, "playback"),
        )


# --- the segment-count cap (docs/format.md sections 6 and 7) ---------------------------


def _header_only(segment_size: int) -> container.Fetch:
    header = spec_header(segment_size, bytes(32), bytes(7))

    def fetch(offset: int, length: int) -> bytes:
        if offset == 0 and length == 48:
            return header
        return bytes(length)  # any body: it cannot verify

    return fetch


def test_the_size_rule_caps_the_segment_count_at_2_to_the_32() -> None:
    seg, full = 16, 16 + 16
    most = 48 + 2**32 * full  # exactly 2^32 full segments
    assert container.plaintext_size(most, seg) == 2**32 * seg
    for too_big in (most + 17, most + full, 48 + (2**32 + 5) * full):
        with pytest.raises(DecryptionError):
            container.plaintext_size(too_big, seg)


def test_random_access_reader_raises_decryption_error_beyond_the_cap() -> None:
    seg, full = 16, 32
    too_big = 48 + 2**32 * full + 17  # 2^32 + 1 segments
    with pytest.raises(DecryptionError) as caught:
        RangeDecryptor(_header_only(seg), too_big, bytes(32), Binding("s", "c", "r"))
    assert caught.value.__cause__ is None
    # At the cap the reader opens, and the final segment (index 2^32 - 1) fails cleanly.
    reader = RangeDecryptor(_header_only(seg), 48 + 2**32 * full, bytes(32), Binding("s", "c", "r"))
    with pytest.raises(DecryptionError):
        reader.read(reader.size - 1, reader.size)


def test_decryption_errors_carry_no_cause(vec: dict[str, Any]) -> None:
    """No chained InvalidTag: a logged traceback must not tell one failure from another."""
    blob = bytearray(_b(vec, "ciphertext"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError) as caught:
        container.decrypt_stream(
            io.BytesIO(bytes(blob)), io.BytesIO(), _b(vec, "data_key"), _binding(vec)
        )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    reader_blob = bytes(blob)
    with pytest.raises(DecryptionError) as caught:
        reader = RangeDecryptor(
            _fetcher(reader_blob), len(reader_blob), _b(vec, "data_key"), _binding(vec)
        )
        reader.read(0, reader.size or 1)
    assert caught.value.__cause__ is None
