"""The tamper-evident audit log: hash chain, signed checkpoints, verification, export.

``chain`` appends entries (:class:`AuditLog`, :class:`Actor`); ``checkpoints`` writes and
reads signed checkpoints; ``s3_checkpoints`` keeps them under S3 Object Lock; ``verify``
checks the chain against its key and its checkpoints; ``export`` writes a site's entries
for a data-protection officer.
"""

from storage.audit.chain import GENESIS, Actor, AuditLog, canonical, chain_hash
from storage.audit.checkpoints import (
    Checkpoint,
    CheckpointStore,
    LocalCheckpointStore,
    checkpoint_head,
)

__all__ = [
    "GENESIS",
    "Actor",
    "AuditLog",
    "Checkpoint",
    "CheckpointStore",
    "LocalCheckpointStore",
    "canonical",
    "chain_hash",
    "checkpoint_head",
]
