"""Envelope encryption: per-clip data keys wrapped by a key-encryption key (KEK).

Providers implement :class:`KeyProvider`. The wrapped key is bound to the site and
clip ids (as AES-GCM associated data locally, as the KMS encryption context in AWS),
so a wrapped key copied onto another clip's row does not unwrap.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import KeyProviderError

DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class KeyContext:
    """Ids a data key is bound to. Ids only, never names."""

    site_id: str
    clip_id: str

    def as_kms_context(self) -> dict[str, str]:
        return {"site": self.site_id, "clip": self.clip_id}

    def encode(self) -> bytes:
        return json.dumps(self.as_kms_context(), sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WrappedKey:
    provider: str
    kek_version: str
    blob: bytes


class KeyProvider(Protocol):
    name: str

    def generate(self, context: KeyContext) -> tuple[bytes, WrappedKey]:
        """A fresh 256-bit data key and its wrapped form."""
        ...

    def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        """The data key; raises KeyProviderError if it cannot be unwrapped."""
        ...

    def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        """The same data key wrapped under the current KEK version."""
        ...

    def current_version(self) -> str: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class LocalKeyFile:
    """KEKs in a JSON key file (mode 0600), versioned so they can rotate.

    File shape: ``{"current": "2", "versions": {"1": {"key": b64, "created": iso,
    "retired": iso|null}, "3": {..., "pending": true}}}``. A ``pending`` version was
    prepared by a rotation and is not current yet. Wrapped blob = 12-byte nonce ‖
    AES-GCM ciphertext. A retired version is removed from the file.
    """

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None
        self._stamp: tuple[int, ...] = ()

    # -- file handling -------------------------------------------------
    @staticmethod
    def create(path: Path) -> bool:
        """Create the key file with one KEK if it does not exist. Returns True if created."""
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {"current": "1", "versions": {"1": _new_version()}}
        _write_private(path, data)
        return True

    def _load(self) -> dict[str, Any]:
        # Re-read when the file changed, so long-running processes pick up a rotation
        # (and drop a retired KEK from memory). Every write replaces the file, so the
        # inode changes even when two writes fall within one mtime tick.
        stamp = _file_stamp(self.path)
        if self._data is None or stamp != self._stamp:
            self._data = None
            try:
                mode = stat.S_IMODE(self.path.stat().st_mode)
                if mode & 0o077:
                    raise KeyProviderError(
                        f"key file {self.path} is readable by others (mode {mode:o}); chmod 600 it"
                    )
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
                self._stamp = stamp
            except FileNotFoundError as exc:
                raise KeyProviderError(f"key file {self.path} not found; run `verp init`") from exc
            except (OSError, ValueError) as exc:
                raise KeyProviderError(f"key file {self.path} cannot be read") from exc
        return self._data

    def _kek(self, version: str) -> bytes:
        versions = self._load()["versions"]
        if version not in versions:
            raise KeyProviderError(f"KEK version {version} is not in the key file")
        return base64.b64decode(versions[version]["key"])

    def current_version(self) -> str:
        return str(self._load()["current"])

    def versions(self) -> dict[str, dict[str, Any]]:
        """Every usable KEK version (current and not yet retired); a prepared version
        that is not current yet is left out (see :meth:`pending_version`)."""
        return {v: meta for v, meta in self._load()["versions"].items() if not meta.get("pending")}

    def pending_version(self) -> str | None:
        """The version prepared by :meth:`new_version` and not made current yet, if any."""
        pending = [v for v, meta in self._load()["versions"].items() if meta.get("pending")]
        return pending[0] if pending else None

    def new_version(self, number: int) -> str:
        """Add KEK version ``number`` to the file *without* making it current (rotation
        step 1; the caller audits it, then calls :meth:`make_current`). Idempotent: a
        version already prepared under that number is kept.

        Raises KeyProviderError if ``number`` is not above every version in the file.
        """
        data = self._load()
        version = str(number)
        meta = data["versions"].get(version)
        if meta is not None and meta.get("pending"):
            return version
        if any(int(v) >= number for v in data["versions"]):
            raise KeyProviderError(f"KEK version {number} is not newer than the key file's")
        for other in [v for v, m in data["versions"].items() if m.get("pending")]:
            del data["versions"][other]  # an abandoned preparation never wrapped anything
        data["versions"][version] = {**_new_version(), "pending": True}
        self._save(data)
        return version

    def make_current(self, version: str) -> None:
        """Make a prepared (or existing) version current. Raises KeyProviderError if the
        file does not hold it."""
        data = self._load()
        if version not in data["versions"]:
            raise KeyProviderError(f"KEK version {version} is not in the key file")
        data["versions"][version].pop("pending", None)
        data["current"] = version
        self._save(data)

    def destroy_version(self, version: str) -> datetime | None:
        """Remove a retired KEK from the file (idempotent). Returns None: the key is gone
        as soon as this returns (the file is replaced and fsynced).

        Raises KeyProviderError for the current version.
        """
        data = self._load()
        if version == data["current"]:
            raise KeyProviderError(f"KEK version {version} is current and cannot be retired")
        if version in data["versions"]:
            del data["versions"][version]
            self._save(data)
        return None

    def is_destroyed(self, version: str) -> bool:
        """True once ``version`` is no longer in the key file."""
        return version not in self._load()["versions"]

    def retire_others(self) -> list[str]:
        """Remove every non-current KEK (a pending one included); returns removed versions."""
        data = self._load()
        current = data["current"]
        removed = [v for v in data["versions"] if v != current]
        for version in removed:
            del data["versions"][version]
        self._save(data)
        return removed

    def _save(self, data: dict[str, Any]) -> None:
        _write_private(self.path, data)
        self._data = data
        self._stamp = _file_stamp(self.path)

    # -- KeyProvider ---------------------------------------------------
    def generate(self, context: KeyContext) -> tuple[bytes, WrappedKey]:
        data_key = secrets.token_bytes(DATA_KEY_SIZE)
        return data_key, self._wrap(data_key, context, self.current_version())

    def _wrap(self, data_key: bytes, context: KeyContext, version: str) -> WrappedKey:
        nonce = os.urandom(12)
        blob = nonce + AESGCM(self._kek(version)).encrypt(nonce, data_key, context.encode())
        return WrappedKey(self.name, version, blob)

    def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        if wrapped.provider != self.name:
            raise KeyProviderError(f"data key was wrapped by {wrapped.provider!r}, not local")
        kek = self._kek(wrapped.kek_version)
        try:
            return AESGCM(kek).decrypt(wrapped.blob[:12], wrapped.blob[12:], context.encode())
        except (InvalidTag, ValueError) as exc:
            raise KeyProviderError("data key cannot be unwrapped") from exc

    def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        return self._wrap(self.unwrap(wrapped, context), context, self.current_version())


def _new_version() -> dict[str, Any]:
    return {
        "key": _b64(secrets.token_bytes(32)),
        "created": datetime.now(UTC).isoformat(),
        "retired": None,
    }


def write_private_file(path: Path, content: bytes) -> None:
    """Atomically replace a secret file with ``content``, mode 0600 from the first byte.

    The temporary file gets a fresh random name and is created exclusively
    (``O_EXCL``, which also refuses a symlink), so a leftover or planted file can never
    lend it its permissions; stale temporaries of earlier crashed writes (which may hold
    a retired key) are removed. The file and its folder are fsynced before returning.
    Raises OSError.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


