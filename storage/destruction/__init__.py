"""Destroying a clip by crypto-shredding, and the retention sweep that does it when due.

``destroyer`` runs the steps (mark, shred, delete blobs, verify erasure, tombstone; its
docstring tells what each step leaves after a crash); ``tombstones`` builds the record a
destroyed clip leaves. Import from here.
"""

from storage.destruction.destroyer import (
    ERASURE_PENDING,
    REAPPEARED,
    REASONS,
    STEPS,
    SWEEPER,
    UPLOAD_REFUSED,
    Destroyer,
    Outcome,
    StepHook,
    SweepReport,
    request_destruction,
)

__all__ = [
    "ERASURE_PENDING",
    "REAPPEARED",
    "REASONS",
    "STEPS",
    "SWEEPER",
    "UPLOAD_REFUSED",
    "Destroyer",
    "Outcome",
    "StepHook",
    "SweepReport",
    "request_destruction",
]
