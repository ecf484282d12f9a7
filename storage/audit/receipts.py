"""Audit receipts: a signed checkpoint of the chain head, handed to someone outside.

A DPO (or anyone) who keeps a receipt can later prove, with the public key alone, that the
log still contains the receipt's entry unchanged and has not been cut back before it: a
witness the server cannot reach. A receipt is a JSON document (docs/format.md, "Audit
receipts") holding one checkpoint with its Ed25519 signature, the checkpoint's name and the
signer's public key. The public key inside is a convenience: a verifier MUST compare it
with a public key obtained independently (``verp audit public-key``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from storage.audit.chain import Actor, AuditLog
from storage.audit.checkpoints import Checkpoint, parse_checkpoint
from storage.audit.signing import PublicKey
from storage.errors import AuditIntegrityError

VERSION = "verp-audit-receipt/1"
RECEIPT_ACTION = "audit.receipt"
MAX_BYTES = 16 * 1024


def receipt_body(checkpoint: Checkpoint, public_key: PublicKey) -> dict[str, Any]:
    """The receipt document for ``checkpoint`` (a JSON object)."""
    return {
        "version": VERSION,
        "name": checkpoint.name,
        "checkpoint": checkpoint.body(),
        "public_key": public_key.raw.hex(),
    }


def dump_receipt(checkpoint: Checkpoint, public_key: PublicKey) -> bytes:
    """The receipt as the bytes of a file (sorted keys, 2-space indent, final newline)."""
    return (
        json.dumps(receipt_body(checkpoint, public_key), sort_keys=True, indent=2) + "\n"
    ).encode()


def parse_receipt(data: bytes, trusted: PublicKey) -> Checkpoint:
    """Authenticate a receipt with the ``trusted`` public key; returns its checkpoint.

    Raises AuditIntegrityError if the receipt is malformed, names another public key than
    ``trusted``, or its signature does not verify.
    """
    if len(data) > MAX_BYTES:
        raise AuditIntegrityError("receipt: file too large to be a receipt")
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("version") != VERSION:
            raise ValueError("version")
        name, public_hex, inner = str(body["name"]), str(body["public_key"]), body["checkpoint"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise AuditIntegrityError(f"receipt: not a {VERSION} document") from exc
    if public_hex != trusted.raw.hex():
        raise AuditIntegrityError(
            f"receipt {name} names public key {public_hex[:16]}…, not the trusted key "
            f"{trusted.key_id} (signed by another key, or the server's key was replaced)"
        )
    try:
        return parse_checkpoint(inner, trusted, name)
    except AuditIntegrityError as exc:
        raise AuditIntegrityError(f"receipt: {exc}") from exc


def issue_receipt(session: Session, audit: AuditLog, actor: Actor, at: datetime) -> bytes:
    """Checkpoint the chain head now and return a receipt for it; audited as
    ``audit.receipt`` in the same unit of work.

    Raises AuditIntegrityError if the deployment cannot sign checkpoints or the store
    refuses one.
    """
    checkpoints = audit.checkpoints
    if checkpoints is None or checkpoints.signer is None:
        raise AuditIntegrityError("no audit signing key: receipts cannot be issued")
    checkpoint = audit.checkpoint_head(session, at) or checkpoints.newest()
    if checkpoint is None:
        raise AuditIntegrityError("the audit log is empty: there is nothing to vouch for")
    audit.append(
        session,
        actor,
        RECEIPT_ACTION,
        target_type="audit_checkpoint",
        target_id=checkpoint.name,
        site_id=actor.site_id,
        details={"seq": checkpoint.seq, "head_hash": checkpoint.head_hash},
    )
    return dump_receipt(checkpoint, checkpoints.public_key)
