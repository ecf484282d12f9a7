"""Verified erasure: a destruction is reported complete only once the wrapped data key is
gone from every live database file; otherwise the clip is "key destroyed, erasure pending"
and the next sweep finishes it. Real SQLite files and a real PostgreSQL relation file."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from storage.clock import FixedClock
from storage.db.engine import Database
from storage.db.footage import Clip
from storage.db.governance import Tombstone
from storage.destruction import ERASURE_PENDING, Destroyer, request_destruction
from storage.erasure import PROBE_SIZE, probe_of, probes_in_file, verify_erasure
from storage.errors import KeyNotFound
from storage.governance_status import retention_status
from tests.conftest import make_settings, open_services
from tests.unit.governance.erasure_env import files_holding, reader_snapshot
from tests.unit.governance.factory import (
    ADMIN,
    clip_row,
    make_clip,
    make_consent,
    make_world,
    wrapped_key,
)
from tests.unit.webapp.helpers import text
from tests.webapp_fixtures import LoginAs, World
from webapp.composition import Services

YEAR = timedelta(days=366)
WAIT = 0.5  # seconds the checkpoint / VACUUM FULL may wait for readers in these tests
VERIFY_WAIT = 20.0  # for a check expected to verify (no reader of ours left)


@pytest.fixture
def svc(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[Services]:
    settings = make_settings(
        tmp_path / "home", **{"database.url": db_url, "database.erasure_wait_seconds": WAIT}
    )
    yield from open_services(settings, clock)


def _due_clip(svc: Services, clock: FixedClock) -> tuple[str, bytes]:
    world = make_world(svc)
    clip_id = make_clip(svc, world, make_consent(svc, world), review_rows=False)
    old = wrapped_key(svc, clip_id)
    assert old is not None
    assert files_holding(svc, old)  # the search below can find it
    clock.advance(YEAR)
    return clip_id, old


def _sweep(svc: Services, wait: float = WAIT) -> tuple[list[str], list[dict[str, str]]]:
    """One sweep whose erasure check waits at most ``wait`` seconds. Sweeps expected to
    verify get a generous budget: on the shared test server, another test's transaction
    can briefly keep a dead row (as any older transaction would in production)."""
    db = Database(svc.db.engine, checkpoint_wait=wait)
    report = Destroyer(db, svc.vault, svc.audit).sweep(svc.settings.retention)
    assert report.failed == []
    return report.destroyed, report.erasure_pending


def _tombstone(svc: Services, clip_id: str) -> Tombstone | None:
    with svc.db.session() as session:
        return session.get(Tombstone, clip_id)


@pytest.mark.parametrize("table", ["clips", "data_keys"])
def test_a_reader_snapshot_leaves_erasure_pending_until_the_next_sweep(
    svc: Services, clock: FixedClock, table: str
) -> None:
    clip_id, old = _due_clip(svc, clock)
    with reader_snapshot(svc, table):
        started = time.monotonic()
        destroyed, pending = _sweep(svc)
        assert time.monotonic() - started < WAIT + 5  # bounded wait, then reported
        # Never "destroyed" while the bytes may be in a file: pending, with the reason.
        assert destroyed == []
        assert [p["clip_id"] for p in pending] == [clip_id]
        clip = clip_row(svc, clip_id)
        assert clip.status == ERASURE_PENDING and clip.erasure_problem == pending[0]["problem"]
        assert clip.erasure_checked_at == clock.now()
        assert _tombstone(svc, clip_id) is None
        # The key itself is already unusable.
        assert wrapped_key(svc, clip_id) is None
        with svc.db.session() as session, pytest.raises(KeyNotFound):
            svc.vault.data_key(session, clip.site_id, clip_id)
    # The reader let go: the next sweep verifies, and only then reports destroyed.
    destroyed, pending = _sweep(svc, VERIFY_WAIT)
    assert (destroyed, pending) == ([clip_id], [])
    assert files_holding(svc, old) == []
    assert files_holding(svc, old[:PROBE_SIZE]) == []
    clip = clip_row(svc, clip_id)
    assert clip.status == "destroyed" and clip.erasure_probe is None
    assert clip.erasure_problem is None
    tomb = _tombstone(svc, clip_id)
    assert tomb is not None and tomb.erased_at == clock.now()
    assert tomb.erasure_evidence and "probe absent" in tomb.erasure_evidence
    # A third sweep has nothing to do.
    assert _sweep(svc) == ([], [])


def test_the_bytes_really_were_there_while_pending_on_sqlite(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Why pending is right: with a reader holding its snapshot, SQLite cannot finish the
    checkpoint, and the page holding the wrapped key is still in a file (the WAL, or
    verp.db when a partial checkpoint copied it there) — and the problem names it."""
    settings = make_settings(tmp_path / "home", **{"database.erasure_wait_seconds": WAIT})
    with contextmanager(open_services)(settings, clock) as svc:
        clip_id, old = _due_clip(svc, clock)
        with reader_snapshot(svc):
            _, pending = _sweep(svc)
            assert [p["clip_id"] for p in pending] == [clip_id]
            assert "checkpoint could not finish" in pending[0]["problem"]
            holding = files_holding(svc, old)
            assert holding and set(holding) <= {"verp.db", "verp.db-wal"}
            assert f"wrapped key bytes still in {', '.join(holding)}" in pending[0]["problem"]


