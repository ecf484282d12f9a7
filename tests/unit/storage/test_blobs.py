"""The BlobStore contract, run against the local, in-memory and S3 (moto) stores,
plus what only S3 has: multipart uploads, single ranged GETs and error translation."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storage.blobs import BlobStore, LocalBlobStore, MemoryBlobStore
from storage.errors import BlobNotFound, BlobStoreError
from storage.s3 import MIN_PART_SIZE, S3BlobStore
from tests.moto_server import REGION, s3_client

KEY = "site-1/clip-1/original-blob-1"
BAD_KEYS = ["", "/abs/key", "../escape", "a/../../b", "..", "a/.."]


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    if request.param == "memory":
        return MemoryBlobStore()
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore.from_url(f"s3://{bucket}/verp", endpoint_url=endpoint, region=REGION)


def put(store: BlobStore, key: str, data: bytes) -> int:
    writer = store.writer(key)
    for i in range(0, len(data), 7000):
        writer.write(data[i : i + 7000])
    return writer.commit()


class TestContract:
    def test_write_commit_then_read_back(self, store: BlobStore) -> None:
        data = os.urandom(3 * 1024 * 1024 + 123)
        assert put(store, KEY, data) == len(data)
        assert store.exists(KEY)
        assert store.size(KEY) == len(data)
        assert store.read_range(KEY, 0, 10) == data[:10]
        assert store.read_range(KEY, 1_000_000, 4096) == data[1_000_000:1_004_096]
        streamed = list(store.open(KEY))
        assert len(streamed) > 1, "open() must stream in chunks, not return one buffer"
        assert b"".join(streamed) == data

    def test_read_range_is_short_only_at_the_end(self, store: BlobStore) -> None:
        put(store, KEY, b"0123456789")
        assert store.read_range(KEY, 6, 100) == b"6789"
        assert store.read_range(KEY, 10, 5) == b""
        assert store.read_range(KEY, 50, 5) == b""

    def test_empty_blob(self, store: BlobStore) -> None:
        assert put(store, KEY, b"") == 0
        assert store.exists(KEY)
        assert store.size(KEY) == 0
        assert b"".join(store.open(KEY)) == b""

    def test_commit_replaces_an_existing_blob(self, store: BlobStore) -> None:
        put(store, KEY, b"first version")
        put(store, KEY, b"second")
        assert b"".join(store.open(KEY)) == b"second"

    def test_missing_blob_raises_blob_not_found(self, store: BlobStore) -> None:
        assert not store.exists(KEY)
        with pytest.raises(BlobNotFound):
            store.read_range(KEY, 0, 10)
        with pytest.raises(BlobNotFound):
            store.open(KEY)
        with pytest.raises(BlobNotFound):
            store.size(KEY)

    def test_uncommitted_write_is_invisible(self, store: BlobStore) -> None:
        writer = store.writer(KEY)
        writer.write(b"x" * 50_000)
        assert not store.exists(KEY)
        assert store.keys() == []
        with pytest.raises(BlobNotFound):
            store.read_range(KEY, 0, 1)
        writer.commit()
        assert store.exists(KEY)

    def test_abort_leaves_nothing(self, store: BlobStore) -> None:
        writer = store.writer(KEY)
        writer.write(b"partial ciphertext" * 1000)
        writer.abort()
        assert not store.exists(KEY)
        assert store.keys() == []

    def test_abort_does_not_touch_a_previous_version(self, store: BlobStore) -> None:
        put(store, KEY, b"kept")
        writer = store.writer(KEY)
        writer.write(b"replacement that never lands")
        writer.abort()
        assert b"".join(store.open(KEY)) == b"kept"

    def test_delete_is_idempotent(self, store: BlobStore) -> None:
        put(store, KEY, b"data")
        store.delete(KEY)
        assert not store.exists(KEY)
        store.delete(KEY)  # again: no error
        store.delete("site-1/never/was")

    def test_keys_lists_by_prefix(self, store: BlobStore) -> None:
        for key in ("s1/c1/a-1", "s1/c1/b-2", "s1/c2/a-3", "s2/c9/a-4"):
            put(store, key, key.encode())
        assert store.keys() == ["s1/c1/a-1", "s1/c1/b-2", "s1/c2/a-3", "s2/c9/a-4"]
        assert store.keys("s1/c1/") == ["s1/c1/a-1", "s1/c1/b-2"]
        assert store.keys("s3/") == []

    @pytest.mark.parametrize("bad", BAD_KEYS)
    def test_unsafe_keys_are_refused(self, store: BlobStore, bad: str) -> None:
        with pytest.raises(BlobStoreError, match="invalid blob key"):
            store.writer(bad)
        assert store.keys() == []


class TestLocalStore:
    def test_uncommitted_write_leaves_no_file_under_the_key(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        writer = store.writer(KEY)
        writer.write(b"secret-ish ciphertext")
        assert not (tmp_path / "blobs" / KEY).exists()
        writer.abort()
        leftovers = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
        assert leftovers == []

    def test_read_range_refuses_negative_offsets_and_lengths(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        put(store, KEY, b"0123456789")
        for offset, length in ((-1, 5), (0, -1)):
            with pytest.raises(BlobStoreError):
                store.read_range(KEY, offset, length)
        assert store.read_range(KEY, 0, 0) == b""

    def test_read_range_continues_after_a_short_pread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        data = os.urandom(1000)
        put(store, KEY, data)
        real_pread = os.pread
        calls: list[int] = []

        def short_pread(fd: int, length: int, offset: int) -> bytes:
            calls.append(offset)
            return real_pread(fd, min(length, 64), offset)

        monkeypatch.setattr(os, "pread", short_pread)
        assert store.read_range(KEY, 100, 500) == data[100:600]
        assert store.read_range(KEY, 900, 500) == data[900:]
        assert len(calls) > 2

    def test_read_range_of_a_directory_is_a_store_error(self, tmp_path: Path) -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        (store.root / KEY).mkdir(parents=True)
        with pytest.raises(BlobStoreError) as info:
            store.read_range(KEY, 0, 10)
        assert not isinstance(info.value, BlobNotFound)

    def test_read_of_an_unsafe_key_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "outside").write_bytes(b"not a blob")
        store = LocalBlobStore(tmp_path / "blobs")
        with pytest.raises(BlobStoreError):
            store.read_range("../outside", 0, 10)


# -- S3 specifics --------------------------------------------------------------------


class RequestLog:
    """Records every S3 operation a client sends (botocore ``before-send`` event)."""

    def __init__(self, store: S3BlobStore) -> None:
        self.ops: Counter[str] = Counter()
        self.ranges: list[str | None] = []
        store.client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, event_name: str, **kwargs: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]  # before-send.s3.<Operation>
        self.ops[op] += 1
        if op == "GetObject":
            rng = request.headers.get("Range")
            self.ranges.append(rng.decode() if isinstance(rng, bytes) else rng)


@pytest.fixture
def s3_store(moto_endpoint: str, s3_bucket: str) -> Iterator[S3BlobStore]:
    yield S3BlobStore.from_url(
        f"s3://{s3_bucket}/pre/fix",
        endpoint_url=moto_endpoint,
        region=REGION,
        multipart_threshold=1024 * 1024,
    )


def pending_uploads(store: S3BlobStore) -> list[Any]:
    return list(store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []))


class TestS3Store:
    def test_objects_live_under_the_url_prefix(self, s3_store: S3BlobStore) -> None:
        put(s3_store, KEY, b"data")
        raw = s3_store.client.list_objects_v2(Bucket=s3_store.bucket)
        assert [o["Key"] for o in raw["Contents"]] == [f"pre/fix/{KEY}"]
        assert s3_store.keys() == [KEY]

    def test_small_blob_is_one_put_object(self, s3_store: S3BlobStore) -> None:
        log = RequestLog(s3_store)
        put(s3_store, KEY, os.urandom(1024 * 1024))  # exactly the threshold
        assert log.ops["PutObject"] == 1
        assert log.ops["CreateMultipartUpload"] == 0

    def test_large_blob_uses_multipart_with_parts_of_at_least_5_mib(
        self, s3_store: S3BlobStore
    ) -> None:
        log = RequestLog(s3_store)
        data = os.urandom(MIN_PART_SIZE + 1024 * 1024 + 17)
        writer = s3_store.writer(KEY)
        for i in range(0, len(data), 256 * 1024):
            writer.write(data[i : i + 256 * 1024])
        assert not s3_store.exists(KEY), "nothing is visible before commit"
        assert writer.commit() == len(data)
        assert log.ops["CreateMultipartUpload"] == 1
        assert log.ops["UploadPart"] == 2
        assert log.ops["CompleteMultipartUpload"] == 1
        assert log.ops["PutObject"] == 0
        assert b"".join(s3_store.open(KEY)) == data
        assert pending_uploads(s3_store) == []

    def test_abort_after_parts_were_sent_aborts_the_upload(self, s3_store: S3BlobStore) -> None:
        log = RequestLog(s3_store)
        writer = s3_store.writer(KEY)
        writer.write(os.urandom(MIN_PART_SIZE + 10))
        assert log.ops["UploadPart"] == 1
        assert len(pending_uploads(s3_store)) == 1
        writer.abort()
        assert log.ops["AbortMultipartUpload"] == 1
        assert pending_uploads(s3_store) == []
        assert not s3_store.exists(KEY)
        with pytest.raises(BlobStoreError):
            writer.write(b"more")

    def test_failed_part_aborts_the_upload_and_chains_the_vendor_error(
        self, s3_store: S3BlobStore
    ) -> None:
        calls = Counter[str]()

        def fail_second_part(**kwargs: Any) -> None:
            calls["part"] += 1
            if calls["part"] == 2:
                raise ClientError(
                    {"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart"
                )

        s3_store.client.meta.events.register("before-call.s3.UploadPart", fail_second_part)
        writer = s3_store.writer(KEY)
        writer.write(os.urandom(MIN_PART_SIZE))
        with pytest.raises(BlobStoreError) as info:
            writer.write(os.urandom(MIN_PART_SIZE))
        assert isinstance(info.value.__cause__, ClientError)
        assert "InternalError" in str(info.value)
        assert pending_uploads(s3_store) == []
        assert not s3_store.exists(KEY)

    def test_read_range_is_one_ranged_get(self, s3_store: S3BlobStore) -> None:
        data = os.urandom(3 * 1024 * 1024)
        put(s3_store, KEY, data)
        log = RequestLog(s3_store)
        assert s3_store.read_range(KEY, 1_500_000, 70_000) == data[1_500_000:1_570_000]
        assert log.ops == Counter({"GetObject": 1})
        assert log.ranges == ["bytes=1500000-1569999"]

    def test_open_streams_in_chunks_from_one_get(self, s3_store: S3BlobStore) -> None:
        data = os.urandom(2 * 1024 * 1024 + 5)
        put(s3_store, KEY, data)
        log = RequestLog(s3_store)
        chunks = s3_store.open(KEY)
        first = next(chunks)
        assert len(first) < len(data)
        assert first + b"".join(chunks) == data
        assert log.ops == Counter({"GetObject": 1})
        assert log.ranges == [None]

    def test_missing_bucket_is_a_store_error_not_a_missing_blob(self, moto_endpoint: str) -> None:
        store = S3BlobStore.from_url(
            "s3://verp-no-such-bucket/x", endpoint_url=moto_endpoint, region=REGION
        )
        with pytest.raises(BlobStoreError) as info:
            store.read_range(KEY, 0, 10)
        assert not isinstance(info.value, BlobNotFound)
        assert isinstance(info.value.__cause__, ClientError)
        with pytest.raises(BlobStoreError):
            put(store, KEY, b"data")

    def test_unreachable_endpoint_is_a_store_error(self, moto_endpoint: str) -> None:
        store = S3BlobStore.from_url(
            "s3://bucket/x", endpoint_url="http://127.0.0.1:9", region=REGION
        )
        with pytest.raises(BlobStoreError) as info:
            store.size(KEY)
        assert info.value.__cause__ is not None

    @pytest.mark.parametrize("url", ["s3://", "file:///tmp/x", "s3:///prefix-only"])
    def test_bad_urls_are_refused(self, url: str) -> None:
        with pytest.raises(BlobStoreError, match="s3://BUCKET"):
            S3BlobStore.from_url(url)

    @pytest.mark.parametrize("bad", ["a//b", "a/./b", "trailing/", "./a"])
    def test_keys_that_do_not_round_trip_are_refused(self, s3_store: S3BlobStore, bad: str) -> None:
        # An object key is not normalised, so these would be listed differently from
        # how they were written.
        with pytest.raises(BlobStoreError, match="invalid blob key"):
            s3_store.writer(bad)

    def test_unsafe_keys_are_refused_on_every_operation(self, s3_store: S3BlobStore) -> None:
        for op in (
            lambda: s3_store.read_range("../x", 0, 1),
            lambda: s3_store.open("/x"),
            lambda: s3_store.size("a//b"),
            lambda: s3_store.delete(".."),
        ):
            with pytest.raises(BlobStoreError, match="invalid blob key"):
                op()

    def test_another_client_sees_the_committed_object(
        self, s3_store: S3BlobStore, moto_endpoint: str
    ) -> None:
        put(s3_store, KEY, b"visible over HTTP")
        body = s3_client(moto_endpoint).get_object(Bucket=s3_store.bucket, Key=f"pre/fix/{KEY}")
        assert body["Body"].read() == b"visible over HTTP"
