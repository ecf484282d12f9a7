"""The shred horizon: when a shredded data key became unrecoverable from every copy.

A copy of the wrapped key (an old database page, WAL, a replica, a backup) unwraps only
with the KEK that wrapped it. When the key was shredded it was wrapped by epoch E's KEK
(recorded on the tombstone) and, in older copies, by earlier epochs' KEKs. Once epoch E
and every earlier epoch is destroyed (``destroyed_at``: the key file rewrite, or the date
KMS deletes the key), no copy anywhere can be unwrapped: that moment is T2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.db.governance import KekEpoch
from storage.kek.records import epochs

UNRECOVERABLE, PENDING, UNKNOWN = "unrecoverable", "pending", "unknown"


@dataclass(frozen=True)
class Horizon:
    """``state`` is unrecoverable (``at`` = T2), pending (``at`` = the date epoch E's
    KEK is due to be gone, None if not yet scheduled) or unknown (no epoch on record)."""

    state: str
    epoch: int | None
    at: datetime | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        at = self.at.isoformat() if self.at is not None else None
        return {"state": self.state, "epoch": self.epoch, "at": at, "text": self.text}


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _horizon(history: list[KekEpoch], provider: str, version: str | None, now: datetime) -> Horizon:
    epoch = next((e for e in history if version and e.kek_version == version), None)
    if epoch is None and not history and version:
        return Horizon(
            PENDING,
            None,
            None,
            "pending: the key-encryption key that wrapped it retires at the first epoch "
            "rotation (the worker starts the epoch history at its next hourly check)",
        )
    if epoch is None:
        return Horizon(
            UNKNOWN,
            None,
            None,
            "not recorded: the key-encryption key that wrapped this data key is not in the "
            "epoch history (destroyed before KEK epochs were kept)",
        )
    upto = [e for e in history if e.number <= epoch.number]
    gone = [e.destroyed_at for e in upto]
    if all(g is not None and g <= now for g in gone):
        at = max(g for g in gone if g is not None)
        return Horizon(
            UNRECOVERABLE,
            epoch.number,
            at,
            f"unrecoverable from any copy since {_when(at)} (epoch {epoch.number} and every "
            "earlier one retired)",
        )
    dates = [e.destroyed_at or e.retire_due_at for e in upto]
    due = max(d for d in dates if d is not None) if all(d is not None for d in dates) else None
    if due is not None and all(e.retired_at is not None for e in upto):
        text = f"pending: KMS deletes the key of epoch {epoch.number} on {_when(due)}"
    elif due is None:
        text = f"pending: epoch {epoch.number} retires at the next epoch rotation"
    else:
        text = f"pending: epoch {epoch.number} retires by {_when(due)}"
        if provider == "kms":
            text += ", then KMS deletes its key after the deletion window"
        if due < now:
            text += " (overdue: check the worker and `verp keys epochs`)"
    return Horizon(PENDING, epoch.number, due, text)


def horizon_of(
    session: Session, provider: str | None, version: str | None, now: datetime
) -> Horizon:
    """The shred horizon of a data key shredded while wrapped by ``(provider, version)``."""
    history = epochs(session, provider) if provider else []
    return _horizon(history, provider or "", version, now)


def horizons(
    session: Session, keks: Iterable[tuple[str | None, str | None]], now: datetime
) -> dict[tuple[str | None, str | None], Horizon]:
    """:func:`horizon_of` for many (provider, version) pairs, reading each history once."""
    histories: dict[str, list[KekEpoch]] = {}
    result: dict[tuple[str | None, str | None], Horizon] = {}
    for provider, version in keks:
        if provider and provider not in histories:
            histories[provider] = epochs(session, provider)
        history = histories.get(provider or "", [])
        result[(provider, version)] = _horizon(history, provider or "", version, now)
    return result
