"""The job queue on SQLite and Redis: enqueue/consume, retries, claims, recovery."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from huey import MemoryHuey, RedisHuey, SqliteHuey
from sqlalchemy import func, select, update

from ingest import claims, jobs, pipeline
from ingest.claims import ClaimLost
from ingest.errors import TranscodeError
from storage.audit import Actor
from storage.clock import FixedClock
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from storage.errors import BlobStoreError, ValidationError
from tests import media
from tests.conftest import make_settings, open_services
from tests.unit.ingest.staging import blobs_of, clip_row, stage_clip
from webapp.composition import Services, build_services

REDIS_URL = "redis://127.0.0.1:6379/0"
OPERATOR = Actor.system("test")


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.plain_mp4(tmp_path_factory.mktemp("jobs-media") / "plain.mp4", seconds=1)


@pytest.fixture
def quick_retries(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """SQLite queue; two retries without delay."""
    settings = make_settings(
        tmp_path / "home", **{"queue.retries": 2, "queue.retry_delay_seconds": 0}
    )
    yield from open_services(settings, clock)


@pytest.fixture
def redis_services(tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    """A Redis queue with a name of its own, flushed afterwards."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.fail(f"Redis is required but not reachable at {REDIS_URL} (see the README)")
    name = f"verptest{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "home", **{"queue.url": f"{REDIS_URL}?name={name}"})
    for services in open_services(settings, clock):
        try:
            yield services
        finally:
            services.queue.huey.storage.flush_all()


def processed_count(services: Services, clip_id: str) -> int:
    with services.db.session() as session:
        query = select(func.count()).where(
            AuditEntry.target_id == clip_id, AuditEntry.action == "clip.processed"
        )
        return int(session.scalar(query) or 0)


def test_queue_urls_pick_the_backend(tmp_path: Path) -> None:
    sqlite = jobs.make_huey(f"sqlite:///{tmp_path / 'q' / 'queue.db'}")
    assert isinstance(sqlite, SqliteHuey) and (tmp_path / "q" / "queue.db").exists()
    named = jobs.make_huey("redis://127.0.0.1:6379/3?name=site-a")
    assert isinstance(named, RedisHuey) and named.name == "site-a"
    assert named.storage.pool.connection_kwargs["db"] == 3
    memory = jobs.make_huey("memory://")
    assert isinstance(memory, MemoryHuey) and memory.immediate
    with pytest.raises(ValueError, match="ftp"):
        jobs.make_huey("ftp://example")


def test_the_sqlite_queue_holds_a_job_until_a_worker_runs_it(
    sqlite_services: Services, clip_file: Path
) -> None:
    clip_id = stage_clip(sqlite_services, clip_file)
    jobs.enqueue_process(sqlite_services, clip_id)
    assert clip_row(sqlite_services, clip_id).status == "queued"
    assert sqlite_services.queue.huey.pending_count() == 1

    assert sqlite_services.queue.run_once() == 1
    assert clip_row(sqlite_services, clip_id).status == "ready"
    assert sqlite_services.queue.huey.pending_count() == 0


def test_the_redis_queue_carries_jobs_between_workers(
    redis_services: Services, clip_file: Path, clock: FixedClock
) -> None:
    clip_id = stage_clip(redis_services, clip_file)
    jobs.enqueue_process(redis_services, clip_id)
    # Another machine: its own services and queue object, the same Redis queue.
    for worker in open_services(redis_services.settings, clock):
        assert worker.queue.huey.pending_count() == 1
        assert worker.queue.run_once() == 1
    assert clip_row(redis_services, clip_id).status == "ready"
    assert redis_services.queue.huey.pending_count() == 0


def test_the_memory_queue_runs_a_job_at_once(
    tmp_path: Path, clock: FixedClock, clip_file: Path
) -> None:
    settings = make_settings(tmp_path / "home", **{"queue.url": "memory://"})
    for services in open_services(settings, clock):
        clip_id = stage_clip(services, clip_file)
        jobs.enqueue_process(services, clip_id)
        assert clip_row(services, clip_id).status == "ready"


