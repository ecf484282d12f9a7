"""The tamper-evident audit log: hash chain, signed checkpoints, receipts, verification.

``chain`` appends entries (:class:`AuditLog`, :class:`Actor`) and records each checkpoint
it writes; ``signing`` holds the Ed25519 checkpoint key; ``checkpoints`` writes and reads
signed checkpoints; ``s3_checkpoints`` keeps them under S3 Object Lock; ``receipts`` hands
a signed chain head to someone outside; ``verify`` checks the chain against its key, its
checkpoints and receipts; ``export`` writes a site's entries for a data-protection officer.
"""

from storage.audit.chain import CHECKPOINT_ACTION, GENESIS, Actor, AuditLog, canonical, chain_hash
from storage.audit.checkpoints import (
    Checkpoint,
    Checkpoints,
    CheckpointStore,
    LocalCheckpointStore,
)
from storage.audit.signing import PublicKey, Signer

__all__ = [
    "CHECKPOINT_ACTION",
    "GENESIS",
    "Actor",
    "AuditLog",
    "Checkpoint",
    "CheckpointStore",
    "Checkpoints",
    "LocalCheckpointStore",
    "PublicKey",
    "Signer",
    "canonical",
    "chain_hash",
]
