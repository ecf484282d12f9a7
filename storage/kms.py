"""AWS KMS as the key-encryption-key provider (scale-out profile).

Data keys come from GenerateDataKey (AES_256) and are stored only as the
ciphertext KMS returns. Every call carries the encryption context
``{"site": <site id>, "clip": <clip id>}`` (ids only; KMS logs contexts in
CloudTrail), so a wrapped key copied onto another clip's row does not decrypt.

``kek_version`` is the ARN of the KMS key that wrapped the data key, as KMS
reports it. KMS's own automatic rotation keeps the old backing material for
decryption, so it bounds nothing; verp's KEK epochs (storage.kek) use one KMS key
per epoch instead: when ``VERP_KMS_KEY_ID`` is an alias, :meth:`new_version` creates
the next epoch's key, :meth:`make_current` points the alias at it,
:meth:`KmsKeyProvider.rewrap` (ReEncrypt) moves data keys onto it, and
:meth:`destroy_version` schedules the retired key's deletion.

This module is the one boundary where botocore errors become
:class:`storage.errors.KeyProviderError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.errors import KeyProviderError
from storage.keys import DATA_KEY_SIZE, KeyContext, WrappedKey

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

#: How long a resolved alias target is trusted before DescribeKey is asked again.
CURRENT_TTL_SECONDS = 60.0
#: KMS deletes a key 7 to 30 days after ScheduleKeyDeletion.
MIN_DELETION_DAYS, MAX_DELETION_DAYS = 7, 30

#: Codes meaning "this ciphertext does not open with this key and context".
_REFUSED = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _kms_errors(action: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into KeyProviderError."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
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
        deletion_days: int = MIN_DELETION_DAYS,
    ) -> None:
        if not key_id:
            raise KeyProviderError("a KMS key id is required")
        if not MIN_DELETION_DAYS <= deletion_days <= MAX_DELETION_DAYS:
            raise KeyProviderError(f"KMS deletion window must be 7..30 days, got {deletion_days}")
        self.key_id = key_id
        self.deletion_days = deletion_days
        self.client: KMSClient = client or boto3.client(
            "kms",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        self._arn: str | None = None
        self._resolved_at = 0.0

    def current_version(self) -> str:
        """The ARN of the configured key (an alias resolves to its target key; re-read
        after a minute so long-running processes follow an epoch rotation).

        Raises KeyProviderError if KMS does not know the key.
        """
        if self._arn is None or time.monotonic() - self._resolved_at > CURRENT_TTL_SECONDS:
            metadata = self._describe(self.key_id)
            self._arn = str(metadata.get("Arn") or metadata["KeyId"])
            self._resolved_at = time.monotonic()
        return self._arn

    def _describe(self, key_id: str) -> dict[str, object]:
        with _kms_errors("describe key"):
            return dict(self.client.describe_key(KeyId=key_id)["KeyMetadata"])

    # -- KEK epochs (storage.kek) ------------------------------------------------------
    @property
    def supports_epochs(self) -> bool:
        """Epochs need an alias to move from one epoch's key to the next."""
        return self.key_id.startswith("alias/")

    def _require_alias(self) -> None:
        if not self.supports_epochs:
            raise KeyProviderError(
                "KEK epochs with KMS need keys.kms_key_id (VERP_KMS_KEY_ID) to be an alias "
                f"(alias/...), not {self.key_id!r}"
            )

    def new_version(self, number: int) -> str:
        """Create the KMS key of epoch ``number`` (not current yet); returns its ARN.

        Raises KeyProviderError (also when the configured key is not an alias).
        """
        self._require_alias()
        with _kms_errors("create key"):
            metadata = self.client.create_key(
                Description=f"verp KEK epoch {number} ({self.key_id})",
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Tags=[{"TagKey": "verp-kek-epoch", "TagValue": str(number)}],
            )["KeyMetadata"]
        return str(metadata.get("Arn") or metadata["KeyId"])

    def make_current(self, version: str) -> None:
        """Point the alias at ``version`` (a key ARN): new data keys are wrapped by it.

        Raises KeyProviderError.
        """
        self._require_alias()
        with _kms_errors("update alias"):
            self.client.update_alias(AliasName=self.key_id, TargetKeyId=version)
        self._arn, self._resolved_at = version, time.monotonic()

    def destroy_version(self, version: str) -> datetime:
        """Schedule deletion of a retired epoch's key (idempotent) after the configured
        window; returns the date KMS deletes its key material. From the call on, KMS
        refuses to use the key. Raises KeyProviderError.
        """
        if version == self.current_version():
            raise KeyProviderError("the current KMS key cannot be retired")
        state = self._deletion_date(version)
        if state is not None:
            return state
        with _kms_errors("schedule key deletion"):
            response = self.client.schedule_key_deletion(
                KeyId=_key_id(version), PendingWindowInDays=self.deletion_days
            )
        return _aware(response["DeletionDate"])

    def is_destroyed(self, version: str) -> bool:
        """True once the key is pending deletion or gone."""
        return self._deletion_date(version) is not None

    def _deletion_date(self, version: str) -> datetime | None:
        """When KMS deletes (or deleted) the key; None while it is not pending deletion."""
        try:
            with _kms_errors("describe key"):
                metadata = self.client.describe_key(KeyId=version)["KeyMetadata"]
        except KeyProviderError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _code(cause) == "NotFoundException":
                return datetime.now(UTC)  # already deleted
            raise
        if metadata.get("KeyState") != "PendingDeletion":
            return None
        when = metadata.get("DeletionDate")
        return _aware(when) if isinstance(when, datetime) else datetime.now(UTC)

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
                # The resolved key, not the alias: an alias update may take a moment to
                # reach every KMS endpoint, and a re-wrap must land on the new epoch.
                DestinationKeyId=self.current_version(),
                DestinationEncryptionContext=kms_context,
            )
        return WrappedKey(self.name, response["KeyId"], response["CiphertextBlob"])


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _key_id(arn: str) -> str:
    """The key id of a key ARN (``arn:aws:kms:REGION:ACCOUNT:key/ID``); anything else as is."""
    return arn.rsplit(":key/", 1)[-1]
