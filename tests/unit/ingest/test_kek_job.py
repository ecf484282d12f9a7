"""The worker's hourly ``kek_epoch`` job: a new KEK epoch once the period has passed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from config import Settings
from ingest.jobs import JobQueue
from storage.clock import FixedClock
from storage.keys import LocalKeyFile
from tests.conftest import make_settings, open_services
from webapp.composition import Services


@pytest.fixture
def epoch_services(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[Services]:
    settings: Settings = make_settings(
        tmp_path / "home",
        **{
            "database.url": db_url,
            "queue.url": "memory://",
            "keys.epoch_days": 3,
            "keys.epoch_grace_minutes": 0,
        },
    )
    yield from open_services(settings, clock)


def test_the_periodic_job_is_registered_and_rotates_when_due(
    epoch_services: Services, clock: FixedClock
) -> None:
    svc = epoch_services
    queue = JobQueue(svc)
    periodic = {task.name for task in queue.huey._registry.periodic_tasks}
    assert "kek_epoch" in periodic
    job = queue._kek_epoch  # the body huey runs
    job()  # first check: records epoch 1, nothing due
    clock.advance(timedelta(days=2, hours=23))
    job()
    assert LocalKeyFile(svc.settings.key_file).current_version() == "1"
    clock.advance(timedelta(hours=1))  # VERP_KEK_EPOCH_DAYS=3 has passed
    job()
    keys = LocalKeyFile(svc.settings.key_file)
    assert (keys.current_version(), list(keys.versions())) == ("2", ["2"])
    job()  # idempotent
    assert LocalKeyFile(svc.settings.key_file).current_version() == "2"