def test_pending_erasure_is_found_from_its_probe_after_the_key_left_memory(
    svc: Services, clock: FixedClock
) -> None:
    """A sweep that crashed right after the shred: the next one has only the recorded probe."""
    clip_id, old = _due_clip(svc, clock)

    class Crash(Exception):
        pass

    def crash(done: str, _clip: str) -> None:
        if done == "shredded":
            raise Crash

    with reader_snapshot(svc):  # a snapshot older than the shred
        with pytest.raises(Crash):
            Destroyer(svc.db, svc.vault, svc.audit, on_step=crash).sweep(svc.settings.retention)
        clip = clip_row(svc, clip_id)
        assert clip.status == ERASURE_PENDING
        assert clip.erasure_probe == probe_of("local", old).hex() == old[:PROBE_SIZE].hex()
        destroyed, pending = _sweep(svc)  # a new run: only the probe is left to search for
        assert destroyed == [] and "wrapped key bytes still in" in pending[0]["problem"]
    assert _sweep(svc, VERIFY_WAIT)[0] == [clip_id]
    assert files_holding(svc, old) == []


def test_the_checkpoint_retries_while_a_short_reader_finishes(
    tmp_path: Path, clock: FixedClock
) -> None:
    """A reader takes a snapshot just before the checkpoint and lets go 0.6 s later; within
    a 10 s budget the same sweep retries, verifies and destroys."""
    settings = make_settings(tmp_path / "home", **{"database.erasure_wait_seconds": 10})
    with contextmanager(open_services)(settings, clock) as svc:
        clip_id, old = _due_clip(svc, clock)
        holding = threading.Event()
        threads: list[threading.Thread] = []

        def hold() -> None:
            with reader_snapshot(svc):
                holding.set()
                time.sleep(0.6)

        def start_reader(step: str, _clip: str) -> None:
            if step == "blobs-deleted":  # the last step before the checkpoint
                threads.append(threading.Thread(target=hold))
                threads[0].start()
                assert holding.wait(5)

        destroyer = Destroyer(svc.db, svc.vault, svc.audit, on_step=start_reader)
        try:
            report = destroyer.sweep(svc.settings.retention)
        finally:
            for thread in threads:
                thread.join()
        assert threads and (report.destroyed, report.erasure_pending) == ([clip_id], [])
        assert files_holding(svc, old) == []


