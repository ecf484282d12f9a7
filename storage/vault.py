"""The vault: encrypted blobs of a clip, their data key, and crypto-shredding.

This is the one place that joins the container format, the key provider, the blob
store and the metadata rows. Callers pass a SQLAlchemy session (their unit of work).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import BlobStore, BlobWriter
from storage.cache import CiphertextCache, DataKeyCache, HeaderCache
from storage.clock import Clock
from storage.container import Binding, EncryptingWriter, RangeDecryptor, iter_decrypt
from storage.db.base import new_id
from storage.db.footage import Blob, DataKey
from storage.errors import KeyNotFound
from storage.keys import KeyContext, KeyProvider, WrappedKey


@dataclass
class Vault:
    blobs: BlobStore
    keys: KeyProvider
    clock: Clock
    segment_size: int
    #: Per-process caches for playback (storage.cache); None disables each.
    key_cache: DataKeyCache | None = None
    header_cache: HeaderCache | None = None
    #: Stored bytes of recently played blobs (a remote store only; see storage.cache).
    ciphertext_cache: CiphertextCache | None = None

    # -- data keys -----------------------------------------------------
    def create_key(self, session: Session, site_id: str, clip_id: str) -> None:
        """Generate and store (wrapped) the data key of a new clip."""
        _, wrapped = self.keys.generate(KeyContext(site_id, clip_id))
        session.add(
            DataKey(
                clip_id=clip_id,
                site_id=site_id,
                provider=wrapped.provider,
                kek_version=wrapped.kek_version,
                wrapped=wrapped.blob,
                created_at=self.clock.now(),
            )
        )
        session.flush()

    def data_key(
        self, session: Session, site_id: str, clip_id: str, *, row: DataKey | None = None
    ) -> bytes:
        """The clip's plaintext data key; raises KeyNotFound once shredded.

        ``row`` is the clip's DataKey row if the caller already fetched it (e.g. joined
        to its blob), which saves a query; without it (or for another clip's row) the
        row is read here. With a key cache, a key unwrapped from the very same wrapped
        bytes a moment ago is reused (storage.cache.data_keys: a shredded or re-wrapped
        row never matches).
        """
        if row is None or row.clip_id != clip_id:
            row = session.get(DataKey, clip_id)
        if row is None or row.wrapped is None or row.site_id != site_id:
            raise KeyNotFound(clip_id)
        cache = self.key_cache
        if cache is not None and (cached := cache.get(row)) is not None:
            return cached
        wrapped = WrappedKey(row.provider, row.kek_version, row.wrapped)
        key = self.keys.unwrap(wrapped, KeyContext(site_id, clip_id))
        if cache is not None:
            cache.put(row, key)
        return key

    def shred_key(self, session: Session, clip_id: str) -> bool:
        """Destroy the wrapped data key. Returns False if it was already gone."""
        if self.key_cache is not None:
            self.key_cache.drop(clip_id)
        row = session.get(DataKey, clip_id)
        if row is None or row.wrapped is None:
            return False
        row.wrapped = None
        row.destroyed_at = self.clock.now()
        session.flush()
        return True

    # -- blobs -----------------------------------------------------------
    def writer(
        self,
        session: Session,
        site_id: str,
        clip_id: str,
        rendition: str,
        content_type: str = "application/octet-stream",
    ) -> EncryptedBlobWriter:
        """An encrypting writer; ``commit()`` stores the blob and records its row."""
        key = self.data_key(session, site_id, clip_id)
        blob_id = new_id()
        store_key = f"{site_id}/{clip_id}/{rendition}-{blob_id}"
        return EncryptedBlobWriter(
            vault=self,
            session=session,
            row=Blob(
                id=blob_id,
                clip_id=clip_id,
                site_id=site_id,
                rendition=rendition,
                store_key=store_key,
                content_type=content_type,
                created_at=self.clock.now(),
            ),
            sink=self.blobs.writer(store_key),
            data_key=key,
        )

    def put_file(
        self,
        session: Session,
        site_id: str,
        clip_id: str,
        rendition: str,
        source: BinaryIO,
        content_type: str = "application/octet-stream",
    ) -> Blob:
        """Encrypt a whole file-like object into a new blob."""
        with self.writer(session, site_id, clip_id, rendition, content_type) as out:
            while chunk := source.read(self.segment_size):
                out.write(chunk)
        return out.row

    def put_bytes(
        self,
        session: Session,
        site_id: str,
        clip_id: str,
        rendition: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> Blob:
        return self.put_file(session, site_id, clip_id, rendition, io.BytesIO(data), content_type)

    def binding(self, blob: Blob) -> Binding:
        return Binding(blob.site_id, blob.clip_id, f"{blob.rendition}-{blob.id}")

    def range_reader(
        self, session: Session, blob: Blob, *, key_row: DataKey | None = None
    ) -> RangeDecryptor:
        """Random access to a blob's plaintext; each read is one ranged fetch (none where
        the ciphertext cache holds the bytes).

        ``key_row``: the clip's DataKey row if already fetched (see :meth:`data_key`).
        """
        try:
            key = self.data_key(session, blob.site_id, blob.clip_id, row=key_row)
        except KeyNotFound:
            self._forget(blob)  # destroyed, maybe by another process: drop what is cached
            raise
        headers = self.header_cache
        header = headers.get(blob.id) if headers is not None else None
        reader = RangeDecryptor(
            self._fetcher(blob),
            blob.ciphertext_size,
            key,
            self.binding(blob),
            header=header,
        )
        if headers is not None and header is None:
            headers.put(blob.id, reader.header_bytes)
        return reader

    def iter_plaintext(
        self, session: Session, blob: Blob, *, key_row: DataKey | None = None
    ) -> Iterator[bytes]:
        """The whole plaintext of a blob, decrypted segment by segment.

        ``key_row``: the clip's DataKey row if already fetched (see :meth:`data_key`).
        """
        key = self.data_key(session, blob.site_id, blob.clip_id, row=key_row)
        stream = _IterStream(self.blobs.open(blob.store_key))
        for chunk in iter_decrypt(stream, key, self.binding(blob)):  # type: ignore[arg-type]
            yield bytes(chunk)

    def _fetcher(self, blob: Blob) -> Callable[[int, int], bytes]:
        """Ranged reads of the blob's stored bytes, through the ciphertext cache if any."""

        def fetch(offset: int, length: int) -> bytes:
            return self.blobs.read_range(blob.store_key, offset, length)

        cache = self.ciphertext_cache
        if cache is None:
            return fetch
        return lambda offset, length: cache.read(
            blob.id, blob.ciphertext_size, offset, length, fetch
        )

    def _forget(self, blob: Blob) -> None:
        """Drop the blob from this process's caches."""
        if self.header_cache is not None:
            self.header_cache.drop(blob.id)
        if self.ciphertext_cache is not None:
            self.ciphertext_cache.drop(blob.id)

    def blobs_of(self, session: Session, clip_id: str) -> list[Blob]:
        return list(session.scalars(select(Blob).where(Blob.clip_id == clip_id)))

    def delete_blob(self, session: Session, blob: Blob) -> None:
        """Delete the stored bytes, then the row (a crash in between leaves a retryable row)."""
        self._forget(blob)
        self.blobs.delete(blob.store_key)
        session.delete(blob)
        session.flush()


class EncryptedBlobWriter:
    """Encrypts into a blob-store writer; the Blob row is added only on commit."""

    def __init__(
        self, vault: Vault, session: Session, row: Blob, sink: BlobWriter, data_key: bytes
    ) -> None:
        self.row = row
        self._session = session
        self._sink = sink
        self._enc = EncryptingWriter(sink, data_key, vault.binding(row), vault.segment_size)
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return self._enc.write(data)

    def commit(self) -> Blob:
        self._enc.close()
        self.row.ciphertext_size = self._sink.commit()
        self.row.plaintext_size = self._enc.plaintext_size
        self._session.add(self.row)
        self._session.flush()
        self._done = True
        return self.row

    def abort(self) -> None:
        if not self._done:
            self._sink.abort()
            self._done = True

    def __enter__(self) -> EncryptedBlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class _IterStream(io.RawIOBase):
    """Adapts an iterator of byte chunks to a readable binary stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buf))
        target[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
