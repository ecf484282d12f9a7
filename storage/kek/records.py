"""The ``kek_epochs`` rows: the history of every KEK, as the horizon needs it.

Each function works in the caller's unit of work and commits nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db.governance import KekEpoch
from storage.kek.provider import EpochKeys, key_file_versions

#: Scheduling slack added to an epoch's period and grace for its promised retirement
#: date: the worker checks hourly and re-wrapping takes minutes.
RETIRE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class EpochView:
    """One epoch as ``verp keys epochs`` and the DPO see it."""

    provider: str
    number: int
    kek_version: str
    provider_key_id: str
    state: str
    created_at: datetime
    current_from: datetime | None
    superseded_at: datetime | None
    retire_due_at: datetime | None
    retired_at: datetime | None
    destroyed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.__dict__.items()
        }


def state_of(epoch: KekEpoch, now: datetime) -> str:
    """pending | current | superseded | retired | destroyed (key material gone)."""
    if epoch.destroyed_at is not None and epoch.destroyed_at <= now:
        return "destroyed"
    if epoch.retired_at is not None:
        return "retired"
    if epoch.superseded_at is not None:
        return "superseded"
    if epoch.current_from is not None:
        return "current"
    return "pending"


def epochs(session: Session, provider: str) -> list[KekEpoch]:
    """Every epoch of ``provider``, oldest first."""
    query = select(KekEpoch).where(KekEpoch.provider == provider).order_by(KekEpoch.number)
    return list(session.scalars(query))


def views(session: Session, provider: str, now: datetime) -> list[EpochView]:
    """Every epoch of ``provider`` as plain values, oldest first."""
    return [
        EpochView(
            provider=e.provider,
            number=e.number,
            kek_version=e.kek_version,
            provider_key_id=e.provider_key_id,
            state=state_of(e, now),
            created_at=e.created_at,
            current_from=e.current_from,
            superseded_at=e.superseded_at,
            retire_due_at=e.retire_due_at,
            retired_at=e.retired_at,
            destroyed_at=e.destroyed_at,
        )
        for e in epochs(session, provider)
    ]


def pending_epoch(session: Session, provider: str) -> KekEpoch | None:
    """The epoch claimed by a rotation and not made current yet, if any."""
    query = select(KekEpoch).where(KekEpoch.provider == provider, KekEpoch.current_from.is_(None))
    return session.scalars(query.order_by(KekEpoch.number)).first()


def current_epoch(session: Session, provider: str) -> KekEpoch | None:
    """The newest epoch that has been made current."""
    query = select(KekEpoch).where(
        KekEpoch.provider == provider, KekEpoch.current_from.is_not(None)
    )
    return session.scalars(query.order_by(KekEpoch.number.desc())).first()


def unretired_old(session: Session, provider: str) -> list[KekEpoch]:
    """Superseded epochs whose KEK has not been retired yet, oldest first."""
    query = select(KekEpoch).where(
        KekEpoch.provider == provider,
        KekEpoch.superseded_at.is_not(None),
        KekEpoch.retired_at.is_(None),
    )
    return list(session.scalars(query.order_by(KekEpoch.number)))


def next_number(session: Session, provider: str, keys: EpochKeys) -> int:
    """The number of the next epoch: above every recorded epoch and key-file version."""
    recorded = session.scalar(
        select(func.max(KekEpoch.number)).where(KekEpoch.provider == provider)
    )
    in_file = [int(v) for v in key_file_versions(keys) if v.isdigit()]
    return max([int(recorded or 0), *in_file]) + 1


def sync(session: Session, keys: EpochKeys, now: datetime, lifetime: timedelta) -> None:
    """Record KEKs the table does not know yet: the provider's current key (the first
    epoch of a deployment that predates epochs) and, for a key file, every older
    version still in it (superseded, so the next run retires it). ``lifetime`` is the
    epoch period plus the retirement grace (for the promised retirement date)."""
    known = {e.kek_version for e in epochs(session, keys.name)}
    current = keys.current_version()
    created = key_file_versions(keys)
    for version in sorted(created, key=lambda v: int(v) if v.isdigit() else 0):
        if version not in known and version != current and version.isdigit():
            session.add(
                KekEpoch(
                    provider=keys.name,
                    number=int(version),
                    kek_version=version,
                    provider_key_id=version,
                    created_at=min(_parse(created[version], now), now),
                    current_from=min(_parse(created[version], now), now),
                    superseded_at=now,
                )
            )
    if current not in known:
        # The key file says when a version was made; never later than now (a test clock).
        since = min(_parse(created.get(current, ""), now), now)
        number = int(current) if current.isdigit() else next_number(session, keys.name, keys)
        for older in epochs(session, keys.name):
            if older.superseded_at is None and older.current_from is not None:
                older.superseded_at = now
        session.add(
            KekEpoch(
                provider=keys.name,
                number=number,
                kek_version=current,
                provider_key_id=current,
                created_at=since,
                current_from=since,
                retire_due_at=since + lifetime + RETIRE_SLACK,
            )
        )
    session.flush()


def _parse(iso: str, default: datetime) -> datetime:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return default
    return when if when.tzinfo is not None else default
