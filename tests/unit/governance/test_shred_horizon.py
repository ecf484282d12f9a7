"""The shred horizon on tombstones and certificates: gone from the live system at T1,
unrecoverable from any copy once the epoch that wrapped the key is retired at T2."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

from storage.audit.verify import verify_chain
from storage.clock import FixedClock
from storage.db.governance import KekEpoch, Tombstone
from storage.destruction import Destroyer
from storage.kek import EpochPolicy, horizon_of, run_due_rotation
from storage.reports import build_report, render_csv, render_html
from tests.unit.governance.factory import make_clip, make_consent, make_world
from webapp.composition import Services

POLICY = EpochPolicy(period=timedelta(days=7), retire_grace=timedelta(0))


def destroy_due(services: Services, clip_id: str) -> Tombstone:
    """Sweep until the clip's destruction is complete. On a PostgreSQL server shared with
    other sessions, erasure can stay pending for a moment (storage.erasure); a later
    sweep finishes it."""
    for _ in range(60):
        Destroyer(services.db, services.vault, services.audit).sweep(services.settings.retention)
        with services.db.session() as session:
            tomb = session.get(Tombstone, clip_id)
        if tomb is not None:
            return tomb
        time.sleep(1.0)  # other sessions' open transactions hold back VACUUM for a while
    raise AssertionError(f"clip {clip_id} was not destroyed")


def report_rows(services: Services, site_id: str, clock: FixedClock) -> tuple[dict[str, str], str]:
    with services.db.session() as session:
        verified = verify_chain(session, services.audit.key, services.audit.checkpoints)
        report = build_report(session, site_id, clock.now(), verified)
    out = io.StringIO()
    render_csv(report, out)
    (row,) = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["record"] == "destroyed"]
    return row, render_html(report)


def test_certificate_states_both_times(services: Services, clock: FixedClock) -> None:
    def epoch_check() -> object:
        return run_due_rotation(services.db, services.keys, services.audit, services.clock, POLICY)

    assert epoch_check() is None  # epoch 1 on record from the start
    world = make_world(services)
    consent = make_consent(services, world)
    dead = make_clip(services, world, consent, created_at=clock.now() - timedelta(days=400))
    tomb = destroy_due(services, dead)
    assert (tomb.kek_provider, tomb.kek_version) == ("local", "1")
    t1 = tomb.destroyed_at

    row, page = report_rows(services, world.site_id, clock)
    due = clock.now() + timedelta(days=8)  # period + a day of scheduling slack
    assert row["gone_from_live_at"] == t1.isoformat()
    assert row["kek_epoch"] == "1" and row["unrecoverable_from_copies_at"] == ""
    assert row["shred_horizon"] == f"pending: epoch 1 retires by {due:%Y-%m-%d %H:%M} UTC"
    assert "pending: epoch 1 retires by" in page and "Gone from the live system" in page

    clock.advance(timedelta(days=7))
    report = epoch_check()
    assert report is not None and report.retired == ["1"]

    row, page = report_rows(services, world.site_id, clock)
    t2 = clock.now()
    assert row["gone_from_live_at"] == t1.isoformat()
    assert row["unrecoverable_from_copies_at"] == t2.isoformat()
    assert row["shred_horizon"].startswith(f"unrecoverable from any copy since {t2:%Y-%m-%d}")
    assert "unrecoverable from any copy since" in page


def test_a_key_shredded_during_a_later_epoch_waits_for_that_epoch(
    services: Services, clock: FixedClock
) -> None:
    def epoch_check() -> object:
        return run_due_rotation(services.db, services.keys, services.audit, services.clock, POLICY)

    assert epoch_check() is None
    world = make_world(services)
    consent = make_consent(services, world)
    dead = make_clip(services, world, consent, created_at=clock.now() - timedelta(days=400))
    clock.advance(timedelta(days=7))
    assert epoch_check() is not None  # epoch 2 is current; the clip's key is on it now
    assert destroy_due(services, dead).kek_version == "2"
    row, _ = report_rows(services, world.site_id, clock)
    assert row["kek_epoch"] == "2" and row["shred_horizon"].startswith("pending: epoch 2")
    clock.advance(timedelta(days=7))
    assert epoch_check() is not None
    row, _ = report_rows(services, world.site_id, clock)
    assert row["unrecoverable_from_copies_at"] == clock.now().isoformat()


def test_horizon_states_at_their_boundaries(services: Services, clock: FixedClock) -> None:
    now = clock.now()
    day = timedelta(days=1)
    with services.db.session() as session:
        assert horizon_of(session, "local", "1", now).state == "pending"  # no history yet
        session.add_all(
            [
                KekEpoch(
                    provider="local",
                    number=1,
                    kek_version="1",
                    created_at=now - 9 * day,
                    current_from=now - 9 * day,
                    superseded_at=now - 2 * day,
                    retired_at=now - 2 * day,
                    destroyed_at=now - 2 * day,
                ),
                KekEpoch(
                    provider="local",
                    number=2,
                    kek_version="2",
                    created_at=now - 2 * day,
                    current_from=now - 2 * day,
                    retire_due_at=now + 6 * day,
                ),
                KekEpoch(
                    provider="kms",
                    number=1,
                    kek_version="arn:k1",
                    created_at=now - 9 * day,
                    current_from=now - 9 * day,
                    superseded_at=now - day,
                    retired_at=now - day,
                    destroyed_at=now + 6 * day,
                ),
            ]
        )
        session.flush()
        gone = horizon_of(session, "local", "1", now)
        assert (gone.state, gone.epoch, gone.at) == ("unrecoverable", 1, now - 2 * day)
        live = horizon_of(session, "local", "2", now)
        assert (live.state, live.epoch, live.at) == ("pending", 2, now + 6 * day)
        assert "overdue" not in live.text
        late = horizon_of(session, "local", "2", now + 7 * day)
        assert late.state == "pending" and "overdue" in late.text
        kms = horizon_of(session, "kms", "arn:k1", now)
        assert (kms.state, kms.at) == ("pending", now + 6 * day)
        assert kms.text.startswith("pending: KMS deletes the key of epoch 1")
        assert horizon_of(session, "kms", "arn:k1", now + 6 * day).state == "unrecoverable"
        for provider, version in (("local", None), ("local", "0"), (None, None)):
            assert horizon_of(session, provider, version, now).state == "unknown"
