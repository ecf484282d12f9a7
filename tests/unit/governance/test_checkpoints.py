"""Checkpoint stores: write-once files (0600) and S3 objects under Object Lock (moto)."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storage.audit import Actor
from storage.audit.checkpoints import Checkpoints, LocalCheckpointStore
from storage.audit.s3_checkpoints import S3CheckpointStore
from storage.audit.signing import Signer
from storage.audit.verify import verify_chain
from storage.errors import AuditIntegrityError
from tests.moto_server import REGION, s3_client
from webapp.composition import Services

SIGNER = Signer.from_seed(b"k" * 32)
OTHER = Signer.from_seed(b"x" * 32)
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_local_checkpoints_are_private_write_once_and_signed(tmp_path: Path) -> None:
    store = LocalCheckpointStore(tmp_path / "cp")
    checkpoints = Checkpoints.signed_by(store, SIGNER)
    cp = checkpoints.write(7, "a" * 64, AT)
    path = store.root / cp.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert checkpoints.read(cp.name) == cp
    # Verification needs the public key only.
    assert Checkpoints(store, SIGNER.public_key).read(cp.name) == cp
    with pytest.raises(AuditIntegrityError, match="cannot be written"):
        Checkpoints(store, SIGNER.public_key).write(8, "a" * 64, AT)
    with pytest.raises(AuditIntegrityError, match="already exists"):
        store.put(cp.name, b"{}")
    with pytest.raises(AuditIntegrityError, match="signed by another key"):
        Checkpoints(store, OTHER.public_key).read(cp.name)
    path.write_text(path.read_text().replace("a" * 64, "b" * 64))
    with pytest.raises(AuditIntegrityError, match="invalid signature"):
        checkpoints.read(cp.name)
    path.write_text("not json")
    with pytest.raises(AuditIntegrityError, match="cannot be read"):
        checkpoints.read(cp.name)


def test_s3_checkpoints_are_locked_against_deletion(moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    bucket = f"verp-cp-{uuid.uuid4().hex[:12]}"
    client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    store = S3CheckpointStore.from_url(
        f"s3://{bucket}/audit",
        lock_days=30,
        lock_mode="COMPLIANCE",
        endpoint_url=moto_endpoint,
        region=REGION,
    )
    checkpoints = Checkpoints.signed_by(store, SIGNER)
    cp = checkpoints.write(3, "c" * 64, AT)
    assert store.names() == [cp.name]
    assert checkpoints.read(cp.name) == cp
    with pytest.raises(AuditIntegrityError, match="already exists"):
        store.put(cp.name, b"{}")
    head = client.head_object(Bucket=bucket, Key=f"audit/{cp.name}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    version = head["VersionId"]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=f"audit/{cp.name}", VersionId=version)
    assert checkpoints.read(cp.name) == cp


def test_s3_store_errors_are_wrapped(moto_endpoint: str) -> None:
    store = S3CheckpointStore.from_url(
        "s3://no-such-bucket-verp/x",
        lock_days=1,
        endpoint_url=moto_endpoint,
        region=REGION,
    )
    with pytest.raises(AuditIntegrityError, match="S3"):
        store.names()
    with pytest.raises(AuditIntegrityError, match="expected s3://"):
        S3CheckpointStore.from_url("file:///tmp/x", lock_days=1)


def test_checkpoint_head_skips_an_unchanged_head(services: Services) -> None:
    checkpoints = services.audit.checkpoints
    assert checkpoints is not None
    with services.db.session() as session:
        assert services.audit.checkpoint_head(session, AT) is None  # empty log
        services.audit.append(session, Actor.system("t"), "test.event")
    with services.db.session() as session:
        first = services.audit.checkpoint_head(session, AT)
        assert first is not None and first.seq == 1
    with services.db.session() as session:  # the head is now the record of checkpoint 1
        assert services.audit.checkpoint_head(session, AT) is None
        services.audit.append(session, Actor.system("t"), "test.event")
    with services.db.session() as session:
        second = services.audit.checkpoint_head(session, AT)
        assert second is not None and second.seq == 3
    assert len(checkpoints.names()) == 2


def test_s3_checkpoints_are_recorded_and_verified(services: Services, moto_endpoint: str) -> None:
    client = s3_client(moto_endpoint)
    bucket = f"verp-cp-{uuid.uuid4().hex[:12]}"
    client.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    store = S3CheckpointStore.from_url(
        f"s3://{bucket}/audit", lock_days=30, endpoint_url=moto_endpoint, region=REGION
    )
    services.audit.checkpoints = Checkpoints.signed_by(store, SIGNER)
    services.audit.checkpoint_every = 3
    for _ in range(6):
        with services.db.session() as session:
            services.audit.append(session, Actor.system("t"), "test.event")
    assert sorted(int(n.split("-")[1]) for n in store.names()) == [3, 6]
    with services.db.session() as session:
        result = verify_chain(session, services.audit.key, services.audit.checkpoints)
    assert result.ok and result.recorded_checkpoints == 2 and result.checkpoints == 2
    # Verification with the public key alone (a DPO's copy of the settings).
    with services.db.session() as session:
        again = verify_chain(session, services.audit.key, Checkpoints(store, SIGNER.public_key))
    assert again.ok
    with services.db.session() as session:  # the same log checked against another store
        empty = Checkpoints(LocalCheckpointStore(Path("/nonexistent")), SIGNER.public_key)
        missing = verify_chain(session, services.audit.key, empty)
    assert not missing.ok and "missing from the checkpoint store" in str(missing.problem)
