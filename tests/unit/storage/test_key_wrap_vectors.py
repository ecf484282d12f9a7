"""Known-answer tests for data-key wrapping (docs/format.md section 14).

The ``key_wrap`` vectors in test_vectors.json are recomputed here from raw AES-GCM and
a key context encoded by hand from the spec; storage.keys must unwrap them from a key
file written in the documented layout, and what it wraps (and stores in the database)
must open with the same raw primitives. The KMS provider must bind the documented
encryption context.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.db.footage import DataKey
from storage.errors import KeyProviderError
from storage.keys import KeyContext, LocalKeyFile, WrappedKey
from tests.unit.storage import make_vectors
from tests.unit.storage.vault_helpers import new_clip
from webapp.composition import Services

WRAPS: list[dict[str, Any]] = json.loads(make_vectors.VECTORS_PATH.read_text("utf-8"))["key_wrap"]
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_ESCAPES["\t"] = "\\t"


@pytest.fixture(params=WRAPS, ids=[v["name"] for v in WRAPS])
def vec(request: pytest.FixtureRequest) -> dict[str, Any]:
    vector: dict[str, Any] = request.param
    return vector


# --- the spec, by hand ---------------------------------------------------------------


def spec_json_string(text: str) -> str:
    """A JSON string as section 14 prescribes: ASCII only, escapes as listed there."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= code <= 0x7E:
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:  # a UTF-16 surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
    out.append('"')
    return "".join(out)


def spec_context(site: str, clip: str) -> bytes:
    """``{"clip":<clip>,"site":<site>}`` with no white space."""
    return f'{{"clip":{spec_json_string(clip)},"site":{spec_json_string(site)}}}'.encode("ascii")


def spec_unwrap(kek: bytes, wrapped: bytes, site: str, clip: str) -> bytes:
    """Open a wrapped data key: nonce = first 12 bytes, then ciphertext ‖ 16-byte tag."""
    if len(wrapped) != 12 + 32 + 16:
        raise ValueError("a locally wrapped data key is 60 bytes")
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], spec_context(site, clip))


