"""Errors raised by the storage package.

::

    StorageError
    ├── DecryptionError        any container read failure (opaque on purpose)
    ├── KeyError_              base for key-management failures
    │   ├── KeyNotFound        no wrapped data key for the clip (never created, or shredded)
    │   └── KeyProviderError   the KEK provider (key file, KMS) failed or refused
    ├── BlobError
    │   ├── BlobNotFound       no blob under that key
    │   └── BlobStoreError     the store failed (I/O, S3 error); wraps the vendor error
    ├── NotFound               a row does not exist *for this site* (tenancy hides the rest)
    ├── PermissionDenied       the actor's role may not do this
    ├── ValidationError        bad input; nothing was changed
    ├── ConsentError           the clip's consent does not cover the purpose
    └── AuditIntegrityError    the audit chain does not verify

Vendor errors (botocore, OSError, SQLAlchemy) are wrapped at exactly one boundary,
the adapter module that calls the vendor.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by storage."""


class DecryptionError(StorageError):
    """A container could not be decrypted. Deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__("decryption failed")


class KeyError_(StorageError):
    """Key management failed."""


class KeyNotFound(KeyError_):
    """There is no usable data key (never created, or destroyed by crypto-shredding)."""


class KeyProviderError(KeyError_):
    """The key-encryption-key provider failed."""


class BlobError(StorageError):
    """A blob store operation failed."""


class BlobNotFound(BlobError):
    """No blob exists under the requested key."""


class BlobStoreError(BlobError):
    """The blob store failed; the vendor error is chained as ``__cause__``."""


class NotFound(StorageError):
    """The object does not exist, or belongs to another site."""


class PermissionDenied(StorageError):
    """The actor's role does not allow the action."""


class ValidationError(StorageError):
    """Input was rejected; nothing was changed."""


class ConsentError(StorageError):
    """The consent on record does not cover the requested purpose."""


class AuditIntegrityError(StorageError):
    """The audit log failed verification."""


def loggable_cause(exc: BaseException) -> BaseException | None:
    """The cause to chain when re-raising ``exc`` as another error that may be logged
    with a traceback: None for decryption and key failures (a traceback would tell a
    failed tag from a short read or a wrong key, which docs/format.md forbids), else
    ``exc`` itself."""
    return None if isinstance(exc, DecryptionError | KeyError_) else exc
