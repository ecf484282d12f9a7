"""The composition root: builds engines, stores, key providers and services from Settings.

Both ``create_app()`` and the CLI call :func:`build_services`; nothing else constructs
infrastructure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings, SettingsError
from storage.audit import AuditLog
from storage.audit.checkpoints import Checkpoints, CheckpointStore, LocalCheckpointStore
from storage.audit.signing import create_signing_key, load_signer
from storage.blobs import BlobStore, LocalBlobStore, MemoryBlobStore
from storage.cache import CiphertextCache, DataKeyCache, HeaderCache
from storage.clock import Clock, SystemClock
from storage.db.engine import Database, make_engine
from storage.keys import KeyProvider, LocalKeyFile, ensure_secret_file, read_secret_file
from storage.migrate import upgrade_to_head
from storage.vault import Vault

if TYPE_CHECKING:
    from ingest.jobs import JobQueue


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    blobs: BlobStore
    keys: KeyProvider
    vault: Vault
    audit: AuditLog

    @cached_property
    def queue(self) -> JobQueue:
        """The job queue (ingest.jobs), built on first use from ``settings.queue_url``."""
        from ingest.jobs import JobQueue

        return JobQueue(self)

    def close(self) -> None:
        if "queue" in self.__dict__:
            self.queue.close()
        self.db.dispose()


def build_blob_store(settings: Settings) -> BlobStore:
    url = settings.blob_url
    if url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")))
    if url.startswith("memory://"):
        return MemoryBlobStore()
    from storage.s3 import S3BlobStore

    return S3BlobStore.from_url(
        url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
        multipart_threshold=settings.multipart_threshold,
    )


def build_key_provider(settings: Settings) -> KeyProvider:
    if settings.key_provider == "local":
        return LocalKeyFile(settings.key_file)
    from storage.kms import KmsKeyProvider

    assert settings.kms_key_id is not None  # validated by config
    return KmsKeyProvider(
        key_id=settings.kms_key_id,
        region=settings.aws_region,
        endpoint_url=settings.kms_endpoint_url,
        deletion_days=settings.kms_deletion_days,
    )


def build_checkpoint_store(settings: Settings) -> CheckpointStore:
    """Where signed audit checkpoints go: files, or S3 objects under Object Lock."""
    if settings.audit_checkpoint_url is None:
        return LocalCheckpointStore(settings.audit_checkpoint_dir)
    from storage.audit.s3_checkpoints import S3CheckpointStore

    return S3CheckpointStore.from_url(
        settings.audit_checkpoint_url,
        lock_days=settings.audit_checkpoint_lock_days,
        lock_mode=settings.audit_checkpoint_lock_mode,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.aws_region,
    )


def initialize(settings: Settings) -> list[str]:
    """`verp init`: home, secrets and key file (0600) if missing, schema to head.

    Idempotent; returns what it created.
    """
    created: list[str] = []
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.key_provider == "local" and LocalKeyFile.create(settings.key_file):
        created.append(f"key file {settings.key_file}")
    if ensure_secret_file(settings.audit_key_file):
        created.append(f"audit key {settings.audit_key_file}")
    if create_signing_key(settings.audit_signing_key_file):
        created.append(f"audit signing key {settings.audit_signing_key_file}")
    if ensure_secret_file(settings.secret_key_file):
        created.append(f"web secret {settings.secret_key_file}")
    settings.audit_checkpoint_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.database_url)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    return created


#: Bounds of the per-process playback caches (storage.cache): a few hundred clips being
#: watched at once per web process; a header is 48 bytes.
KEY_CACHE_ENTRIES = 256
HEADER_CACHE_ENTRIES = 4096
#: The ciphertext cache fetches and keeps blobs in chunks of this size (a few segments;
#: one ranged GET each) and refetches a chunk after this long.
CIPHERTEXT_CHUNK_BYTES = 4 * 1024 * 1024
CIPHERTEXT_TTL = timedelta(minutes=10)


def _key_cache(settings: Settings, clock: Clock) -> DataKeyCache | None:
    """The data-key cache, or None when ``keys.cache_seconds`` is 0."""
    if settings.key_cache_seconds == 0:
        return None
    return DataKeyCache(clock, timedelta(seconds=settings.key_cache_seconds), KEY_CACHE_ENTRIES)


def _ciphertext_cache(settings: Settings, clock: Clock) -> CiphertextCache | None:
    """The ciphertext cache for an ``s3://`` store, or None (a local store, or
    ``blobs.read_cache_mib`` = 0, or less than one chunk)."""
    if not settings.blob_url.startswith("s3://"):
        return None
    if settings.blob_read_cache_bytes < CIPHERTEXT_CHUNK_BYTES:
        return None
    return CiphertextCache(
        clock,
        max_bytes=settings.blob_read_cache_bytes,
        chunk_size=CIPHERTEXT_CHUNK_BYTES,
        ttl=CIPHERTEXT_TTL,
    )


def check_ffmpeg(settings: Settings) -> str:
    """Start-up check: choose the one ffmpeg this process runs (the imageio-ffmpeg
    wheel's, or ``VERP_FFMPEG`` if set) and make sure it is recent enough.

    Returns a one-line description. Cached per binary, so only the first call runs it.

    Raises:
        SettingsError: the binary is missing, unreadable or too old; the message names
            the setting (``ingest.ffmpeg (VERP_FFMPEG)``).
    """
    from ingest.errors import ToolMissing
    from ingest.ffmpeg_binary import select

    try:
        chosen = select(settings.ffmpeg_path)
    except ToolMissing as exc:
        raise SettingsError(str(exc)) from None
    return f"ffmpeg {chosen.version_text} ({chosen.origin}: {chosen.path})"


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Wire every service from settings. Requires `initialize` to have run.

    Raises:
        SettingsError: e.g. the configured ffmpeg is unusable (:func:`check_ffmpeg`).
    """
    check_ffmpeg(settings)
    clock = clock or SystemClock()
    db = Database(make_engine(settings.database_url), settings.erasure_wait_seconds)
    blobs = build_blob_store(settings)
    keys = build_key_provider(settings)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        blobs=blobs,
        keys=keys,
        vault=Vault(
            blobs=blobs,
            keys=keys,
            clock=clock,
            segment_size=settings.segment_size,
            key_cache=_key_cache(settings, clock),
            header_cache=HeaderCache(HEADER_CACHE_ENTRIES),
            ciphertext_cache=_ciphertext_cache(settings, clock),
        ),
        audit=AuditLog(
            read_secret_file(settings.audit_key_file),
            clock,
            checkpoints=Checkpoints.signed_by(
                build_checkpoint_store(settings), load_signer(settings.audit_signing_key_file)
            ),
            checkpoint_every=settings.audit_checkpoint_every,
        ),
    )
