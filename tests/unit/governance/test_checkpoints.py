"""Checkpoint stores: write-once files (0600) and S3 objects under Object Lock (moto)."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storage.audit import Actor
from storage.audit.checkpoints import (
    LocalCheckpointStore,
    checkpoint_head,
    read_checkpoint,
    write_checkpoint,
)
from storage.audit.s3_checkpoints import S3CheckpointStore
from storage.errors import AuditIntegrityError
from tests.moto_server import REGION, s3_client
from webapp.composition import Services

KEY = b"k" * 32
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_local_checkpoints_are_private_write_once_and_signed(tmp_path: Path) -> None:
    store = LocalCheckpointStore(tmp_path / "cp")
    cp = write_checkpoint(store, KEY, 7, "a" * 64, AT)
    path = store.root / cp.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_checkpoint(store, KEY, cp.name) == cp
    with pytest.raises(AuditIntegrityError, match="already exists"):
        store.put(cp.name, b"{}")
    with pytest.raises(AuditIntegrityError, match="invalid signature"):
        read_checkpoint(store, b"x" * 32, cp.name)  # another key
    path.write_text(path.read_text().replace("a" * 64, "b" * 64))
    with pytest.raises(AuditIntegrityError, match="invalid signature"):
        read_checkpoint(store, KEY, cp.name)
    path.write_text("not json")
    with pytest.raises(AuditIntegrityError, match="cannot be read"):
        read_checkpoint(store, KEY, cp.name)


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
    cp = write_checkpoint(store, KEY, 3, "c" * 64, AT)
    assert store.names() == [cp.name]
    assert read_checkpoint(store, KEY, cp.name) == cp
    with pytest.raises(AuditIntegrityError, match="already exists"):
        store.put(cp.name, b"{}")
    head = client.head_object(Bucket=bucket, Key=f"audit/{cp.name}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    version = head["VersionId"]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=f"audit/{cp.name}", VersionId=version)
    assert read_checkpoint(store, KEY, cp.name) == cp


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
    store = services.audit.checkpoints
    assert store is not None
    with services.db.session() as session:
        assert checkpoint_head(session, store, services.audit.key, AT) is None  # empty log
        services.audit.append(session, Actor.system("t"), "test.event")
    with services.db.session() as session:
        first = checkpoint_head(session, store, services.audit.key, AT)
        assert first is not None and first.seq == 1
        assert checkpoint_head(session, store, services.audit.key, AT) is None
        services.audit.append(session, Actor.system("t"), "test.event")
    with services.db.session() as session:
        second = checkpoint_head(session, store, services.audit.key, AT)
        assert second is not None and second.seq == 2
    assert len(store.names()) == 2
