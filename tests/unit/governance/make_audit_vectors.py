"""Generate the audit known-answer vectors of docs/format.md (audit_vectors.json beside
this file): canonical entries and the chain, a signed checkpoint and a receipt.

Run ``python -m tests.unit.governance.make_audit_vectors`` from the project root;
``--check`` compares instead of writing and exits 1 on a difference. Every input is fixed
(Ed25519 signatures are deterministic), so regenerating leaves the file unchanged unless
the format changed on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run by path: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from storage.audit.chain import GENESIS, canonical, chain_hash
from storage.audit.checkpoints import sign_checkpoint, signed_message
from storage.audit.receipts import dump_receipt
from storage.audit.signing import Signer
from storage.db.governance import AuditEntry

OUT = Path(__file__).with_name("audit_vectors.json")
HMAC_KEY = bytes(range(32))
SEED = bytes(range(32, 64))
SITE = "0b5f8a52-6a3e-4c43-9f0e-2d1c7b9e4a10"

ENTRIES: list[dict[str, Any]] = [
    {
        "seq": 1,
        "at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "actor_id": "system:cli",
        "actor_role": "system",
        "site_id": None,
        "action": "site.create",
        "target_type": "site",
        "target_id": SITE,
        "details": {},
    },
    {
        "seq": 2,
        "at": datetime(2026, 3, 2, 9, 0, 1, 500, tzinfo=UTC),
        "actor_id": "4f1c2d3e-0000-4000-8000-00000000abcd",
        "actor_role": "dpo",
        "site_id": SITE,
        "action": "hold.place",
        "target_type": "clip",
        "target_id": "9d2e4f6a-1111-4222-8333-444455556666",
        "details": {
            "reason": 'Beschwerde "7/2026"\\ Zoë\n\t\u0001\u007f/',
            "counts": [0, -12, 9007199254740993],
            "flags": {"all": True, "none": None, "off": False},
            "emoji": "\U0001f600 \u00e9\u20ac",
            "Zed": "upper-case keys sort first",
        },
    },
    {
        "seq": 3,
        "at": datetime(2026, 3, 2, 9, 0, 2, 123456, tzinfo=UTC),
        "actor_id": "system:audit",
        "actor_role": "system",
        "site_id": None,
        "action": "audit.checkpoint",
        "target_type": "audit_checkpoint",
        "target_id": "checkpoint-000000000002-20260302T090001000500-0a1b2c.json",
        "details": {"seq": 2, "head_hash": "", "at": "", "key_id": ""},
    },
]


def build() -> dict[str, Any]:
    """Every vector, computed with the implementation (the tests recompute them from the
    document with raw primitives)."""
    signer = Signer.from_seed(SEED)
    prev = GENESIS
    chain: list[dict[str, Any]] = []
    checkpoint_at = datetime(2026, 3, 2, 9, 0, 1, 500, tzinfo=UTC)
    for fields in ENTRIES:
        fields = dict(fields)
        if fields["action"] == "audit.checkpoint":
            fields["details"] = {
                "seq": 2,
                "head_hash": prev,
                "at": "2026-03-02T09:00:01.000500Z",
                "key_id": signer.key_id,
            }
        entry = AuditEntry(**fields, prev_hash=prev, hash="")
        digest = chain_hash(HMAC_KEY, prev, entry)
        chain.append(
            {
                "fields": fields | {"at": fields["at"].isoformat()},
                "prev_hash": prev,
                "canonical": canonical(entry).decode("ascii"),
                "hash": digest,
            }
        )
        prev = digest
    head = chain[1]
    name = "checkpoint-000000000002-20260302T090001000500-0a1b2c.json"
    checkpoint = sign_checkpoint(signer, name, 2, head["hash"], checkpoint_at)
    return {
        "hmac_key": HMAC_KEY.hex(),
        "genesis": GENESIS,
        "entries": chain,
        "signing_seed": SEED.hex(),
        "public_key": signer.public_key.raw.hex(),
        "public_key_pem": signer.public_key.pem().decode("ascii"),
        "key_id": signer.key_id,
        "checkpoint": {
            "name": name,
            "signed_message": signed_message(2, head["hash"], checkpoint_at, signer.key_id).decode(
                "ascii"
            ),
            "document": checkpoint.body(),
        },
        "receipt": dump_receipt(checkpoint, signer.public_key).decode("ascii"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    if args.check:
        same = OUT.read_text() == text
        print("audit vectors up to date" if same else "audit vectors differ", file=sys.stderr)
        return 0 if same else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
