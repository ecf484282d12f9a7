"""A cut-short or rewritten audit log is visible to someone who does not trust the server:
checkpoints recorded in the chain must exist, checkpoints are Ed25519-signed, and a receipt
kept by a DPO proves the log still extends it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, select

from config import Settings
from storage.audit import GENESIS, Actor, chain_hash
from storage.audit.checkpoints import Checkpoints, LocalCheckpointStore, sign_checkpoint
from storage.audit.receipts import issue_receipt, parse_receipt
from storage.audit.signing import Signer
from storage.audit.verify import VerifyResult, verify_chain
from storage.db.governance import AuditEntry
from storage.errors import AuditIntegrityError
from storage.reports import RetentionReport, render_html
from tests.unit.governance.factory import ADMIN
from webapp.cli import cli
from webapp.composition import Services

DPO = Actor("dpo-1", "dpo", None)
MALLORY = Signer.from_seed(bytes(range(32)))


def _events(svc: Services, count: int) -> None:
    for i in range(count):
        with svc.db.session() as session:
            svc.audit.append(session, ADMIN, "test.event", details={"i": i})
        svc.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]


def _checkpoint(svc: Services) -> None:
    with svc.db.session() as session:
        assert svc.audit.checkpoint_head(session, svc.clock.now()) is not None


def _receipt(svc: Services) -> bytes:
    with svc.db.session() as session:
        return issue_receipt(session, svc.audit, DPO, svc.clock.now())


def _checkpoints(svc: Services) -> Checkpoints:
    assert svc.audit.checkpoints is not None
    return svc.audit.checkpoints


def _store(svc: Services) -> LocalCheckpointStore:
    store = _checkpoints(svc).store
    assert isinstance(store, LocalCheckpointStore)
    return store


def _verify(svc: Services, *receipts: bytes) -> VerifyResult:
    key = _checkpoints(svc).public_key
    parsed = [parse_receipt(r, key) for r in receipts]
    with svc.db.session() as session:
        return verify_chain(session, svc.audit.key, svc.audit.checkpoints, receipts=parsed)


def _cut_after(svc: Services, last_kept: int) -> None:
    """An insider with database and file access deletes the tail and every checkpoint
    file that would reveal it (those of entries after ``last_kept``)."""
    with svc.db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq > last_kept))
    for name in _store(svc).names():
        if int(name.split("-")[1]) > last_kept:
            (_store(svc).root / name).unlink()


def _rechain(svc: Services, keep: Any, edit: Any) -> None:
    """An insider holding the HMAC key rewrites history: keeps the entries ``keep``
    accepts, edits them, renumbers and recomputes the whole chain."""
    with svc.db.session() as session:
        old = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        rows = [
            {c: getattr(e, c) for c in ("at", "actor_id", "actor_role", "site_id", "action",
                                        "target_type", "target_id", "details")}
            for e in old if keep(e)
        ]  # fmt: skip
        session.execute(delete(AuditEntry))
        session.flush()
        prev = GENESIS
        for seq, row in enumerate(rows, start=1):
            entry = AuditEntry(seq=seq, prev_hash=prev, hash="", **edit(row))
            entry.hash = chain_hash(svc.audit.key, prev, entry)
            session.add(entry)
            prev = entry.hash


def test_missing_checkpoint_files_are_detected_without_a_receipt(services: Services) -> None:
    _events(services, 5)
    _checkpoint(services)  # checkpoint of #5, recorded as #6
    _events(services, 3)
    _checkpoint(services)  # checkpoint of #9, recorded as #10
    assert _verify(services).ok
    newest = max(_store(services).names())
    (_store(services).root / newest).unlink()
    result = _verify(services)
    assert not result.ok and result.first_bad_seq == 10
    assert result.problem is not None and newest in result.problem and "missing" in result.problem
    for name in _store(services).names():  # all of them
        (_store(services).root / name).unlink()
    result = _verify(services)
    assert not result.ok and result.first_bad_seq == 6 and "missing" in str(result.problem)


def test_an_edited_record_of_a_checkpoint_is_a_modified_entry(services: Services) -> None:
    _events(services, 3)
    _checkpoint(services)
    with services.db.session() as session:
        record = session.get(AuditEntry, 4)
        assert record is not None and record.action == "audit.checkpoint"
        record.target_id = "checkpoint-000000000001-x.json"  # point it at another name
    result = _verify(services)
    assert not result.ok and result.first_bad_seq == 4 and "modified" in str(result.problem)


def test_tail_cut_with_its_checkpoints_is_caught_by_a_receipt(services: Services) -> None:
    _events(services, 6)
    receipt = _receipt(services)  # covers #6; #7 records the checkpoint, #8 the receipt
    _events(services, 4)
    _checkpoint(services)
    assert _verify(services, receipt).ok
    _cut_after(services, 4)
    # The surviving chain names no checkpoint it lacks: alone it cannot see the cut ...
    assert _verify(services).ok
    # ... the DPO's receipt does.
    result = _verify(services, receipt)
    assert not result.ok and result.first_bad_seq == 5
    assert "truncated" in str(result.problem) and "#6" in str(result.problem)


def test_a_receipt_vouches_up_to_its_own_position_only(services: Services) -> None:
    _events(services, 6)
    receipt = _receipt(services)  # covers #6
    _events(services, 4)
    _checkpoint(services)
    # A cut after the receipt, taking the newer checkpoints and their records with it,
    # leaves a log that still extends the receipt: a DPO takes a new receipt at each visit
    # (or the deployment keeps checkpoints under S3 Object Lock).
    _cut_after(services, 9)
    assert _verify(services, receipt).ok
    _cut_after(services, 6)  # the receipt's own entry is the boundary
    assert _verify(services, receipt).ok
    _cut_after(services, 5)
    assert not _verify(services, receipt).ok


def test_receipt_from_a_rewritten_history_fails(services: Services) -> None:
    _events(services, 6)
    receipt = _receipt(services)
    _events(services, 2)
    for name in _store(services).names():
        (_store(services).root / name).unlink()

    def drop_evidence(e: AuditEntry) -> bool:
        return e.action not in {"audit.checkpoint", "audit.receipt"}

    def soften(row: dict[str, Any]) -> dict[str, Any]:
        return row | {"details": {"i": 99}} if row["details"] == {"i": 2} else row

    _rechain(services, drop_evidence, soften)
    assert _verify(services).ok  # an insider with the HMAC key can rewrite unseen ...
    result = _verify(services, receipt)  # ... except by the holder of a receipt
    assert not result.ok and result.first_bad_seq == 6
    assert "rewritten" in str(result.problem) and "receipt" in str(result.problem)


def test_forged_checkpoints_are_refused_by_signature(services: Services) -> None:
    _events(services, 3)
    _checkpoint(services)
    real = _checkpoints(services)
    store = _store(services)
    # Mallory signs with her own key but claims the deployment's key id.
    forged = sign_checkpoint(MALLORY, "checkpoint-000000000009-x-forged.json", 9, "a" * 64,
                             services.clock.now())  # fmt: skip
    body = forged.body() | {"key_id": real.public_key.key_id}
    store.put(forged.name, json.dumps(body).encode())
    result = _verify(services)
    assert not result.ok and "invalid signature" in str(result.problem)
    (store.root / forged.name).unlink()
    store.put(forged.name, json.dumps(forged.body()).encode())  # honest about her key
    result = _verify(services)
    assert not result.ok and "signed by another key" in str(result.problem)
    (store.root / forged.name).unlink()
    old = {"version": "verp-audit-checkpoint/1", "seq": 3, "head_hash": "a" * 64,
           "at": "2026-03-02T09:00:00+00:00", "signature": "b" * 64}  # fmt: skip
    store.put("checkpoint-000000000003-old-hmac.json", json.dumps(old).encode())
    result = _verify(services)
    assert not result.ok and "unsupported version" in str(result.problem)


def test_receipts_are_authenticated_with_the_public_key_only(services: Services) -> None:
    with services.db.session() as session, pytest.raises(AuditIntegrityError, match="empty"):
        issue_receipt(session, services.audit, DPO, services.clock.now())
    _events(services, 4)
    receipt = _receipt(services)
    public = _checkpoints(services).public_key
    checkpoint = parse_receipt(receipt, public)
    assert checkpoint.seq == 4 and json.loads(receipt)["public_key"] == public.raw.hex()
    with services.db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.receipt")
        ).one()
    assert entry.actor_id == DPO.id and entry.details == {
        "seq": 4,
        "head_hash": checkpoint.head_hash,
    }
    body = json.loads(receipt)
    body["checkpoint"]["seq"] = 3
    with pytest.raises(AuditIntegrityError, match="invalid signature"):
        parse_receipt(json.dumps(body).encode(), public)
    with pytest.raises(AuditIntegrityError, match="another key"):
        parse_receipt(receipt, MALLORY.public_key)
    swapped = json.loads(receipt) | {"public_key": MALLORY.public_key.raw.hex()}
    with pytest.raises(AuditIntegrityError, match="names public key"):  # its own layer
        parse_receipt(json.dumps(swapped).encode(), public)
    with pytest.raises(AuditIntegrityError, match="not a verp-audit-receipt/1"):
        parse_receipt(b"[1, 2]", public)
    with pytest.raises(AuditIntegrityError, match="too large"):
        parse_receipt(b" " * 20000, public)
    again = _receipt(services)  # nothing new but the receipt entry: a new checkpoint covers it
    assert parse_receipt(again, public).seq > checkpoint.seq


@pytest.fixture
def run(settings: Settings, services: Services) -> Any:
    env = {"VERP_HOME": str(settings.home), "VERP_DATABASE_URL": settings.database_url}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


def test_cli_receipt_public_key_and_verify(run: Any, services: Services, tmp_path: Path) -> None:
    _events(services, 5)
    receipt_file, key_file = tmp_path / "r.json", tmp_path / "k.pem"
    made = run("audit", "receipt", "-o", str(receipt_file))
    assert made.exit_code == 0, made.output
    assert run("audit", "public-key", "-o", str(key_file)).exit_code == 0
    assert key_file.read_bytes() == _checkpoints(services).public_key.pem()
    good = run("audit", "verify", "--receipt", str(receipt_file), "--public-key", str(key_file))
    assert good.exit_code == 0 and "1 receipt(s)" in good.output
    _cut_after(services, 3)
    cut = run("audit", "verify", "--receipt", str(receipt_file), "--public-key", str(key_file))
    assert cut.exit_code == 1 and "truncated" in cut.output
    other = tmp_path / "other.pem"
    other.write_bytes(MALLORY.public_key.pem())
    wrong = run("audit", "verify", "--receipt", str(receipt_file), "--public-key", str(other))
    assert wrong.exit_code == 1 and "another key" in wrong.output


def test_the_html_report_carries_the_receipt_escaped(services: Services) -> None:
    _events(services, 2)
    receipt = _receipt(services).decode()
    report = RetentionReport("north", services.clock.now(), True, None, receipt=receipt)
    page = render_html(report)
    assert "<h2>Audit receipt</h2>" in page
    assert "&quot;version&quot;: &quot;verp-audit-receipt/1&quot;" in page
    assert '"version"' not in page  # every quote escaped
