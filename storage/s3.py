"""S3 (and S3-compatible) blob store: the scale-out backend of :class:`storage.blobs.BlobStore`.

This module is the one boundary where botocore errors become storage errors:
a missing object becomes :class:`BlobNotFound`, everything else :class:`BlobStoreError`
with the vendor error chained as ``__cause__``.

Small blobs are sent with one PutObject. Larger ones switch to a multipart upload
once the buffered bytes pass the threshold; an aborted or failed write aborts the
multipart upload, so a partial object is never visible under the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.blobs import CHUNK, BlobWriter
from storage.errors import BlobNotFound, BlobStoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: S3 refuses parts smaller than this (except the last one).
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_THRESHOLD = 16 * 1024 * 1024
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative path; raises BlobStoreError otherwise.

    The rules match the local store, so a key that works on one backend works on all.
    """
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BlobStoreError(f"invalid blob key {key!r}")
    return key


@contextmanager
def _s3_errors(action: str, key: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block (the single vendor boundary)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise BlobNotFound(key) from exc
        raise BlobStoreError(f"S3 {action} of {key!r} failed ({code or 'unknown error'})") from exc
    except BotoCoreError as exc:
        raise BlobStoreError(f"S3 {action} of {key!r} failed ({type(exc).__name__})") from exc


class _S3Writer:
    """Buffers up to the threshold; past it, streams parts of a multipart upload."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._object_key = store.object_key(key)
        self._buf = bytearray()
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Buffer ``data``; uploads parts as they fill. Raises BlobStoreError (upload aborted)."""
        if self._closed:
            raise BlobStoreError("write to a closed S3 blob writer")
        view = memoryview(data).cast("B")
        self._buf += view
        self._size += len(view)
        if self._upload_id is None and len(self._buf) > self._store.multipart_threshold:
            self._guarded(self._start_multipart)
        if self._upload_id is not None:
            while len(self._buf) >= self._store.part_size:
                self._guarded(self._upload_part, self._store.part_size)
        return len(view)

    def commit(self) -> int:
        """Make the object visible (PutObject or CompleteMultipartUpload); returns its size."""
        if self._closed:
            raise BlobStoreError("commit of a closed S3 blob writer")
        if self._upload_id is None:
            self._guarded(self._put_whole)
        else:
            if self._buf or not self._parts:
                self._guarded(self._upload_part, len(self._buf))
            self._guarded(self._complete)
        self._closed = True
        self._buf = bytearray()
        return self._size

    def abort(self) -> None:
        """Discard the buffer and abort a started multipart upload; raises BlobStoreError."""
        self._closed = True
        self._buf = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            with _s3_errors("abort upload", self._key):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._object_key, UploadId=upload_id
                )

    # -- steps, each one S3 call -------------------------------------
    def _guarded(self, step: Any, *args: Any) -> None:
        """Run one S3 step; on failure abort the upload (best effort) and re-raise."""
        try:
            with _s3_errors("upload", self._key):
                step(*args)
        except BlobStoreError:
            # The first failure is the one worth reporting; an orphaned multipart
            # upload holds ciphertext only and is removed by the bucket lifecycle rule.
            with suppress(BlobStoreError):
                self.abort()
            raise

    def _put_whole(self) -> None:
        self._store.client.put_object(
            Bucket=self._store.bucket, Key=self._object_key, Body=bytes(self._buf)
        )

    def _start_multipart(self) -> None:
        response = self._store.client.create_multipart_upload(
            Bucket=self._store.bucket, Key=self._object_key
        )
        self._upload_id = response["UploadId"]

    def _upload_part(self, length: int) -> None:
        assert self._upload_id is not None
        number = len(self._parts) + 1
        response = self._store.client.upload_part(
            Bucket=self._store.bucket,
            Key=self._object_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buf[:length]),
        )
        del self._buf[:length]
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def _complete(self) -> None:
        assert self._upload_id is not None
        self._store.client.complete_multipart_upload(
            Bucket=self._store.bucket,
            Key=self._object_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None


class S3BlobStore:
    """Blobs as objects under ``prefix`` in one bucket."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        multipart_threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        if not bucket:
            raise BlobStoreError("S3 blob store needs a bucket name")
        if multipart_threshold <= 0:
            raise BlobStoreError("multipart threshold must be positive")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.multipart_threshold = multipart_threshold
        self.part_size = max(multipart_threshold, MIN_PART_SIZE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        multipart_threshold: int = DEFAULT_THRESHOLD,
    ) -> S3BlobStore:
        """A store for ``s3://bucket/prefix``; raises BlobStoreError for a malformed URL.

        Credentials come from boto3's usual chain (environment, profile, instance role).
        A custom ``endpoint_url`` (an S3-compatible store) uses path-style addressing.
        """
        location = split_s3_url(url)
        if location is None:
            raise BlobStoreError(f"expected s3://BUCKET/PREFIX, got {url!r}")
        client = s3_client(endpoint_url, region)
        return cls(client, location[0], location[1], multipart_threshold)

    def object_key(self, key: str) -> str:
        """The S3 object key of blob ``key``; raises BlobStoreError for an unsafe key."""
        return self.prefix + validate_key(key)

    # -- BlobStore -------------------------------------------------------
    def writer(self, key: str) -> BlobWriter:
        self.object_key(key)
        return _S3Writer(self, key)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """One ranged GET; raises BlobNotFound or BlobStoreError."""
        object_key = self.object_key(key)
        if offset < 0 or length < 0:
            raise BlobStoreError(f"invalid range {offset}+{length}")
        if length == 0:
            self.size(key)  # still report a missing blob
            return b""
        try:
            with _s3_errors("read", key):
                response = self.client.get_object(
                    Bucket=self.bucket,
                    Key=object_key,
                    Range=f"bytes={offset}-{offset + length - 1}",
                )
                with response["Body"] as body:
                    return body.read()
        except BlobStoreError as exc:
            # Reading at or past the end is not a failure: like a file, it yields nothing.
            if _error_code(exc.__cause__) == "InvalidRange":
                return b""
            raise

    def open(self, key: str) -> Iterator[bytes]:
        """The object streamed in chunks; BlobNotFound is raised here, not on first read."""
        object_key = self.object_key(key)
        with _s3_errors("open", key):
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
        return self._stream(key, response["Body"])

    def _stream(self, key: str, body: Any) -> Iterator[bytes]:
        with body, _s3_errors("read", key):
            yield from body.iter_chunks(CHUNK)

    def size(self, key: str) -> int:
        object_key = self.object_key(key)
        with _s3_errors("head", key):
            return int(self.client.head_object(Bucket=self.bucket, Key=object_key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the object; S3 answers a delete of a missing key with success."""
        object_key = self.object_key(key)
        with _s3_errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=object_key)

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                found.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(found)


def _error_code(exc: BaseException | None) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def split_s3_url(url: str) -> tuple[str, str] | None:
    """``s3://bucket/prefix`` as (bucket, path); None if it is not such a URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        return None
    return parts.netloc, parts.path


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client with standard retries; path-style for custom endpoints."""
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
