"""KEK rotation: data keys are re-wrapped in batches, video is never re-encrypted, and
an interrupted rotation resumes instead of starting over."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import select

from storage.audit import Actor
from storage.db.footage import Blob, DataKey
from storage.db.governance import AuditEntry
from storage.errors import KeyProviderError
from storage.kek import key_status, rotate_keys
from storage.keys import KeyProvider, LocalKeyFile
from storage.kms import KmsKeyProvider
from storage.vault import Vault
from tests.moto_server import REGION, kms_client
from tests.unit.storage.vault_helpers import store_blob
from webapp.composition import Services

ACTOR = Actor.system("rotation-test")
SEGMENT = 4096


class Interrupted(Exception):
    pass


def small_vault(svc: Services, keys: KeyProvider | None = None) -> Vault:
    return Vault(blobs=svc.blobs, keys=keys or svc.keys, clock=svc.clock, segment_size=SEGMENT)


def fill(svc: Services, count: int) -> dict[str, bytes]:
    """``count`` clips with one blob each; returns blob id -> plaintext."""
    vault = small_vault(svc)
    plain: dict[str, bytes] = {}
    for i in range(count):
        data = os.urandom(SEGMENT + 100 + i)
        plain[store_blob(svc, vault, data, slug=f"site-{i}").id] = data
    return plain


def snapshot(svc: Services) -> dict[str, bytes]:
    stored_keys = svc.blobs.keys()
    return {key: b"".join(svc.blobs.open(key)) for key in stored_keys}


def versions_of_rows(svc: Services) -> list[str]:
    with svc.db.session() as session:
        return sorted(session.scalars(select(DataKey.kek_version)))


def assert_all_decrypt(svc: Services, plain: dict[str, bytes], keys: KeyProvider) -> None:
    vault = small_vault(svc, keys)
    with svc.db.session() as session:
        for blob_id, data in plain.items():
            blob = session.get(Blob, blob_id)
            assert blob is not None
            assert b"".join(vault.iter_plaintext(session, blob)) == data


def rotate(svc: Services, keys: KeyProvider | None = None, **kwargs: Any) -> Any:
    return rotate_keys(
        svc.db, keys or svc.keys, svc.audit, svc.clock, ACTOR, batch_size=2, **kwargs
    )


def rotation_audit(svc: Services) -> list[dict[str, Any]]:
    with svc.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "key.rotate").order_by(AuditEntry.seq)
        )
        return [dict(e.details) for e in entries]


def test_rotation_rewraps_every_key_and_leaves_video_untouched(services: Services) -> None:
    plain = fill(services, 5)
    with services.db.session() as session:
        shredded = next(iter(plain))
        blob = session.get(Blob, shredded)
        assert blob is not None
        small_vault(services).shred_key(session, blob.clip_id)
    live = {k: v for k, v in plain.items() if k != shredded}
    before = snapshot(services)

    report = rotate(services)

    assert (report.added_version, report.current_version, report.resumed) == ("2", "2", False)
    assert (report.rewrapped, report.batches, report.retired) == (4, 2, ["1"])
    assert snapshot(services) == before, "blobs must keep their exact bytes"
    assert versions_of_rows(services) == ["1", "2", "2", "2", "2"]  # "1": the shredded row
    assert list(LocalKeyFile(services.settings.key_file).versions()) == ["2"]
    assert_all_decrypt(services, live, LocalKeyFile(services.settings.key_file))
    with services.db.session() as session:
        rows = session.scalars(select(DataKey).where(DataKey.wrapped.is_not(None))).all()
        assert {r.rotated_at for r in rows} == {services.clock.now()}
    audit = rotation_audit(services)
    assert [a["phase"] for a in audit] == ["add-version", "rewrap", "rewrap", "retire"]
    assert [a.get("rewrapped") for a in audit if a["phase"] == "rewrap"] == [2, 2]


def test_interrupted_rotation_resumes_without_adding_a_version(services: Services) -> None:
    plain = fill(services, 5)
    before = snapshot(services)

    def crash_after_first_batch(batch: int, rewrapped: int) -> None:
        raise Interrupted(f"killed after batch {batch}")

    with pytest.raises(Interrupted):
        rotate(services, after_batch=crash_after_first_batch)

    assert versions_of_rows(services) == ["1", "1", "1", "2", "2"]
    # A new process: fresh key-file reader, fresh database session.
    keys = LocalKeyFile(services.settings.key_file)
    assert set(keys.versions()) == {"1", "2"}
    with services.db.session() as session:
        status = key_status(session, keys)
    assert status.rotation_incomplete
    assert (status.pending, status.live_by_version) == (3, {"1": 3, "2": 2})
    assert_all_decrypt(services, plain, keys)  # half-rotated is fully readable

    report = rotate(services, keys)

    assert (report.resumed, report.added_version, report.current_version) == (True, None, "2")
    assert (report.rewrapped, report.retired) == (3, ["1"])
    assert versions_of_rows(services) == ["2"] * 5
    assert list(LocalKeyFile(services.settings.key_file).versions()) == ["2"]
    assert snapshot(services) == before
    assert_all_decrypt(services, plain, LocalKeyFile(services.settings.key_file))
    with services.db.session() as session:
        assert not key_status(session, keys).rotation_incomplete


def test_failure_inside_a_batch_rolls_that_batch_back(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = fill(services, 4)
    keys = services.keys
    assert isinstance(keys, LocalKeyFile)
    real_rewrap = keys.rewrap
    calls = {"n": 0}

    def flaky_rewrap(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:  # second key of the second batch
            raise KeyProviderError("provider went away")
        return real_rewrap(*args)

    monkeypatch.setattr(keys, "rewrap", flaky_rewrap)
    with pytest.raises(KeyProviderError):
        rotate(services)
    # Batch 1 committed; batch 2 (one key already re-wrapped in memory) rolled back.
    assert versions_of_rows(services) == ["1", "1", "2", "2"]
    monkeypatch.undo()

    report = rotate(services, LocalKeyFile(services.settings.key_file))
    assert (report.resumed, report.rewrapped, report.retired) == (True, 2, ["1"])
    assert_all_decrypt(services, plain, LocalKeyFile(services.settings.key_file))


def test_second_rotation_adds_the_next_version(services: Services) -> None:
    plain = fill(services, 2)
    rotate(services)
    report = rotate(services)
    assert (report.added_version, report.retired, report.resumed) == ("3", ["2"], False)
    assert versions_of_rows(services) == ["3", "3"]
    assert_all_decrypt(services, plain, LocalKeyFile(services.settings.key_file))


def test_rotation_with_no_data_keys_still_replaces_the_kek(services: Services) -> None:
    report = rotate(services)
    assert (report.added_version, report.rewrapped, report.retired) == ("2", 0, ["1"])


def test_bad_batch_size_changes_nothing(services: Services) -> None:
    fill(services, 1)
    with pytest.raises(ValueError, match="batch size"):
        rotate_keys(services.db, services.keys, services.audit, services.clock, ACTOR, batch_size=0)
    assert versions_of_rows(services) == ["1"]
    assert list(LocalKeyFile(services.settings.key_file).versions()) == ["1"]


def test_status_counts_keys_per_version_and_destroyed(services: Services) -> None:
    plain = fill(services, 3)
    with services.db.session() as session:
        blob = session.get(Blob, next(iter(plain)))
        assert blob is not None
        small_vault(services).shred_key(session, blob.clip_id)
    with services.db.session() as session:
        status = key_status(session, services.keys).as_dict()
    assert status == {
        "provider": "local",
        "current_version": "1",
        "live_by_version": {"1": 2},
        "other_providers": {},
        "destroyed": 1,
        "pending": 0,
        "kek_versions": ["1"],
        "rotation_incomplete": False,
    }


def test_kms_rotation_moves_keys_to_the_new_kms_key(
    s3_services: Services, moto_endpoint: str
) -> None:
    plain = fill(s3_services, 3)
    before = snapshot(s3_services)
    old_arn = s3_services.keys.current_version()
    new_key = kms_client(moto_endpoint).create_key()["KeyMetadata"]["KeyId"]
    successor = KmsKeyProvider(new_key, region=REGION, endpoint_url=moto_endpoint)

    report = rotate(s3_services, successor)

    assert report.provider == "kms"
    assert (report.added_version, report.retired, report.rewrapped) == (None, [], 3)
    assert report.current_version == successor.current_version() != old_arn
    assert versions_of_rows(s3_services) == [successor.current_version()] * 3
    assert snapshot(s3_services) == before
    assert_all_decrypt(s3_services, plain, successor)
    again = rotate(s3_services, successor)
    assert (again.resumed, again.rewrapped) == (False, 0)
