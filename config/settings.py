"""Typed, frozen settings loaded from ``default.toml`` plus ``VERP_*`` overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from config.retention_policy import RetentionSettingsError, validate_retention
from config.values import (
    SettingsError,
    assign,
    get,
    home_path,
    non_negative,
    optional,
    positive,
    positive_number,
    slugs,
)

#: The one explicit mapping from environment variable to ``section.key`` in default.toml.
ENV_MAP: dict[str, str] = {
    "VERP_HOME": "paths.home",
    "VERP_DATABASE_URL": "database.url",
    "VERP_ERASURE_WAIT_SECONDS": "database.erasure_wait_seconds",
    "VERP_BLOB_URL": "blobs.url",
    "VERP_S3_ENDPOINT_URL": "blobs.s3_endpoint_url",
    "VERP_BLOB_READ_CACHE_MIB": "blobs.read_cache_mib",
    "VERP_KEY_PROVIDER": "keys.provider",
    "VERP_KEY_FILE": "keys.key_file",
    "VERP_KMS_KEY_ID": "keys.kms_key_id",
    "VERP_KMS_ENDPOINT_URL": "keys.kms_endpoint_url",
    "VERP_AWS_REGION": "keys.aws_region",
    "VERP_KEY_CACHE_SECONDS": "keys.cache_seconds",
    "VERP_KEK_EPOCH_DAYS": "keys.epoch_days",
    "VERP_KEK_EPOCH_GRACE_MINUTES": "keys.epoch_grace_minutes",
    "VERP_KMS_DELETION_DAYS": "keys.kms_deletion_days",
    "VERP_SEGMENT_SIZE": "container.segment_size",
    "VERP_QUEUE_URL": "queue.url",
    "VERP_QUEUE_LEASE_SECONDS": "queue.lease_seconds",
    "VERP_WORKSPACE": "ingest.workspace_dir",
    "VERP_MAX_UPLOAD_MIB": "ingest.max_size_mib",
    "VERP_VIDEO_PRESET": "ingest.video_preset",
    "VERP_FFMPEG": "ingest.ffmpeg",
    "VERP_AUDIT_KEY_FILE": "audit.hmac_key_file",
    "VERP_AUDIT_SIGNING_KEY_FILE": "audit.signing_key_file",
    "VERP_AUDIT_CHECKPOINT_DIR": "audit.checkpoint_dir",
    "VERP_AUDIT_CHECKPOINT_URL": "audit.checkpoint_url",
    "VERP_SECRET_KEY_FILE": "web.secret_key_file",
    "VERP_HOST": "web.host",
    "VERP_PORT": "web.port",
    "VERP_SECURE_COOKIES": "web.secure_cookies",
    "VERP_SESSION_MINUTES": "web.session_minutes",
    "VERP_TOTP_REQUIRED": "web.totp_required",
    "VERP_PROXY_HOPS": "web.proxy_hops",
    "VERP_TAXONOMY_DIR": "review.taxonomy_dir",
    "VERP_RETENTION_FILE": "retention.file",
    "VERP_SHARE_RECEIVING_SITES": "sharing.receiving_sites",
}

KEY_PROVIDERS = ("local", "kms")


@dataclass(frozen=True)
class Settings:
    """Every runtime setting, resolved to concrete values (no empty paths)."""

    home: Path
    database_url: str
    blob_url: str
    s3_endpoint_url: str | None
    multipart_threshold: int
    blob_read_cache_bytes: int
    key_provider: str
    key_file: Path
    kms_key_id: str | None
    kms_endpoint_url: str | None
    aws_region: str
    key_cache_seconds: int
    kek_epoch_days: int
    kek_epoch_grace_minutes: int
    kms_deletion_days: int
    segment_size: int
    queue_url: str
    queue_retries: int
    queue_retry_delay: int
    queue_lease_seconds: int
    scheduler_lease_seconds: int
    workspace_dir: Path
    max_upload_bytes: int
    max_duration_seconds: int
    max_width: int
    max_height: int
    upload_expiry_hours: int
    video_preset: str
    video_crf: int
    audio_bitrate: str
    max_frame_rate: int
    thumbnail_interval_seconds: float
    thumbnail_width: int
    ffmpeg_path: Path | None
    max_streams: int
    max_frame_gap_seconds: float
    max_frame_interval_ratio: float
    ffmpeg_stall_seconds: float
    ffmpeg_cpu_seconds_per_megapixel_frame: float
    audit_key_file: Path
    audit_signing_key_file: Path
    audit_checkpoint_dir: Path
    audit_checkpoint_every: int
    audit_checkpoint_url: str | None
    audit_checkpoint_lock_days: int
    audit_checkpoint_lock_mode: str
    secret_key_file: Path
    host: str
    port: int
    session_minutes: int
    secure_cookies: bool
    login_attempts: int
    login_address_attempts: int
    login_window_seconds: int
    totp_required: bool
    proxy_hops: int
    max_moments: int
    max_moment_seconds: int
    agreement_window_ms: int
    taxonomy_dir: Path | None
    share_receiving_sites: tuple[str, ...]
    erasure_wait_seconds: float = 10.0
    retention: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build :class:`Settings` from defaults, then ``environ``, then ``overrides``.

    ``overrides`` uses ``section.key`` names (handy for tests). Raises
    :class:`SettingsError` naming the offending setting.
    """
    env = os.environ if environ is None else environ
    raw = _defaults()
    for var, dotted in ENV_MAP.items():
        if var in env:
            assign(raw, dotted, env[var], source=var)
    for dotted, value in (overrides or {}).items():
        assign(raw, dotted, value, source=dotted)
    retention_file = get(raw, "retention.file")
    if retention_file:
        raw["retention"] = _read_retention_file(Path(str(retention_file)))
    return _build(raw)


