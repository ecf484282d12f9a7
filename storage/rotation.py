"""Key-encryption-key rotation: re-wrap data keys, never re-encrypt video.

Rotation touches only the ``data_keys`` rows; blobs keep their bytes because the
data key inside each wrapped key stays the same.

Local key file, in three resumable steps:

1. add a new KEK version and make it current (skipped when a rotation is unfinished);
2. re-wrap every live data key still on another version, in batches, each batch its
   own transaction with a ``key.rotate`` audit entry;
3. retire the old versions, only once no live data key uses them.

A rotation is unfinished while the key file holds a non-current version or a live
data key is on a non-current version. Running it again then resumes at step 2
instead of adding yet another version, so an interrupted run (crash, Ctrl-C,
provider outage) loses nothing.

KMS: the key's backing material is rotated by KMS itself (automatic rotation),
which needs no re-wrap. Rotation here re-wraps, via ReEncrypt, the data keys
wrapped by a KMS key other than the configured one (after ``VERP_KMS_KEY_ID``
was pointed at a new key). Nothing is retired: disable the old KMS key once
``verp keys status`` shows no data key on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.clock import Clock
from storage.db.engine import Database
from storage.db.footage import DataKey
from storage.keys import KeyContext, KeyProvider, WrappedKey

DEFAULT_BATCH = 200

#: Called after each committed batch with (batch number, keys re-wrapped in it).
BatchHook = Callable[[int, int], None]


@runtime_checkable
class VersionedKeys(Protocol):
    """A provider that keeps its own KEK versions (the local key file)."""

    def versions(self) -> dict[str, dict[str, Any]]: ...

    def add_version(self) -> str: ...

    def retire_others(self) -> list[str]: ...


@dataclass(frozen=True)
class RotationReport:
    provider: str
    current_version: str
    added_version: str | None
    resumed: bool
    rewrapped: int
    skipped: int
    batches: int
    retired: list[str] = field(default_factory=list)
    still_in_use: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyStatus:
    provider: str
    current_version: str
    live_by_version: dict[str, int]
    other_providers: dict[str, int]
    destroyed: int
    pending: int
    kek_versions: list[str]

    @property
    def rotation_incomplete(self) -> bool:
        return self.pending > 0 or len(self.kek_versions) > 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rotation_incomplete": self.rotation_incomplete}


def _stale(provider: str, current: str) -> Select[DataKey]:
    return select(DataKey).where(
        DataKey.provider == provider,
        DataKey.wrapped.is_not(None),
        DataKey.kek_version != current,
    )


def _pending(session: Session, provider: str, current: str) -> int:
    sub = _stale(provider, current).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def _versions_in_use(session: Session, provider: str) -> set[str]:
    query = select(DataKey.kek_version).where(
        DataKey.provider == provider, DataKey.wrapped.is_not(None)
    )
    return set(session.scalars(query.distinct()))


def _lock_for_write(session: Session) -> None:
    """On SQLite take the write lock before reading, so a concurrent shred cannot slip
    between our read and our write (PostgreSQL uses SELECT ... FOR UPDATE instead)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE data_keys SET clip_id = clip_id WHERE 0"))


