"""When the next KEK epoch is due, and the worker's periodic entry point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from config import Settings
from storage.audit import Actor, AuditLog
from storage.clock import Clock
from storage.db.engine import Database
from storage.kek import records
from storage.kek.provider import epoch_keys
from storage.kek.rotation import (
    DEFAULT_BATCH,
    DEFAULT_PERIOD,
    RotationOptions,
    RotationReport,
    rotate_keys,
    rotation_unfinished,
)
from storage.keys import KeyProvider

#: A superseded KEK is destroyed no sooner than this after the switch (see RotationOptions).
DEFAULT_GRACE = timedelta(minutes=10)
SCHEDULER = Actor.system("kek-epochs")


@dataclass(frozen=True)
class EpochPolicy:
    """The ``keys.epoch_*`` settings: how often a new epoch starts, the grace before an
    old KEK is destroyed, and the re-wrap batch size."""

    period: timedelta = DEFAULT_PERIOD
    retire_grace: timedelta = DEFAULT_GRACE
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def from_settings(cls, settings: Settings) -> EpochPolicy:
        """The policy the ``keys.epoch_days`` / ``keys.epoch_grace_minutes`` settings set."""
        return cls(
            period=timedelta(days=settings.kek_epoch_days),
            retire_grace=timedelta(minutes=settings.kek_epoch_grace_minutes),
        )

    def options(self) -> RotationOptions:
        return RotationOptions(
            batch_size=self.batch_size, period=self.period, retire_grace=self.retire_grace
        )


def epoch_due(session: Session, keys: KeyProvider, now: datetime, period: timedelta) -> bool:
    """True when the current epoch has lasted ``period`` (or none is on record) or an
    earlier rotation is unfinished. False for a provider that cannot run in epochs."""
    epochal = epoch_keys(keys)
    if epochal is None:
        return False
    if rotation_unfinished(session, keys):
        return True
    current = records.current_epoch(session, keys.name)
    if current is None or current.kek_version != keys.current_version():
        return True
    assert current.current_from is not None
    return current.current_from + period <= now


def run_due_rotation(
    db: Database,
    keys: KeyProvider,
    audit: AuditLog,
    clock: Clock,
    policy: EpochPolicy,
    actor: Actor = SCHEDULER,
) -> RotationReport | None:
    """Start the next epoch if one is due, or finish an unfinished one; None when
    nothing is due. Idempotent and safe to run from several workers at once (the
    epoch claim is unique). Raises KeyProviderError (a rerun resumes).
    """
    epochal = epoch_keys(keys)
    if epochal is None:
        return None
    now = clock.now()
    with db.session() as session:
        records.sync(session, epochal, now, policy.period + policy.retire_grace)
    with db.session() as session:
        due = epoch_due(session, keys, now, policy.period)
    if not due:
        return None
    return rotate_keys(db, keys, audit, clock, actor, options=policy.options())
