"""What a KEK provider must offer to run in epochs (the local key file and KMS do)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from storage.keys import KeyProvider, LocalKeyFile


@runtime_checkable
class EpochKeys(Protocol):
    """A :class:`storage.keys.KeyProvider` whose KEK can be replaced and destroyed.

    ``new_version`` creates key material that wraps nothing yet, ``make_current``
    switches new wraps onto it, ``destroy_version`` makes a retired version
    unusable for good and says when its key material is gone: None for "now" (key
    file), a later date for KMS (its deletion date).
    """

    name: str

    def current_version(self) -> str: ...

    def new_version(self, number: int) -> str: ...

    def make_current(self, version: str) -> None: ...

    def destroy_version(self, version: str) -> datetime | None: ...

    def is_destroyed(self, version: str) -> bool: ...


def epoch_keys(keys: KeyProvider) -> EpochKeys | None:
    """``keys`` as :class:`EpochKeys`, or None when it cannot run in epochs (a KMS key
    id that is not an alias, an in-memory test provider)."""
    if isinstance(keys, LocalKeyFile):
        return keys
    if getattr(keys, "supports_epochs", False) and isinstance(keys, EpochKeys):
        return keys
    return None


def key_file_versions(keys: EpochKeys) -> dict[str, str]:
    """Version -> creation time (ISO) of every usable KEK in a local key file; empty for
    other providers (they report only their current key)."""
    if isinstance(keys, LocalKeyFile):
        return {v: str(meta.get("created") or "") for v, meta in keys.versions().items()}
    return {}
