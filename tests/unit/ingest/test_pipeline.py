"""process_clip: staging blobs in, encrypted renditions out; refusals destroy; retries."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, update

from ingest import jobs, pipeline
from ingest.claims import ClaimLost
from ingest.errors import DEFAULT_REASONS, TranscodeError
from ingest.errors import RejectCategory as R
from ingest.probe import probe
from ingest.workspace import is_empty
from storage.audit import Actor
from storage.clock import FixedClock
from storage.db.footage import Clip, DataKey
from storage.db.governance import AuditEntry, Tombstone
from storage.destruction import Destroyer
from storage.errors import BlobStoreError, ValidationError
from tests import media
from tests.conftest import make_settings
from tests.unit.ingest.staging import blobs_of, clip_row, plaintext, stage_clip
from webapp.composition import Services, build_services, initialize

RENDITIONS = {"playback", "poster", "sprite", "thumbnails"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("pipeline-media")
    return {
        "iphone": media.iphone_mov(work / "iphone.mov", work),
        "android": media.android_vfr_mp4(work / "android.mp4"),
        "plain": media.plain_mp4(work / "plain.mp4", seconds=1),
    }


def audit_actions(services: Services, clip_id: str) -> list[str]:
    with services.db.session() as session:
        query = select(AuditEntry.action).where(AuditEntry.target_id == clip_id)
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_a_tablet_clip_becomes_ready_with_encrypted_renditions(
    sqlite_services: Services, clips: dict[str, Path], tmp_path: Path
) -> None:
    services = sqlite_services
    source = clips["iphone"]
    clip_id = stage_clip(services, source, parts=3)
    seen: list[tuple[str, int]] = []

    pipeline.process_clip(services, clip_id, progress=lambda s, p: seen.append((s, p)))

    clip = clip_row(services, clip_id)
    assert (clip.status, clip.stage, clip.progress, clip.failure_reason) == (
        "ready",
        "ready",
        100,
        None,
    )
    assert clip.claimed_by is None and clip.claim_expires_at is None
    blobs = blobs_of(services, clip_id)
    assert set(blobs) == RENDITIONS  # staging blobs are gone
    assert {b.content_type for b in blobs.values()} == {"video/mp4", "image/jpeg", "text/vtt"}

    playback = tmp_path / "playback.mp4"
    playback.write_bytes(plaintext(services, blobs["playback"]))
    info = probe(playback)  # decodes the first second, too
    assert (info.video_codec, info.audio_codec, info.rotation) == ("h264", "aac", 0)
    assert (info.display_width, info.display_height) == (240, 320)  # portrait applied
    data = playback.read_bytes()
    for marker in media.FORBIDDEN_STRINGS:
        assert marker.encode("latin-1") not in data, marker
    for coordinate in media.loci_coordinate_bytes():
        assert coordinate not in data

    for name in ("poster", "sprite"):
        with Image.open(io.BytesIO(plaintext(services, blobs[name]))) as image:
            assert image.format == "JPEG"
            assert not image.getexif()
    vtt = plaintext(services, blobs["thumbnails"]).decode("utf-8")
    assert vtt.startswith("WEBVTT\n")
    lines = vtt.splitlines()
    cues = [lines[i + 1] for i, line in enumerate(lines) if "-->" in line]
    assert cues and all(cue.startswith("sprite.jpg#xywh=") for cue in cues)
    last_end = next(line for line in reversed(lines) if "-->" in line).split(" --> ")[1]
    assert clip.duration_ms is not None
    assert last_end == f"00:00:{clip.duration_ms // 1000:02d}.{clip.duration_ms % 1000:03d}"

    assert (clip.width, clip.height, clip.frame_rate) == (240, 320, "30")
    assert (clip.video_codec, clip.audio_codec) == ("hevc", "aac")
    assert clip.source_size == source.stat().st_size
    assert clip.duration_ms is not None and abs(clip.duration_ms - 2000) < 100
    facts = clip.media
    assert facts["source"]["rotation"] == 90 and facts["source"]["video_codec"] == "hevc"
    assert facts["renditions"]["playback"]["size"] == blobs["playback"].plaintext_size
    assert facts["thumbnails"]["count"] == len(cues)
    assert "VerpTest" not in repr(facts)

    stages = [stage for stage, _ in seen]
    order = ["decrypting", "checking", "transcoding", "thumbnails", "encrypting", "ready"]
    assert sorted(set(stages), key=stages.index) == order
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    assert any(s == "transcoding" and 12 < p < 88 for s, p in seen)  # ffmpeg's progress

    assert is_empty(services.settings.workspace_dir)
    assert audit_actions(services, clip_id)[-1] == "clip.processed"


def test_short_thumbnail_intervals_thumbnail_every_frame(
    tmp_path: Path, clock: FixedClock, clips: dict[str, Path]
) -> None:
    settings = make_settings(tmp_path / "home", **{"ingest.thumbnail_interval_seconds": 0.25})
    initialize(settings)
    services = build_services(settings, clock=clock)
    try:
        clip_id = stage_clip(services, clips["plain"])  # 1 s
        pipeline.process_clip(services, clip_id)
        vtt = plaintext(services, blobs_of(services, clip_id)["thumbnails"]).decode()
        assert vtt.count("-->") == 4
        assert clip_row(services, clip_id).media["thumbnails"]["interval_s"] == 0.25
    finally:
        services.close()


def test_variable_frame_rate_is_recorded_and_made_constant(
    sqlite_services: Services, clips: dict[str, Path]
) -> None:
    clip_id = stage_clip(sqlite_services, clips["android"])
    pipeline.process_clip(sqlite_services, clip_id)
    clip = clip_row(sqlite_services, clip_id)
    assert clip.status == "ready"
    assert clip.media["source"]["variable_frame_rate"] is True
    assert clip.media["playback"]["frame_rate"] == clip.frame_rate == "30"


REFUSED = (
    "playlist.mp4",
    "photo.mov",
    "first-half.mp4",
    "audio-only.mp4",
    "clip.mkv",
    "scrambled.mp4",
)


def assert_refused_and_destroyed(services: Services, clip_id: str, reason: str) -> None:
    """Destroyed through the governance path (tombstone, no bytes, no key), reason kept."""
    clip = clip_row(services, clip_id)
    assert (clip.status, clip.destroy_reason) == ("destroyed", "upload-refused")
    assert clip.failure_reason == reason  # what the uploader is told
    assert blobs_of(services, clip_id) == {}
    assert services.blobs.keys(f"{clip.site_id}/{clip_id}/") == []
    with services.db.session() as session:
        key = session.get(DataKey, clip_id)
        assert key is not None and key.wrapped is None and key.destroyed_at is not None
        tombstone = session.get(Tombstone, clip_id)
        assert tombstone is not None and tombstone.reason == "upload-refused"
        assert tombstone.form_reference == "CF-2026-0117" and tombstone.audit_seq is not None
    assert is_empty(services.settings.workspace_dir)
    actions = audit_actions(services, clip_id)
    assert actions.index("clip.failed") < actions.index("clip.destroy_request")
    assert actions[-2:] == ["clip.shred", "clip.destroy"]


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_upload_is_destroyed_with_a_tombstone_and_keeps_its_reason(
    sqlite_services: Services, bad_inputs: dict[str, media.BadInput], name: str
) -> None:
    services = sqlite_services
    bad = bad_inputs[name]
    clip_id = stage_clip(services, bad.path, parts=2)

    pipeline.process_clip(services, clip_id)

    assert_refused_and_destroyed(services, clip_id, DEFAULT_REASONS[bad.category])
    with services.db.session() as session:
        tombstone = session.get(Tombstone, clip_id)
        assert tombstone is not None and tombstone.blob_count == 2


def test_a_refusal_the_store_interrupts_is_finished_by_the_sweep(
    sqlite_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = sqlite_services
    clip_id = stage_clip(services, b"#EXTM3U\nfile:///etc/passwd\n")
    real_delete = services.blobs.delete

    def broken(key: str) -> None:
        raise BlobStoreError("store unavailable")

    monkeypatch.setattr(services.blobs, "delete", broken)
    pipeline.process_clip(services, clip_id)
    clip = clip_row(services, clip_id)
    # The key is already shredded (so the clip is "key destroyed, erasure pending"); the
    # blobs wait for the store. The uploader still reads why it was refused.
    assert (clip.status, clip.destroy_reason) == ("erasure-pending", "upload-refused")
    assert clip.failure_reason == DEFAULT_REASONS[R.NOT_VIDEO]
    assert is_empty(services.settings.workspace_dir)
    with pytest.raises(ValidationError, match="uploaded again"):  # no retry of a refusal
        jobs.retry_clip(services, clip_id, Actor.system("test"))

    monkeypatch.setattr(services.blobs, "delete", real_delete)
    report = Destroyer(services.db, services.vault, services.audit).sweep(
        services.settings.retention
    )
    assert report.destroyed == [clip_id]
    assert_refused_and_destroyed(services, clip_id, DEFAULT_REASONS[R.NOT_VIDEO])


def test_a_clip_with_no_bytes_or_a_missing_part_is_refused(
    sqlite_services: Services, clips: dict[str, Path]
) -> None:
    empty = stage_clip(sqlite_services, b"", parts=0)
    gap = stage_clip(sqlite_services, clips["plain"], parts=3)
    middle = blobs_of(sqlite_services, gap)["staging-000001"]
    with sqlite_services.db.session() as session:
        sqlite_services.vault.delete_blob(session, session.merge(middle))

    for clip_id in (empty, gap):
        pipeline.process_clip(sqlite_services, clip_id)

    assert_refused_and_destroyed(sqlite_services, empty, DEFAULT_REASONS[R.EMPTY])
    assert_refused_and_destroyed(sqlite_services, gap, DEFAULT_REASONS[R.TRUNCATED])


def test_processing_twice_keeps_one_set_of_renditions(
    sqlite_services: Services, clips: dict[str, Path]
) -> None:
    clip_id = stage_clip(sqlite_services, clips["plain"])
    pipeline.process_clip(sqlite_services, clip_id)
    first = {name: blob.id for name, blob in blobs_of(sqlite_services, clip_id).items()}
    pipeline.process_clip(sqlite_services, clip_id)
    assert {n: b.id for n, b in blobs_of(sqlite_services, clip_id).items()} == first
    assert audit_actions(sqlite_services, clip_id).count("clip.processed") == 1


def test_a_half_done_clip_starts_over_and_drops_the_old_attempts_leftovers(
    sqlite_services: Services, clips: dict[str, Path], clock: FixedClock
) -> None:
    services = sqlite_services
    clip_id = stage_clip(services, clips["plain"])
    clip = clip_row(services, clip_id)
    # A worker died after encrypting a rendition but before its transaction committed.
    orphan = f"{clip.site_id}/{clip_id}/playback-0d1e0d1e"
    writer = services.blobs.writer(orphan)
    writer.write(b"ciphertext of a dead attempt")
    writer.commit()
    with services.db.session() as session:
        session.execute(
            update(Clip)
            .where(Clip.id == clip_id)
            .values(status="processing", stage="encrypting", claimed_by="dead:1:x")
            .values(claim_expires_at=clock.now() + timedelta(seconds=5))
        )

    pipeline.process_clip(services, clip_id)  # the dead worker's lease still runs
    assert clip_row(services, clip_id).status == "processing"
    assert blobs_of(services, clip_id).keys() == {"staging-000000"}

    clock.advance(timedelta(seconds=6))
    pipeline.process_clip(services, clip_id)
    assert clip_row(services, clip_id).status == "ready"
    assert not services.blobs.exists(orphan)
    assert set(blobs_of(services, clip_id)) == RENDITIONS


def test_a_storage_failure_queues_the_clip_again_then_gives_up(
    sqlite_services: Services, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = sqlite_services
    clip_id = stage_clip(services, clips["plain"])

    def broken(key: str) -> object:
        raise BlobStoreError("store unavailable")

    monkeypatch.setattr(services.blobs, "open", broken)
    with pytest.raises(pipeline.TransientFailure):
        pipeline.process_clip(services, clip_id)

    clip = clip_row(services, clip_id)
    assert (clip.status, clip.stage, clip.claimed_by) == ("queued", "retrying", None)
    assert "staging-000000" in blobs_of(services, clip_id)
    assert is_empty(services.settings.workspace_dir)

    assert pipeline.give_up(services, clip_id)
    clip = clip_row(services, clip_id)
    assert (clip.status, clip.failure_reason) == ("failed", pipeline.REASON_GAVE_UP)
    assert "staging-000000" in blobs_of(services, clip_id)  # kept for an operator's retry


def test_a_conversion_fault_fails_the_clip_but_keeps_the_upload(
    sqlite_services: Services, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise TranscodeError("transcode failed (ffmpeg exit status 1)", stderr_tail="secret")

    monkeypatch.setattr(pipeline, "transcode", refuse)
    clip_id = stage_clip(sqlite_services, clips["plain"])
    pipeline.process_clip(sqlite_services, clip_id)
    clip = clip_row(sqlite_services, clip_id)
    assert (clip.status, clip.failure_reason) == ("failed", pipeline.REASON_CONVERT)
    assert set(blobs_of(sqlite_services, clip_id)) == {"staging-000000"}
    assert is_empty(sqlite_services.settings.workspace_dir)


def test_a_clip_that_keeps_crashing_its_worker_is_given_up(
    sqlite_services: Services, clips: dict[str, Path]
) -> None:
    clip_id = stage_clip(sqlite_services, clips["plain"])
    with sqlite_services.db.session() as session:
        limit = pipeline.max_attempts(sqlite_services)
        session.execute(update(Clip).where(Clip.id == clip_id).values(attempts=limit))
    pipeline.process_clip(sqlite_services, clip_id)
    clip = clip_row(sqlite_services, clip_id)
    assert (clip.status, clip.failure_reason) == ("failed", pipeline.REASON_GAVE_UP)


def test_destruction_begun_mid_job_stops_it_without_registering(
    sqlite_services: Services, clips: dict[str, Path], clock: FixedClock
) -> None:
    services = sqlite_services
    clip_id = stage_clip(services, clips["plain"])

    def withdraw(stage: str, percent: int) -> None:
        if stage == "transcoding":
            with services.db.session() as session:
                session.execute(
                    update(Clip).where(Clip.id == clip_id).values(destroy_requested_at=clock.now())
                )

    with pytest.raises(ClaimLost):
        pipeline.process_clip(services, clip_id, progress=withdraw)
    assert set(blobs_of(services, clip_id)) == {"staging-000000"}
    assert clip_row(services, clip_id).status == "processing"  # the destroyer takes over
    assert is_empty(services.settings.workspace_dir)
