"""Periodic jobs once per cluster: only the scheduler lease holder finds them due."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.scheduling import SchedulerLease
from storage.clock import FixedClock
from webapp.composition import Services


def always(_at: datetime) -> bool:
    return True


def minute(n: int) -> datetime:
    return datetime(2026, 3, 2, 9, n, 0)  # huey passes naive UTC datetimes


def test_only_one_of_two_workers_queues_periodic_jobs(
    services: Services, clock: FixedClock
) -> None:
    one, two = SchedulerLease(services, "one"), SchedulerLease(services, "two")
    due_one, due_two = one.gate(always), two.gate(always)
    assert due_one(minute(0)) and not due_two(minute(0))
    # A job that is not due is not queued even by the holder.
    assert not one.gate(lambda _at: False)(minute(0))
    for n in range(1, 5):  # the holder renews every minute; the other stands by
        clock.advance(timedelta(minutes=1))
        assert due_one(minute(n)) and not due_two(minute(n))


def test_standby_takes_over_when_the_holder_dies(services: Services, clock: FixedClock) -> None:
    ttl = services.settings.scheduler_lease_seconds
    one, two = SchedulerLease(services, "one"), SchedulerLease(services, "two")
    assert one.held(minute(0)) and not two.held(minute(0))
    # "one" dies: it stops checking. Until the lease lapses, "two" stands by.
    clock.advance(timedelta(seconds=ttl - 1))
    assert not two.held(minute(2))
    clock.advance(timedelta(seconds=1))
    assert two.held(minute(3))


def test_clean_shutdown_hands_over_at_once(services: Services) -> None:
    one, two = SchedulerLease(services, "one"), SchedulerLease(services, "two")
    assert one.held(minute(0))
    one.release()
    assert two.held(minute(1))


def test_one_check_per_minute(services: Services) -> None:
    one, two = SchedulerLease(services, "one"), SchedulerLease(services, "two")
    assert one.held(minute(0))
    one.release()
    # Within the same minute "one" reuses its answer (False after release) ...
    assert not one.held(minute(0).replace(second=30))
    assert two.held(minute(0))
    # ... and at the next minute it finds the lease taken.
    assert not one.held(minute(1))
