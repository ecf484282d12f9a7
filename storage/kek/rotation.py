"""KEK rotation in epochs: re-wrap data keys, never re-encrypt video, then destroy the old KEK.

Rotation touches only the ``data_keys`` rows; blobs keep their bytes because the data
key inside each wrapped key stays the same. One rotation starts the next epoch in
resumable steps, each committed on its own:

1. **claim** the next epoch: its ``kek_epochs`` row and a ``key.rotate`` audit entry
   (phase ``add-version``), in one transaction. The audit entry is written *before*
   the new KEK becomes current, so a killed rotation never leaves a current KEK that
   the log does not mention; the unique (provider, number) row also stops two
   rotations from starting two epochs at once.
2. **activate**: create the KEK (a new key-file version, or a new KMS key), make it
   current (key file, or the KMS alias), record ``current_from``.
3. **re-wrap** every live data key still on another version, in batches, each batch
   its own transaction with a ``key.rotate`` audit entry (phase ``rewrap``).
4. **retire** each superseded epoch once no live data key uses it and its grace period
   has passed: destroy its KEK (removed from the key file; KMS: deletion scheduled),
   then record ``retired_at``/``destroyed_at`` with an audit entry (phase ``retire``).

A rotation is unfinished while an epoch is claimed but not current, a live data key is
on a non-current version, or a superseded epoch is not retired; running it again then
resumes at the first unfinished step instead of starting another epoch, so an
interrupted run (crash, Ctrl-C, provider outage) loses nothing.

A KMS key id that is not an alias cannot change epochs: rotation then only re-wraps data
keys wrapped by another KMS key onto the configured one (after ``VERP_KMS_KEY_ID`` was
pointed at a new key) and retires nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.clock import Clock
from storage.db.engine import Database
from storage.db.footage import DataKey
from storage.db.governance import KekEpoch
from storage.kek import records
from storage.kek.provider import EpochKeys, epoch_keys
from storage.kek.rewrap import BatchHook, pending_count, rewrap_stale
from storage.keys import KeyProvider

DEFAULT_BATCH = 500
DEFAULT_PERIOD = timedelta(days=7)

#: Called after each finished step ("claimed", "created", "activated", "retired").
StepHook = Callable[[str], None]


@dataclass(frozen=True)
class RotationReport:
    provider: str
    current_version: str
    added_version: str | None
    resumed: bool
    rewrapped: int
    skipped: int
    batches: int
    epoch: int | None = None
    retired: list[str] = field(default_factory=list)
    still_in_use: list[str] = field(default_factory=list)
    in_grace: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RotationOptions:
    """How a rotation runs: batch size, epoch period (for the promised retirement
    date) and the grace before a superseded KEK may be destroyed (so a data key
    generated just before the switch, not yet committed, is re-wrapped first)."""

    batch_size: int = DEFAULT_BATCH
    period: timedelta = DEFAULT_PERIOD
    retire_grace: timedelta = timedelta(0)


def _lock_data_keys(session: Session) -> None:
    """Hold off every writer of ``data_keys`` until this transaction ends, so a check
    for live keys stays true until the KEK is destroyed. SQLite: take the write lock
    (a no-op UPDATE); PostgreSQL: SHARE lock (waits for open writers, blocks new ones)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE data_keys SET clip_id = clip_id WHERE 0"))
    else:
        session.execute(text("LOCK TABLE data_keys IN SHARE MODE"))


def _live_on(session: Session, provider: str, version: str) -> int:
    query = select(func.count()).where(
        DataKey.provider == provider, DataKey.wrapped.is_not(None), DataKey.kek_version == version
    )
    return int(session.scalar(query) or 0)


def rotation_unfinished(session: Session, keys: KeyProvider) -> bool:
    """True while a claimed epoch is not current, a live key is on an old version, or a
    superseded epoch is not retired (so a rerun has work to finish)."""
    provider = keys.name
    if pending_count(session, provider, keys.current_version()) > 0:
        return True
    epochal = epoch_keys(keys)
    if epochal is None:
        return False
    return bool(
        records.pending_epoch(session, provider) or records.unretired_old(session, provider)
    )


def rotate_keys(
    db: Database,
    keys: KeyProvider,
    audit: AuditLog,
    clock: Clock,
    actor: Actor,
    *,
    batch_size: int = DEFAULT_BATCH,
    options: RotationOptions | None = None,
    after_batch: BatchHook | None = None,
    on_step: StepHook | None = None,
) -> RotationReport:
    """Start the next KEK epoch (or finish the unfinished one); see the module docstring.

    Raises KeyProviderError if the provider fails (what was committed stays done and a
    rerun resumes), ValueError for a bad batch size.
    """
    opts = options or RotationOptions(batch_size=batch_size)
    if opts.batch_size <= 0:
        raise ValueError("batch size must be positive")
    run = _Run(db, keys, audit, clock, actor, opts, after_batch, on_step or (lambda _s: None))
    return run.execute()


