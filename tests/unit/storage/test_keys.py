"""Key providers: the local key file (0600, versioned) and KMS (on moto)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storage.errors import KeyProviderError
from storage.keys import (
    DATA_KEY_SIZE,
    KeyContext,
    LocalKeyFile,
    WrappedKey,
    ensure_secret_file,
    read_secret_file,
    write_private_file,
)
from storage.kms import KmsKeyProvider
from tests.moto_server import REGION, kms_client

CTX = KeyContext("site-a", "clip-1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_file(tmp_path: Path) -> LocalKeyFile:
    path = tmp_path / "keys" / "kek.json"
    assert LocalKeyFile.create(path)
    return LocalKeyFile(path)


class TestLocalKeyFile:
    def test_created_private_and_only_once(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "kek.json"
        assert LocalKeyFile.create(path) is True
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        before = path.read_bytes()
        assert LocalKeyFile.create(path) is False
        assert path.read_bytes() == before

    def test_refuses_a_file_others_can_read(self, key_file: LocalKeyFile) -> None:
        key_file.path.chmod(0o644)
        with pytest.raises(KeyProviderError, match="chmod 600"):
            LocalKeyFile(key_file.path).generate(CTX)

    def test_missing_file_says_to_run_init(self, tmp_path: Path) -> None:
        with pytest.raises(KeyProviderError, match="verp init"):
            LocalKeyFile(tmp_path / "absent.json").current_version()

    def test_wrap_unwrap_round_trip(self, key_file: LocalKeyFile) -> None:
        data_key, wrapped = key_file.generate(CTX)
        assert len(data_key) == DATA_KEY_SIZE
        assert wrapped.provider == "local"
        assert wrapped.kek_version == "1"
        assert data_key not in wrapped.blob
        assert key_file.unwrap(wrapped, CTX) == data_key

    @pytest.mark.parametrize(
        "other", [KeyContext("site-a", "clip-2"), KeyContext("site-b", "clip-1")]
    )
    def test_unwrap_is_bound_to_site_and_clip(
        self, key_file: LocalKeyFile, other: KeyContext
    ) -> None:
        _, wrapped = key_file.generate(CTX)
        with pytest.raises(KeyProviderError, match="cannot be unwrapped"):
            key_file.unwrap(wrapped, other)

    def test_tampered_wrapped_key_is_refused(self, key_file: LocalKeyFile) -> None:
        _, wrapped = key_file.generate(CTX)
        flipped = bytearray(wrapped.blob)
        flipped[-1] ^= 1
        with pytest.raises(KeyProviderError):
            key_file.unwrap(WrappedKey("local", "1", bytes(flipped)), CTX)

    def test_refuses_a_key_of_another_provider(self, key_file: LocalKeyFile) -> None:
        _, wrapped = key_file.generate(CTX)
        with pytest.raises(KeyProviderError, match="kms"):
            key_file.unwrap(WrappedKey("kms", "1", wrapped.blob), CTX)

    def test_rotation_steps_prepare_activate_rewrap_then_destroy(
        self, key_file: LocalKeyFile
    ) -> None:
        data_key, old = key_file.generate(CTX)
        assert key_file.new_version(2) == "2"
        # Prepared, not current: new data keys stay on version 1 until make_current.
        assert (key_file.current_version(), key_file.pending_version()) == ("1", "2")
        assert list(key_file.versions()) == ["1"]
        assert key_file.new_version(2) == "2"  # idempotent: the prepared key is kept
        assert key_file.generate(CTX)[1].kek_version == "1"
        key_file.make_current("2")
        assert (key_file.current_version(), key_file.pending_version()) == ("2", None)
        assert mode(key_file.path) == 0o600
        new = key_file.rewrap(old, CTX)
        assert new.kek_version == "2"
        assert key_file.unwrap(new, CTX) == data_key
        # A fresh reader of the file sees the same state.
        assert LocalKeyFile(key_file.path).unwrap(new, CTX) == data_key
        key_file.destroy_version("1")
        key_file.destroy_version("1")  # idempotent
        assert key_file.is_destroyed("1") and not key_file.is_destroyed("2")
        assert list(json.loads(key_file.path.read_text())["versions"]) == ["2"]
        with pytest.raises(KeyProviderError, match="version 1"):
            key_file.unwrap(old, CTX)
        with pytest.raises(KeyProviderError, match="current"):
            key_file.destroy_version("2")
        with pytest.raises(KeyProviderError, match="not newer"):
            key_file.new_version(2)


class TestSecretFiles:
    def test_secret_file_is_private_random_and_kept(self, tmp_path: Path) -> None:
        path = tmp_path / "keys" / "audit.key"
        assert ensure_secret_file(path) is True
        assert mode(path) == 0o600
        secret = read_secret_file(path)
        assert len(secret) == 32
        assert ensure_secret_file(path) is False
        assert read_secret_file(path) == secret

    def test_secret_file_readable_by_others_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "web.key"
        ensure_secret_file(path)
        os.chmod(path, 0o640)
        with pytest.raises(KeyProviderError, match="chmod 600"):
            read_secret_file(path)


class TestPrivateWrites:
    """``write_private_file``: a rotated key file is 0600 whatever lies around it."""

    def test_a_stale_world_readable_temp_does_not_leak_into_the_key_file(
        self, key_file: LocalKeyFile
    ) -> None:
        legacy = key_file.path.with_name(".kek.json.tmp")
        legacy.write_bytes(b"left by an old crashed rotation")
        os.chmod(legacy, 0o644)
        old = os.umask(0)  # the most permissive umask cannot widen it either
        try:
            key_file.new_version(2)  # one write of the key file
            assert mode(key_file.path) == 0o600
            assert not legacy.exists()
            key_file.make_current("2")
        finally:
            os.umask(old)
        assert mode(key_file.path) == 0o600
        assert sorted(p.name for p in key_file.path.parent.iterdir()) == ["kek.json"]

    def test_stale_random_temps_are_swept_but_a_fresh_one_is_left_alone(
        self, key_file: LocalKeyFile
    ) -> None:
        stale = key_file.path.with_name(".kek.json.0123456789abcdef.tmp")
        stale.write_bytes(b"an old KEK")
        os.utime(stale, (1, 1))
        fresh = key_file.path.with_name(".kek.json.fedcba9876543210.tmp")
        fresh.write_bytes(b"a concurrent writer's")
        write_private_file(key_file.path, b"{}")
        assert not stale.exists() and fresh.exists()
        assert key_file.path.read_bytes() == b"{}" and mode(key_file.path) == 0o600

    def test_the_temp_is_created_exclusively_never_through_a_planted_link(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        target = tmp_path / "elsewhere"
        target.write_bytes(b"not yours")
        path = tmp_path / "keys" / "kek.json"
        path.parent.mkdir()
        name = ".kek.json.aaaaaaaaaaaaaaaa.tmp"
        (path.parent / name).symlink_to(target)
        monkeypatch.setattr("storage.keys.secrets.token_hex", lambda n: "a" * 2 * n)
        with pytest.raises(FileExistsError):
            write_private_file(path, b"secret")
        assert target.read_bytes() == b"not yours" and not path.exists()


class TestKms:
    @pytest.fixture
    def kms(self, moto_endpoint: str, kms_key_id: str) -> KmsKeyProvider:
        return KmsKeyProvider(kms_key_id, region=REGION, endpoint_url=moto_endpoint)

    def test_generate_and_unwrap(self, kms: KmsKeyProvider) -> None:
        data_key, wrapped = kms.generate(CTX)
        assert len(data_key) == DATA_KEY_SIZE
        assert wrapped.provider == "kms"
        assert wrapped.kek_version == kms.current_version()
        assert wrapped.kek_version.startswith("arn:aws:kms:")
        assert wrapped.kek_version.endswith(kms.key_id)
        assert data_key not in wrapped.blob
        assert kms.unwrap(wrapped, CTX) == data_key

    @pytest.mark.parametrize(
        "other", [KeyContext("site-a", "clip-2"), KeyContext("site-b", "clip-1")]
    )
    def test_encryption_context_is_enforced(self, kms: KmsKeyProvider, other: KeyContext) -> None:
        _, wrapped = kms.generate(CTX)
        with pytest.raises(KeyProviderError, match="cannot be unwrapped") as info:
            kms.unwrap(wrapped, other)
        assert info.value.__cause__ is not None

    def test_context_sent_to_kms_holds_ids_only(self, kms: KmsKeyProvider) -> None:
        seen: list[dict[str, str]] = []
        kms.client.meta.events.register(
            "provide-client-params.kms.GenerateDataKey",
            lambda params, **_: seen.append(params["EncryptionContext"]),
        )
        kms.generate(CTX)
        assert seen == [{"site": "site-a", "clip": "clip-1"}]

    def test_rewrap_moves_the_key_to_the_configured_kms_key(
        self, kms: KmsKeyProvider, moto_endpoint: str
    ) -> None:
        data_key, wrapped = kms.generate(CTX)
        new_key = kms_client(moto_endpoint).create_key()["KeyMetadata"]["KeyId"]
        successor = KmsKeyProvider(new_key, region=REGION, endpoint_url=moto_endpoint)
        moved = successor.rewrap(wrapped, CTX)
        assert moved.kek_version == successor.current_version() != wrapped.kek_version
        assert moved.blob != wrapped.blob
        assert successor.unwrap(moved, CTX) == data_key
        with pytest.raises(KeyProviderError):
            successor.rewrap(wrapped, KeyContext("site-a", "clip-2"))

    def test_unwrap_names_the_wrapping_key(self, kms: KmsKeyProvider, moto_endpoint: str) -> None:
        _, wrapped = kms.generate(CTX)
        other_key = kms_client(moto_endpoint).create_key()["KeyMetadata"]["Arn"]
        with pytest.raises(KeyProviderError) as info:
            kms.unwrap(WrappedKey("kms", other_key, wrapped.blob), CTX)
        assert isinstance(info.value.__cause__, ClientError)

    def test_unknown_key_is_a_provider_error(self, moto_endpoint: str) -> None:
        kms = KmsKeyProvider(
            "11111111-2222-3333-4444-555555555555", region=REGION, endpoint_url=moto_endpoint
        )
        with pytest.raises(KeyProviderError, match="NotFound"):
            kms.current_version()
        with pytest.raises(KeyProviderError):
            kms.generate(CTX)

    def test_refuses_a_locally_wrapped_key(
        self, kms: KmsKeyProvider, key_file: LocalKeyFile
    ) -> None:
        _, wrapped = key_file.generate(CTX)
        with pytest.raises(KeyProviderError, match="local"):
            kms.unwrap(wrapped, CTX)
