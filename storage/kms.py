"""AWS KMS as the key-encryption-key provider (scale-out profile).

Data keys come from GenerateDataKey (AES_256) and are stored only as the
ciphertext KMS returns. Every call carries the encryption context
``{"site": <site id>, "clip": <clip id>}`` (ids only; KMS logs contexts in
CloudTrail), so a wrapped key copied onto another clip's row does not decrypt.

``kek_version`` is the ARN of the KMS key that wrapped the data key, as KMS
reports it. KMS rotates a key's backing material by itself and keeps the old
material for decryption, so nothing here re-wraps after automatic rotation;
:meth:`KmsKeyProvider.rewrap` (ReEncrypt) moves data keys onto a *different*
KMS key, e.g. after ``VERP_KMS_KEY_ID`` was pointed at a new key.

This module is the one boundary where botocore errors become
:class:`storage.errors.KeyProviderError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import KeyProviderError
from storage.keys import DATA_KEY_SIZE, KeyContext, WrappedKey

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

#: Codes meaning "this ciphertext does not open with this key and context".
_REFUSED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


@contextmanager
def _kms_errors(action: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into KeyProviderError."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _REFUSED:
            raise KeyProviderError("data key cannot be unwrapped") from exc
        raise KeyProviderError(f"KMS {action} failed ({code or 'unknown error'})") from exc
    except BotoCoreError as exc:
        raise KeyProviderError(f"KMS {action} failed ({type(exc).__name__})") from exc


class KmsKeyProvider:
    """:class:`storage.keys.KeyProvider` backed by one KMS key (id, ARN or alias)."""

    name = "kms"

    def __init__(
        self,
        key_id: str,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: KMSClient | None = None,
    ) -> None:
        if not key_id:
            raise KeyProviderError("a KMS key id is required")
        self.key_id = key_id
        self.client: KMSClient = client or boto3.client(
            "kms",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        self._arn: str | None = None

    def current_version(self) -> str:
        """The ARN of the configured key (an alias resolves to its target key).

        Raises KeyProviderError if KMS does not know the key.
        """
        if self._arn is None:
            with _kms_errors("describe key"):
                metadata = self.client.describe_key(KeyId=self.key_id)["KeyMetadata"]
            self._arn = metadata.get("Arn") or metadata["KeyId"]
        return self._arn

    def generate(self, context: KeyContext) -> tuple[bytes, WrappedKey]:
        """A fresh data key and its KMS ciphertext; raises KeyProviderError."""
        with _kms_errors("generate data key"):
            response = self.client.generate_data_key(
                KeyId=self.key_id,
                KeySpec="AES_256",
                EncryptionContext=context.as_kms_context(),
            )
        plaintext = response["Plaintext"]
        if len(plaintext) != DATA_KEY_SIZE:
            raise KeyProviderError("KMS returned a data key of the wrong size")
        return plaintext, WrappedKey(self.name, response["KeyId"], response["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        """Decrypt under the key that wrapped it and the clip's context; raises KeyProviderError."""
        if wrapped.provider != self.name:
            raise KeyProviderError(f"data key was wrapped by {wrapped.provider!r}, not kms")
        with _kms_errors("decrypt"):
            response = self.client.decrypt(
                CiphertextBlob=wrapped.blob,
                EncryptionContext=context.as_kms_context(),
                KeyId=wrapped.kek_version,
            )
        plaintext = response["Plaintext"]
        if len(plaintext) != DATA_KEY_SIZE:
            raise KeyProviderError("data key cannot be unwrapped")
        return plaintext

    def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        """ReEncrypt onto the configured key; the data key never leaves KMS in plaintext.

        Raises KeyProviderError.
        """
        if wrapped.provider != self.name:
            raise KeyProviderError(f"data key was wrapped by {wrapped.provider!r}, not kms")
        kms_context = context.as_kms_context()
        with _kms_errors("re-encrypt"):
            response = self.client.re_encrypt(
                CiphertextBlob=wrapped.blob,
                SourceEncryptionContext=kms_context,
                SourceKeyId=wrapped.kek_version,
                DestinationKeyId=self.key_id,
                DestinationEncryptionContext=kms_context,
            )
        return WrappedKey(self.name, response["KeyId"], response["CiphertextBlob"])
