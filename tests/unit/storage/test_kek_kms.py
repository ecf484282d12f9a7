"""KEK epochs on KMS (moto's server on loopback): one KMS key per epoch behind an alias;
the retired epoch's key is scheduled for deletion, and a wrapped key copied out of the
database before destruction stops decrypting once KMS has deleted that key.

moto accepts ScheduleKeyDeletion but keeps decrypting with a key pending deletion (AWS
refuses it at once) and never deletes it; :func:`kms_deletes` stands in for the end of
the waiting period by deleting the key inside moto, the way KMS does at DeletionDate.
"""

from __future__ import annotations

import uuid

import pytest

from storage.audit import Actor
from storage.errors import KeyProviderError
from storage.kek import RotationOptions, horizon_of, rotate_keys
from storage.kms import KmsKeyProvider
from tests.moto_server import REGION, kms_client
from tests.unit.storage.kek_helpers import (
    capture,
    clip_of,
    decrypts,
    epoch_rows,
    fill,
    rotation_audit,
    shred,
)
from webapp.composition import Services

ACTOR = Actor.system("kms-epoch-test")


def kms_deletes(key_arn: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    kms_backends[DEFAULT_ACCOUNT_ID][REGION].delete_key(key_arn.rsplit("/", 1)[-1])


@pytest.fixture
def alias_keys(moto_endpoint: str, kms_key_id: str) -> KmsKeyProvider:
    alias = f"alias/verp-{uuid.uuid4().hex[:12]}"
    kms_client(moto_endpoint).create_alias(AliasName=alias, TargetKeyId=kms_key_id)
    return KmsKeyProvider(alias, region=REGION, endpoint_url=moto_endpoint, deletion_days=7)


def test_kms_epoch_schedules_the_old_key_for_deletion_and_the_copy_stops_decrypting(
    s3_services: Services, alias_keys: KmsKeyProvider, moto_endpoint: str
) -> None:
    svc = s3_services
    plain = fill(svc, 3, alias_keys)
    dead_blob, *live_blobs = plain
    dead_clip = clip_of(svc, dead_blob)
    old_arn = alias_keys.current_version()
    captured = capture(svc, dead_clip)
    shred(svc, dead_clip, alias_keys)
    data_key = captured.unwrap_with(alias_keys)

    report = rotate_keys(
        svc.db, alias_keys, svc.audit, svc.clock, ACTOR, options=RotationOptions(batch_size=2)
    )

    new_arn = alias_keys.current_version()
    assert new_arn != old_arn and report.current_version == new_arn
    assert (report.epoch, report.rewrapped, report.retired) == (2, 2, [old_arn])
    client = kms_client(moto_endpoint)
    assert client.describe_key(KeyId=alias_keys.key_id)["KeyMetadata"]["Arn"] == new_arn
    old = client.describe_key(KeyId=old_arn)["KeyMetadata"]
    assert old["KeyState"] == "PendingDeletion"
    first, second = epoch_rows(svc)
    assert (first.kek_version, second.kek_version) == (old_arn, new_arn)
    assert first.retired_at == svc.clock.now()
    # The horizon is the day KMS deletes the key material, not the day it was scheduled.
    assert first.destroyed_at == old["DeletionDate"]
    with svc.db.session() as session:
        horizon = horizon_of(session, "kms", old_arn, svc.clock.now())
    assert horizon.state == "pending" and "KMS deletes the key of epoch 1" in horizon.text
    for blob_id in live_blobs:
        assert decrypts(svc, blob_id, alias_keys) == plain[blob_id]
    assert [a["phase"] for a in rotation_audit(svc)] == ["add-version", "rewrap", "retire"]
    assert captured.unwrap_with(alias_keys) == data_key  # moto: see the module docstring

    kms_deletes(old_arn)

    with pytest.raises(KeyProviderError):
        captured.unwrap_with(alias_keys)
    for blob_id in live_blobs:
        assert decrypts(svc, blob_id, alias_keys) == plain[blob_id]
    again = rotate_keys(svc.db, alias_keys, svc.audit, svc.clock, ACTOR)
    assert again.epoch == 3 and again.retired == [new_arn]


def test_kms_key_id_that_is_not_an_alias_rewraps_but_starts_no_epoch(
    s3_services: Services, moto_endpoint: str
) -> None:
    fill(s3_services, 1)
    report = rotate_keys(
        s3_services.db, s3_services.keys, s3_services.audit, s3_services.clock, ACTOR
    )
    assert (report.epoch, report.added_version, report.retired) == (None, None, [])
    assert epoch_rows(s3_services) == []
    assert isinstance(s3_services.keys, KmsKeyProvider)
    with pytest.raises(KeyProviderError, match="alias"):
        s3_services.keys.new_version(2)
