"""Blob stores: where ciphertext lives. One Protocol, local/S3/in-memory backends.

Stores only ever see ciphertext. Keys are opaque paths such as
``<site>/<clip>/<rendition>-<blob id>``; they never contain names.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from storage.errors import BlobNotFound, BlobStoreError


class BlobWriter(Protocol):
    """Receives a blob's bytes; nothing is visible under the key until ``commit``."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...

    def commit(self) -> int:
        """Make the blob visible atomically; returns its size."""
        ...

    def abort(self) -> None:
        """Discard everything written; the key stays absent."""
        ...


class BlobStore(Protocol):
    def writer(self, key: str) -> BlobWriter: ...

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes from ``offset`` (fewer only at the end of the blob)."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The whole blob as a stream of chunks."""
        ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error (idempotent)."""
        ...

    def keys(self, prefix: str = "") -> list[str]: ...


CHUNK = 1024 * 1024


def _safe_relpath(key: str) -> Path:
    parts = key.split("/")
    if not key or any(p in ("..", ".", "") for p in parts):
        raise BlobStoreError(f"invalid blob key {key!r}")
    return Path(*parts)


class _LocalWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        try:
            self._file.write(data)
        except OSError as exc:
            self.abort()
            raise BlobStoreError("local blob write failed") from exc
        n = len(memoryview(data).cast("B"))
        self._size += n
        return n

    def commit(self) -> int:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self._final)
            dir_fd = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.abort()
            raise BlobStoreError("local blob commit failed") from exc
        return self._size

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalBlobStore:
    """A directory of blobs; writes go to a temp file, fsync, then an atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        return self.root / _safe_relpath(key)

    def writer(self, key: str) -> BlobWriter:
        return _LocalWriter(self._path(key))

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` with ``pread`` (no buffered file object, no
        seek); short only at the end. Raises BlobNotFound or BlobStoreError."""
        if offset < 0 or length < 0:
            raise BlobStoreError(f"invalid range {offset}+{length}")
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise BlobStoreError("local blob read failed") from exc
        try:
            data = os.pread(fd, length, offset)
            if 0 < len(data) < length:  # a short read before the end: keep reading
                parts, got = [data], len(data)
                while got < length and (more := os.pread(fd, length - got, offset + got)):
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
            return data
        except OSError as exc:
            raise BlobStoreError("local blob read failed") from exc
        finally:
            os.close(fd)

    def open(self, key: str) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise BlobStoreError("local blob open failed") from exc
        return _chunks(fh)

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError("local blob delete failed") from exc

    def keys(self, prefix: str = "") -> list[str]:
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)


def _chunks(fh: object) -> Iterator[bytes]:
    import io

    assert isinstance(fh, io.BufferedReader)
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class _MemoryWriter:
    def __init__(self, store: MemoryBlobStore, key: str) -> None:
        self._store, self._key, self._buf = store, key, bytearray()

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self._buf += data
        return len(memoryview(data).cast("B"))

    def commit(self) -> int:
        with self._store.lock:
            self._store.data[self._key] = bytes(self._buf)
        return len(self._buf)

    def abort(self) -> None:
        self._buf = bytearray()


class MemoryBlobStore:
    """In-process store for unit tests."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def writer(self, key: str) -> BlobWriter:
        _safe_relpath(key)
        return _MemoryWriter(self, key)

    def _get(self, key: str) -> bytes:
        try:
            return self.data[key]
        except KeyError as exc:
            raise BlobNotFound(key) from exc

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        return self._get(key)[offset : offset + length]

    def open(self, key: str) -> Iterator[bytes]:
        blob = self._get(key)
        return iter([blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)] or [b""])

    def size(self, key: str) -> int:
        return len(self._get(key))

    def exists(self, key: str) -> bool:
        return key in self.data

    def delete(self, key: str) -> None:
        with self.lock:
            self.data.pop(key, None)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))