def test_a_transient_failure_is_retried(
    quick_retries: Services, clip_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = quick_retries
    clip_id = stage_clip(services, clip_file)
    real_open = services.blobs.open
    calls: list[str] = []

    def flaky(key: str) -> Any:
        calls.append(key)
        if len(calls) == 1:
            raise BlobStoreError("connection reset")
        return real_open(key)

    monkeypatch.setattr(services.blobs, "open", flaky)
    jobs.enqueue_process(services, clip_id)
    assert services.queue.run_once() == 2
    clip = clip_row(services, clip_id)
    assert (clip.status, clip.attempts) == ("ready", 2)


def test_a_job_that_keeps_failing_ends_failed_with_a_reason(
    quick_retries: Services, clip_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = quick_retries

    def killed(*args: object, **kwargs: object) -> None:
        raise TranscodeError("transcode failed (ffmpeg exit status -9)", transient=True)

    monkeypatch.setattr(pipeline, "transcode", killed)
    clip_id = stage_clip(services, clip_file)
    jobs.enqueue_process(services, clip_id)
    assert services.queue.run_once() == 3  # the first run and two retries
    clip = clip_row(services, clip_id)
    assert (clip.status, clip.attempts) == ("failed", 3)
    assert clip.failure_reason == pipeline.REASON_GAVE_UP
    assert "staging-000000" in blobs_of(services, clip_id)

    monkeypatch.undo()
    jobs.retry_clip(services, clip_id, OPERATOR)
    assert clip_row(services, clip_id).status == "queued"
    assert services.queue.run_once() == 1
    assert clip_row(services, clip_id).status == "ready"
    with pytest.raises(ValidationError, match="only a failed clip"):
        jobs.retry_clip(services, clip_id, OPERATOR)


def test_a_claim_is_exclusive_until_its_lease_runs_out(
    services: Services, clip_file: Path, clock: FixedClock
) -> None:
    clip_id = stage_clip(services, clip_file)
    first = claims.take(services, clip_id)
    assert first is not None and first.attempt == 1
    assert claims.take(services, clip_id) is None
    claims.record(services, first, stage="transcoding", progress=40)  # renews

    clock.advance(timedelta(seconds=services.settings.queue_lease_seconds + 1))
    second = claims.take(services, clip_id)
    assert second is not None and second.attempt == 2 and second.token != first.token
    with pytest.raises(ClaimLost):
        claims.record(services, first, stage="thumbnails", progress=90)
    assert clip_row(services, clip_id).stage == "starting"


def test_two_workers_never_process_one_clip_twice(
    sqlite_services: Services, clip_file: Path, clock: FixedClock
) -> None:
    clip_id = stage_clip(sqlite_services, clip_file)
    jobs.enqueue_process(sqlite_services, clip_id)
    jobs.enqueue_process(sqlite_services, clip_id)  # e.g. an upload that retried its last call
    first, second = (build_services(sqlite_services.settings, clock=clock) for _ in range(2))
    transcoding, release = threading.Event(), threading.Event()

    def hold(stage: str, percent: int) -> None:
        if stage == "transcoding":
            transcoding.set()
            release.wait(60)

    busy = threading.Thread(
        target=pipeline.process_clip, args=(first, clip_id), kwargs={"progress": hold}
    )
    busy.start()
    try:
        assert transcoding.wait(60)
        # The second worker takes both queued jobs while the first is mid-transcode.
        assert second.queue.run_once() == 2
        assert set(blobs_of(sqlite_services, clip_id)) == {"staging-000000"}
        assert clip_row(sqlite_services, clip_id).stage == "transcoding"
    finally:
        release.set()
        busy.join(60)
        first.close()
        second.close()
    assert clip_row(sqlite_services, clip_id).status == "ready"
    assert processed_count(sqlite_services, clip_id) == 1
    assert set(blobs_of(sqlite_services, clip_id)) == {"playback", "poster", "sprite", "thumbnails"}


def test_recovery_requeues_only_lost_jobs(
    services: Services, clip_file: Path, clock: FixedClock
) -> None:
    crashed = stage_clip(services, clip_file)
    waiting = stage_clip(services, clip_file)
    busy = stage_clip(services, clip_file)
    jobs.enqueue_process(services, waiting)
    lease_end = clock.now() + timedelta(seconds=5)
    with services.db.session() as session:
        for clip_id, expires in ((crashed, clock.now()), (busy, lease_end)):
            session.execute(
                update(Clip)
                .where(Clip.id == clip_id)
                .values(status="processing", claimed_by="w:1:x", claim_expires_at=expires)
            )
    clock.advance(timedelta(seconds=1))

    assert services.queue.recover() == [crashed]
    assert services.queue.recover() == []  # now it is in the queue
    assert services.queue.run_once() == 2
    assert {clip_row(services, c).status for c in (crashed, waiting)} == {"ready"}
    assert clip_row(services, busy).status == "processing"


def test_recovery_finishes_the_cleanup_a_dead_worker_left(
    services: Services, clip_file: Path
) -> None:
    ready = stage_clip(services, clip_file)  # registered, staging not yet deleted
    refused = stage_clip(services, clip_file)  # key shredded, blobs not yet deleted
    failed = stage_clip(services, clip_file)  # failed, upload kept on purpose
    with services.db.session() as session:
        session.execute(update(Clip).where(Clip.id == ready).values(status="ready"))
        session.execute(update(Clip).where(Clip.id.in_([refused, failed])).values(status="failed"))
        services.vault.shred_key(session, refused)
    assert sorted(services.queue.recover()) == sorted([ready, refused])
    services.queue.run_once()
    assert blobs_of(services, ready) == {} and blobs_of(services, refused) == {}
    assert set(blobs_of(services, failed)) == {"staging-000000"}
    assert services.queue.recover() == []


def test_a_clip_that_is_not_failed_or_lost_its_upload_cannot_be_retried(
    sqlite_services: Services,
) -> None:
    refused = stage_clip(sqlite_services, b"#EXTM3U\nfile:///etc/passwd\n")
    pipeline.process_clip(sqlite_services, refused)
    with pytest.raises(ValidationError, match="uploaded again"):
        jobs.retry_clip(sqlite_services, refused, OPERATOR)
    assert clip_row(sqlite_services, refused).status == "destroyed"
