"""Signed checkpoints of the audit chain, kept where the database cannot rewrite them.

A checkpoint records the sequence number and hash of the chain head at a moment, signed
with the deployment's Ed25519 key (:mod:`storage.audit.signing`), so anyone holding the
public key can check it and nobody without the private key can forge one. Each checkpoint
is a new object that is never overwritten: a file (mode 0600) in ``audit.checkpoint_dir``,
or, in the scale-out profile, an S3 object under Object Lock
(:mod:`storage.audit.s3_checkpoints`). The document and the signed message are specified
byte for byte in docs/format.md ("Audit checkpoints"). Only version 2 (Ed25519) is
accepted; the pre-release version 1 (HMAC) is refused as unsupported.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from storage.audit.signing import PublicKey, Signer
from storage.errors import AuditIntegrityError

VERSION = "verp-audit-checkpoint/2"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_HEX128 = re.compile(r"[0-9a-f]{128}\Z")


class CheckpointStore(Protocol):
    """Write-once storage for checkpoint documents."""

    def put(self, name: str, data: bytes) -> None:
        """Store a new document; raises AuditIntegrityError if ``name`` already exists."""
        ...

    def names(self) -> list[str]: ...

    def get(self, name: str) -> bytes: ...


class LocalCheckpointStore:
    """One 0600 file per checkpoint in a 0700 directory; files are created exclusively."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise AuditIntegrityError(f"checkpoint {name} already exists") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name.endswith(".json"))

    def get(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement "the chain's entry ``seq`` has hash ``head_hash``"."""

    name: str
    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str

    def body(self) -> dict[str, Any]:
        """The checkpoint document's fields (docs/format.md)."""
        return {
            "version": VERSION,
            "seq": self.seq,
            "head_hash": self.head_hash,
            "at": format_time(self.at),
            "key_id": self.key_id,
            "signature": self.signature,
        }


def format_time(at: datetime) -> str:
    """A checkpoint time: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six digits)."""
    if at.tzinfo is None:
        raise ValueError("a checkpoint time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time`; raises ValueError for any other spelling."""
    if not _TIME.match(text):
        raise ValueError(f"bad checkpoint time {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def signed_message(seq: int, head_hash: str, at: datetime, key_id: str) -> bytes:
    """The exact bytes an Ed25519 checkpoint signature covers (ASCII, LF-separated)."""
    return f"{VERSION}\n{seq}\n{head_hash}\n{format_time(at)}\n{key_id}".encode("ascii")


def sign_checkpoint(
    signer: Signer, name: str, seq: int, head_hash: str, at: datetime
) -> Checkpoint:
    """A checkpoint of ``seq``/``head_hash`` signed now; raises ValueError for bad fields."""
    if isinstance(seq, bool) or seq < 1 or not _HEX64.match(head_hash):
        raise ValueError("a checkpoint needs seq >= 1 and a 64-hex-digit head hash")
    at = at.astimezone(UTC)
    signature = signer.sign(signed_message(seq, head_hash, at, signer.key_id)).hex()
    return Checkpoint(name, seq, head_hash, at, signer.key_id, signature)


def parse_checkpoint(body: Any, public_key: PublicKey, name: str) -> Checkpoint:
    """Check one checkpoint document (a parsed JSON object) against the public key.

    Raises AuditIntegrityError naming ``name`` if a field is missing or malformed, the
    version is not 2, it was signed by another key, or the signature does not verify.
    """
    try:
        if not isinstance(body, dict):
            raise TypeError("not an object")
        if body.get("version") != VERSION:
            raise AuditIntegrityError(
                f"checkpoint {name} has unsupported version {body.get('version')!r} "
                f"(expected {VERSION})"
            )
        seq = body["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("seq")
        fields = [str(body[k]) for k in ("head_hash", "key_id", "signature", "at")]
        head_hash, key_id, signature, at_text = fields
        if not (_HEX64.match(head_hash) and _HEX32.match(key_id) and _HEX128.match(signature)):
            raise ValueError("encoding")
        checkpoint = Checkpoint(name, seq, head_hash, parse_time(at_text), key_id, signature)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditIntegrityError(f"checkpoint {name} cannot be read") from exc
    if key_id != public_key.key_id:
        raise AuditIntegrityError(
            f"checkpoint {name} is signed by another key ({key_id}, expected {public_key.key_id})"
        )
    message = signed_message(seq, head_hash, checkpoint.at, key_id)
    if not public_key.verify(bytes.fromhex(signature), message):
        raise AuditIntegrityError(f"checkpoint {name} has an invalid signature")
    return checkpoint


def _name_for(seq: int, at: datetime) -> str:
    return f"checkpoint-{seq:012d}-{at.astimezone(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.json"


class Checkpoints:
    """A checkpoint store with the key that checks it (and, on the server, signs it)."""

    def __init__(
        self, store: CheckpointStore, public_key: PublicKey, signer: Signer | None = None
    ) -> None:
        if signer is not None and signer.public_key != public_key:
            raise ValueError("the signer does not match the public key")
        self.store = store
        self.public_key = public_key
        self.signer = signer

    @classmethod
    def signed_by(cls, store: CheckpointStore, signer: Signer) -> Checkpoints:
        return cls(store, signer.public_key, signer)

    def write(self, seq: int, head_hash: str, at: datetime) -> Checkpoint:
        """Sign and store a new checkpoint. Raises AuditIntegrityError if this instance
        cannot sign (verification only) or the store refuses, ValueError for bad fields."""
        if self.signer is None:
            raise AuditIntegrityError("no audit signing key: checkpoints cannot be written")
        checkpoint = sign_checkpoint(self.signer, _name_for(seq, at), seq, head_hash, at)
        self.store.put(checkpoint.name, json.dumps(checkpoint.body(), sort_keys=True).encode())
        return checkpoint

    def read(self, name: str) -> Checkpoint:
        """Read and authenticate one checkpoint; raises AuditIntegrityError if not genuine."""
        try:
            body = json.loads(self.store.get(name))
        except (OSError, ValueError) as exc:
            raise AuditIntegrityError(f"checkpoint {name} cannot be read") from exc
        return parse_checkpoint(body, self.public_key, name)

    def names(self) -> list[str]:
        return self.store.names()

    def load(self) -> tuple[list[Checkpoint], list[str]]:
        """Every genuine checkpoint in the store, and a problem for each one that is not."""
        good: list[Checkpoint] = []
        bad: list[str] = []
        for name in self.store.names():
            try:
                good.append(self.read(name))
            except AuditIntegrityError as exc:
                bad.append(str(exc))
        return good, bad

    def latest_seq(self) -> int | None:
        """The highest sequence number named by a checkpoint in the store (from its name:
        cheap and unauthenticated; verification authenticates every checkpoint)."""
        newest = self._latest_name()
        return int(newest.split("-")[1]) if newest is not None else None

    def newest(self) -> Checkpoint | None:
        """The authenticated checkpoint of the highest sequence number, None if there is
        none; raises AuditIntegrityError if that one is not genuine."""
        newest = self._latest_name()
        return self.read(newest) if newest is not None else None

    def _latest_name(self) -> str | None:
        named = [(name.split("-"), name) for name in self.store.names()]
        ranked = [(int(p[1]), name) for p, name in named if len(p) >= 4 and p[1].isdigit()]
        return max(ranked)[1] if ranked else None