def spec_key_file(path: Path, versions: dict[str, bytes], current: str) -> Path:
    """A key file in the documented layout."""
    doc = {
        "current": current,
        "versions": {
            v: {"key": base64.b64encode(k).decode(), "created": "2026-01-01T00:00:00+00:00"}
            for v, k in versions.items()
        },
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    path.chmod(0o600)
    return path


# --- the vectors ----------------------------------------------------------------------


def test_vectors_are_current_and_cover_uuid_and_escaped_ids() -> None:
    assert make_vectors.render() == make_vectors.VECTORS_PATH.read_text("utf-8"), (
        "test_vectors.json is stale: run python -m tests.unit.storage.make_vectors"
    )
    contexts = [bytes.fromhex(v["associated_data"]) for v in WRAPS]
    assert any(len(v["site"]) == 36 and v["site"].count("-") == 4 for v in WRAPS)
    assert any(b"\\u" in c and b'\\"' in c for c in contexts)


def test_vector_matches_the_spec_computed_by_hand(vec: dict[str, Any]) -> None:
    kek, nonce = bytes.fromhex(vec["kek"]), bytes.fromhex(vec["nonce"])
    data_key, wrapped = bytes.fromhex(vec["data_key"]), bytes.fromhex(vec["wrapped"])
    context = spec_context(vec["site"], vec["clip"])
    assert context == bytes.fromhex(vec["associated_data"])
    assert base64.b64decode(vec["kek_base64"]) == kek
    assert len(wrapped) == 60 and wrapped[:12] == nonce
    assert wrapped == nonce + AESGCM(kek).encrypt(nonce, data_key, context)
    assert spec_unwrap(kek, wrapped, vec["site"], vec["clip"]) == data_key


def test_the_implementation_encodes_the_context_as_specified(vec: dict[str, Any]) -> None:
    context = KeyContext(vec["site"], vec["clip"])
    assert context.encode() == bytes.fromhex(vec["associated_data"])
    assert context.as_kms_context() == {"site": vec["site"], "clip": vec["clip"]}


def test_the_key_file_provider_unwraps_the_vector(vec: dict[str, Any], tmp_path: Path) -> None:
    version, kek = vec["kek_version"], bytes.fromhex(vec["kek"])
    keys = LocalKeyFile(spec_key_file(tmp_path / "kek.json", {version: kek}, version))
    wrapped = WrappedKey("local", version, bytes.fromhex(vec["wrapped"]))
    context = KeyContext(vec["site"], vec["clip"])
    assert keys.unwrap(wrapped, context) == bytes.fromhex(vec["data_key"])
    # Bound to the context: the same blob for another clip, or another site, fails.
    for other in (KeyContext(vec["site"], vec["clip"] + "x"), KeyContext("x", vec["clip"])):
        with pytest.raises(KeyProviderError):
            keys.unwrap(wrapped, other)
    with pytest.raises(KeyProviderError):  # under another KEK version
        keys.unwrap(WrappedKey("local", version + "0", wrapped.blob), context)


def test_what_the_key_file_provider_wraps_opens_by_hand(tmp_path: Path) -> None:
    kek = bytes(range(32))
    keys = LocalKeyFile(spec_key_file(tmp_path / "kek.json", {"3": kek}, "3"))
    site, clip = "5b0c2f8e-3f1d-4c55-9a57-6f2b1d0e8a41", "clip-ü"
    data_key, wrapped = keys.generate(KeyContext(site, clip))
    assert (wrapped.provider, wrapped.kek_version) == ("local", "3")
    assert spec_unwrap(kek, wrapped.blob, site, clip) == data_key
    with pytest.raises(InvalidTag):
        spec_unwrap(kek, wrapped.blob, clip, site)
    second = keys.generate(KeyContext(site, clip))[1]
    assert second.blob[:12] != wrapped.blob[:12], "a fresh nonce per wrap"


def test_the_stored_row_is_the_documented_blob(services: Services) -> None:
    """data_keys holds provider, KEK version and the 60-byte blob; it opens by hand with
    the KEK read from the key file as documented."""
    with services.db.session() as session:
        clip = new_clip(session, services, services.vault)
        row = session.get(DataKey, clip.id)
        assert row is not None and row.wrapped is not None
        data_key = services.vault.data_key(session, clip.site_id, clip.id)
    key_file = json.loads(services.settings.key_file.read_text("utf-8"))
    assert (row.provider, row.kek_version) == ("local", key_file["current"])
    kek = base64.b64decode(key_file["versions"][row.kek_version]["key"])
    assert spec_unwrap(kek, bytes(row.wrapped), clip.site_id, clip.id) == data_key


def test_kms_binds_the_documented_encryption_context(s3_services: Services) -> None:
    with s3_services.db.session() as session:
        clip = new_clip(session, s3_services, s3_services.vault)
        row = session.get(DataKey, clip.id)
        assert row is not None and row.wrapped is not None
        data_key = s3_services.vault.data_key(session, clip.site_id, clip.id)
    assert row.provider == "kms"
    client: Any = s3_services.keys.client  # type: ignore[attr-defined]
    context = {"site": clip.site_id, "clip": clip.id}
    opened = client.decrypt(CiphertextBlob=bytes(row.wrapped), EncryptionContext=context)
    assert opened["Plaintext"] == data_key
    assert opened["KeyId"] == row.kek_version
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        client.decrypt(
            CiphertextBlob=bytes(row.wrapped), EncryptionContext={**context, "clip": "other"}
        )


@pytest.mark.parametrize(
    "text",
    ["plain-id", 'quote " back \\ slash', "tab\tnew\nline\r\b\f", "\x00\x1f\x7f", "Zoë 👶 ü"],
)
def test_the_context_escaping_rules_match_the_implementation(text: str) -> None:
    assert KeyContext(text, text[::-1]).encode() == spec_context(text, text[::-1])
