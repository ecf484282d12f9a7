"""pytest plugin: a real S3/KMS HTTP endpoint on loopback (moto's threaded server).

Fixtures:

- ``moto_endpoint`` (session): starts one ``ThreadedMotoServer`` on 127.0.0.1 with a
  free port and points boto3 at dummy credentials through the environment; stopped
  at the end of the session. Returns the endpoint URL.
- ``s3_bucket``: a fresh, uniquely named bucket per test (emptied and removed after).
- ``kms_key_id``: a fresh symmetric KMS key per test; returns its key id.
- ``s3_settings`` / ``s3_services``: the scale-out profile (S3 blobs, KMS keys) on both
  database backends, like ``settings`` / ``services`` in conftest.py. Use them to run a
  test on the S3/KMS side as well.

Registered from tests/conftest.py via ``pytest_plugins``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from config import Settings, load_settings
from storage.clock import FixedClock
from tests.db_templates import prepare_database
from webapp.composition import Services, build_services, initialize

REGION = "eu-west-2"
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    # Never let a developer's real profile or config leak into the tests.
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server speaking S3 and KMS over HTTP on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    # The server logs every request through werkzeug; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _AWS_ENV.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_client(endpoint: str) -> Any:
    """A plain boto3 S3 client for test set-up and inspection."""
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def kms_client(endpoint: str) -> Any:
    return boto3.client("kms", endpoint_url=endpoint, region_name=REGION)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> Iterator[str]:
    """A new empty bucket; removed with its objects and pending uploads afterwards."""
    client = s3_client(moto_endpoint)
    name = f"verp-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield name
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def kms_key_id(moto_endpoint: str) -> str:
    """The id of a new symmetric encryption key."""
    response = kms_client(moto_endpoint).create_key(
        Description="verp test KEK", KeyUsage="ENCRYPT_DECRYPT"
    )
    return str(response["KeyMetadata"]["KeyId"])


def s3_overrides(endpoint: str, bucket: str, key_id: str) -> dict[str, Any]:
    """Setting overrides that select the scale-out blob store and key provider."""
    return {
        "blobs.url": f"s3://{bucket}/verp",
        "blobs.s3_endpoint_url": endpoint,
        "keys.provider": "kms",
        "keys.kms_key_id": key_id,
        "keys.kms_endpoint_url": endpoint,
        "keys.aws_region": REGION,
    }


@pytest.fixture
def s3_settings(
    tmp_path: Path, db_url: str, moto_endpoint: str, s3_bucket: str, kms_key_id: str
) -> Settings:
    """Scale-out settings (S3 + KMS on moto) on both database backends."""
    overrides: dict[str, Any] = {
        "paths.home": str(tmp_path / "home"),
        "web.secure_cookies": False,
        "database.url": db_url,
        **s3_overrides(moto_endpoint, s3_bucket, kms_key_id),
    }
    settings = load_settings(environ={}, overrides=overrides)
    prepare_database(settings)  # migrated by copying this worker's template
    return settings


@pytest.fixture
def s3_services(s3_settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """Services wired for the scale-out profile, sharing the ``clock`` fixture."""
    initialize(s3_settings)
    svc = build_services(s3_settings, clock=clock)
    try:
        yield svc
    finally:
        svc.close()