_TMP_SUFFIX = ".tmp"
#: A temporary older than this is a crashed write's, not a concurrent writer's.
STALE_TEMP_SECONDS = 60.0


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.<name>.*.tmp`` files left by crashed writes, and the fixed-name
    ``.<name>.tmp`` that earlier versions used (whatever its age: nothing uses it now)."""
    legacy = path.with_name(f".{path.name}{_TMP_SUFFIX}")
    legacy.unlink(missing_ok=True)
    cutoff = time.time() - STALE_TEMP_SECONDS
    for tmp in path.parent.glob(f".{path.name}.*{_TMP_SUFFIX}"):
        try:
            if tmp.lstat().st_mtime < cutoff:
                tmp.unlink()
        except FileNotFoundError:
            continue


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_stamp(path: Path) -> tuple[int, ...]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1,)
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    write_private_file(path, json.dumps(data, indent=2).encode("utf-8"))


def ensure_secret_file(path: Path, size: int = 32) -> bool:
    """Create a random secret (raw bytes, mode 0600) if missing. Returns True if created."""
    if path.exists():
        return False
    write_private_file(path, secrets.token_bytes(size))
    return True


def read_secret_file(path: Path) -> bytes:
    """Read a 0600 secret file; refuses one that others can read."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyProviderError(f"secret file {path} is readable by others; chmod 600 it")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyProviderError(f"secret file {path} not found; run `verp init`") from exc