def test_checkpoint_reports_busy_within_its_budget_then_completes(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = make_settings(tmp_path / "home", **{"database.erasure_wait_seconds": WAIT})
    with contextmanager(open_services)(settings, clock) as svc:
        make_world(svc)
        with reader_snapshot(svc):
            make_world(svc, "south")  # a write the reader's snapshot predates
            started = time.monotonic()
            busy = svc.db.checkpoint()
            elapsed = time.monotonic() - started
        assert busy is not None and busy.busy == 1 and not busy.complete
        assert busy.attempts > 1 and busy.log > busy.checkpointed
        assert WAIT - 0.3 <= elapsed < WAIT + 2
        done = svc.db.checkpoint()
        assert done is not None and done.complete and (done.busy, done.log) == (0, 0)
        assert Path(str(svc.db.engine.url.database) + "-wal").stat().st_size == 0


def test_the_dpo_dashboard_lists_pending_erasures(
    services: Services, client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    site = world.sites["a"]
    with services.db.session() as session:
        clip = session.get(Clip, site.receiving_clip)
        assert clip is not None
        request_destruction(session, services.audit, ADMIN, clip, "consent-withdrawn")
    quick = Database(services.db.engine, checkpoint_wait=WAIT)
    with reader_snapshot(services):
        outcome = Destroyer(quick, services.vault, services.audit).destroy(clip.id, ADMIN)
    assert not outcome.destroyed and outcome.erasure_pending
    login_as(client, "dpo")
    page = text(client.get("/dpo"))
    panel = page[page.index("Pending erasures") : page.index("Overdue deletions")]
    assert "FAM-A01" in panel and clip.id[:8] in panel
    assert outcome.erasure_pending in panel  # why it is pending, escaped
    assert "Key destroyed, erasure pending" in page  # its own row in the state table
    # Once verified, the panel is empty again.
    patient = Database(services.db.engine, checkpoint_wait=VERIFY_WAIT)
    assert Destroyer(patient, services.vault, services.audit).destroy(clip.id, ADMIN).destroyed
    page = text(client.get("/dpo"))
    panel = page[page.index("Pending erasures") : page.index("Overdue deletions")]
    assert "No erasure is pending" in panel and clip.id[:8] not in panel
    # The certificate says when and how erasure was verified.
    certificate = text(client.get(f"/dpo/tombstones/{clip.id}"))
    assert "Erasure verified" in certificate and "probe absent from" in certificate


def test_probe_of_each_provider_and_search_across_chunks(tmp_path: Path) -> None:
    wrapped = bytes(range(60))
    assert probe_of("local", wrapped) == wrapped[:12]  # the public AES-GCM nonce
    assert probe_of("kms", wrapped) == wrapped[-12:]
    with pytest.raises(ValueError):
        probe_of("local", b"short")
    probe = b"\x01probe-bytes"
    path = tmp_path / "f"
    # Straddles the 1 MiB read boundary of probes_in_file.
    path.write_bytes(b"\0" * ((1 << 20) - 5) + probe + b"\0" * 10)
    assert probes_in_file(path, [probe, b"\x02absent-byte"]) == {probe}
    assert probes_in_file(tmp_path / "missing", [probe]) == set()


def test_retention_status_counts_pending_erasure(svc: Services, clock: FixedClock) -> None:
    clip_id, _ = _due_clip(svc, clock)
    with reader_snapshot(svc):
        _sweep(svc)
    with svc.db.session() as session:
        rows = retention_status(session, clock.now())
    assert [(r["erasure-pending"], r["destroyed"]) for r in rows] == [(1, 0)]
    assert clip_row(svc, clip_id).status == ERASURE_PENDING


def test_an_unfinished_checkpoint_alone_keeps_erasure_pending(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The checkpoint's result row is a layer of its own: busy means pending even when the
    search has nothing to look for (no probe recorded)."""
    settings = make_settings(tmp_path / "home", **{"database.erasure_wait_seconds": WAIT})
    with contextmanager(open_services)(settings, clock) as svc:
        make_world(svc)
        with reader_snapshot(svc):
            make_world(svc, "south")
            verdicts = verify_erasure(svc.db, {"legacy": None, "keyless": b""})
        assert {v.verified for v in verdicts.values()} == {False}
        assert "busy=1" in verdicts["legacy"].detail
        verdicts = verify_erasure(svc.db, {"legacy": None, "keyless": b""})
        assert verdicts["legacy"].verified and "no probe recorded" in verdicts["legacy"].detail
        assert verdicts["keyless"].verified and "no wrapped key" in verdicts["keyless"].detail


def test_the_file_search_alone_catches_bytes_a_checkpoint_left(tmp_path: Path) -> None:
    """The search is a layer of its own: without secure_delete a completed checkpoint leaves
    the old cell's bytes in the page, and the verdict must say so."""
    path = tmp_path / "plain.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        conn.exec_driver_sql("CREATE TABLE k (id INTEGER PRIMARY KEY, wrapped BLOB)")
    wrapped = os.urandom(60)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")
        conn.exec_driver_sql("INSERT INTO k VALUES (1, ?)", (wrapped,))
        conn.exec_driver_sql("UPDATE k SET wrapped = NULL WHERE id = 1")
    db = Database(engine, checkpoint_wait=WAIT)
    probe = probe_of("local", wrapped)
    verdict = verify_erasure(db, {"c": probe})["c"]
    assert not verdict.verified
    assert verdict.detail == "wrapped key bytes still in plain.db"
    engine.dispose()


def test_a_key_row_at_the_free_space_edge_of_a_full_page_is_erased_on_postgresql(
    pg_schema_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """Where plain VACUUM is not enough: the key row last placed in a full page moves to a
    new page when shredded, and pruning leaves the dead row's bytes in the page's free
    space. The rewrite must remove them, and the search must confirm it."""
    settings = make_settings(
        tmp_path / "home",
        **{"database.url": pg_schema_url, "database.erasure_wait_seconds": VERIFY_WAIT},
    )
    with contextmanager(open_services)(settings, clock) as svc:
        world = make_world(svc)
        consent = make_consent(svc, world)
        for _ in range(60):  # more key rows than one 8 KiB page holds
            make_clip(svc, world, consent, renditions=(), review_rows=False)
        with svc.db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT clip_id, ctid::text FROM data_keys").all()
        first_page = [(int(t.strip("()").split(",")[1]), c) for c, t in rows if t[1] == "0"]
        victim = max(first_page)[1]  # the lowest-placed row of the full first page
        old = wrapped_key(svc, victim)
        assert old is not None
        with svc.db.session() as session:
            clip = session.get(Clip, victim)
            assert clip is not None
            request_destruction(session, svc.audit, ADMIN, clip, "consent-withdrawn")
        outcome = Destroyer(svc.db, svc.vault, svc.audit).destroy(victim, ADMIN)
        assert outcome.destroyed, outcome.erasure_pending
        assert files_holding(svc, old) == []