class _Run:
    """One invocation of :func:`rotate_keys`."""

    def __init__(
        self,
        db: Database,
        keys: KeyProvider,
        audit: AuditLog,
        clock: Clock,
        actor: Actor,
        opts: RotationOptions,
        after_batch: BatchHook | None,
        on_step: StepHook,
    ) -> None:
        self.db, self.keys, self.audit, self.clock, self.actor = db, keys, audit, clock, actor
        self.opts, self.after_batch, self.on_step = opts, after_batch, on_step
        self.epochal = epoch_keys(keys)

    def execute(self) -> RotationReport:
        added: str | None = None
        number: int | None = None
        with self.db.session() as session:
            if self.epochal is not None:
                records.sync(
                    session,
                    self.epochal,
                    self.clock.now(),
                    self.opts.period + self.opts.retire_grace,
                )
            resumed = rotation_unfinished(session, self.keys)
        if self.epochal is not None:
            if not resumed:
                number = self._claim(self.epochal)
            epoch = self._activate(self.epochal)
            if epoch is not None:
                number = epoch.number
                added = epoch.kek_version if not resumed else None
        current = self.keys.current_version()
        rewrapped, skipped, batches = self._rewrap_all(current)
        retired: list[str] = []
        blocked: list[str] = []
        grace: list[str] = []
        if self.epochal is not None:
            retired, blocked, grace = self._retire(self.epochal, current)
        return RotationReport(
            provider=self.keys.name,
            current_version=current,
            added_version=added,
            resumed=resumed,
            rewrapped=rewrapped,
            skipped=skipped,
            batches=batches,
            epoch=number,
            retired=retired,
            still_in_use=blocked,
            in_grace=grace,
        )

    # -- step 1 ------------------------------------------------------------------------
    def _claim(self, keys: EpochKeys) -> int | None:
        """Claim the next epoch: its row and the audit entry, before any KEK exists."""
        try:
            with self.db.session() as session:
                number = records.next_number(session, keys.name, keys)
                session.add(
                    KekEpoch(provider=keys.name, number=number, created_at=self.clock.now())
                )
                session.flush()
                self._audit(session, "add-version", str(number), epoch=number)
        except IntegrityError:
            return None  # a concurrent rotation claimed it; finish that one instead
        self.on_step("claimed")
        return number

    # -- step 2 ------------------------------------------------------------------------
    def _activate(self, keys: EpochKeys) -> KekEpoch | None:
        """Create the claimed epoch's KEK if needed, make it current, record it."""
        with self.db.session() as session:
            epoch = records.pending_epoch(session, keys.name)
            if epoch is None:
                return None
            epoch_id, version = epoch.id, epoch.kek_version
        if not version:
            version = self._create(keys, epoch_id, epoch.number)
        self.on_step("created")
        keys.make_current(version)
        self.on_step("activated")
        now = self.clock.now()
        with self.db.session() as session:
            row = session.get(KekEpoch, epoch_id)
            assert row is not None
            for older in records.epochs(session, keys.name):
                if older.id != row.id and older.current_from and older.superseded_at is None:
                    older.superseded_at = now
            row.current_from = now
            row.retire_due_at = (
                now + self.opts.period + self.opts.retire_grace + records.RETIRE_SLACK
            )
        return row

    def _create(self, keys: EpochKeys, epoch_id: str, number: int) -> str:
        """Create the epoch's KEK and record it, compare-and-set: when a concurrent run
        recorded its own first, use that one and destroy ours (it wraps nothing)."""
        created = keys.new_version(number)
        with self.db.session() as session:
            result = session.execute(
                update(KekEpoch)
                .where(KekEpoch.id == epoch_id, KekEpoch.kek_version == "")
                .values(kek_version=created, provider_key_id=created)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                return created
            row = session.get(KekEpoch, epoch_id, populate_existing=True)
            assert row is not None
            winner = row.kek_version
        if winner != created:
            keys.destroy_version(created)
        return winner

    # -- step 3 ------------------------------------------------------------------------
    def _rewrap_all(self, current: str) -> tuple[int, int, int]:
        """Returns (re-wrapped, lost to a race, batches); see storage.kek.rewrap."""

        def audit_batch(session: Session, batch: int, done: int, lost: int) -> None:
            self._audit(session, "rewrap", current, batch=batch, rewrapped=done, skipped=lost)

        return rewrap_stale(
            self.db,
            self.keys,
            self.clock,
            current,
            self.opts.batch_size,
            audit_batch,
            self.after_batch,
        )

    # -- step 4 ------------------------------------------------------------------------
    def _retire(self, keys: EpochKeys, current: str) -> tuple[list[str], list[str], list[str]]:
        """Destroy each superseded epoch's KEK that no live key uses and whose grace
        has passed; returns (retired, still in use, in grace) versions."""
        retired: list[str] = []
        blocked: list[str] = []
        grace: list[str] = []
        with self.db.session() as session:
            candidates = [(e.id, e.kek_version) for e in records.unretired_old(session, keys.name)]
        for epoch_id, version in candidates:
            if version == current:
                continue
            with self.db.session() as session:
                _lock_data_keys(session)
                epoch = session.get(KekEpoch, epoch_id, populate_existing=True)
                if epoch is None or epoch.retired_at is not None:
                    continue
                now = self.clock.now()
                if not keys.is_destroyed(version):
                    if _live_on(session, keys.name, version):
                        blocked.append(version)
                        continue
                    assert epoch.superseded_at is not None
                    if epoch.superseded_at + self.opts.retire_grace > now:
                        grace.append(version)
                        continue
                gone = keys.destroy_version(version)
                epoch.retired_at, epoch.destroyed_at = now, max(gone or now, now)
                self._audit(
                    session,
                    "retire",
                    version,
                    epoch=epoch.number,
                    destroyed_at=epoch.destroyed_at.isoformat(),
                )
            retired.append(version)
            self.on_step("retired")
        return retired, blocked, grace

    def _audit(self, session: Session, phase: str, version: str, **details: Any) -> None:
        self.audit.append(
            session,
            self.actor,
            "key.rotate",
            target_type="kek",
            target_id=self.keys.name,
            details={"phase": phase, "kek_version": version, **details},
        )
