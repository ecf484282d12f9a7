"""Scheduled KEK epochs with the local key file: a new KEK on schedule, every live data
key re-wrapped, the old KEK destroyed, so a wrapped key copied out of the database before
it was shredded stops unwrapping. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.audit import Actor
from storage.clock import FixedClock
from storage.db.footage import DataKey
from storage.errors import KeyProviderError
from storage.kek import EpochPolicy, RotationOptions, rotate_keys, run_due_rotation
from storage.keys import KeyContext, LocalKeyFile, WrappedKey
from tests.unit.storage.kek_helpers import (
    NO_GRACE,
    capture,
    clip_of,
    decrypts,
    epoch_rows,
    fill,
    rotation_audit,
    shred,
)
from webapp.composition import Services

ACTOR = Actor.system("epoch-test")


class Crash(Exception):
    pass


def run(svc: Services, policy: EpochPolicy = NO_GRACE) -> object:
    keys = LocalKeyFile(svc.settings.key_file)  # a fresh reader, as a new process has
    return run_due_rotation(svc.db, keys, svc.audit, svc.clock, policy)


def test_epoch_retires_the_old_kek_and_a_captured_wrapped_key_dies_with_it(
    services: Services, clock: FixedClock
) -> None:
    plain = fill(services, 3)
    dead_blob, *live_blobs = plain
    dead_clip = clip_of(services, dead_blob)
    captured = capture(services, dead_clip)  # a backup taken before the destruction
    shred(services, dead_clip)
    key_file = LocalKeyFile(services.settings.key_file)
    # Before the epoch retires, the copy still opens with the live key file.
    data_key = captured.unwrap_with(key_file)
    assert len(data_key) == 32
    assert run(services) is None  # the worker's first check records epoch 1
    assert [(e.number, e.current_from) for e in epoch_rows(services)] == [(1, clock.now())]

    clock.advance(timedelta(days=6, hours=23))
    assert run(services) is None, "not due before the period has passed"
    assert captured.unwrap_with(LocalKeyFile(services.settings.key_file)) == data_key

    clock.advance(timedelta(hours=1))
    report = run(services)

    assert report is not None
    assert (report.epoch, report.added_version, report.retired) == (2, "2", ["1"])
    assert report.rewrapped == 2  # the live keys; the shredded one is left alone
    fresh = LocalKeyFile(services.settings.key_file)
    assert list(json.loads(services.settings.key_file.read_text())["versions"]) == ["2"]
    with pytest.raises(KeyProviderError):
        captured.unwrap_with(fresh)
    for blob_id in live_blobs:
        assert decrypts(services, blob_id, fresh) == plain[blob_id]
    first, second = epoch_rows(services)
    assert (first.number, first.kek_version, second.kek_version) == (1, "1", "2")
    assert first.retired_at == first.destroyed_at == clock.now()
    assert first.superseded_at == second.current_from == clock.now()
    assert second.retired_at is None
    assert second.retire_due_at is not None and second.retire_due_at > clock.now() + timedelta(
        days=7
    )
    phases = [a["phase"] for a in rotation_audit(services)]
    assert phases == ["add-version", "rewrap", "retire"]
    # Idempotent: nothing is due right after.
    assert run(services) is None
    assert len(epoch_rows(services)) == 2


def test_no_temp_file_or_other_copy_of_the_retired_kek_stays_in_the_keys_folder(
    services: Services, clock: FixedClock
) -> None:
    fill(services, 1)
    old_kek = LocalKeyFile(services.settings.key_file).versions()["1"]["key"]
    assert run(services) is None
    clock.advance(timedelta(days=7))
    assert run(services) is not None
    for path in services.settings.key_file.parent.iterdir():
        assert old_kek.encode() not in path.read_bytes(), path


def test_the_old_kek_is_kept_through_the_grace_period(
    services: Services, clock: FixedClock
) -> None:
    plain = fill(services, 2)
    policy = EpochPolicy(period=timedelta(days=7), retire_grace=timedelta(minutes=10))
    assert run(services, policy) is None
    clock.advance(timedelta(days=7))
    first = run(services, policy)
    assert first is not None
    assert (first.rewrapped, first.retired, first.in_grace) == (2, [], ["1"])
    assert set(LocalKeyFile(services.settings.key_file).versions()) == {"1", "2"}

    clock.advance(timedelta(minutes=9))
    again = run(services, policy)
    assert again is not None and again.resumed and again.retired == []
    clock.advance(timedelta(minutes=1))
    last = run(services, policy)
    assert last is not None and (last.resumed, last.added_version, last.retired) == (
        True,
        None,
        ["1"],
    )
    for blob_id, data in plain.items():
        assert decrypts(services, blob_id, LocalKeyFile(services.settings.key_file)) == data


def test_a_crash_while_rewrapping_resumes_and_retires_without_a_second_epoch(
    services: Services, clock: FixedClock
) -> None:
    plain = fill(services, 5)
    clock.advance(timedelta(days=7))

    def crash_after_first_batch(batch: int, rewrapped: int) -> None:
        raise Crash(f"killed after batch {batch}")

    with pytest.raises(Crash):
        rotate_keys(
            services.db,
            LocalKeyFile(services.settings.key_file),
            services.audit,
            services.clock,
            ACTOR,
            options=NO_GRACE.options(),
            after_batch=crash_after_first_batch,
        )
    with services.db.session() as session:
        on = sorted(session.scalars(select(DataKey.kek_version)))
    assert on == ["1", "1", "1", "2", "2"]
    assert set(LocalKeyFile(services.settings.key_file).versions()) == {"1", "2"}

    report = run(services)  # the worker's next hourly check

    assert report is not None
    assert (report.resumed, report.added_version, report.epoch) == (True, None, None)
    assert (report.rewrapped, report.retired) == (3, ["1"])
    assert [e.number for e in epoch_rows(services)] == [1, 2]
    for blob_id, data in plain.items():
        assert decrypts(services, blob_id, LocalKeyFile(services.settings.key_file)) == data


@pytest.mark.parametrize("step", ["claimed", "created"])
def test_a_crash_before_the_switch_leaves_the_old_kek_current_and_audited(
    services: Services, clock: FixedClock, step: str
) -> None:
    """Audit first: when a run dies after writing the entry but before the new KEK is
    current, the entry is there and the old KEK is still the one in use."""
    plain = fill(services, 2)

    def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    keys = LocalKeyFile(services.settings.key_file)
    with pytest.raises(Crash):
        rotate_keys(services.db, keys, services.audit, services.clock, ACTOR, on_step=crash)
    assert LocalKeyFile(services.settings.key_file).current_version() == "1"
    assert [a["phase"] for a in rotation_audit(services)] == ["add-version"]

    report = rotate_keys(
        services.db,
        LocalKeyFile(services.settings.key_file),
        services.audit,
        services.clock,
        ACTOR,
        options=RotationOptions(batch_size=10),
    )
    assert (report.resumed, report.current_version, report.retired) == (True, "2", ["1"])
    assert [a["phase"] for a in rotation_audit(services)] == ["add-version", "rewrap", "retire"]
    for blob_id, data in plain.items():
        assert decrypts(services, blob_id, LocalKeyFile(services.settings.key_file)) == data


def test_a_failed_audit_write_never_leaves_a_new_kek_current(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(services, 1)
    real_append = services.audit.append

    def failing_append(*args: object, **kwargs: object) -> object:
        raise Crash("database went away while writing the audit entry")

    monkeypatch.setattr(services.audit, "append", failing_append)
    with pytest.raises(Crash):
        rotate_keys(
            services.db,
            LocalKeyFile(services.settings.key_file),
            services.audit,
            services.clock,
            ACTOR,
        )
    keys = LocalKeyFile(services.settings.key_file)
    assert (keys.current_version(), keys.pending_version()) == ("1", None)
    assert [(e.number, e.current_from is not None) for e in epoch_rows(services)] == [(1, True)]
    monkeypatch.setattr(services.audit, "append", real_append)
    assert rotation_audit(services) == []


def test_a_crash_after_the_switch_is_finished_by_the_next_run(
    services: Services, clock: FixedClock
) -> None:
    fill(services, 3)

    def crash(at: str) -> None:
        if at == "activated":
            raise Crash(at)

    with pytest.raises(Crash):
        rotate_keys(
            services.db,
            LocalKeyFile(services.settings.key_file),
            services.audit,
            services.clock,
            ACTOR,
            on_step=crash,
        )
    assert LocalKeyFile(services.settings.key_file).current_version() == "2"
    assert [a["phase"] for a in rotation_audit(services)] == ["add-version"]
    report = run(services)
    assert report is not None and (report.resumed, report.retired) == (True, ["1"])
    second = epoch_rows(services)[1]
    assert second.current_from == clock.now() and second.kek_version == "2"


def test_a_kek_still_wrapping_a_live_key_is_not_destroyed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = fill(services, 3)
    stuck_blob = next(iter(plain))
    stuck_clip = clip_of(services, stuck_blob)
    keys = LocalKeyFile(services.settings.key_file)
    real_rewrap = keys.rewrap

    def leave_one_behind(wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        # As if this key were committed, wrapped by the old KEK, after the re-wrap pass.
        return wrapped if context.clip_id == stuck_clip else real_rewrap(wrapped, context)

    monkeypatch.setattr(keys, "rewrap", leave_one_behind)
    report = rotate_keys(services.db, keys, services.audit, services.clock, ACTOR)

    assert (report.current_version, report.retired, report.still_in_use) == ("2", [], ["1"])
    assert set(LocalKeyFile(services.settings.key_file).versions()) == {"1", "2"}
    assert (
        decrypts(services, stuck_blob, LocalKeyFile(services.settings.key_file))
        == plain[stuck_blob]
    )
    assert epoch_rows(services)[0].retired_at is None
    monkeypatch.undo()

    again = run(services)
    assert again is not None and (again.resumed, again.retired) == (True, ["1"])
    for blob_id, data in plain.items():
        assert decrypts(services, blob_id, LocalKeyFile(services.settings.key_file)) == data


def test_two_overlapping_rotations_start_one_epoch(services: Services) -> None:
    plain = fill(services, 3)
    reports = []

    def second_run_starts(at: str) -> None:
        if at == "claimed" and not reports:
            # Another worker's check runs while this one sits between its steps.
            keys = LocalKeyFile(services.settings.key_file)
            reports.append(rotate_keys(services.db, keys, services.audit, services.clock, ACTOR))

    first = rotate_keys(
        services.db,
        LocalKeyFile(services.settings.key_file),
        services.audit,
        services.clock,
        ACTOR,
        on_step=second_run_starts,
    )
    (second,) = reports
    assert second.resumed and (second.current_version, second.retired) == ("2", ["1"])
    assert (first.current_version, first.rewrapped, first.retired) == ("2", 0, [])
    assert [e.number for e in epoch_rows(services)] == [1, 2]
    assert [a["phase"] for a in rotation_audit(services)] == ["add-version", "rewrap", "retire"]
    for blob_id, data in plain.items():
        assert decrypts(services, blob_id, LocalKeyFile(services.settings.key_file)) == data
