"""Environments for running the real `verp` CLI against a test database/blob store."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from config import load_settings
from storage.clock import FixedClock
from tests.conftest import START
from tests.db_templates import prepare_database
from tests.moto_server import REGION, s3_client
from webapp.composition import Services, build_services, initialize


def base_env(home: Path, db_url: str) -> dict[str, str]:
    return {"VERP_HOME": str(home), "VERP_DATABASE_URL": db_url, "VERP_SECURE_COOKIES": "false"}


def s3_env(endpoint: str, bucket: str, key_id: str) -> dict[str, str]:
    """Scale-out profile: S3 blobs, KMS keys, checkpoints in an Object Lock bucket."""
    client = s3_client(endpoint)
    locked = f"verp-audit-{uuid.uuid4().hex[:12]}"
    client.create_bucket(
        Bucket=locked,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    return {
        "VERP_BLOB_URL": f"s3://{bucket}/verp",
        "VERP_S3_ENDPOINT_URL": endpoint,
        "VERP_KEY_PROVIDER": "kms",
        "VERP_KMS_KEY_ID": key_id,
        "VERP_KMS_ENDPOINT_URL": endpoint,
        "VERP_AWS_REGION": REGION,
        "VERP_AUDIT_CHECKPOINT_URL": f"s3://{locked}/checkpoints",
    }


def services_for(env: dict[str, str], clock: FixedClock | None = None) -> Services:
    settings = load_settings(environ=env)
    prepare_database(settings)  # an empty test database: copied from the migrated template
    initialize(settings)
    return build_services(settings, clock=clock or FixedClock(START))


def run_verp(env: dict[str, str], *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the installed `verp` console script in a fresh process."""
    verp = Path(sys.executable).with_name("verp")
    full = {**os.environ, **env}
    return subprocess.run(
        [str(verp), *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kw,
    )
