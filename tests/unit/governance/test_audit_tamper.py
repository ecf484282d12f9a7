"""Tampering with audit rows directly in the database (SQLite and PostgreSQL) is detected
by verification, which names the first bad entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Connection, select, text

from storage.audit import GENESIS, chain_hash
from storage.audit.checkpoints import Checkpoints, LocalCheckpointStore
from storage.audit.verify import verify_chain
from storage.db.governance import AuditEntry
from tests.unit.governance.factory import ADMIN, make_world
from webapp.composition import Services

N = 12
LAST = N + 1  # the checkpoint of entry N is itself recorded as entry N + 1


def _fill(svc: Services) -> None:
    make_world(svc)  # entry 1: site.create
    for i in range(2, N + 1):
        with svc.db.session() as session:
            svc.audit.append(session, ADMIN, "test.event", target_id=f"t{i}", details={"i": i})
        svc.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]


def _checkpoint(svc: Services) -> None:
    with svc.db.session() as session:
        assert svc.audit.checkpoint_head(session, svc.clock.now()) is not None


def _verify(svc: Services):  # type: ignore[no-untyped-def]
    with svc.db.session() as session:
        return verify_chain(session, svc.audit.key, svc.audit.checkpoints)


def _move(conn: Connection, old: int, new: int) -> None:
    conn.execute(
        text("UPDATE audit_entries SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
    )


def modify_details(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_entries SET details = '{\"i\": 99}' WHERE seq = 5"))


def modify_actor(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_entries SET actor_id = 'someone-else' WHERE seq = 7"))


def delete_middle(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq = 5"))


def delete_and_renumber(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq = 5"))
    for seq in range(6, LAST + 1):
        _move(conn, seq, seq - 1)


def insert_middle(conn: Connection) -> None:
    for seq in range(LAST, 4, -1):
        _move(conn, seq, seq + 1)
    prev = conn.execute(text("SELECT hash FROM audit_entries WHERE seq = 4")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO audit_entries (seq, at, actor_id, actor_role, action, details, "
            "prev_hash, hash) VALUES (5, :at, 'x', 'admin', 'clip.play', '{}', :prev, :hash)"
        ),
        {"at": "2026-03-02 09:00:03", "prev": prev, "hash": "f" * 64},
    )


def insert_tail(conn: Connection) -> None:
    prev = conn.execute(text(f"SELECT hash FROM audit_entries WHERE seq = {LAST}")).scalar_one()
    conn.execute(
        text(
            "INSERT INTO audit_entries (seq, at, actor_id, actor_role, action, details, "
            "prev_hash, hash) VALUES (:seq, :at, 'x', 'admin', 'clip.play', '{}', :prev, :hash)"
        ),
        {"seq": LAST + 1, "at": "2026-03-02 10:00:00", "prev": prev, "hash": "e" * 64},
    )


def reorder(conn: Connection) -> None:
    _move(conn, 4, -1)
    _move(conn, 5, 4)
    _move(conn, -1, 5)


def truncate_tail(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq > 9"))


CASES: list[tuple[Callable[[Connection], None], int, str]] = [
    (modify_details, 5, "modified"),
    (modify_actor, 7, "modified"),
    (delete_middle, 5, "missing"),
    (delete_and_renumber, 5, "does not follow"),
    (insert_middle, 5, "forged"),
    (insert_tail, LAST + 1, "forged"),
    (reorder, 4, "does not follow"),
    (truncate_tail, 10, "truncated"),
]


@pytest.mark.parametrize(("tamper", "bad_seq", "word"), CASES, ids=[c[0].__name__ for c in CASES])
def test_tampering_is_detected_and_named(
    services: Services, tamper: Callable[[Connection], None], bad_seq: int, word: str
) -> None:
    _fill(services)
    _checkpoint(services)
    assert _verify(services).ok
    with services.db.engine.begin() as conn:
        tamper(conn)
    result = _verify(services)
    assert not result.ok
    assert result.first_bad_seq == bad_seq
    assert result.problem is not None and word in result.problem
    assert f"#{bad_seq}" in result.problem


def test_rewriting_history_with_the_stolen_key_is_caught_by_the_checkpoint(
    services: Services,
) -> None:
    _fill(services)
    _checkpoint(services)
    key = services.audit.key
    with services.db.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        entries[4].details = {"i": 99}
        prev = GENESIS
        for entry in entries:  # recompute the whole chain as an insider with the key would
            entry.prev_hash = prev
            entry.hash = chain_hash(key, prev, entry)
            prev = entry.hash
    result = _verify(services)
    assert not result.ok and result.first_bad_seq == N
    assert result.problem is not None and "checkpoint" in result.problem


def test_truncation_is_only_visible_against_a_checkpoint(services: Services) -> None:
    _fill(services)
    current = services.audit.checkpoints
    assert current is not None
    empty = LocalCheckpointStore(services.settings.home / "no-checkpoints")
    services.audit.checkpoints = Checkpoints(empty, current.public_key)
    with services.db.engine.begin() as conn:
        truncate_tail(conn)
    # Without any checkpoint ever written a cut tail is indistinguishable from a shorter
    # log ... which is why sweeps, verifications and every N appends write one, and why a
    # DPO keeps receipts (tests/unit/governance/test_audit_witness.py).
    assert _verify(services).ok


def test_forged_or_edited_checkpoint_fails_verification(services: Services) -> None:
    _fill(services)
    _checkpoint(services)
    assert services.audit.checkpoints is not None
    store = services.audit.checkpoints.store
    assert isinstance(store, LocalCheckpointStore)
    (name,) = store.names()
    body = json.loads(store.get(name))
    body["seq"] = 3
    (store.root / name).write_text(json.dumps(body))
    result = _verify(services)
    assert not result.ok and result.problem is not None and "invalid signature" in result.problem


def test_every_nth_append_is_checkpointed_after_commit_and_recorded(services: Services) -> None:
    services.audit.checkpoint_every = 4
    checkpoints = services.audit.checkpoints
    assert checkpoints is not None
    _fill(services)  # 12 entries, each checkpoint recorded as the entry after it
    seqs = sorted(int(name.split("-")[1]) for name in checkpoints.names())
    assert seqs == [4, 8, 12]
    with services.db.session() as session:
        records = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.checkpoint")
        ).all()
    assert [(r.seq, r.details["seq"]) for r in records] == [(5, 4), (9, 8), (13, 12)]
    assert {r.target_id for r in records} == set(checkpoints.names())
    with pytest.raises(RuntimeError), services.db.session() as session:  # rolled back
        for _ in range(4):
            services.audit.append(session, ADMIN, "test.event")  # 16 would be checkpointed
        raise RuntimeError("abort")
    assert len(checkpoints.names()) == 3  # ... but it never committed
    with services.db.session() as session:
        services.audit.append(session, ADMIN, "test.event", details={"again": True})
    newest = checkpoints.newest()
    assert newest is not None and newest.seq == 16
    with services.db.session() as session:
        assert session.get(AuditEntry, 16).hash == newest.head_hash  # type: ignore[union-attr]
    result = _verify(services)
    assert result.ok and result.recorded_checkpoints == 4 and result.head_seq == 17