def _defaults() -> dict[str, Any]:
    text = resources.files("config").joinpath("default.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data.setdefault("review", {}).setdefault("taxonomy_dir", "")
    data.setdefault("retention", {}).setdefault("file", "")
    return data


def _read_retention_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"VERP_RETENTION_FILE: cannot read {path}: {exc}") from exc
    retention = data.get("retention", data)
    if not isinstance(retention, dict):
        raise SettingsError(f"VERP_RETENTION_FILE: {path} has no [retention] table")
    return retention


def _ffmpeg_path(raw: Mapping[str, Any]) -> Path | None:
    """ingest.ffmpeg (VERP_FFMPEG): an absolute path, or None for the wheel's binary."""
    value = get(raw, "ingest.ffmpeg")
    if not value:
        return None
    path = Path(str(value))
    if not path.is_absolute():
        raise SettingsError(
            f"ingest.ffmpeg (VERP_FFMPEG): expected an absolute path (PATH is never "
            f"searched), got {value!r}"
        )
    return path


def _erasure_wait(raw: Mapping[str, Any]) -> float:
    value = get(raw, "database.erasure_wait_seconds")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise SettingsError(
            "database.erasure_wait_seconds (VERP_ERASURE_WAIT_SECONDS): expected a number of "
            f"seconds from 0 to 3600, got {value!r}"
        )
    return float(value)


def _checkpoint_url(raw: Mapping[str, Any]) -> str | None:
    url = optional(raw, "audit.checkpoint_url")
    if url is not None and not url.startswith("s3://"):
        raise SettingsError(
            "audit.checkpoint_url (VERP_AUDIT_CHECKPOINT_URL): expected s3://BUCKET/PREFIX "
            f"or empty, got {url!r}"
        )
    return url


def _checkpoint_lock_mode(raw: Mapping[str, Any]) -> str:
    mode = str(get(raw, "audit.checkpoint_lock_mode")).upper()
    if mode not in ("GOVERNANCE", "COMPLIANCE"):
        raise SettingsError(
            f"audit.checkpoint_lock_mode: expected COMPLIANCE or GOVERNANCE, got {mode!r}"
        )
    return mode


def _kms_deletion_days(raw: Mapping[str, Any]) -> int:
    days = positive(raw, "keys.kms_deletion_days")
    if not 7 <= days <= 30:
        raise SettingsError(
            f"keys.kms_deletion_days (VERP_KMS_DELETION_DAYS): expected 7..30, got {days}"
        )
    return days


