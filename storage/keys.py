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
    "retired": iso|null}, ...}}``. Wrapped blob = 12-byte nonce ‖ AES-GCM ciphertext.
    """

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] | None = None
        self._mtime_ns = -1

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
        # Re-read when the file changed, so long-running processes pick up a rotation.
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = -2
        if self._data is None or mtime != self._mtime_ns:
            self._data = None
            try:
                mode = stat.S_IMODE(self.path.stat().st_mode)
                if mode & 0o077:
                    raise KeyProviderError(
                        f"key file {self.path} is readable by others (mode {mode:o}); chmod 600 it"
                    )
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
                self._mtime_ns = mtime
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
        return dict(self._load()["versions"])

    def add_version(self) -> str:
        """Add a new KEK version and make it current (rotation step 1)."""
        data = self._load()
        new = str(max(int(v) for v in data["versions"]) + 1)
        data["versions"][new] = _new_version()
        data["current"] = new
        _write_private(self.path, data)
        return new

    def retire_others(self) -> list[str]:
        """Remove every non-current KEK (rotation's last step); returns removed versions."""
        data = self._load()
        current = data["current"]
        removed = [v for v in data["versions"] if v != current]
        for version in removed:
            del data["versions"][version]
        _write_private(self.path, data)
        return removed

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
    """Atomically write a secret file with mode 0600 (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


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
