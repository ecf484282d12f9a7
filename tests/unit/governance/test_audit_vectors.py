"""Known-answer vectors of docs/format.md sections 15-18 (audit entries, the chain, a
checkpoint, a receipt), checked two ways: against the implementation, and recomputed from
the document's rules with raw primitives and a JSON encoder written from the spec, so the
document and the code cannot drift apart. Entries also go through each real database."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import select

from storage.audit.chain import Actor, AuditLog, canonical, plain_details
from storage.audit.checkpoints import parse_checkpoint
from storage.audit.receipts import parse_receipt
from storage.audit.signing import PublicKey
from storage.clock import FixedClock
from storage.db.governance import AuditEntry
from storage.errors import AuditIntegrityError
from tests.unit.governance.make_audit_vectors import build
from webapp.composition import Services

VECTORS: dict[str, Any] = json.loads(
    Path(__file__).with_name("audit_vectors.json").read_text(encoding="ascii")
)
FIELDS = ("action", "actor_id", "actor_role", "at", "details", "seq", "site_id", "target_id",
          "target_type")  # fmt: skip


def spec_string(text: str) -> str:
    """A JSON string exactly as docs/format.md 15.2 spells it."""
    short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
             "\f": "\\f"}  # fmt: skip
    out = []
    for char in text:
        if char in short:
            out.append(short[char])
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            units = char.encode("utf-16-be")
            out.extend(f"\\u{units[i : i + 2].hex()}" for i in range(0, len(units), 2))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def spec_json(value: Any) -> str:
    """The canonical JSON of docs/format.md 15.2, written from the document."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return spec_string(value)
    if isinstance(value, list):
        return "[" + ",".join(spec_json(v) for v in value) + "]"
    assert isinstance(value, dict)
    items = sorted(value.items(), key=lambda kv: [ord(c) for c in kv[0]])
    return "{" + ",".join(spec_string(k) + ":" + spec_json(v) for k, v in items) + "}"


def test_vector_file_is_what_the_generator_makes() -> None:
    assert build() == VECTORS


def test_entries_and_chain_follow_the_document() -> None:
    key = bytes.fromhex(VECTORS["hmac_key"])
    prev = VECTORS["genesis"]
    assert prev == "0" * 64
    for vector in VECTORS["entries"]:
        fields = vector["fields"]
        assert sorted(fields) == sorted(FIELDS)
        assert spec_json(fields) == vector["canonical"]
        assert vector["prev_hash"] == prev
        step = hmac.new(key, prev.encode("ascii") + vector["canonical"].encode("ascii"),
                        hashlib.sha256).hexdigest()  # fmt: skip
        assert step == vector["hash"]
        entry = AuditEntry(**(fields | {"at": datetime.fromisoformat(fields["at"])}))
        assert canonical(entry).decode("ascii") == vector["canonical"]
        prev = vector["hash"]


def test_checkpoint_and_receipt_follow_the_document() -> None:
    seed = bytes.fromhex(VECTORS["signing_seed"])
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert raw.hex() == VECTORS["public_key"]
    assert hashlib.sha256(raw).digest()[:16].hex() == VECTORS["key_id"]
    doc = VECTORS["checkpoint"]["document"]
    message = "\n".join(
        ["verp-audit-checkpoint/2", str(doc["seq"]), doc["head_hash"], doc["at"], doc["key_id"]]
    )
    assert message == VECTORS["checkpoint"]["signed_message"]
    assert doc["head_hash"] == VECTORS["entries"][1]["hash"]
    Ed25519PublicKey.from_public_bytes(raw).verify(
        bytes.fromhex(doc["signature"]), message.encode("ascii")
    )  # raises if it does not verify
    public = PublicKey.from_pem(VECTORS["public_key_pem"].encode("ascii"))
    assert public == PublicKey(raw)
    name = VECTORS["checkpoint"]["name"]
    checkpoint = parse_checkpoint(doc, public, name)
    assert (checkpoint.seq, checkpoint.head_hash) == (doc["seq"], doc["head_hash"])
    receipt = VECTORS["receipt"].encode("ascii")
    assert json.loads(receipt) == {
        "version": "verp-audit-receipt/1",
        "name": name,
        "checkpoint": doc,
        "public_key": VECTORS["public_key"],
    }
    assert parse_receipt(receipt, public) == checkpoint


@pytest.mark.parametrize("field", ["seq", "head_hash", "at", "key_id"])
def test_each_signed_field_is_covered(field: str) -> None:
    doc = dict(VECTORS["checkpoint"]["document"])
    doc[field] = {"seq": 3, "head_hash": "f" * 64, "at": "2026-03-02T09:00:01.000501Z",
                  "key_id": "0" * 32}[field]  # fmt: skip
    public = PublicKey.from_hex(VECTORS["public_key"])
    with pytest.raises(AuditIntegrityError, match=r"invalid signature|another key"):
        parse_checkpoint(doc, public, "x")


@pytest.mark.parametrize(
    ("field", "value"),
    [("at", "2026-03-02T09:00:01.0005Z"), ("at", "2026-03-02T09:00:01.000500+00:00"),
     ("seq", "2"), ("seq", True), ("head_hash", "A" * 64), ("signature", "ab")],
)  # fmt: skip
def test_other_spellings_are_refused(field: str, value: Any) -> None:
    doc = dict(VECTORS["checkpoint"]["document"]) | {field: value}
    public = PublicKey.from_hex(VECTORS["public_key"])
    with pytest.raises(AuditIntegrityError, match="cannot be read"):
        parse_checkpoint(doc, public, "x")


def test_details_outside_the_canonical_form_are_refused() -> None:
    for bad in ({"x": 1.5}, {"x": 2**63}, {"x": {1: "a"}}, {"x": b"b"}, {"x": datetime.now()}):
        with pytest.raises(ValueError, match="audit details"):
            plain_details(bad)
    assert plain_details({"x": [1, "a", None, True, {"y": -(2**63) + 1}]})


def test_vectors_survive_each_database(services: Services) -> None:
    """Appended through the real log and read back, the stored hashes are the vectors'."""
    key = bytes.fromhex(VECTORS["hmac_key"])
    clock = FixedClock(datetime.fromisoformat(VECTORS["entries"][0]["fields"]["at"]))
    log = AuditLog(key, clock)
    for vector in VECTORS["entries"]:
        fields = vector["fields"]
        clock.at = datetime.fromisoformat(fields["at"])
        with services.db.session() as session:
            log.append(
                session,
                Actor(fields["actor_id"], fields["actor_role"], fields["site_id"]),
                fields["action"],
                target_type=fields["target_type"],
                target_id=fields["target_id"],
                details=fields["details"],
            )
    with services.db.session() as session:
        stored = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [e.hash for e in stored] == [v["hash"] for v in VECTORS["entries"]]
        assert [canonical(e).decode() for e in stored] == [
            v["canonical"] for v in VECTORS["entries"]
        ]