def _build(raw: Mapping[str, Any]) -> Settings:
    home = Path(str(get(raw, "paths.home") or "./var")).expanduser().absolute()
    database_url = str(get(raw, "database.url") or f"sqlite:///{home / 'verp.db'}")
    if not database_url.startswith(("sqlite", "postgresql")):
        raise SettingsError(
            f"database.url (VERP_DATABASE_URL): expected sqlite:/// or postgresql+psycopg://, "
            f"got {database_url.split(':', 1)[0]}:..."
        )
    blob_url = str(get(raw, "blobs.url") or f"file://{home / 'blobs'}")
    if not blob_url.startswith(("file://", "s3://", "memory://")):
        raise SettingsError(
            "blobs.url (VERP_BLOB_URL): expected file://PATH or s3://BUCKET/PREFIX, "
            f"got {blob_url!r}"
        )
    key_provider = str(get(raw, "keys.provider"))
    if key_provider not in KEY_PROVIDERS:
        raise SettingsError(
            f"keys.provider (VERP_KEY_PROVIDER): expected one of {KEY_PROVIDERS}, "
            f"got {key_provider!r}"
        )
    kms_key_id = optional(raw, "keys.kms_key_id")
    if key_provider == "kms" and not kms_key_id:
        raise SettingsError("keys.kms_key_id (VERP_KMS_KEY_ID): required when keys.provider = kms")
    queue_url = str(get(raw, "queue.url") or f"sqlite:///{home / 'queue.db'}")
    if not queue_url.startswith(("sqlite://", "redis://", "rediss://", "memory://")):
        raise SettingsError(
            f"queue.url (VERP_QUEUE_URL): expected redis://HOST:PORT/DB or empty, got {queue_url!r}"
        )
    segment_size = positive(raw, "container.segment_size")
    if not 4096 <= segment_size <= 64 * 1024 * 1024:
        raise SettingsError(
            f"container.segment_size: expected 4096..67108864 bytes, got {segment_size}"
        )
    port = positive(raw, "web.port")
    if port > 65535:
        raise SettingsError(f"web.port (VERP_PORT): expected 1..65535, got {port}")
    taxonomy_dir = optional(raw, "review.taxonomy_dir")
    try:
        retention = validate_retention(raw.get("retention", {}))
    except RetentionSettingsError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(
        home=home,
        database_url=database_url,
        blob_url=blob_url,
        s3_endpoint_url=optional(raw, "blobs.s3_endpoint_url"),
        multipart_threshold=positive(raw, "blobs.multipart_threshold_mib") * 1024 * 1024,
        blob_read_cache_bytes=non_negative(raw, "blobs.read_cache_mib") * 1024 * 1024,
        key_provider=key_provider,
        key_file=home_path(raw, "keys.key_file", home, "keys/kek.json"),
        kms_key_id=kms_key_id,
        kms_endpoint_url=optional(raw, "keys.kms_endpoint_url"),
        aws_region=str(get(raw, "keys.aws_region")),
        key_cache_seconds=non_negative(raw, "keys.cache_seconds"),
        kek_epoch_days=positive(raw, "keys.epoch_days"),
        kek_epoch_grace_minutes=non_negative(raw, "keys.epoch_grace_minutes"),
        kms_deletion_days=_kms_deletion_days(raw),
        segment_size=segment_size,
        queue_url=queue_url,
        queue_retries=int(get(raw, "queue.retries")),
        queue_retry_delay=int(get(raw, "queue.retry_delay_seconds")),
        queue_lease_seconds=positive(raw, "queue.lease_seconds"),
        scheduler_lease_seconds=positive(raw, "queue.scheduler_lease_seconds"),
        workspace_dir=home_path(raw, "ingest.workspace_dir", home, "workspace"),
        max_upload_bytes=positive(raw, "ingest.max_size_mib") * 1024 * 1024,
        max_duration_seconds=positive(raw, "ingest.max_duration_seconds"),
        max_width=positive(raw, "ingest.max_width"),
        max_height=positive(raw, "ingest.max_height"),
        upload_expiry_hours=positive(raw, "ingest.upload_expiry_hours"),
        video_preset=str(get(raw, "ingest.video_preset")),
        video_crf=int(get(raw, "ingest.video_crf")),
        audio_bitrate=str(get(raw, "ingest.audio_bitrate")),
        max_frame_rate=positive(raw, "ingest.max_frame_rate"),
        thumbnail_interval_seconds=float(get(raw, "ingest.thumbnail_interval_seconds")),
        thumbnail_width=positive(raw, "ingest.thumbnail_width"),
        ffmpeg_path=_ffmpeg_path(raw),
        max_streams=positive(raw, "ingest.max_streams"),
        max_frame_gap_seconds=positive_number(raw, "ingest.max_frame_gap_seconds"),
        max_frame_interval_ratio=positive_number(raw, "ingest.max_frame_interval_ratio"),
        ffmpeg_stall_seconds=positive_number(raw, "ingest.ffmpeg_stall_seconds"),
        ffmpeg_cpu_seconds_per_megapixel_frame=positive_number(
            raw, "ingest.ffmpeg_cpu_seconds_per_megapixel_frame"
        ),
        audit_key_file=home_path(raw, "audit.hmac_key_file", home, "keys/audit.key"),
        audit_signing_key_file=home_path(
            raw, "audit.signing_key_file", home, "keys/audit-signing.pem"
        ),
        audit_checkpoint_dir=home_path(raw, "audit.checkpoint_dir", home, "audit-checkpoints"),
        audit_checkpoint_every=positive(raw, "audit.checkpoint_every"),
        audit_checkpoint_url=_checkpoint_url(raw),
        audit_checkpoint_lock_days=positive(raw, "audit.checkpoint_lock_days"),
        audit_checkpoint_lock_mode=_checkpoint_lock_mode(raw),
        secret_key_file=home_path(raw, "web.secret_key_file", home, "keys/web.key"),
        host=str(get(raw, "web.host")),
        port=port,
        session_minutes=positive(raw, "web.session_minutes"),
        secure_cookies=bool(get(raw, "web.secure_cookies")),
        login_attempts=positive(raw, "web.login_attempts"),
        login_address_attempts=positive(raw, "web.login_address_attempts"),
        login_window_seconds=positive(raw, "web.login_window_seconds"),
        totp_required=bool(get(raw, "web.totp_required")),
        proxy_hops=non_negative(raw, "web.proxy_hops"),
        max_moments=positive(raw, "review.max_moments"),
        max_moment_seconds=positive(raw, "review.max_moment_seconds"),
        agreement_window_ms=positive(raw, "review.agreement_window_ms"),
        taxonomy_dir=Path(taxonomy_dir) if taxonomy_dir else None,
        share_receiving_sites=slugs(raw, "sharing.receiving_sites"),
        erasure_wait_seconds=_erasure_wait(raw),
        retention=retention,
    )
