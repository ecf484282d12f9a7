"""Audit checkpoints as S3 objects under Object Lock (the scale-out checkpoint store).

Each checkpoint is a new object (an existing name is refused) with an Object Lock
retention date, so neither the application nor anyone holding its database credentials
can delete or overwrite it before that date (COMPLIANCE mode: not even the bucket owner).
The bucket must be created with Object Lock enabled (docs/retention.md). This module is
the boto3 boundary for checkpoints: botocore errors become :class:`AuditIntegrityError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import AuditIntegrityError
from storage.s3 import s3_client, split_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


@contextmanager
def _s3_errors(action: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "unknown error"))
        raise AuditIntegrityError(f"checkpoint store: S3 {action} failed ({code})") from exc
    except BotoCoreError as exc:
        raise AuditIntegrityError(
            f"checkpoint store: S3 {action} failed ({type(exc).__name__})"
        ) from exc


class S3CheckpointStore:
    """Write-once checkpoint objects under ``s3://bucket/prefix`` with Object Lock."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        lock_days: int,
        lock_mode: str = "COMPLIANCE",
    ) -> None:
        if lock_mode not in LOCK_MODES:
            raise AuditIntegrityError(f"checkpoint lock mode must be one of {LOCK_MODES}")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.lock_days = lock_days
        self.lock_mode = lock_mode

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        lock_days: int,
        lock_mode: str = "COMPLIANCE",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> S3CheckpointStore:
        """A store for ``s3://bucket/prefix``; raises AuditIntegrityError for a bad URL."""
        location = split_s3_url(url)
        if location is None:
            raise AuditIntegrityError(f"expected s3://BUCKET/PREFIX, got {url!r}")
        client = s3_client(endpoint_url, region)
        return cls(client, location[0], location[1], lock_days, lock_mode)

    def put(self, name: str, data: bytes) -> None:
        """Store a new locked object; raises AuditIntegrityError if it exists or S3 fails."""
        key = self.prefix + name
        if self._exists(key):
            raise AuditIntegrityError(f"checkpoint {name} already exists")
        # Wall-clock time, not the injectable clock: S3 enforces the lock by its own clock.
        retain_until: datetime = datetime.now(UTC) + timedelta(days=self.lock_days)
        with _s3_errors("put"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                ObjectLockMode=self.lock_mode,  # type: ignore[arg-type]
                ObjectLockRetainUntilDate=retain_until,
            )

    def names(self) -> list[str]:
        found: list[str] = []
        with _s3_errors("list"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self.prefix) :]
                    if name.endswith(".json") and "/" not in name:
                        found.append(name)
        return sorted(found)

    def get(self, name: str) -> bytes:
        with _s3_errors("get"):
            response: Any = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
            return bytes(response["Body"].read())

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in {"404", "NoSuchKey"}:
                return False
            raise AuditIntegrityError("checkpoint store: S3 head failed") from exc
        except BotoCoreError as exc:
            raise AuditIntegrityError("checkpoint store: S3 head failed") from exc
        return True