def key_status(session: Session, keys: KeyProvider) -> KeyStatus:
    """Counts of data keys per KEK version, destroyed keys and rotation progress.

    Raises KeyProviderError if the provider cannot report its current version.
    """
    current = keys.current_version()
    live_by_version: dict[str, int] = {}
    other: dict[str, int] = {}
    query = (
        select(DataKey.provider, DataKey.kek_version, func.count())
        .where(DataKey.wrapped.is_not(None))
        .group_by(DataKey.provider, DataKey.kek_version)
    )
    for provider, version, count in session.execute(query):
        if provider == keys.name:
            live_by_version[version] = int(count)
        else:
            other[provider] = other.get(provider, 0) + int(count)
    destroyed = session.scalar(
        select(func.count()).select_from(DataKey).where(DataKey.wrapped.is_(None))
    )
    kek_versions = (
        sorted(keys.versions(), key=_version_order)
        if isinstance(keys, VersionedKeys)
        else [current]
    )
    return KeyStatus(
        provider=keys.name,
        current_version=current,
        live_by_version=live_by_version,
        other_providers=other,
        destroyed=int(destroyed or 0),
        pending=sum(n for v, n in live_by_version.items() if v != current),
        kek_versions=kek_versions,
    )


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def rotate_keys(
    db: Database,
    keys: KeyProvider,
    audit: AuditLog,
    clock: Clock,
    actor: Actor,
    *,
    batch_size: int = DEFAULT_BATCH,
    after_batch: BatchHook | None = None,
) -> RotationReport:
    """Rotate (or finish rotating) the KEK; see the module docstring for the steps.

    Raises KeyProviderError if a data key cannot be re-wrapped (that batch is rolled
    back; earlier batches stay done and a rerun resumes), ValueError for a bad batch size.
    """
    if batch_size <= 0:
        raise ValueError("batch size must be positive")
    current = keys.current_version()
    versioned = keys if isinstance(keys, VersionedKeys) else None
    with db.session() as session:
        pending = _pending(session, keys.name, current)
    old_in_file = [v for v in versioned.versions() if v != current] if versioned else []
    resumed = pending > 0 or bool(old_in_file)
    added: str | None = None
    if versioned is not None and not resumed:
        added = current = versioned.add_version()
        with db.session() as session:
            _audit(session, audit, actor, keys.name, "add-version", current)

    rewrapped = skipped = batches = 0
    while True:
        with db.session() as session:
            done, lost = _rewrap_batch(session, keys, clock, current, batch_size)
            if done + lost == 0:
                break
            batches += 1
            _audit(
                session,
                audit,
                actor,
                keys.name,
                "rewrap",
                current,
                batch=batches,
                rewrapped=done,
                skipped=lost,
            )
        rewrapped += done
        skipped += lost
        if after_batch is not None:
            after_batch(batches, done)
        if done == 0:
            # Every row of the batch changed under us (shredded or re-wrapped by a
            # concurrent run); stop rather than spin. A rerun picks up anything left.
            break

    retired: list[str] = []
    blocked: list[str] = []
    if versioned is not None:
        with db.session() as session:
            in_use = _versions_in_use(session, keys.name)
        old = {v for v in versioned.versions() if v != current}
        blocked = sorted(old & in_use, key=_version_order)
        if old and not blocked:
            retired = sorted(versioned.retire_others(), key=_version_order)
            with db.session() as session:
                _audit(session, audit, actor, keys.name, "retire", current, retired=retired)
    return RotationReport(
        provider=keys.name,
        current_version=current,
        added_version=added,
        resumed=resumed,
        rewrapped=rewrapped,
        skipped=skipped,
        batches=batches,
        retired=retired,
        still_in_use=blocked,
    )


def _rewrap_batch(
    session: Session, keys: KeyProvider, clock: Clock, current: str, batch_size: int
) -> tuple[int, int]:
    """Re-wrap up to ``batch_size`` stale rows; returns (re-wrapped, lost to a race)."""
    _lock_for_write(session)
    query = _stale(keys.name, current).order_by(DataKey.clip_id).limit(batch_size)
    rows = list(session.scalars(query.with_for_update()))
    done = lost = 0
    now = clock.now()
    for row in rows:
        assert row.wrapped is not None  # selected with wrapped IS NOT NULL
        old = WrappedKey(row.provider, row.kek_version, row.wrapped)
        new = keys.rewrap(old, KeyContext(row.site_id, row.clip_id))
        # Compare-and-set on the old wrapped bytes: never resurrect a key shredded
        # after we read it.
        result = session.execute(
            update(DataKey)
            .where(DataKey.clip_id == row.clip_id, DataKey.wrapped == old.blob)
            .values(kek_version=new.kek_version, wrapped=new.blob, rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            done += 1
        else:
            lost += 1
    return done, lost


def _audit(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    provider: str,
    phase: str,
    version: str,
    **counts: Any,
) -> None:
    audit.append(
        session,
        actor,
        "key.rotate",
        target_type="kek",
        target_id=provider,
        details={"phase": phase, "kek_version": version, **counts},
    )
