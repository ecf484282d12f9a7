"""The Ed25519 key that signs audit checkpoints and receipts, and its public half.

The signing key is separate from the chain's HMAC key: the HMAC key lets the server extend
the chain, the signing key lets it vouch for a chain head, and the public key lets anyone
(a DPO, an auditor, a second implementation) check a checkpoint or a receipt without being
able to forge either. The private key is a PKCS#8 PEM file of mode 0600; the public key is
exported as SubjectPublicKeyInfo PEM. A key is named by its key id: the lowercase hex of
the first 16 bytes of SHA-256 over the 32-byte raw public key (docs/format.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from storage.errors import AuditIntegrityError, KeyProviderError
from storage.keys import read_secret_file, write_private_file

RAW = serialization.Encoding.Raw


def key_id_of(raw_public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key (32 lowercase hex digits)."""
    return hashlib.sha256(raw_public_key).digest()[:16].hex()


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key that verifies checkpoint and receipt signatures."""

    raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        """The key as SubjectPublicKeyInfo PEM (what ``verp audit public-key`` prints)."""
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """Parse a PEM public key; raises AuditIntegrityError if it is not an Ed25519 key."""
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise AuditIntegrityError("not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise AuditIntegrityError("the public key is not an Ed25519 key")
        return cls(key.public_bytes(RAW, serialization.PublicFormat.Raw))

    @classmethod
    def from_hex(cls, text: str) -> PublicKey:
        """Parse 64 lowercase hex digits; raises AuditIntegrityError for anything else."""
        if len(text) != 64 or text.strip("0123456789abcdef"):
            raise AuditIntegrityError("a public key is 64 lowercase hex digits")
        return cls(bytes.fromhex(text))


class Signer:
    """Signs with the deployment's Ed25519 checkpoint key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
        self.public_key = PublicKey(raw)

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """A signer from a 32-byte private seed (tests and known-answer vectors)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def create_signing_key(path: Path) -> bool:
    """Create a new signing key file (PKCS#8 PEM, mode 0600) if missing; True if created."""
    if path.exists():
        return False
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem)
    return True


def load_signer(path: Path) -> Signer:
    """Read the signing key file.

    Raises KeyProviderError if it is missing, readable by others, or not an Ed25519 key.
    """
    data = read_secret_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyProviderError(f"audit signing key {path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProviderError(f"audit signing key {path} is not an Ed25519 key")
    return Signer(key)
