"""``verp keys status``: data keys per KEK version and whether a rotation is unfinished."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db.footage import DataKey
from storage.keys import KeyProvider


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
    versioned = getattr(keys, "versions", None)
    kek_versions = sorted(versioned(), key=_version_order) if versioned else [current]
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
