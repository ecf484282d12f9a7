"""KEK epochs: the key-encryption key is replaced on a schedule and the old one destroyed.

Old database pages, WAL segments, replicas and backups may still hold a shredded data
key in wrapped form; only destroying the KEK that wrapped it makes every such copy
useless. Every ``period`` (default 7 days) a rotation starts a new epoch, re-wraps
every live data key under it and destroys the old KEK, so a shredded key's *shred
horizon* — the time after which no copy anywhere can be unwrapped — is the
retirement of the epoch that wrapped it when it was shredded.

- :mod:`storage.kek.rotation` — the resumable rotation (claim, activate, re-wrap, retire);
- :mod:`storage.kek.rewrap` — the batched re-wrap of every live data key;
- :mod:`storage.kek.schedule` — when a rotation is due; the worker's periodic entry point;
- :mod:`storage.kek.horizon` — the shred horizon of a tombstone;
- :mod:`storage.kek.records` — the ``kek_epochs`` rows;
- :mod:`storage.kek.status` — data keys per KEK version (``verp keys status``).
"""

from storage.kek.horizon import Horizon, horizon_of, horizons
from storage.kek.provider import EpochKeys, epoch_keys
from storage.kek.records import EpochView, views
from storage.kek.rotation import (
    DEFAULT_BATCH,
    DEFAULT_PERIOD,
    RotationOptions,
    RotationReport,
    rotate_keys,
    rotation_unfinished,
)
from storage.kek.schedule import EpochPolicy, epoch_due, run_due_rotation
from storage.kek.status import KeyStatus, key_status

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_PERIOD",
    "EpochKeys",
    "EpochPolicy",
    "EpochView",
    "Horizon",
    "KeyStatus",
    "RotationOptions",
    "RotationReport",
    "epoch_due",
    "epoch_keys",
    "horizon_of",
    "horizons",
    "key_status",
    "rotate_keys",
    "rotation_unfinished",
    "run_due_rotation",
    "views",
]
